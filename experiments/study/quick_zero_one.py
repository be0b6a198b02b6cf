"""A quick study cell: bundled FSDD zero/one, the classic quickstart model, one strategy x loss pair.

    python -m wavegan_jax train --config=experiments/study/quick_zero_one.py:projection,hinge \
        --workdir=runs/study_quick/projection-hinge-s0 --config.seed=0

The argument is ``CONDITIONING,LOSS`` or ``CONDITIONING,LOSS,study`` (the original study's AC-GAN
recipe: lr 1e-3 for both players, one D update and two G updates per step). 1000 generator steps (about 7 minutes on 2 CPU cores),
evaluated with the project's classifier every 250 steps. ``experiments/study/run_quick.sh``
runs the whole grid. This is a budget screen, not the study of issue 6: one speaker set (the
classifier's test speakers are the generator's training speakers) and a short budget.
"""
from experiments import quickstart


def get_config(arg: str = "concat,wgan_gp"):
    conditioning, loss, *recipe = arg.split(",")
    c = quickstart.get_config("classic")  # the study ran before the quickstart became the recipe
    c.conditioning, c.loss = conditioning, loss
    if recipe == ["study"]:  # the original study's AC-GAN recipe: lr 1e-3, 2 G updates per D update
        c.optim.g_lr = c.optim.d_lr = 1e-3
        c.n_critic, c.g_steps = 1, 2
    elif recipe:
        raise ValueError(f"unknown recipe {recipe}; known: study")
    c.num_steps = 1000
    c.eval_every = 250
    c.keep_checkpoints = 5
    c.eval_samples = 50
    c.sample_every = 500
    c.checkpoint_every = 250
    c.progress = False
    if conditioning == "none":  # no intended words: keep the best checkpoint by FID
        c.best_metric, c.best_mode = "fid", "min"
    c.log_every = 50
    return c
