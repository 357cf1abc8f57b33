// train/fit/dlib_format.h — dlib's 68-point shape predictor read from memory (detect.cpp's landmark model loader).
//
// dlib::deserialize reads its portable format (dlib/serialize.h) through istream calls, ~0.8 s for the 100 MB
// shape_predictor_68_face_landmarks.dat; read_shape_predictor parses the same bytes directly in about a third of
// that. The format: an integer is a control byte (its length in bytes, 1–8, in the low 4 bits; 0x80 set when
// negative; 0x70 clear) and that many little-endian bytes; a float is an int64 mantissa and an int16 exponent
// (32000/32001/32002: +inf/−inf/NaN), its value ldexp(float(mantissa), exponent) as dlib computes it; a std::vector
// its size and elements; a column matrix (−rows, −1) and its elements. A shape_predictor (version 1) is the initial
// shape, the forests (per cascade, trees of splits {idx1, idx2, thresh} and leaf vectors), the anchor indices and
// the deltas. The predictor is built through dlib's public constructor from the pixel coordinates that anchors and
// deltas encode (anchor point + delta); it serialises to dlib's own bytes again (tests/train/test_fit.cpp checks
// this on a predictor the test builds, and on the installed model file when there is one).
// Anything unexpected (another version or layout, a count past the data, trailing bytes) throws std::runtime_error
// naming what; the caller then falls back to dlib::deserialize. Compiled with FF_WITH_DLIB only.
#pragma once
#if defined(FF_WITH_DLIB)
#include <cstddef>

#include <dlib/image_processing/shape_predictor.h>

namespace ff::fit {

dlib::shape_predictor read_shape_predictor(const char* bytes, size_t size);

}  // namespace ff::fit
#endif
