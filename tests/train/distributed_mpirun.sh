#!/usr/bin/env bash
# tests/train/distributed_mpirun.sh — data-parallel training under mpirun (ctest train/distributed_mpirun, ~30 s):
#   1. tests/train/test_distributed.cpp under `mpirun -np 2`: 2 CPU ranks against one process (same global batch),
#      identical state on every rank, bit-identical resume, a non-finite gradient on one rank;
#   2. `mpirun -np 2 train`: completes, rank 0 alone writes the output folder, metrics.json says 2 ranks;
#   3. a rank that fails (too few pairs for the ranks) stops the job with its message;
#   4. a rank killed mid-run stops the job, leaves only complete files, and the run resumes with ONE process;
#      that process's checkpoint is then resumed by 2 ranks.
# Skipped (exit 0, the reason printed) when the build has no MPI or no mpirun.
#   bash tests/train/distributed_mpirun.sh BUILD_DIR WORK_DIR MPIRUN
set -uo pipefail
BIN=$1
WORK=$2
MPIRUN=${3:-}
if [ -z "$MPIRUN" ] || [ ! -x "$MPIRUN" ]; then
  echo "skipped: no mpirun (install libopenmpi-dev openmpi-bin: scripts/setup.sh, then reconfigure)"
  exit 0
fi
# OpenMPI takes its install prefix from the launcher's path: /bin/mpirun (a merged-/usr symlink) would say "/"
MPI=("$(readlink -f "$MPIRUN")" --oversubscribe)
[ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
rm -rf "$WORK" && mkdir -p "$WORK" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

echo "== 1. test_distributed.cpp on 2 ranks"
"${MPI[@]}" -np 2 "$BIN/test_train" --source-file='*/test_distributed.cpp' --no-version || fail "2-rank doctest"

cat > "$WORK/tiny.json" <<'EOF'
{"toy": true, "toy_subjects": 3, "toy_views": 4, "toy_width": 24, "toy_height": 32,
 "model": {"code_dim": 6, "z_dim": 8, "feat_dim": 8, "tex_res": 8, "K": 2, "hidden": 8,
           "channel_base": 64, "channel_max": 8, "channel_min": 4},
 "batch_views": 2, "minibatch_subjects": 2, "minibatch_iters": 2, "threads": 1, "progress": false,
 "max_heldout_subjects": 1, "eval_fit_steps": 2, "export_subjects": 1}
EOF

echo "== 2. mpirun -np 2 train"
"${MPI[@]}" -np 2 "$BIN/train" --config "$WORK/tiny.json" --steps 6 --ckpt_every 3 --out_dir "$WORK/two" \
  > "$WORK/two.log" 2>&1 || { cat "$WORK/two.log"; fail "2-rank train"; }
grep -q '"ranks": 2' "$WORK/two/metrics.json" || fail "metrics.json does not say 2 ranks"
grep -q "data parallel: 2 ranks" "$WORK/two.log" || fail "no data-parallel line in the log"
[ "$(grep -c 'resumed\|\[train\] .* identities' "$WORK/two.log")" = 1 ] || fail "more than one rank logged"
[ -f "$WORK/two/checkpoints/step_00000006.ffck" ] || fail "no final checkpoint"
find "$WORK/two" -name '*.tmp.*' | grep -q . && fail "temporary files left"

echo "== 3. a failing rank stops the job with its message"
"${MPI[@]}" -np 2 "$BIN/train" --config "$WORK/tiny.json" --batch_views 1 --steps 2 --out_dir "$WORK/few" \
  > "$WORK/few.log" 2>&1 && fail "batch_views 1 on 2 ranks was accepted"
grep -q "batch_views 1 is less than the 2 ranks" "$WORK/few.log" || { cat "$WORK/few.log"; fail "no reason given"; }
grep -q "stopping every rank" "$WORK/few.log" || fail "no job-stop message"

echo "== 4. a killed rank stops the job; the run resumes with one process"
"${MPI[@]}" -np 2 "$BIN/train" --config "$WORK/tiny.json" --steps 1000000 --ckpt_every 25 --keep_ckpts 2 \
  --out_dir "$WORK/kill" > "$WORK/kill.log" 2>&1 &
mpid=$!
for _ in $(seq 1 600); do
  ls "$WORK/kill/checkpoints/"step_*.ffck > /dev/null 2>&1 && break
  sleep 0.1
done
ls "$WORK/kill/checkpoints/"step_*.ffck > /dev/null 2>&1 || { kill "$mpid"; fail "no checkpoint within 60 s"; }
ranks=$(pgrep -P "$mpid" | sort -n)
victim=$(echo "$ranks" | tail -1)
[ "$(echo "$ranks" | wc -l)" = 2 ] || { kill "$mpid"; fail "expected 2 rank processes under mpirun, got: $ranks"; }
kill -9 "$victim"
wait "$mpid" && fail "the job went on after a rank was killed"
grep -qi "signal 9\|killed" "$WORK/kill.log" || { cat "$WORK/kill.log"; fail "no message naming the killed rank"; }
last=$(ls "$WORK/kill/checkpoints/" | grep -E '^step_[0-9]+\.ffck$' | sort | tail -1)
step=$((10#$(echo "$last" | tr -dc 0-9)))
"$BIN/train" --config "$WORK/tiny.json" --steps $((step + 5)) --ckpt_every 25 --out_dir "$WORK/kill" --resume latest \
  > "$WORK/resume.log" 2>&1 || { cat "$WORK/resume.log"; fail "resume with one process"; }
grep -q "resumed from" "$WORK/resume.log" || fail "did not resume"
[ -f "$WORK/kill/checkpoints/step_$(printf %08d $((step + 5))).ffck" ] || fail "resumed run did not finish"
find "$WORK/kill" -name '*.tmp.*' | grep -q . && fail "temporary files left after the resumed run"
# and the one-process checkpoint continued by 2 ranks
"${MPI[@]}" -np 2 "$BIN/train" --config "$WORK/tiny.json" --steps $((step + 8)) --out_dir "$WORK/kill" --resume latest \
  > "$WORK/resume2.log" 2>&1 || { cat "$WORK/resume2.log"; fail "resume with 2 ranks"; }
grep -q "resumed from .*step_$(printf %08d $((step + 5))).ffck" "$WORK/resume2.log" || fail "2 ranks did not resume"
[ -f "$WORK/kill/checkpoints/step_$(printf %08d $((step + 8))).ffck" ] || fail "2-rank resumed run did not finish"
echo "distributed_mpirun: all passed (killed at checkpoint step $step, resumed to $((step + 5)) by 1 process, to $((step + 8)) by 2 ranks)"
