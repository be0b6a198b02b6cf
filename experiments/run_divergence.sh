#!/usr/bin/env bash
# The original study's divergence tables (issue 7): one factor at a time around the base setting
# of experiments/divergence.py (lr 1e-4, batch 64, lambda 10, 1 critic update), for the concat and
# the unconditional model. Seed-major: every setting gets seed 0 before any gets seed 1, so a
# stopped run still leaves a complete (thinner) table. The base setting runs once per seed (in
# COND-base) and serves every factor's row. Resumable: finished runs are skipped, a killed one resumes.
#   bash experiments/run_divergence.sh [SEEDS]     (default: "0 1 2 3 4 5 6 7 8 9")
#   python experiments/divergence_table.py runs/divergence     (the table, next to the original's)
set -uo pipefail
mkdir -p runs/divergence
seeds=${1:-"0 1 2 3 4 5 6 7 8 9"}
while pgrep -f "wavegan_jax sweep --config=experiments/divergence.py" > /dev/null; do sleep 10; done  # one at a time
for seed in $seeds; do
  for job in "concat base n_critic=1" "none base n_critic=1" "concat lr lr=1e-5" "none lr lr=1e-5" \
             "concat gp_lambda gp_lambda=100" "none gp_lambda gp_lambda=100" "none n_critic n_critic=5" \
             "concat batch_size batch_size=8,16,32" "none batch_size batch_size=8,16,32" \
             "none n_critic n_critic=2,3,4"; do
    read -r cond name grid <<< "$job"
    python -m wavegan_jax sweep --config=experiments/divergence.py:$cond --grid "$grid" --seeds "$seed" \
      --workdir "runs/divergence/$cond-$name" >> "runs/divergence/$cond-$name.log" 2>&1 \
      || echo "sweep $cond $grid seed $seed failed: see runs/divergence/$cond-$name.log"
  done
done
