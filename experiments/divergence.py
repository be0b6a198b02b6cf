"""The original study's divergence experiment: zero/one at 1024 Hz, 1024 samples, d=16, WGAN-GP.

    wavegan_jax sweep --config=experiments/divergence.py --grid 'lr=1e-4,1e-5' \
        --seeds 0,1,2,3,4,5,6,7,8,9 --vmap --workdir runs/divergence/none-lr
    wavegan_jax sweep --config=experiments/divergence.py:concat --grid 'n_critic=1,2,3,4,5' \
        --seeds 0,1,2,3,4,5,6,7,8,9 --vmap --workdir runs/divergence/concat-n_critic

The argument is the conditioning (default none, the study's unconditional model), optionally
followed by ``,4096``: the study's downsized model itself (4096 samples at 4096 Hz, d=32), e.g.

    wavegan_jax sweep --config=experiments/divergence.py:none,4096 --grid 'lr=1e-4,1e-5 n_critic=1,5' \
        --seeds 0,1,2,3,4,5,6,7,8,9 --vmap --workdir runs/divergence_4096/none-lr_n_critic

A run counts as diverged when |D loss| or |G loss| > 100 within its 5000 iterations (the study's
rule). The study's base setting is not stated in one place; its tables imply lr 1e-4, lambda 10 and one
critic update per G update (its 5-critic setting diverged at once), with batch 64. The data are
the bundled FSDD zero/one clips (the study used Speech Commands zero/one, not available here).
"""
from experiments import base


def get_config(arg: str = "none"):
    conditioning, *size = arg.split(",")
    if size not in ([], ["4096"]):
        raise ValueError(f"unknown size {size}; known: 4096 (the study's 4096 samples at 4096 Hz, d=32)")
    c = base.get_config()
    c.data.source = "bundled"
    c.data.words = "zero,one"
    c.data.sample_rate = 1024
    c.data.prepared = "data/prepared/fsdd_zero_one_1k_1024"
    c.model.length = 1024
    c.model.d = 16
    c.conditioning = conditioning
    c.loss = "wgan_gp"
    c.gp_lambda = 10.0
    c.n_critic = 1
    c.batch_size = 64
    c.optim.g_lr = c.optim.d_lr = 1e-4
    c.num_steps = 5000
    c.divergence.threshold, c.divergence.window = 100.0, 5000
    c.log_every = 100
    c.sample_every = 5000
    c.checkpoint_every = 1000
    c.progress = False
    if size:  # the downsized study model: 4096 samples at 4096 Hz, d=32
        c.data.sample_rate, c.model.length, c.model.d = 4096, 4096, 32
        c.data.prepared = "data/prepared/fsdd_zero_one_4096hz_4096"
    return c
