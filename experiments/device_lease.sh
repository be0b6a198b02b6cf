#!/usr/bin/env bash
# What one call on a lent GPU runs, in priority order, inside BUDGET seconds (default 480).
#   bash experiments/device_lease.sh study        (issue 6, first): the original study's grid on its
#     model (experiments/study/downsized_zero_one.py: zero/one, 4096 samples at 4096 Hz, d=32), each
#     cell's 3 seeds vmapped in one run, main cells first, into runs/study_downsized;
#   bash experiments/device_lease.sh divergence   (issue 7): the divergence table of the study's
#     downsized model (lr x n_critic, 10 repeats vmapped), the 1024-sample table with 10 repeats
#     vmapped into runs/divergence_gpu, then the K-seeds benchmark.
#   bash experiments/device_lease.sh recipe       (issue 37): the recipe screen: eight configs of
#     experiments/digits.py (baseline, each component alone, stacks) trained side by side on the one
#     GPU for MINUTES (default 6) of training time each by benchmarks/quality_per_hour.py, evaluated
#     every EVAL (1.5) minutes, into runs/recipe_gpu; carry data/prepared/fsdd_digits_8k_4096 with its
#     classifier (train-classifier first). RUNS="NAME=CONFIG ..." replaces the eight, PARALLEL how many
#     run at once, EXTRA adds --config.FIELD=VALUE to all (e.g. EXTRA=--config.model.d=32).
# A second call on the still-warm machine resumes where the first stopped (checkpoints stay there).
# The study grid takes about 17 minutes of an H100 (93-125 s per cell): more than one 15-minute lease.
# A fresh machine skips the cells whose seeds finished when runs/study_downsized is carried (their
# metrics.jsonl is what counts; checkpoints are not needed).
# Whatever finished is packed into $OUT/TASK_gpu.tgz (no checkpoints).
# The device has JAX with CUDA but not our small dependencies: carry them as wheels in .whl/ and the
# prepared folders of experiments/divergence.py (see /work/.library/device/README.md):
#   run(command="bash experiments/device_lease.sh study", carry=[".whl", "data/prepared/fsdd_zero_one_1k_1024",
#       "data/prepared/fsdd_zero_one_4096hz_4096"], timeout_s=560)
set -u
task=${1:-study}
start=$(date +%s); budget=${BUDGET:-480}
left() { echo $(( budget - ($(date +%s) - start) )); }
PY=/opt/torch/.venv/bin/python3; [ -x $PY ] || PY=$(command -v python3)
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
export PATH=$(dirname "$PY"):$PATH  # the venv's own python (a symlink to it would miss the venv)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import jax, flax, optax, orbax.checkpoint as o; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())" || exit 1
if [ "$task" = recipe ]; then
  export XLA_PYTHON_CLIENT_PREALLOCATE=false  # eight processes share the GPU
  pack() { tar czf "${OUT:-/tmp}/recipe_gpu.tgz" --exclude=checkpoints --exclude=best --exclude='events*' runs/recipe_gpu 2>/dev/null; }
  timeout 120 python -m wavegan_jax train --config=experiments/digits.py:smoke --workdir=/tmp/smoke \
    --config.data.prepared=data/prepared/fsdd_digits_8k_4096 > /tmp/smoke.log 2>&1 \
    || { tail -30 /tmp/smoke.log; echo "smoke run failed"; exit 1; }
  echo "smoke run passed after $(( $(date +%s) - start )) s"
  t=$(( $(left) - 25 ))
  timeout "$t" python benchmarks/quality_per_hour.py --out runs/recipe_gpu --parallel "${PARALLEL:-8}" \
    --minutes "${MINUTES:-6}" --eval-minutes "${EVAL:-1.5}" --config.sample_every=2000 --config.checkpoint_every=2000 \
    ${RUNS:-base=experiments/digits.py:baseline stft=experiments/digits.py:baseline,+stft \
    film=experiments/digits.py:baseline,+film cheap=experiments/digits.py:baseline,+cheap \
    cheap_stft=experiments/digits.py:baseline,+cheap,+stft stft_film=experiments/digits.py:baseline,+stft,+film \
    cheap_stft_film_aug=experiments/digits.py:baseline,+cheap,+stft,+film,+aug \
    cheap_stft_fm=experiments/digits.py:baseline,+cheap,+stft,+fm} $EXTRA
  python benchmarks/quality_per_hour.py --out runs/recipe_gpu --plot "${OUT:-/tmp}/recipe_gpu.png" | tee "${OUT:-/tmp}/recipe_gpu.md"
  for f in runs/recipe_gpu/*/train.log; do echo "== $f"; grep -E "step [0-9]+:|Error|error" "$f" | tail -2 | cut -c1-300; done
  pack; echo "device script done after $(( $(date +%s) - start )) s"; exit 0
fi
if [ "$task" = study ]; then
  pack() { tar czf "${OUT:-/tmp}/study_gpu.tgz" --exclude=checkpoints --exclude=best runs/study_downsized 2>/dev/null; }
  for cell in acgan,wgan_gp concat,wgan_gp sample_in_channel,wgan_gp projection,hinge none,wgan_gp \
      concat,nonsaturating acgan,nonsaturating sample_in_channel,nonsaturating none,nonsaturating acgan,nonsaturating,study; do
    t=$(left); [ "$t" -gt 60 ] && VMAP=1 CELLS=$cell STUDY=downsized_zero_one OUT=runs/study_downsized \
      timeout "$t" bash experiments/study/run_quick.sh "0 1 2"; pack
  done
  python experiments/study/summarize.py runs/study_downsized
  echo "device script done after $(( $(date +%s) - start )) s"; exit 0
fi
[ "$task" = divergence ] || { echo "unknown task $task; known: study, divergence, recipe"; exit 2; }
seeds="0 1 2 3 4 5 6 7 8 9"
export ARGS="--config.checkpoint_every=5000"
pack() { tar czf "${OUT:-/tmp}/divergence_gpu.tgz" --exclude=checkpoints runs/divergence_4096 runs/divergence_gpu 2>/dev/null; }
t=$(left); [ "$t" -gt 30 ] && VMAP=1 SIZE=4096 timeout "$t" bash experiments/run_divergence.sh "$seeds"; pack
t=$(left); [ "$t" -gt 30 ] && VMAP=1 DIR=runs/divergence_gpu timeout "$t" bash experiments/run_divergence.sh "$seeds"; pack
t=$(left); [ "$t" -gt 20 ] && timeout "$t" python benchmarks/bench_seeds.py --cases 1024:16:64,4096:32:64 --ks 1,4,10 \
  --n-critic 5 --repeats 5 | tee runs/bench_seeds_gpu.jsonl
cp runs/bench_seeds_gpu.jsonl "${OUT:-/tmp}/" 2>/dev/null; pack
for f in runs/divergence_4096/*.log runs/divergence_gpu/*.log; do echo "== $f"; tail -3 "$f"; done
echo "device script done after $(( $(date +%s) - start )) s"
