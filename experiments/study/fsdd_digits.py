"""Ten FSDD digits, every strategy at one fixed budget (issue 6's ten-digit comparison).

The zero/one screen's model and budget (4096 samples at 8 kHz, d=16, batch 32, 1000 steps, 50
clips per word at every evaluation) on all ten digits of the five speakers in ../shared/data/fsdd
(2250 training clips). The judge is the classifier trained on the same train split (its test
speakers are the generator's): a judge trained on two speakers only reached 57% on the other three
speakers' real test clips for ten digits (98% on its own), too weak a ceiling to rank strategies.

    python -m wavegan_jax train --config=experiments/study/fsdd_digits.py:acgan,wgan_gp \
        --workdir=runs/study_digits/acgan-wgan_gp-s0 --config.seed=0

or every cell: ``STUDY=fsdd_digits OUT=runs/study_digits bash experiments/study/run_quick.sh "0 1"``.
The first run prepares the data and trains the classifier (about 5 minutes on one core).
"""
from experiments.study import quick_zero_one


def get_config(arg: str = "acgan,wgan_gp"):
    c = quick_zero_one.get_config(arg)
    c.data.source, c.data.path, c.data.words = "fsdd", "../shared/data/fsdd", "sc09"
    c.data.prepared = "data/prepared/fsdd_digits_8k_4096"
    return c
