"""Load a trained run and make clips: per word, for all words, or interpolating between words."""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from wavegan_jax import checkpoints as ckpt
from wavegan_jax import train


def load_run(workdir: str | Path, checkpoint: str = "latest", member: int = 0) -> train.Run:
    """The Run of ``workdir`` with the parameters of checkpoint ``best``, ``latest`` or a step number.

    For a run of ``num_seeds > 1`` the state is member ``member``'s (seed ``seed + member``).
    """
    workdir = Path(workdir)
    cfg_file = workdir / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"{workdir} is not a training run (no config.json): train one with "
                                f"`wavegan_jax train --config=experiments/quickstart.py --workdir={workdir}`")
    config = train.saved_config(workdir)
    train.resolve_run_paths(workdir, config)  # data folders from any current directory
    run = train.Run(config)
    if not 0 <= member < len(run.seeds):
        raise ValueError(f"--member {member}: this run trained {len(run.seeds)} seed(s) {run.seeds}; "
                         f"give 0 .. {len(run.seeds) - 1}")
    folder = train.member_folders(run, workdir)[member]
    if checkpoint == "best":  # kept per member
        state, _ = ckpt.restore_named(workdir, "best", run.member(member), best_folder=folder)
    else:
        stacked, _ = ckpt.restore_named(workdir, checkpoint, run.state)
        state = run.member(member, stacked)
    return _member_run(run, state, member)


def _member_run(run: train.Run, state: train.TrainState, member: int) -> train.Run:
    """``run`` narrowed to one member: a plain one-seed Run for sampling (not for training)."""
    run.set_state(state)
    if run.stacked:
        run.stacked, run.seeds, run.sample_keys = False, [run.seeds[member]], [run.sample_keys[member]]
    return run


def word_ids(run: train.Run, words: list[str]) -> list[int]:
    if not run.num_classes:
        raise ValueError("this model is unconditional (conditioning=none): it has no words; "
                         "generate without --word")
    unknown = [w for w in words if w not in run.words]
    if unknown:
        raise ValueError(f"unknown word(s) {', '.join(unknown)}; this model knows: {', '.join(run.words)}")
    return [run.words.index(w) for w in words]


def generate(run: train.Run, words: list[str] | None, num: int, seed: int, generator: str = "ema",
             member: int = 0, truncation: float = 0.0, speaker: str | None = None) -> dict[str, np.ndarray]:
    """``num`` clips per word (or unconditional clips when ``words`` is None) from the EMA
    generator (``generator="raw"``: the trained parameters; ``member``: which seed of a vmapped run).

    Returns word -> audio [num, L]. The same seed gives the same clips: word i's noise is
    ``normal(fold_in(key(seed), i), [num, latent])``, whatever other words are asked for;
    ``truncation`` t > 0 draws it from the normal truncated to [-t, t] instead (BigGAN's
    truncation trick: fewer, more typical clips; 0 = off). A ``data.per_speaker`` run takes its
    speakers in turn, or with ``speaker`` says every clip in that voice.
    """
    names = words if words is not None else ["unconditional"]
    ids = word_ids(run, words) if words is not None else [0]
    z, labels = word_noise(run, ids, num, seed, truncation, speaker)
    audio = run.generate_batched(z, labels, member=member, generator=generator)
    return {name: audio[k * num:(k + 1) * num] for k, name in enumerate(names)}


def word_noise(run: train.Run, ids: list[int], num: int, seed: int,
               truncation: float = 0.0, speaker: str | None = None) -> tuple[jax.Array, jax.Array]:
    """The noise of ``generate``: z [len(ids) * num, latent] (word i's from ``fold_in(key(seed), i)``;
    every entry within [-truncation, truncation] when that is > 0) and labels [len(ids) * num]
    (``Run.class_ids``: with ``data.per_speaker`` the speakers in turn, or ``speaker``'s class)."""
    if truncation < 0:
        raise ValueError(f"truncation {truncation}: give 0 (off) or a bound > 0 such as 1.0")
    key = jax.random.key(seed)
    shape = (num, run.config.model.latent_dim)
    draw = (lambda k: jax.random.truncated_normal(k, -truncation, truncation, shape)) if truncation else (
        lambda k: jax.random.normal(k, shape))
    z = jnp.concatenate([draw(jax.random.fold_in(key, i)) for i in ids])
    return z, run.class_ids(ids, num, speaker)


def interpolate(run: train.Run, pair: list[str] | None, steps: int, seed: int,
                speaker: str | None = None) -> np.ndarray:
    """[steps, L] clips. Conditional: one z, class weights moving from word a to word b (in
    ``speaker``'s voice for a ``data.per_speaker`` run, else at its speakers' mean).
    Unconditional (``pair`` None): z moving between two random points."""
    key = jax.random.key(seed)
    t = jnp.linspace(0.0, 1.0, steps)[:, None]
    latent = run.config.model.latent_dim
    if pair is None:
        za, zb = jax.random.normal(key, (2, latent))
        z = (1 - t) * za + t * zb
        labels = jnp.zeros((steps,), jnp.int32)
    else:
        a, b = word_ids(run, pair)
        z = jnp.broadcast_to(jax.random.normal(key, (latent,)), (steps, latent))
        labels = (1 - t) * run.word_weights(a, speaker) + t * run.word_weights(b, speaker)
    return np.asarray(run.generate(run.state.ema_params, z, labels))
