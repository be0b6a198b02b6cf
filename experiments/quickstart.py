"""Quickstart: FSDD "zero"/"one" bundled with the package, a small model, minutes on 2 CPU cores.

    python -m wavegan_jax train --config=experiments/quickstart.py --workdir=runs/quickstart
    python -m wavegan_jax train --config=experiments/quickstart.py:classic --workdir=runs/classic

The default is the recipe of ``experiments/digits.py`` (issue 37, RESULTS.md) on the bundled
pair: hinge loss with R1 and one critic update per G update, an STFT discriminator beside
WaveGAN's, FiLM in G, feature matching, a G that writes STFT frames (inverted by an iSTFT), and
AC-GAN conditioning whose head has a class "generated" for fakes. Clips are 4096 samples at
8 kHz (0.51 s), model size d=16, batch 32, 2000 generator steps. Samples land in runs/quickstart/samples/ and TensorBoard logs in
runs/quickstart/; ``wavegan_jax evaluate --workdir runs/quickstart`` scores them.

``classic`` is the project's first quickstart (concat conditioning, WGAN-GP with 5 critic
updates, 1000 steps), which writes word-shaped noise; it is the test suite's smoke
configuration (``classic,smoke``) and the model of the calibration fixture. Any other
conditioning is a switch away: ``--config.conditioning=projection --config.acgan_fake_class=false``.
"""
from experiments import base, digits


def get_config(variant: str = ""):
    tokens = [t for t in variant.split(",") if t]
    bad = [t for t in tokens if t not in ("classic", "smoke")]
    if bad:
        raise ValueError(f"unknown variant {','.join(bad)!r}; known: classic, smoke (or none)")
    if "classic" in tokens:
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
    else:
        c = digits.get_config("zero_one")
        c.num_steps = 2000
        c.eval_every_minutes = 0.0  # `evaluate` scores the run (and trains the judge when missing)
        c.log_every = 25
        c.sample_every = 500
        c.checkpoint_every = 500
        c.keep_checkpoints = 3
        c.progress = True
    return base.smoke(c) if "smoke" in tokens else c
