#!/usr/bin/env bash
# The original study's divergence tables (issue 7): one factor at a time around the base setting
# of experiments/divergence.py (lr 1e-4, batch 64, lambda 10, 1 critic update), for the concat and
# the unconditional model. Seed-major: every setting gets seed 0 before any gets seed 1, so a
# stopped run still leaves a complete (thinner) table. The base setting runs once per seed (in
# COND-base) and serves every factor's row. Resumable: finished runs are skipped, a killed one resumes.
#   bash experiments/run_divergence.sh [SEEDS]     (default: "0 1 2 3 4 5 6 7 8 9")
#   python experiments/divergence_table.py runs/divergence     (the table, next to the original's)
# VMAP=1 trains all SEEDS of a setting together (one vmapped run: for a GPU); SIZE=4096 runs the
# study's downsized model instead (4096 samples at 4096 Hz, d=32) over lr x n_critic;
# DIR=FOLDER writes elsewhere (default runs/divergence, runs/divergence_4096 for SIZE=4096); ARGS="--config.x=..."
# is passed to every sweep.
set -uo pipefail
seeds=${1:-"0 1 2 3 4 5 6 7 8 9"}
if [ "${SIZE:-}" = 4096 ]; then
  out=${DIR:-runs/divergence_4096}; suffix=",4096"
  jobs=("none lr_n_critic lr=1e-4,1e-5 n_critic=1,5" "concat lr_n_critic lr=1e-4,1e-5 n_critic=1,5")
else
  out=${DIR:-runs/divergence}; suffix=""
  jobs=("concat base n_critic=1" "none base n_critic=1" "concat lr lr=1e-5" "none lr lr=1e-5"
        "concat gp_lambda gp_lambda=100" "none gp_lambda gp_lambda=100" "none n_critic n_critic=5"
        "concat batch_size batch_size=8,16,32" "none batch_size batch_size=8,16,32"
        "none n_critic n_critic=2,3,4")
fi
if [ -n "${VMAP:-}" ]; then groups=("$(echo $seeds | tr ' ' ',') --vmap"); else groups=($seeds); fi
mkdir -p "$out"
while pgrep -f "wavegan_jax sweep --config=experiments/divergence.py" > /dev/null; do sleep 10; done  # one at a time
for group in "${groups[@]}"; do
  for job in "${jobs[@]}"; do
    read -r cond name grid <<< "$job"
    python -m wavegan_jax sweep --config=experiments/divergence.py:$cond$suffix --grid "$grid" --seeds $group ${ARGS:-} \
      --workdir "$out/$cond-$name" >> "$out/$cond-$name.log" 2>&1 \
      || echo "sweep $cond $grid seeds $group failed: see $out/$cond-$name.log"
  done
done
