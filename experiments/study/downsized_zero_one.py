"""The original study's grid on its own model: zero/one, 4096 samples at 4096 Hz, d=32 (issue 6).

    python -m wavegan_jax train --config=experiments/study/downsized_zero_one.py:concat,nonsaturating \
        --workdir=runs/study_downsized/concat-nonsaturating-s0 --config.seed=0

The argument is ``CONDITIONING,LOSS`` or ``CONDITIONING,LOSS,study`` as in ``quick_zero_one.py``,
whose recipe and budget this keeps (batch 32, n_critic 5, 1000 generator steps, evaluated every 250
steps on 50 clips per word), with the study's model size instead of the quick screen's (4096
samples at 8 kHz, d=16). The data are the bundled FSDD zero/one clips resampled to 4096 Hz: the
study's Speech Commands zero/one is not available here (``--config.data.source=speech_commands
--config.data.path=FOLDER --config.data.prepared=data/prepared/sc_zero_one_4096hz_4096`` uses it).
d=32 costs about 2 s per step on the 2-core CPU, so the grid is meant for an accelerator: on one,
``STUDY=downsized_zero_one OUT=runs/study_downsized bash experiments/study/run_quick.sh "0 1 2"``,
or with ``VMAP=1`` there to train a cell's three seeds together (``experiments/device_lease.sh study``).
"""
from experiments.study import quick_zero_one


def get_config(arg: str = "concat,wgan_gp"):
    c = quick_zero_one.get_config(arg)
    c.data.sample_rate, c.model.length, c.model.d = 4096, 4096, 32
    c.data.prepared = "data/prepared/fsdd_zero_one_4096hz_4096"
    return c
