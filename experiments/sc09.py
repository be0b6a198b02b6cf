"""SC09: the ten Speech Commands digits, 16384 samples at 16 kHz, the paper's d=64.

    python -m wavegan_jax train --config=experiments/sc09.py --workdir=runs/sc09 \
        --config.data.download=speech_commands

or, with a local copy, ``--config.data.path=/path/to/speech_commands``.
"""
from experiments import base


def get_config(variant: str = ""):
    c = base.get_config()
    c.data.source = "speech_commands"
    c.data.path = "../shared/data/speech_commands"
    c.data.words = "sc09"
    c.data.sample_rate = 16000
    c.data.prepared = "data/prepared/sc09_16k_16384"
    c.model.length = 16384
    c.model.d = 64
    c.num_steps = 100000
    c.eval_every = 1000
    return base.variant(c, variant)
