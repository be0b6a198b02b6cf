#!/usr/bin/env bash
# The original study's divergence tables (issue 7): one factor at a time around the base setting
# of experiments/divergence.py, 10 repeats each, for the unconditional and the concat model.
# Resumable: run it again and finished runs are skipped, a killed one resumes.
#   bash experiments/run_divergence.sh [SEEDS]       (default: 0,1,2,3,4,5,6,7,8,9)
set -euo pipefail
mkdir -p runs/divergence
seeds=${1:-0,1,2,3,4,5,6,7,8,9}
for cond in none concat; do
  for grid in "n_critic=1,2,3,4,5" "lr=1e-4,1e-5" "batch_size=8,16,32,64" "gp_lambda=10,100"; do
    name=${grid%%=*}
    python -m wavegan_jax sweep --config=experiments/divergence.py:$cond --grid "$grid" --seeds "$seeds" \
      --workdir "runs/divergence/$cond-$name" > "runs/divergence/$cond-$name.log" 2>&1 \
      || echo "sweep $cond $grid failed: see runs/divergence/$cond-$name.log"
  done
done
