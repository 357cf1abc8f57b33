// train/fit/detect.h — the photo side of fit_image: reading the photo, its EXIF focal length, face detection and
// 68 iBUG landmarks (dlib), and landmark files.
//
// Pixel convention: landmark coordinates are dlib's / OpenCV's (pixel i's centre at x = i). The splat renderer
// measures from the pixel's left EDGE (splat.h), so code that mixes the two adds 0.5 (see landmark_fit.h).
// Detection: dlib's HOG frontal face detector (get_frontal_face_detector) and the 68-point shape predictor
// shape_predictor_68_face_landmarks.dat from Debian's libdlib-data (/usr/share/dlib, uncompressed; a .bz2 next to
// it or $FF_DLIB_SHAPE_PREDICTOR are also accepted — a .bz2 is decompressed once into ~/.cache/facefield).
// Faces are sorted by box area, largest first; pick one with `face`. When the photo is small (max side < 1200 px)
// and no face is accepted, the detector runs once more on a 2× upsampled image (dlib's pyramid_up), which finds
// faces down to ~40 px. Every detection is judged (judge_face: detector score, landmark layout, texture inside, and
// agreement with Face Mesh's points in the same region) and what is not a face (a uniform shoulder patch in a group
// photo, a frontal layout laid on a profile's eye) is rejected and listed, not fitted.
//
//   ff::fit::Photo p = ff::fit::read_photo("me.jpg");                 // RGB + EXIF focal
//   ff::fit::Landmarks68 l = ff::fit::detect_landmarks(p, /*face=*/0);
//   ff::fit::Landmarks68 g = ff::fit::read_landmarks_file("me.dlib68.txt");
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "train/data/image.h"

namespace ff::fit {

// Camera information from a JPEG's EXIF block (absent fields stay ≤ 0).
struct ExifInfo {
  double focal_mm = 0;             // FocalLength (0x920A)
  double focal_35mm = 0;           // FocalLengthIn35mmFilm (0xA405)
  double focal_plane_xres = 0;     // FocalPlaneXResolution (0xA20E), pixels per unit
  double focal_plane_unit_mm = 0;  // FocalPlaneResolutionUnit (0xA210): 2 inch = 25.4, 3 cm = 10, 4 mm = 1, 5 µm
  int pixel_x = 0, pixel_y = 0;    // PixelXDimension / PixelYDimension (0xA002 / 0xA003)
  int orientation = 0;             // 0x0112
  std::string make, model;
  bool found = false;              // an Exif APP1 segment was parsed
};
// Parses the first APP1 "Exif" segment of a JPEG byte stream (a minimal TIFF reader: IFD0 and the Exif sub-IFD,
// both byte orders). Non-JPEG data or a damaged block returns found = false; it never throws.
ExifInfo parse_exif(const uint8_t* bytes, size_t size);

// Focal length in pixels for a W×H image from EXIF: 35 mm equivalent (f35 · diagonal / 43.27 mm), else FocalLength
// with the focal-plane resolution (rescaled when the stored image was resized from PixelX/YDimension). ≤ 0 when
// the EXIF does not determine it. `how` describes the source.
double exif_focal_px(const ExifInfo& e, int width, int height, std::string* how = nullptr);

// The default when no EXIF focal length is present: a 30° vertical field of view (a portrait lens on a full-frame
// camera, ~65 mm equivalent for 3:2). fy = (H/2) / tan(15°).
constexpr double kDefaultVerticalFovDeg = 30.0;

struct Photo {
  std::string path;
  data::Image8 rgb;  // [H, W, 3], upright: EXIF orientation already applied
  ExifInfo exif;     // pixel_x / pixel_y refer to the upright image (swapped for orientations 5–8)
  int width() const { return rgb.width; }
  int height() const { return rgb.height; }
};
// Reads a JPEG/PNG/... (stb) as RGB and its EXIF, and turns the pixels upright as the EXIF Orientation (0x0112)
// says (a phone's portrait photo is stored sideways with orientation 6), so detection, landmarks, intrinsics and
// every output refer to the image as viewers show it. Throws ff::Error "cannot read image '<path>': <reason>".
Photo read_photo(const std::string& path);
// The image as shown for EXIF orientation 1..8 (TIFF 6.0 / EXIF 2.3 tag 0x0112: 2 mirrored, 3 rotated 180°,
// 4 flipped, 5 transposed, 6 shown rotated 90° clockwise, 7 transversed, 8 shown rotated 90° counter-clockwise);
// 0, 1 or an invalid value: unchanged. Orientations 5–8 swap width and height.
data::Image8 apply_exif_orientation(const data::Image8& stored, int orientation);

// What the 68 landmarks' layout says, independent of the image (pixel coordinates, iBUG order: 36–41 the subject's
// right eye, shown on the image's left in a photo that is not mirrored; 42–47 the left eye; 48–67 the mouth).
struct LandmarkShape {
  double interocular_px = 0;   // distance between the two eye centres
  double eye_mouth_ratio = 0;  // |mouth centre − eye midpoint| / interocular distance (frontal faces ≈ 1.1–1.3;
                               // grows as yaw narrows the eyes; a collapsed or stretched set is far outside [0.6, 3])
  bool mirrored = false;       // left–right swapped: the mouth lies on the wrong side of the eye line for the eyes'
                               // order (independent of in-plane rotation; a 180°-rotated face is not mirrored)
  bool nose_between = false;   // the nose tip (30) lies between the eye line and the mouth
};
LandmarkShape landmark_shape(const std::array<double, 136>& xy);

// Texture of the inner face (the box of landmarks 17–67, resampled to 32×32 grey levels, so independent of the
// face's size in pixels): mean gradient magnitude in grey levels per sample. Faces (eyes, brows, nostrils, lips)
// measured 9.8–25; uniform patches of skin or cloth 4–6.
double inner_face_texture(const data::Image8& rgb, const std::array<double, 136>& xy);

// How far the detector's 68 landmarks are from where Face Mesh (train/fit/facemesh.h) puts the same points in the
// region they outline: one Face Mesh pass at roi_from_landmarks68(xy), its 468 points read as the built-in head
// model's 68 (landmarks68_from_facemesh), then the mean distance over the 51 inner points (brows, eyes, nose, mouth)
// in units of the detector's outer eye-corner distance (36–45). On a face both find the same features: the shared
// photos' 7 faces and 5 synthetic renders measured 0.042–0.087. A box the detector put on a profile's eye and cheek,
// where the shape predictor laid a whole small frontal face, measured 0.29: Face Mesh found the real profile there.
// `score` and `mesh_xy` (optional) receive Face Mesh's face score and its 468 points ([468, 2], pixel-centre
// coordinates). Infinity when the landmarks give no usable region (`mesh_xy` is then left empty).
double face_mesh_disagreement(const data::Image8& rgb, const std::array<double, 136>& xy, double* score = nullptr,
                              std::vector<double>* mesh_xy = nullptr);

// One box of the detector and what was made of it.
struct FaceCandidate {
  std::array<double, 4> box{};   // x0 y0 x1 y1 (pixels)
  double score = 0;              // the HOG detector's confidence (dlib rect_detection; dlib's default threshold is 0)
  std::array<double, 136> xy{};  // the 68 landmarks the shape predictor placed in the box
  LandmarkShape shape;
  double texture = 0;            // inner_face_texture
  double mesh_disagreement = 0;  // face_mesh_disagreement (NaN when an earlier rule rejected the box)
  double mesh_score = 0;         // Face Mesh's face score in the box (NaN likewise)
  std::vector<double> mesh_xy;   // Face Mesh's 468 points from that check (empty likewise)
  std::string rejected;          // why this is not taken as a face; "" = accepted
};
// The verdict on a candidate (box, score, xy filled): "" (a face) or the reason it is rejected. Rules: score below
// kMinFaceScore; mirrored, nose not between eyes and mouth, or eye–mouth ratio outside [0.6, 3] (a landmark set no
// face produces); inner-face texture below kMinFaceTexture (a uniform patch of skin or cloth: the detector saw
// edges around it and the shape predictor always returns a face-like layout, so only the image inside tells); the
// landmarks far from Face Mesh's (face_mesh_disagreement > kMaxFaceMeshDisagreement: they are not on the features).
// Measured on group_sample2/4.jpg and grace_hopper (docs/reliability.md): the 7 faces score >= -0.48 (dlib's default
// threshold 0 misses 2 of them) with texture >= 13.3 and Face Mesh disagreement 0.042–0.087; knee and shoulder
// patches score -0.68 and below with texture 4.0-4.1, dark cloth 5.6; a box on a profile's eye and cheek
// (group_sample2, 124 px high) scores -0.53, texture 9.8, disagreement 0.29. The detector runs at kMinFaceScore = -0.6.
// (Until Face Mesh, the last rule compared the eyes' grey with the nose's; it also rejected a synthetic render whose
// eyes are lighter than its nose.)
constexpr double kMinFaceScore = -0.6;
constexpr double kMinFaceTexture = 6.0;
constexpr double kMaxFaceMeshDisagreement = 0.15;
std::string judge_face(const data::Image8& rgb, FaceCandidate& c);

struct Landmarks68 {
  std::array<double, 136> xy{};  // [68, 2] pixel coordinates (pixel centre = integer)
  std::array<double, 4> box{};   // detection box x0 y0 x1 y1 (zeros when given)
  double score = 0;              // detector confidence (0 when given)
  int faces_found = 0;           // faces the detector found and accepted (0 for a file)
  std::vector<FaceCandidate> rejected;  // detections rejected as no face (judge_face), largest first
  std::string source;            // "dlib", or the file path
  std::vector<double> mesh_xy;   // detection: Face Mesh's 468 points from judge_face's check of this face, one pass
                                 // in the region the landmarks outline (fit_image continues from them); else empty
};

// True when this build has dlib (FF_WITH_DLIB).
bool have_dlib();
// The shape-predictor file that detection would use (empty when none is found).
std::string find_shape_predictor();
// Every box of the detector (also at 2× for small photos when nothing is found at 1×), largest first, each with its
// landmarks and judge_face's verdict.
std::vector<FaceCandidate> detect_face_candidates(const Photo& photo);
// Detects faces, keeps those judge_face accepts, sorts them by box area (largest first) and returns the 68
// landmarks of accepted face `face`, with the rejected detections listed. Throws ff::Error: "no face found in
// '<path>'" (naming each rejected detection and why), "--face i out of range (n faces)", or when dlib / the model is
// missing.
Landmarks68 detect_landmarks(const Photo& photo, int face = 0);

// How dlib's two models load (detect.cpp explains the cache and the reader), for tests; both need dlib.
// The face detector's dlib serialisation as this process would build it: from the user's cache
// (~/.cache/facefield/dlib_frontal_face_detector_<dlib version>.fft, *from_cache = true) when that file is a valid
// facefield cache, else decoded from dlib and written there (only if no file or one of ours is in the way).
std::string face_detector_bytes(bool* from_cache);
// True when facefield's reader and dlib::deserialize turn the shape-predictor file `path` into predictors that
// serialise to the same bytes. Throws ff::Error when either cannot read it.
bool shape_predictor_reader_matches_dlib(const std::string& path);

// "index x y" per line (the format of shared/data/photos/*.dlib68.txt); '#' comments and blank lines skipped.
// All 68 indices 0..67 must appear exactly once with finite coordinates; throws ff::Error naming the line.
Landmarks68 read_landmarks_file(const std::string& path);
void write_landmarks_file(const std::string& path, const Landmarks68& l, const std::string& comment = "");

}  // namespace ff::fit
