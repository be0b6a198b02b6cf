#!/usr/bin/env bash
# Run (or resume) every cell of the quick zero/one screen; results in runs/study_quick/*/metrics.jsonl.
#   bash experiments/study/run_quick.sh [SEEDS]      e.g. bash experiments/study/run_quick.sh "0 1 2"
# Cells run one after another, all seeds of a cell before the next; CELLS="acgan,wgan_gp ..." picks some.
# STUDY=heldout_zero_one OUT=runs/study_heldout runs the cells of experiments/study/heldout_zero_one.py;
# STEPS=2000 trains (or resumes) every cell to 2000 steps instead of 1000. VMAP=1 trains a cell's
# seeds (consecutive, e.g. "0 1 2") together in one vmapped run, OUT/CELL/seed_S (for an accelerator).
set -euo pipefail
seeds=${1:-0}
cells=${CELLS:-"acgan,wgan_gp projection,hinge concat,wgan_gp concat,nonsaturating sample_in_channel,wgan_gp none,wgan_gp acgan,nonsaturating sample_in_channel,nonsaturating none,nonsaturating"}
study=${STUDY:-quick_zero_one}
out=${OUT:-runs/study_quick}
steps=${STEPS:-1000}
mkdir -p "$out"
finished() { [ -f "$1/metrics.jsonl" ] && grep -q "\"step\": $steps," "$1/metrics.jsonl"; }
for cell in $cells; do
  if [ -n "${VMAP:-}" ]; then
    read -ra s <<< "$seeds"; dir=$out/${cell//,/-}; todo=0
    [ "$seeds" = "$(seq -s ' ' "${s[0]}" $(( s[0] + ${#s[@]} - 1 )))" ] \
      || { echo "VMAP=1 trains consecutive seeds (seed, seed + 1, ...); got \"$seeds\"" >&2; exit 2; }
    # a seed finished in either layout (OUT/CELL/seed_S, or OUT/CELL-sS by a run without VMAP) counts;
    # a vmapped run would train the latter again and summarize.py would count them twice
    alone=0
    for seed in "${s[@]}"; do
      finished "$dir/seed_$seed" && continue; finished "$dir-s$seed" && alone=1 && continue; todo=1
    done
    [ $todo = 0 ] || [ $alone = 0 ] \
      || { echo "$cell: some of seeds \"$seeds\" finished without VMAP in $out; run the rest without VMAP" >&2; exit 2; }
    [ $todo = 0 ] || python -m wavegan_jax train --config=experiments/study/$study.py:$cell --workdir=$dir \
      --config.seed="${s[0]}" --config.num_seeds=${#s[@]} --config.num_steps=$steps >> "$dir.log" 2>&1 \
      || echo "$cell seeds $seeds failed: see $dir.log"
    continue
  fi
  for seed in $seeds; do
    dir=$out/${cell//,/-}-s$seed
    if finished "$dir"; then continue; fi
    python -m wavegan_jax train --config=experiments/study/$study.py:$cell --workdir=$dir \
      --config.seed=$seed --config.num_steps=$steps >> "$dir.log" 2>&1 || echo "$cell seed $seed failed: see $dir.log"
  done
done
python experiments/study/summarize.py "$out" --final-step "$steps"
