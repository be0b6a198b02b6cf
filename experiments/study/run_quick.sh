#!/usr/bin/env bash
# Run (or resume) every cell of the quick zero/one screen; results in runs/study_quick/*/metrics.jsonl.
#   bash experiments/study/run_quick.sh [SEEDS]      e.g. bash experiments/study/run_quick.sh "0 1 2"
# Cells run one after another, all seeds of a cell before the next; CELLS="acgan,wgan_gp ..." picks some.
# STUDY=heldout_zero_one OUT=runs/study_heldout runs the cells of experiments/study/heldout_zero_one.py;
# STEPS=2000 trains (or resumes) every cell to 2000 steps instead of 1000.
set -euo pipefail
seeds=${1:-0}
cells=${CELLS:-"acgan,wgan_gp projection,hinge concat,wgan_gp concat,nonsaturating sample_in_channel,wgan_gp none,wgan_gp acgan,nonsaturating sample_in_channel,nonsaturating none,nonsaturating"}
study=${STUDY:-quick_zero_one}
out=${OUT:-runs/study_quick}
steps=${STEPS:-1000}
mkdir -p "$out"
for cell in $cells; do
  for seed in $seeds; do
    dir=$out/${cell//,/-}-s$seed
    if [ -f "$dir/metrics.jsonl" ] && grep -q "\"step\": $steps," "$dir/metrics.jsonl"; then continue; fi
    python -m wavegan_jax train --config=experiments/study/$study.py:$cell --workdir=$dir \
      --config.seed=$seed --config.num_steps=$steps >> "$dir.log" 2>&1 || echo "$cell seed $seed failed: see $dir.log"
  done
done
python experiments/study/summarize.py "$out" --final-step "$steps"
