#!/usr/bin/env bash
# fuzz/make_corpus.sh — (re)make the committed seed corpora fuzz/corpus/<target>/ (small: a few hundred KB in all).
#   fuzz/make_corpus.sh [BUILD=build]
# Needs BUILD/fuzz/fuzz_make_seeds and BUILD/ffdata (cmake --build BUILD --target fuzz_make_seeds ffdata) and
# python3 (standard library only). Sources of the seeds:
#   fuzz_fft, fuzz_ffck, fuzz_ffpk, fuzz_ply   fuzz/make_seeds.cpp (the code's own writers: valid files of every
#                      kind / dtype / PLY variant, and truncated and bit-flipped copies) + version-1 files
#                      (tests/fixtures/container_v1.*, and a v1 .fft from tests/reference/container_v1_fixtures.py)
#   fuzz_image, fuzz_split_json                fuzz/make_seeds.cpp too (PNG/JPEG of 1, 3, 4 channels and damaged
#                      copies; valid and invalid splits) + crash inputs kept as regression seeds (re-add them by hand)
#   fuzz_pickle, fuzz_npz                      the small FLAME fixtures of tests/fixtures/
#   fuzz_camera_json, fuzz_tracking_npz        a 2-subject `ffdata synth` dataset, plus per-camera / scaled
#                      intrinsics variants of its camera_params.json
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
C=$ROOT/fuzz/corpus
F=$ROOT/tests/fixtures
TMP=$(mktemp -d /tmp/ff_fuzz_corpus.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
for t in $(grep -E '^fuzz_' "$ROOT/fuzz/targets.txt" | awk '{print $1}'); do rm -rf "${C:?}/$t"; mkdir -p "$C/$t"; done

"$BUILD/fuzz/fuzz_make_seeds" "$C"
cp "$F/container_v1.ffck" "$C/fuzz_ffck/v1.ffck"
cp "$F/container_v1.ffpk" "$C/fuzz_ffpk/v1.ffpk"
python3 - "$ROOT/tests/reference" "$C/fuzz_fft/v1.fft" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[1])
import container_v1_fixtures as v1
recs = [v1.record("w", "f", [2, 2], [1, 2, 3, 4]), v1.record("idx", "q", [3], [0, 1, 2]), v1.record("b", "B", [2], [7, 8])]
open(sys.argv[2], "wb").write(v1.finish(b"FFTENSOR" + struct.pack("<II", 1, len(recs)) + b"".join(recs)))
PY

cp "$F/flame_masks.pkl" "$F/flame_static_embedding.pkl" "$F/flame_model_2020.pkl" "$C/fuzz_pickle/"
python3 - "$F/flame_landmark_embedding_with_eyes.npy" "$C/fuzz_pickle/landmark_embedding_with_eyes.pkl" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(b[b.index(b'\x80'):])  # the pickle stream inside the object .npy
PY
cp "$F/flame_dtypes.npz" "$F/flame_dtypes_zip64.npz" "$F/flame_v2.npy" "$F/flame_v3.npy" \
   "$F/flame_landmark_embedding_with_eyes.npy" "$C/fuzz_npz/"

"$BUILD/ffdata" synth --out "$TMP/ds" --n 2 --heldout 1 --width 55 --height 80 --texture 32 --no-preprocess \
  --no-contact-sheets --quiet >/dev/null
cp "$TMP/ds/000/calibration/camera_params.json" "$C/fuzz_camera_json/seed.json"
cp "$TMP/ds/split.json" "$C/fuzz_camera_json/split.json" 2>/dev/null || true
python3 - "$C/fuzz_camera_json/seed.json" "$C/fuzz_camera_json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
k = j["intrinsics"]
per = dict(j); per["intrinsics"] = {s: k for s in j["world_2_cam"]}
json.dump(per, open(sys.argv[2] + "/per_camera.json", "w"))
half = dict(j); half["intrinsics"] = [[v * 0.5 for v in row] for row in k]
json.dump(half, open(sys.argv[2] + "/half_k.json", "w"), indent=1)
PY
i=0
for f in $(find "$TMP/ds" -name '*.npz' | sort | head -2); do cp "$f" "$C/fuzz_tracking_npz/seed_$i.npz"; i=$((i + 1)); done
cp "$F/flame_dtypes.npz" "$C/fuzz_tracking_npz/"
du -sh "$C"/* "$C"
