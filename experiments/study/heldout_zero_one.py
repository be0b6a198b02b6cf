"""A study cell judged by a classifier that never heard the generator's speakers.

The generator learns from three FSDD speakers of the bundled zero/one clips (jackson, nicolas,
theo); the judge is trained on the other two (george, yweweler). Prepare and train the judge once,
then train cells as in quick_zero_one.py:

    python -m wavegan_jax prepare --source fsdd --path wavegan_jax/bundled/fsdd_zero_one \
        --words zero,one --speakers george,yweweler --sample-rate 8000 --length 4096 \
        --out data/prepared/fsdd_zero_one_8k_4096_judge
    python -m wavegan_jax train-classifier --config=experiments/study/heldout_zero_one.py:judge
    python -m wavegan_jax train --config=experiments/study/heldout_zero_one.py:acgan,wgan_gp \
        --workdir=runs/study_heldout/acgan-wgan_gp-s0 --config.seed=0

The argument is ``judge`` (the judge's own data, for train-classifier) or a quick_zero_one cell.
The "real test split" row of every evaluation is the judge on the three speakers' real test
clips: the ceiling for a generator that sounds like them.
"""
from experiments.study import quick_zero_one

GENERATOR_SPEAKERS = "jackson,nicolas,theo"
JUDGE_SPEAKERS = "george,yweweler"
JUDGE_DATA = "data/prepared/fsdd_zero_one_8k_4096_judge"


def get_config(arg: str = "acgan,wgan_gp"):
    if arg == "judge":
        c = quick_zero_one.get_config("concat,wgan_gp")
        c.data.speakers, c.data.prepared = JUDGE_SPEAKERS, JUDGE_DATA
        return c
    c = quick_zero_one.get_config(arg)
    c.data.speakers = GENERATOR_SPEAKERS
    c.data.prepared = "data/prepared/fsdd_zero_one_8k_4096_3spk"
    c.classifier.prepared = JUDGE_DATA
    return c
