#!/usr/bin/env bash
# Run (or resume) every cell of the quick zero/one screen; results in runs/study_quick/*/metrics.jsonl.
#   bash experiments/study/run_quick.sh [SEEDS]      e.g. bash experiments/study/run_quick.sh "0 1 2"
set -euo pipefail
seeds=${1:-0}
cells="concat,wgan_gp projection,hinge acgan,wgan_gp sample_in_channel,wgan_gp concat,nonsaturating none,wgan_gp"
for seed in $seeds; do
  for cell in $cells; do
    dir=runs/study_quick/${cell/,/-}-s$seed
    if [ -f "$dir/metrics.jsonl" ] && grep -q '"step": 1000' "$dir/metrics.jsonl"; then continue; fi
    python -m wavegan_jax train --config=experiments/study/quick_zero_one.py:$cell --workdir=$dir \
      --config.seed=$seed > "$dir.log" 2>&1 || echo "$cell seed $seed failed: see $dir.log"
  done
done
python experiments/study/summarize.py runs/study_quick
