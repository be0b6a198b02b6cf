"""Quickstart: FSDD "zero"/"one" bundled with the package, a small model, a few minutes on 2 CPU cores.

    python -m wavegan_jax train --config=experiments/quickstart.py --workdir=runs/quickstart

Clips are 4096 samples at 8 kHz (0.51 s), model size d=16, batch 32. Samples land in
runs/quickstart/samples/ and TensorBoard logs in runs/quickstart/.
"""
from experiments import base


def get_config(variant: str = ""):
    c = base.get_config()
    c.data.source = "bundled"
    c.data.words = "zero,one"
    c.data.sample_rate = 8000
    c.data.prepared = "data/prepared/fsdd_zero_one_8k_4096"
    c.model.length = 4096
    c.model.d = 16
    c.batch_size = 32
    c.num_steps = 1000
    c.log_every = 25
    c.sample_every = 250
    c.checkpoint_every = 250
    return base.variant(c, variant)
