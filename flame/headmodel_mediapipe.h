// flame/headmodel_mediapipe.h — our own reader for MediaPipe's face-geometry metadata (a protobuf), the source
// of the built-in head model's mesh.
//
// The file (third_party/mediapipe/geometry_pipeline_metadata_landmarks.binarypb, Apache-2.0, see NOTICE) is a
// serialized mediapipe.face_geometry.GeometryPipelineMetadata:
//   message GeometryPipelineMetadata { Mesh3d canonical_mesh = 1;
//                                      repeated WeightedLandmarkRef procrustes_landmark_basis = 2;
//                                      InputSource input_source = 3; }
//   message Mesh3d { VertexType vertex_type = 1;        // 0 = VERTEX_PT: x y z u v per vertex
//                    PrimitiveType primitive_type = 2;  // 0 = TRIANGLE
//                    repeated float vertex_buffer = 3; repeated uint32 index_buffer = 4; }
//   message WeightedLandmarkRef { uint32 landmark_id = 1; float weight = 2; }
// The wire-format reader handles varint / fixed32 / fixed64 / length-delimited fields, packed and unpacked
// repeated fields, and skips unknown fields; groups, over-long varints, lengths past the end of the enclosing
// message, wrong wire types for known fields, non-finite floats and out-of-range indices throw ff::Error naming
// the source and the byte offset.
//
// Canonical-mesh frame (MediaPipe's "metric" space): centimetres, x to the subject's left, y up, z towards the
// viewer (out of the face) — FLAME's axes, in other units.
//
//   auto mesh = ff::flame::mediapipe::parse_geometry_metadata(bytes.data(), bytes.size(), "file.binarypb");
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ff::flame::mediapipe {

struct CanonicalMesh {
  std::vector<double> vertices;  // [N, 3] centimetres, as stored
  std::vector<double> uvs;       // [N, 2] as stored (v grows downwards, image convention)
  std::vector<int32_t> faces;    // [F, 3]
  std::vector<int32_t> procrustes_ids;      // procrustes_landmark_basis landmark ids
  std::vector<double> procrustes_weights;   // and their weights
  int input_source = 0;                     // 0 DEFAULT, 1 FACE_LANDMARK_PIPELINE, 2 FACE_DETECTION_PIPELINE
  int num_vertices() const { return int(vertices.size() / 3); }
  int num_faces() const { return int(faces.size() / 3); }
};

// Parse a serialized GeometryPipelineMetadata; `what` names the source in error messages.
CanonicalMesh parse_geometry_metadata(const uint8_t* data, size_t size, const std::string& what);
// Read and parse a .binarypb file.
CanonicalMesh read_geometry_metadata(const std::string& path);
// The vendored file's bytes, compiled into the library (flame/headmodel_mediapipe_data.cpp).
const unsigned char* embedded_geometry_metadata(size_t* size);
// parse_geometry_metadata of the embedded bytes.
CanonicalMesh embedded_canonical_mesh();

}  // namespace ff::flame::mediapipe
