"""The original study's final setup: Speech Commands "zero"/"one", 1 s clips resampled to 4096 Hz.

    python -m wavegan_jax train --config=experiments/study_zero_one.py --workdir=runs/study \
        --config.data.path=/path/to/speech_commands

4096 samples, d=32, concatenation conditioning, WGAN-GP. ``data.path`` is a Speech Commands
folder (``WORD/*.wav`` and the split lists); ``--config.data.download=speech_commands`` fetches
v0.02 instead. ../shared/data/speech_commands is a tiny sample of v0.01 for trying it out.
"""
from experiments import base


def get_config(variant: str = ""):
    c = base.get_config()
    c.data.source = "speech_commands"
    c.data.path = "../shared/data/speech_commands"
    c.data.words = "zero,one"
    c.data.sample_rate = 4096
    c.data.prepared = "data/prepared/sc_zero_one_4096hz_4096"
    c.model.length = 4096
    c.model.d = 32
    c.eval_every = 1000
    return base.variant(c, variant)
