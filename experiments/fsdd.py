"""FSDD, ten digits: 8192 samples at 8 kHz (1.02 s), d=32.

    python -m wavegan_jax train --config=experiments/fsdd.py --workdir=runs/fsdd

``data.path`` defaults to ../shared/data/fsdd; ``--config.data.download=fsdd`` fetches FSDD.
"""
from experiments import base


def get_config(variant: str = ""):
    c = base.get_config()
    c.data.source = "fsdd"
    c.data.path = "../shared/data/fsdd"
    c.data.words = "sc09"
    c.data.sample_rate = 8000
    c.data.prepared = "data/prepared/fsdd_8k_8192"
    c.model.length = 8192
    c.model.d = 32
    c.eval_every = 1000
    return base.variant(c, variant)
