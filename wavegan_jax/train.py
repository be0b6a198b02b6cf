"""The one trainer: ``train_and_evaluate(config, workdir)`` and the compiled GAN step it runs.

One call of the step does ``n_critic`` discriminator updates followed by one generator update,
data-parallel over a 1-D ``('data',)`` mesh of every device: the batch is sharded, parameters and
optimizer states are replicated and gradients are averaged with ``lax.pmean`` inside
``jax.shard_map``. All randomness of a step (z, labels, interpolation weights, phase shifts) is
drawn for the global batch from ``fold_in(train_key, step)`` before the batch is split across
devices, so a run gives the same numbers on 1 or N devices.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from wavegan_jax import checkpoints as ckpt
from wavegan_jax import conditioning as cond_lib
from wavegan_jax import data as data_lib
from wavegan_jax import download as download_lib
from wavegan_jax import input_pipeline, losses, models, monitoring

log = logging.getLogger(__name__)
PHASE_LAYERS = models.NUM_LAYERS - 1  # D layers followed by phase shuffle


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # [] int32, generator updates done
    data_position: jax.Array  # [] int32, real batches consumed (the input pipeline's position)
    g_params: Any
    d_params: Any
    ema_params: Any  # exponential moving average of g_params, used for samples
    g_opt: Any
    d_opt: Any
    # past fakes replayed to D (config.replay > 0): {"audio": [C, S, L] float32, "filled": [C, S]
    # bool}, S slots per class; None when off (and in checkpoints written before it existed)
    replay: Any = None


# ------------------------------------------------------------------------------------------------
# Config checks and data
# ------------------------------------------------------------------------------------------------
def prepare_data(config: ml_collections.ConfigDict) -> dict:
    """Manifest of ``config.data.prepared``, preparing the shards first when they are missing
    (or, for ``data.per_speaker``, were written before speaker labels were kept)."""
    d = config.data
    manifest = data_lib.read_manifest(d.prepared)
    if manifest is None or (d.get("per_speaker", False) and "speaker_names" not in manifest):
        source, path = d.source, d.path
        if d.download:
            source, path = download_lib.download(d.download, d.cache)
        elif source == "bundled":
            source, path = "fsdd", data_lib.BUNDLED
        log.info("preparing %s (%s) into %s", path, source, d.prepared)
        manifest = data_lib.prepare(source, path, d.prepared, words=d.words, speakers=d.speakers,
                                    sample_rate=d.sample_rate, length=config.model.length,
                                    seed=manifest["seed"] if manifest else config.seed)
    want = dict(sample_rate=d.sample_rate, length=config.model.length)
    words = data_lib.parse_words(d.words)
    if words is not None:
        want["words"] = words
    have = {k: manifest[k] for k in want}
    if have != want:
        raise ValueError(f"{d.prepared} holds {have} but the config asks for {want}: point "
                         f"data.prepared at another folder or run `wavegan_jax prepare` again")
    empty = [w for w in manifest["words"] if not manifest["counts"]["train"].get(w)]
    if empty:
        raise ValueError(f"{d.prepared} has no training clips of {', '.join(empty)} (see 'skipped' in its "
                         f"manifest.json for why): fix or remove those files, or leave the word(s) out of "
                         f"data.words")
    return manifest


def resolve_num_classes(config, manifest: dict) -> int:
    strategy = cond_lib.get(config.conditioning)
    n = len(manifest["words"]) if config.num_classes == -1 else config.num_classes
    if not strategy.needs_labels:
        return 0
    if n != len(manifest["words"]):
        raise ValueError(f"num_classes={n} but {config.data.prepared} has {len(manifest['words'])} "
                         f"words ({', '.join(manifest['words'])}); use num_classes=-1")
    return n


def speaker_classes(config, manifest: dict) -> list[str]:
    """The speakers whose (word, speaker) pairs are the classes (``data.per_speaker``), else []."""
    if not config.data.get("per_speaker", False):
        return []
    names = manifest.get("speaker_names")
    if names is None:  # shards prepared before speaker labels were kept
        data_lib.load_speakers(config.data.prepared, "train")  # raises with the way out
    if not names or not cond_lib.get(config.conditioning).needs_labels:
        raise ValueError(f"data.per_speaker needs conditioning on labels and a source that names its speakers "
                         f"(fsdd, speech_commands); {config.data.prepared} names none")
    return list(names)


def check_config(config, num_devices: int) -> None:
    """Reject bad values before anything is compiled."""
    models.check_length(config.model.length)
    models.resolve_conv_impl(config.model.conv_impl)
    losses.get(config.loss)
    cond_lib.get(config.conditioning)
    for name in ("num_seeds", "batch_size", "n_critic", "num_steps", "log_every", "sample_every",
                 "checkpoint_every", "keep_checkpoints", "eval_samples", "samples_per_word"):
        if config[name] < 1:
            raise ValueError(f"config.{name}={config[name]} must be >= 1")
    for name in ("d", "latent_dim", "stft_channels", "period_channels"):
        if config.model[name] < 1:
            raise ValueError(f"config.model.{name}={config.model[name]} must be >= 1")
    if config.optim.decay_steps < 0 or not 0.0 <= config.optim.decay_to <= 1.0:
        raise ValueError(f"optim.decay_steps={config.optim.decay_steps} must be >= 0 and "
                         f"optim.decay_to={config.optim.decay_to} in [0, 1]")
    if config.optim.drop_at < 0 or min(config.optim.g_drop, config.optim.d_drop) <= 0:
        raise ValueError(f"optim.drop_at={config.optim.drop_at} must be >= 0 and optim.g_drop="
                         f"{config.optim.g_drop}, optim.d_drop={config.optim.d_drop} > 0")
    if config.optim.drop_at and config.optim.decay_steps:
        raise ValueError("optim.drop_at and optim.decay_steps are two schedules: set one of them to 0")
    if min(config.optim.g_lr, config.optim.d_lr) <= 0:
        raise ValueError(f"optim.g_lr={config.optim.g_lr} and optim.d_lr={config.optim.d_lr} must be > 0")
    if config.acgan_fake_class and cond_lib.get(config.conditioning).head != "acgan":
        raise ValueError(f"acgan_fake_class needs conditioning=acgan (it is {config.conditioning!r}); "
                         "add --config.acgan_fake_class=false")
    if config.g_steps < 1:
        raise ValueError(f"config.g_steps={config.g_steps} must be >= 1")
    if min(config.instance_noise, config.instance_noise_steps, config.r1_gamma, config.drift_penalty) < 0:
        raise ValueError("instance_noise, instance_noise_steps, r1_gamma and drift_penalty must be >= 0")
    if not 0 <= config.label_smoothing < 1:
        raise ValueError(f"label_smoothing={config.label_smoothing} must be in [0, 1)")
    if (config.eval_every or config.eval_every_minutes) and not cond_lib.get(config.conditioning).needs_labels \
            and "accuracy" in config.best_metric:
        raise ValueError("an unconditional model has no intended words: use --config.best_metric=fid "
                         "--config.best_mode=min")
    if min(config.max_train_minutes, config.eval_every_minutes) < 0:
        raise ValueError("max_train_minutes and eval_every_minutes must be >= 0 (0 = off)")
    if config.best_mode not in ("max", "min"):
        raise ValueError(f"best_mode={config.best_mode!r}; known: max, min")
    if config.batch_size % num_devices:
        raise ValueError(f"batch_size={config.batch_size} is not divisible by the "
                         f"{num_devices} devices; use a multiple of {num_devices}")
    if not 0 <= config.ema_decay < 1:
        raise ValueError(f"ema_decay={config.ema_decay} must be in [0, 1)")
    if not 0 <= config.augment <= 1:
        raise ValueError(f"augment={config.augment} must be a probability in [0, 1]")
    if config.feature_matching < 0:
        raise ValueError(f"feature_matching={config.feature_matching} must be >= 0")
    if config.get("consistency", 0.0) < 0 or (config.get("consistency", 0.0) > 0 and config.model.generator != "istft"):
        raise ValueError(f"consistency={config.consistency}: give 0 (off) or a weight > 0 with model.generator=istft")
    if config.get("periodicity_match", 0.0) < 0 or not 0 <= config.get("periodicity_highpass_hz", 0.0) < config.data.sample_rate / 2:
        raise ValueError(f"periodicity_match={config.periodicity_match}, periodicity_highpass_hz="
                         f"{config.periodicity_highpass_hz}: give a weight >= 0 (0: off) and a cutoff from 0 to "
                         f"below half the sample rate, e.g. 1 and 1000")
    periodicity_bands(config)
    if not 0 < config.get("periodicity_loud_share", 0.25) <= 1:
        raise ValueError(f"periodicity_loud_share={config.periodicity_loud_share}: give the share of each clip's "
                         f"loudest frames to match, in (0, 1], e.g. 0.25")
    late_share, late_step = config.get("periodicity_late_share", 0.0), config.get("periodicity_late_step", 0)
    if not (0 <= late_share <= 1 and late_step >= 0):
        raise ValueError(f"periodicity_late_share={late_share}, periodicity_late_step={late_step}: give a share "
                         f"in (0, 1] and a generator step >= 0 (e.g. 0.5 and 3000), or share 0 (off)")
    frames = 1 + config.model.length // models.HOP
    kept = min(losses.matched_frames(s, frames) for s in (config.get("periodicity_loud_share", 0.25), late_share) if s)
    if not 1 <= config.get("periodicity_level_groups", 1) <= kept:
        raise ValueError(f"periodicity_level_groups={config.periodicity_level_groups}: give 1 (all matched frames "
                         f"as one) up to the {kept} frames matched per clip, e.g. 4")
    if not (0 <= config.replay <= 1 and 0 < config.replay_write <= 1 and config.replay_slots >= 1):
        raise ValueError(f"replay={config.replay} must be in [0, 1], replay_write={config.replay_write} "
                         f"in (0, 1] and replay_slots={config.replay_slots} >= 1")
    names = models.discriminator_names(config)
    if "stft" in names:
        models.stft_sizes(config)
    if "period" in names:
        models.period_sizes(config)


# ------------------------------------------------------------------------------------------------
# State and step
# ------------------------------------------------------------------------------------------------
def make_optimizers(config) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """Adam for G and for each D; with ``optim.decay_steps`` their learning rates follow a cosine
    from the peak to ``decay_to`` x the peak over that many train steps (G and D count their own
    updates: ``g_steps`` and ``n_critic`` per train step), then stay there; with ``optim.drop_at``
    they are multiplied by ``g_drop`` and ``d_drop`` from that train step on (a step schedule)."""
    o = config.optim

    def lr(peak: float, updates_per_step: int, drop: float):
        if o.drop_at:
            return optax.piecewise_constant_schedule(peak, {o.drop_at * updates_per_step: drop})
        if o.decay_steps:
            return optax.cosine_decay_schedule(peak, o.decay_steps * updates_per_step, alpha=o.decay_to)
        return peak

    return (optax.adam(lr(o.g_lr, config.g_steps, o.g_drop), b1=o.b1, b2=o.b2),
            optax.adam(lr(o.d_lr, config.n_critic, o.d_drop), b1=o.b1, b2=o.b2))


def init_state(config, G, Ds: dict, key, g_tx, d_tx, num_classes: int = 0) -> TrainState:
    """Fresh state; ``d_params`` and ``d_opt`` are dicts name -> the discriminator's parameters and
    optimizer state (the first discriminator is initialised from the same key whatever follows it);
    with ``config.replay`` an empty buffer of ``config.replay_slots`` clips per class."""
    kg, kd = jax.random.split(key)
    length = config.model.length
    z = jnp.zeros((1, config.model.latent_dim))
    labels = jnp.zeros((1,), jnp.int32)
    g_params = G.init(kg, z, labels)
    x, shifts = jnp.zeros((1, length)), jnp.zeros((1, PHASE_LAYERS), jnp.int32)
    d_params = {name: D.init(kd if i == 0 else jax.random.fold_in(kd, i), x, labels, shifts)
                for i, (name, D) in enumerate(Ds.items())}
    return TrainState(step=jnp.zeros((), jnp.int32), data_position=jnp.zeros((), jnp.int32),
                      g_params=g_params, d_params=d_params, ema_params=jax.tree.map(jnp.copy, g_params),
                      g_opt=g_tx.init(g_params), d_opt={name: d_tx.init(p) for name, p in d_params.items()},
                      replay=empty_replay(config, num_classes))


def empty_replay(config, num_classes: int) -> dict | None:
    """An empty buffer of past fakes: {"audio": [C, S, L], "filled": [C, S]}; None without replay."""
    if not config.replay:
        return None
    shape = (max(num_classes, 1), config.replay_slots)
    return {"audio": jnp.zeros(shape + (config.model.length,)), "filled": jnp.zeros(shape, bool)}


def replay_fakes(fake, labels, replay: dict, use, slot):
    """D's fake batch with past fakes of the same classes in place of some: clip i [L] of
    fake [B, L] becomes ``replay["audio"][labels[i], slot[i]]`` where ``use[i]`` and that slot is
    filled (use [B] bool, slot [B] int32)."""
    take = use & replay["filled"][labels, slot]
    return jnp.where(take[:, None], replay["audio"][labels, slot], fake)


def store_fakes(replay: dict, fake, labels, keep, slot) -> dict:
    """The buffer with clip i of fake [B, L] written to slot ``slot[i]`` of class ``labels[i]``
    where ``keep[i]``; the other clips are dropped (an out-of-range slot), so they cannot
    overwrite a kept one."""
    slot = jnp.where(keep, slot, replay["filled"].shape[1])
    return {"audio": replay["audio"].at[labels, slot].set(fake, mode="drop"),
            "filled": replay["filled"].at[labels, slot].set(True, mode="drop")}


def _local(params):
    """Mark replicated parameters as per-device inside shard_map, so that ``jax.grad`` returns
    this device's gradient (for a replicated input shard_map would return the sum over devices);
    ``lax.pmean`` then averages it explicitly."""
    return jax.lax.pcast(params, "data", to="varying")


def _prefixed(name: str, first: bool, metrics: dict) -> dict:
    """The first discriminator's metrics keep their names; the others' get ``name/``."""
    return metrics if first else {f"{name}/{k}": v for k, v in metrics.items()}


def generator_loss(config, Ds: dict, d_params: dict, fake, labels, shifts, real=None):
    """G's objective: the sum over the discriminators of ``losses.g_terms`` for generated clips
    fake [B, L] with labels [B] (real [B, L] only for feature matching). Returns (scalar, metrics);
    ``g_loss`` is the summed adversarial term."""
    loss, head = losses.get(config.loss), cond_lib.get(config.conditioning).head
    w = losses.weights(config, head)["g"]
    total, metrics, adv = None, {}, None
    for i, (name, D) in enumerate(Ds.items()):
        d_fn = lambda x, D=D, p=d_params[name]: D.apply(p, x, labels, shifts)
        t, m = losses.g_terms(loss, w, d_fn, fake, labels, real)
        adv = m["g_loss"] if adv is None else adv + m["g_loss"]
        total = t if total is None else total + t
        metrics.update(_prefixed(name, i == 0, m))
    metrics["g_loss"] = adv
    return total, metrics


def augment(x: jax.Array, rand: dict, p: float) -> jax.Array:
    """Differentiable augmentation of D inputs x [B, L] with the step's draws ``rand`` (each op is
    applied to a clip when its uniform draw < p): circular time shift, gain, Gaussian noise."""
    length = x.shape[1]
    shift = jnp.where(rand["u"][:, 0] < p, rand["shift"], 0)
    idx = (jnp.arange(length)[None, :] - shift[:, None]) % length
    x = jnp.take_along_axis(x, idx, axis=1)
    x = x * jnp.where(rand["u"][:, 1] < p, rand["gain"], 1.0)[:, None]
    return x + jnp.where(rand["u"][:, 2] < p, 0.01, 0.0)[:, None] * rand["noise"]


def postfilter_gain(config, step: jax.Array) -> jax.Array | None:
    """The istft G's pitch-postfilter gain at generator step ``step`` [] when it fades
    (``model.istft_postfilter_fade`` = N > 0): istft_postfilter * max(0, 1 - step / N), a
    training aid that G must learn to do without; None (the module's own fixed gain) otherwise."""
    fade = config.model.get("istft_postfilter_fade", 0)
    if not fade:
        return None
    return config.model.istft_postfilter * jnp.maximum(1.0 - step.astype(jnp.float32) / fade, 0.0)


def periodicity_bands(config) -> tuple[float, ...]:
    """``config.periodicity_bands`` ("0,1000,2000,4000": band edges in Hz, rising, within 0..half
    the sample rate) as a tuple; () when empty (the term reads one band, above
    ``periodicity_highpass_hz``)."""
    text = config.get("periodicity_bands", "")
    if not text:
        return ()
    try:
        edges = tuple(float(e) for e in text.split(","))
    except ValueError:
        edges = ()
    rising = all(a < b for a, b in zip(edges, edges[1:]))
    if len(edges) >= 2 and rising and edges[0] >= 0 and edges[-1] <= config.data.sample_rate / 2:
        return edges
    raise ValueError(f"periodicity_bands={text!r}: give rising band edges in Hz from 0 to half the sample rate "
                     f"({config.data.sample_rate / 2:g}), e.g. '0,1000,2000,4000', or '' for one band")


def periodicity_term(config, fake, real, step: jax.Array) -> jax.Array:
    """G's periodicity distance (``losses.periodicity_distance``) between ``models.frame_periodicity``
    readings of its clips and the real batch's, over each clip's ``periodicity_loud_share`` loudest
    frames; from generator step ``periodicity_late_step`` on over ``periodicity_late_share`` of them
    instead when that is > 0 (e.g. the quarter while the words arrive, then the half). A scalar."""
    groups = config.get("periodicity_level_groups", 1)
    early = losses.periodicity_distance(fake, real, config.get("periodicity_loud_share", 0.25), groups)
    late_share = config.get("periodicity_late_share", 0.0)
    if not late_share:
        return early
    late = losses.periodicity_distance(fake, real, late_share, groups)
    return jnp.where(step >= config.get("periodicity_late_step", 0), late, early)


def make_train_step(config, G, Ds: dict, g_tx, d_tx, mesh, train_key, num_classes: int):
    """Compiled ``step(state, batch) -> (state, metrics)``: ``n_critic`` D updates, then
    ``g_steps`` G updates, then the EMA update.

    Ds: name -> discriminator module (``models.build``); each is trained on the sum of its
    ``losses.d_terms`` with its own optimizer state, and G on the sum of ``losses.g_terms`` over them.
    batch: {"audio": [n_critic, B, L] float32, "labels": [n_critic, B] int32}, sharded over B.
    metrics: dict of scalars averaged over the global batch (D's from the last critic update,
    G's from the last generator update), including the global norms of the parameter gradients
    (``d_grad_norm`` over every discriminator, ``g_grad_norm``); the second and later
    discriminators' metrics are prefixed with their name.

    With ``train_key`` of shape [K] (``config.num_seeds = K``) the step is ``jax.vmap``-ed over
    K independent GANs: every leaf of ``state`` and every metric gets a leading K axis, and the
    batch does too ([K, n_critic, B, ...]) unless ``config.seeds_share_data``.
    """
    loss = losses.get(config.loss)
    w_d = losses.weights(config, cond_lib.get(config.conditioning).head)["d"]
    n_critic, g_steps, global_batch = config.n_critic, config.g_steps, config.batch_size
    ps, ema_decay, smoothing = config.model.phase_shuffle, config.ema_decay, config.label_smoothing
    noise0, noise_steps, aug_p = config.instance_noise, config.instance_noise_steps, config.augment
    feature_matching = config.feature_matching > 0
    w_g = losses.weights(config, cond_lib.get(config.conditioning).head)["g"]
    w_consistency, w_periodicity = w_g["consistency"], w_g["periodicity"]
    sr, highpass = config.data.sample_rate, config.get("periodicity_highpass_hz", 0.0)
    bands = periodicity_bands(config)

    def g_apply(params, z, labels, step, **kw):  # G, with the fading postfilter's gain when it has one
        gain = postfilter_gain(config, step)
        return G.apply(params, z, labels, **kw) if gain is None else G.apply(params, z, labels, gain, **kw)

    def d_update(d_params, d_opt, g_params, real, labels, z, eps, shifts, noise, aug, replay, step):
        fake = generated = g_apply(g_params, z, labels, step)
        if replay is not None:
            fake = replay_fakes(fake, labels, *replay)
        if noise is not None:
            real, fake = real + noise[0], fake + noise[1]
        if aug is not None:
            real, fake = augment(real, aug[0], aug_p), augment(fake, aug[1], aug_p)

        def d_loss_fn(dps):
            total, metrics = None, {}
            for i, (name, D) in enumerate(Ds.items()):
                d_fn = lambda x, D=D, p=dps[name]: D.apply(p, x, labels, shifts)
                t, m = losses.d_terms(loss, w_d, d_fn, real, fake, labels, eps, label_smoothing=smoothing,
                                      fake_class=config.acgan_fake_class)
                m["d_total"] = t
                total = t if total is None else total + t
                metrics.update(_prefixed(name, i == 0, m))
            metrics["d_total"] = total
            return total, metrics

        (_, m), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(_local(d_params))
        grads = jax.lax.pmean(grads, "data")
        m["d_grad_norm"] = optax.global_norm(grads)
        new_params, new_opt = {}, {}
        for name in Ds:
            updates, new_opt[name] = d_tx.update(grads[name], d_opt[name], d_params[name])
            new_params[name] = optax.apply_updates(d_params[name], updates)
        return new_params, new_opt, m, generated

    def g_update(g_params, g_opt, d_params, z, labels, shifts, noise, real, aug, step):
        def g_loss_fn(gp):
            if w_consistency:  # the istft G's spectrogram, held near the STFT of its own output
                fake, sown = g_apply(gp, z, labels, step, mutable=["intermediates"])
            else:
                fake = g_apply(gp, z, labels, step)
            clean = fake
            if noise is not None:
                fake = fake + noise
            x_real = real
            if aug is not None:
                fake = augment(fake, aug[0], aug_p)
                x_real = None if real is None else augment(real, aug[1], aug_p)
            total, m = generator_loss(config, Ds, d_params, fake, labels, shifts, x_real)
            if w_consistency:
                m["inconsistency"], m["dropped_energy"] = (sown["intermediates"][k][0] for k in ("inconsistency", "dropped_energy"))
                total = total + w_consistency * m["dropped_energy"]
            if w_periodicity:  # G's loudest frames as periodic as the real batch's (above periodicity_highpass_hz, or per band)
                m["periodicity_distance"] = periodicity_term(
                    config, models.frame_periodicity(clean, sr, highpass, bands=bands),
                    models.frame_periodicity(real, sr, highpass, bands=bands), step)
                total = total + w_periodicity * m["periodicity_distance"]
            return total, m

        (_, m), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(_local(g_params))
        grads = jax.lax.pmean(grads, "data")
        m["g_grad_norm"] = optax.global_norm(grads)
        updates, g_opt = g_tx.update(grads, g_opt, g_params)
        return optax.apply_updates(g_params, updates), g_opt, m

    def aug_draws(rand, j):
        return None if "aug" not in rand else jax.tree.map(lambda a: a[j], rand["aug"])

    def local_step(state: TrainState, real, labels, rand):
        d_params, d_opt, g_params, g_opt = state.d_params, state.d_opt, state.g_params, state.g_opt
        noise_d, noise_g = rand.get("noise_d"), rand.get("noise_g")
        for c in range(n_critic):  # unrolled: XLA CPU is ~20x slower with this loop in lax.scan
            aug = None if "aug" not in rand else (aug_draws(rand, 2 * c), aug_draws(rand, 2 * c + 1))
            replay = None if state.replay is None else (
                state.replay, rand["replay_u"][c] < config.replay, rand["replay_slot"][c])
            d_params, d_opt, d_metrics, generated = d_update(
                d_params, d_opt, g_params, real[c], labels[c], rand["z"][c], rand["eps"][c],
                rand["shifts"][c], None if noise_d is None else noise_d[2 * c:2 * c + 2], aug, replay, state.step)
        buffer = state.replay
        if buffer is not None:  # store some of the last critic update's fakes (every device's)
            # all_gather's result is typed per-device although equal on each; pmax makes it replicated
            every = lambda x: jax.lax.pmax(jax.lax.all_gather(x, "data", axis=0, tiled=True), "data")
            buffer = store_fakes(buffer, every(generated), every(labels[n_critic - 1]),
                                 every(rand["replay_u"][n_critic]) < config.replay_write,
                                 every(rand["replay_slot"][n_critic]))
        for g in range(g_steps):
            j = 2 * n_critic + 2 * g
            aug = None if "aug" not in rand else (aug_draws(rand, j), aug_draws(rand, j + 1))
            # feature matching compares with the last critic batch's real clips (labels differ: the
            # term matches D's mean features over the batch, not per clip)
            g_params, g_opt, g_metrics = g_update(
                g_params, g_opt, d_params, rand["z"][n_critic + g], rand["g_labels"][g],
                rand["shifts"][n_critic + g], None if noise_g is None else noise_g[g],
                real[n_critic - 1] if feature_matching or w_periodicity else None, aug, state.step)
        decay = ema_decay
        if config.ema_warmup:
            t = state.step.astype(jnp.float32)
            decay = jnp.minimum(ema_decay, (1.0 + t) / (10.0 + t))
        ema = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, state.ema_params, g_params)
        metrics = jax.lax.pmean({**d_metrics, **g_metrics}, "data")
        finite = jnp.all(jnp.array([jnp.isfinite(x).all() for x in jax.tree.leaves((g_params, d_params))]))
        metrics["params_finite"] = finite.astype(jnp.float32)
        new_state = TrainState(step=state.step + 1, data_position=state.data_position + n_critic,
                               g_params=g_params, d_params=d_params, ema_params=ema,
                               g_opt=g_opt, d_opt=d_opt, replay=buffer)
        return new_state, metrics

    batch_spec = P(None, "data")  # every batch-shaped array has the batch on axis 1
    sharded = jax.shard_map(local_step, mesh=mesh, in_specs=(P(), batch_spec, batch_spec, batch_spec),
                            out_specs=(P(), P()))

    def step(state: TrainState, batch: dict, train_key: jax.Array):
        step_key = jax.random.fold_in(train_key, state.step)
        keys = jax.random.split(step_key, 6)
        updates = n_critic + g_steps
        length = config.model.length
        rand = {
            "z": jax.random.normal(keys[0], (updates, global_batch, config.model.latent_dim)),
            "g_labels": jax.random.randint(keys[1], (g_steps, global_batch), 0, max(num_classes, 1)),
            "eps": jax.random.uniform(keys[2], (n_critic, global_batch)),
            "shifts": jax.random.randint(keys[3], (updates, global_batch, PHASE_LAYERS), -ps, ps + 1),
        }
        if noise0:
            frac = 1.0 - state.step / noise_steps if noise_steps else 1.0
            std = noise0 * jnp.maximum(frac, 0.0)
            rand["noise_d"] = std * jax.random.normal(keys[4], (2 * n_critic, global_batch, length))
            rand["noise_g"] = std * jax.random.normal(keys[5], (g_steps, global_batch, length))
        if config.replay:  # [n_critic + 1, B]: which fakes are replayed (per critic update) and stored
            kr = jax.random.split(jax.random.fold_in(step_key, 2000), 2)
            rand["replay_u"] = jax.random.uniform(kr[0], (n_critic + 1, global_batch))
            rand["replay_slot"] = jax.random.randint(kr[1], (n_critic + 1, global_batch), 0, config.replay_slots)
        if aug_p:  # [2 (n_critic + g_steps), B, ...]: one draw per D input batch (real and fake)
            ka = jax.random.split(jax.random.fold_in(step_key, 1000), 4)
            n = 2 * updates
            rand["aug"] = {"u": jax.random.uniform(ka[0], (n, global_batch, 3)),
                           "shift": jax.random.randint(ka[1], (n, global_batch), -(length // 8), length // 8 + 1),
                           "gain": jax.random.uniform(ka[2], (n, global_batch), minval=0.5, maxval=1.5),
                           "noise": jax.random.normal(ka[3], (n, global_batch, length))}
        return sharded(state, batch["audio"], batch["labels"], rand)

    if train_key.ndim == 0:
        return jax.jit(lambda state, batch: step(state, batch, train_key), donate_argnums=0)
    members = jax.vmap(step, in_axes=(0, None if config.seeds_share_data else 0, 0))
    return jax.jit(lambda state, batch: members(state, batch, train_key), donate_argnums=0)


def make_generate(G):
    """Compiled ``generate(params, z [N, latent], labels [N]) -> audio [N, length]``."""
    return jax.jit(G.apply)


# ------------------------------------------------------------------------------------------------
# The trainer
# ------------------------------------------------------------------------------------------------
class Run:
    """Everything a run derives from its config: data, models, mesh, keys, state, step function.

    Built by ``train_and_evaluate`` and usable on its own (tests, the notebook, benchmarks).
    With ``config.num_seeds = K > 1`` it holds K members, seeds ``config.seed + i``, each
    exactly the run that seed alone would give (its own init, noise, and data order unless
    ``config.seeds_share_data``), stacked on a leading axis of every state leaf.
    """

    def __init__(self, config: ml_collections.ConfigDict, manifest: dict | None = None,
                 devices=None):
        self.config = config
        devices = list(devices if devices is not None else jax.devices())
        check_config(config, len(devices))  # before preparing data: a bad value writes nothing
        self.manifest = manifest if manifest is not None else prepare_data(config)
        self.words = list(self.manifest["words"])
        self.speakers = speaker_classes(config, self.manifest)
        self.num_classes = resolve_num_classes(config, self.manifest) * max(len(self.speakers), 1)
        self.mesh = jax.sharding.Mesh(np.array(devices), ("data",))
        self.G, self.Ds = models.build(config, self.num_classes)
        self.seeds = [config.seed + i for i in range(config.num_seeds)]
        init_keys, data_keys, train_keys, self.sample_keys = zip(
            *(jax.random.split(jax.random.key(s), 4) for s in self.seeds))
        self.data_seeds = [int(jax.random.randint(k, (), 0, 2**31 - 1)) for k in data_keys]
        self.g_tx, self.d_tx = make_optimizers(config)
        self.replicated = NamedSharding(self.mesh, P())
        self.stacked = config.num_seeds > 1
        self.batch_sharding = NamedSharding(
            self.mesh, P(None, None, "data") if self.stacked and not config.seeds_share_data else P(None, "data"))
        # One compiled init (the same bits as op-by-op, which compiles every initializer apart: 2x slower)
        init = jax.jit(lambda k: init_state(config, self.G, self.Ds, k, self.g_tx, self.d_tx, self.num_classes))
        states = [init(k) for k in init_keys]
        self.set_state(jax.device_put(_stack(states) if self.stacked else states[0], self.replicated))
        self.train_step = make_train_step(config, self.G, self.Ds, self.g_tx, self.d_tx, self.mesh,
                                          jnp.stack(train_keys) if self.stacked else train_keys[0],
                                          self.num_classes)
        self.generate = make_generate(self.G)
        self._batches = None

    def set_state(self, state: TrainState) -> None:
        """Use ``state`` (e.g. restored from a checkpoint) and continue from its data position."""
        self.state = state
        self.position = int(np.ravel(state.data_position)[0])  # host copy: no device sync in the loop

    @property
    def step_count(self) -> int:
        return int(np.ravel(self.state.step)[0])

    def member(self, i: int, tree=None):
        """Member ``i``'s part of ``tree`` (default: the state); the tree itself when not stacked."""
        tree = self.state if tree is None else tree
        return jax.tree.map(lambda x: x[i], tree) if self.stacked else tree

    @property
    def batches(self) -> list[input_pipeline.Batches]:
        """One input pipeline per member with its own data order (one when they share it)."""
        if self._batches is None:
            audio, labels = data_lib.load_split(self.config.data.prepared, "train")
            if self.speakers:
                who, _ = data_lib.load_speakers(self.config.data.prepared, "train")
                if (who < 0).any():
                    raise ValueError(f"{self.config.data.prepared}: {(who < 0).sum()} training clips name no speaker")
                labels = np.asarray(labels) * len(self.speakers) + who
            seeds = self.data_seeds[:1] if self.config.seeds_share_data else self.data_seeds
            self._batches = [input_pipeline.Batches(
                audio, labels, global_batch=self.config.batch_size, n_critic=self.config.n_critic,
                seed=s, process_index=jax.process_index(), process_count=jax.process_count())
                for s in seeds]
        return self._batches

    def global_batch(self, position: int) -> dict[str, jax.Array]:
        """Batches ``position ..`` as arrays sharded over the mesh (each process gives its part):
        [n_critic, B, ...], or [K, n_critic, B, ...] for members with their own data order."""
        parts = [b.get(position) for b in self.batches]
        local = parts[0] if self.batch_sharding.spec == P(None, "data") else \
            {k: np.stack([p[k] for p in parts]) for k in parts[0]}
        axis = list(self.batch_sharding.spec).index("data")
        shape = lambda x: x.shape[:axis] + (self.config.batch_size,) + x.shape[axis + 1:]
        return {k: jax.make_array_from_process_local_data(self.batch_sharding, v, shape(v))
                for k, v in local.items()}

    def step(self) -> dict[str, jax.Array]:
        """One GAN step on the next batches; updates ``self.state``; metrics stay on device."""
        batch = self.global_batch(self.position)
        self.state, metrics = self.train_step(self.state, batch)
        self.position += self.config.n_critic
        return metrics

    def sample_inputs(self, per_word: int, stream: int = 0, member: int = 0) -> tuple[jax.Array, jax.Array, list[str]]:
        """Fixed z [W * per_word, latent], labels [W * per_word] and the W names (the words, or
        "unconditional") of the monitoring samples (``stream`` 0; evaluations use
        ``sampling.word_noise``)."""
        names = self.words if self.num_classes else ["unconditional"]
        labels = self.class_ids(range(len(names)), per_word)
        key = jax.random.fold_in(self.sample_keys[member], stream)
        z = jax.random.normal(key, (len(labels), self.config.model.latent_dim))
        return z, labels, names

    def class_ids(self, word_ids, per_word: int, speaker: str | None = None) -> jax.Array:
        """The labels [len(word_ids) * per_word] of ``per_word`` clips of each word: the word's
        index, or with ``data.per_speaker`` the class word * S + s, the S speakers in turn (clip i
        of a word is speaker i mod S's), or all of them ``speaker``'s."""
        words = jnp.repeat(jnp.asarray(list(word_ids), jnp.int32), per_word)
        index = self.speaker_index(speaker)  # None, or raises for a speaker this run lacks
        if not self.speakers:
            return words
        if index is not None:
            return words * len(self.speakers) + index
        turn = jnp.tile(jnp.arange(per_word, dtype=jnp.int32) % len(self.speakers), len(word_ids))
        return words * len(self.speakers) + turn

    def word_weights(self, word_id: int, speaker: str | None = None) -> jax.Array:
        """Class weights [num_classes] that say word ``word_id``: one-hot, or with
        ``data.per_speaker`` its speakers' classes at 1 / S each (a voice between them), or
        ``speaker``'s class alone."""
        s = max(len(self.speakers), 1)
        if speaker is not None:
            return jax.nn.one_hot(word_id * s + self.speaker_index(speaker), self.num_classes)
        return jnp.zeros((self.num_classes,)).at[word_id * s:(word_id + 1) * s].set(1.0 / s)

    def speaker_index(self, speaker: str | None) -> int | None:
        """The class offset of ``speaker`` in a ``data.per_speaker`` run (None for None)."""
        if speaker is None:
            return None
        if not self.speakers:
            raise ValueError(f"speaker {speaker!r}: this model was trained without data.per_speaker, so "
                             f"its words have no chosen voice; generate without --speaker")
        if speaker not in self.speakers:
            raise ValueError(f"unknown speaker {speaker!r}; this model knows: {', '.join(self.speakers)}")
        return self.speakers.index(speaker)

    def generate_batched(self, z: jax.Array, labels: jax.Array, batch: int = 256, member: int = 0,
                         generator: str = "ema") -> np.ndarray:
        """EMA (or, ``generator="raw"``, the trained) generator on [N, latent] noise in batches ->
        audio [N, L] (NumPy). With several processes each generates on its own device from a host
        copy of the (replicated) weights."""
        if generator not in ("ema", "raw"):
            raise ValueError(f"generator {generator!r}; known: ema, raw")
        params = self.state.ema_params if generator == "ema" else self.state.g_params
        if jax.process_count() > 1:
            params = jax.device_get(params)
        params = self.member(member, params)
        return np.concatenate([np.asarray(self.generate(params, z[i:i + batch], labels[i:i + batch]))
                               for i in range(0, len(z), batch)])


def _stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


class Diverged(FloatingPointError):
    """Training stopped by the divergence rule; ``step`` and ``reason`` say when and why."""

    def __init__(self, step: int, reason: str, message: str):
        super().__init__(message)
        self.step, self.reason = step, reason


WATCHED_LOSSES = ("d_total", "g_loss")  # D's full loss (penalties included) and G's adversarial loss


def divergence_reason(step: int, metrics: dict, config) -> str | None:
    """Why step ``step`` counts as diverged, or None: non-finite values (always), or |D loss| or
    |G loss| > ``divergence.threshold`` within the first ``divergence.window`` steps."""
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad or metrics.get("params_finite", 1.0) != 1.0:
        return f"non-finite values: {bad or 'parameters'}"
    div = config.divergence
    if div.threshold > 0 and step <= div.window:
        big = {k: metrics[k] for k in WATCHED_LOSSES if k in metrics and abs(metrics[k]) > div.threshold}
        if big:
            return f"|loss| > {div.threshold:g} within the first {div.window} steps: " + \
                ", ".join(f"{k}={v:.4g}" for k, v in big.items())
    return None


def _divergence_record(folder: Path | None, step: int, reason: str, last: int | None) -> None:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "divergence.json").write_text(json.dumps({"step": step, "reason": reason,
                                                           "last_checkpoint": last}))


class Evaluator:
    """Scores the EMA and the raw generator every ``eval_every`` steps through the one scoring
    path (``evaluate.score_run``, noise seed = the member's seed, so ``evaluate --seed S`` gives the
    same numbers); writes ``metrics.jsonl`` (the raw generator's keys prefixed ``raw/``) and keeps
    the best checkpoint by ``config.best_metric`` of the EMA generator, in each member's folder
    (the workdir itself for a one-seed run)."""

    RAW_KEYS = ("accuracy", "speech_accuracy", "not_a_word_share", "voiced_share", "fid", "silent_share")

    def __init__(self, run: Run, folders: list[Path]):
        from wavegan_jax import evaluate

        self.run, self.folders, self.config = run, folders, run.config
        self._evaluate = evaluate
        self.ref = evaluate.reference(self.config)
        self.best = [(ckpt.best_info(f) or {}).get("value") for f in folders]

    def __call__(self, step: int, writer, member: int = 0, train_seconds: float | None = None) -> dict[str, float]:
        """Score member ``member``. Every process computes the same numbers (the best checkpoint
        is saved by all, as orbax requires); only process 0 writes files. ``train_seconds`` (the
        run's training wall time so far, evaluations excluded) goes into the metrics.jsonl row."""
        folder, seed = self.folders[member], self.run.seeds[member]
        num = self.config.eval_samples
        result = self._evaluate.score_run(self.run, self.ref, num, seed, member=member)
        raw = self._evaluate.score_run(self.run, self.ref, num, seed, generator="raw", member=member)
        result.update({f"raw/{k}": raw[k] for k in self.RAW_KEYS})
        if train_seconds is not None:
            result["train_seconds"] = round(train_seconds, 2)
        writer.scalars(step, result, prefix="eval")
        if jax.process_index() == 0:
            with open(folder / "metrics.jsonl", "a") as f:
                f.write(json.dumps({"step": step, **result}) + "\n")
        value = result[self.config.best_metric]
        sign = 1 if self.config.best_mode == "max" else -1
        if self.best[member] is None or sign * (value - self.best[member]) > 0:
            self.best[member] = value
            ckpt.save_best(folder, self.run.member(member), {"step": step, "metric": self.config.best_metric,
                                                         "value": value})
        log.info("eval at step %d%s: accuracy %.3f (raw G %.3f), speech accuracy %.3f, not a word %.3f, "
                 "voiced %.3f, FID %.2f (best %s %.3f)", step,
                 f" (seed {seed})" if self.run.stacked else "", result["accuracy"], raw["accuracy"],
                 result["speech_accuracy"], result["not_a_word_share"], result["voiced_share"],
                 result["fid"], self.config.best_metric, self.best[member])
        return result


RUN_PATHS = ("data.prepared", "classifier.prepared")  # folders a run needs, recorded absolute in paths.json


def write_run_paths(workdir: Path, config) -> None:
    """Record the absolute location of the run's data folders in ``workdir/paths.json``, so that
    ``load_run`` finds them from any current directory (config.json keeps them as given)."""
    paths = {}
    for field in RUN_PATHS:
        value = config[field.split(".")[0]][field.split(".")[1]]
        paths[field] = str(Path(value).absolute()) if value else ""
    (workdir / "paths.json").write_text(json.dumps(paths, indent=1))


def resolve_run_paths(workdir: Path, config) -> None:
    """Point ``config``'s data folders at the absolute ones of ``paths.json`` when they are not
    found relative to the current directory."""
    paths_file = Path(workdir) / "paths.json"
    if not paths_file.exists():
        return
    paths = json.loads(paths_file.read_text())
    for field in RUN_PATHS:
        group, name = field.split(".")
        value, recorded = config[group][name], paths.get(field, "")
        if value and not Path(value).exists() and recorded and Path(recorded).exists():
            config[group][name] = recorded


def member_folders(run: Run, workdir: Path) -> list[Path]:
    """Where each member writes its logs, samples, metrics and best checkpoint: the workdir for a
    one-seed run, ``workdir/seed_S`` for each seed S of a ``num_seeds > 1`` run."""
    return [workdir / f"seed_{s}" for s in run.seeds] if run.stacked else [workdir]


# Fields a resumed run may change: how long it runs and what it logs, not what it trains.
RESUMABLE = ("num_steps", "max_train_minutes", "eval_every", "eval_every_minutes", "eval_samples", "log_every",
             "sample_every", "samples_per_word", "checkpoint_every", "keep_checkpoints", "progress",
             "model.conv_impl", "divergence.threshold", "divergence.window", "data.source", "data.path",
             "data.cache", "data.download", "classifier.batch_size", "classifier.epochs", "classifier.lr",
             "classifier.negative_share", "classifier.spec_augment", "classifier.prepared")


def _flat(c, prefix: str = "") -> dict:
    out = {}
    for k, v in c.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, (dict, ml_collections.ConfigDict)) else
                   {prefix + k: v})
    return out


def saved_config(workdir: Path) -> ml_collections.ConfigDict:
    """The config a run in ``workdir`` was started with (``config.json``), with today's defaults
    for fields added since."""
    from experiments import base

    config = base.get_config()
    config.update(ml_collections.ConfigDict(json.loads((Path(workdir) / "config.json").read_text())))
    return config


def check_resume(config: ml_collections.ConfigDict, workdir: Path) -> None:
    """Refuse ``config`` for a ``workdir`` that holds checkpoints of a different run, before
    anything is written: the message lists the fields that differ (``RESUMABLE`` ones may)."""
    if not (workdir / "config.json").exists() or not any((workdir / "checkpoints").glob("[0-9]*")):
        return
    old_flat, new_flat = _flat(saved_config(workdir)), _flat(config)
    recorded = json.loads((workdir / "paths.json").read_text()) if (workdir / "paths.json").exists() else {}
    diff = []
    for k in sorted(set(old_flat) | set(new_flat)):
        a, b = old_flat.get(k), new_flat.get(k)
        if k in RESUMABLE or a == b:
            continue
        if k in RUN_PATHS and b and str(Path(b).absolute()) == recorded.get(k):
            continue
        diff.append(f"{k}: {a!r} -> {b!r}")
    if diff:
        raise ValueError(f"{workdir} holds checkpoints of another configuration ({'; '.join(diff)}): "
                         f"give the same values to resume it, or use a new --workdir")


def _trim_logs(folder: Path, step: int) -> None:
    """Drop the rows of ``scalars.jsonl`` and ``metrics.jsonl`` after ``step`` (written by a
    session that stopped before its next checkpoint), so a resumed run has no duplicate rows."""
    for name in ("scalars.jsonl", "metrics.jsonl"):
        f = folder / name
        if not f.exists():
            continue
        lines = f.read_text().splitlines()
        keep = []
        for line in lines:
            try:
                if json.loads(line)["step"] <= step:
                    keep.append(line)
            except (ValueError, KeyError, TypeError):  # a line cut off by a kill
                pass
        if len(keep) != len(lines):
            tmp = f.with_name(f".{name}.tmp")
            tmp.write_text("".join(x + "\n" for x in keep))
            tmp.replace(f)


def _per_member(metrics: dict, members: int) -> list[dict[str, float]]:
    """Device metrics (scalars, or [members] for a vmapped run) -> one host dict per member."""
    host = jax.device_get(metrics)
    return [{k: float(np.ravel(v)[i]) for k, v in host.items()} for i in range(members)]


def _first_bad(pending: list, config, alive: list[bool]) -> tuple[int, list] | None:
    """(step, per-member metrics) of the first diverged step among ``pending`` [(step, device
    metrics)], for the steps whose metrics were not fetched one by one."""
    for step, metrics in pending:
        per_member = _per_member(metrics, len(alive))
        if any(alive[i] and divergence_reason(step, m, config) for i, m in enumerate(per_member)):
            return step, per_member
    return None


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> Run:
    """Train (or resume) the experiment ``config`` in ``workdir``; returns the finished Run.

    Raises ``Diverged`` when the divergence rule stops the run (every member, for num_seeds > 1:
    a diverged member is recorded in its folder's divergence.json and the others go on), and
    ValueError, before writing anything, when ``workdir`` holds checkpoints of another config.
    At every sample, evaluation and checkpoint step the metrics are checked first, so nothing is
    written from a diverged generator; the first non-finite step is found and reported exactly.
    """
    workdir = Path(workdir)
    check_resume(config, workdir)
    clock = TrainClock(workdir)
    run = Run(config)
    is_main = jax.process_index() == 0
    folders = member_folders(run, workdir)
    if is_main:
        for f in [workdir, *folders]:
            f.mkdir(parents=True, exist_ok=True)
        text = config.to_json_best_effort(indent=1)
        data_lib.atomic_write(workdir / "config.json", lambda tmp: tmp.write_text(text))
        write_run_paths(workdir, config)
    log.info("devices: %s; G %s parameters, D %s parameters%s", jax.devices(),
             f"{models.param_count(run.member(0).g_params):,}", f"{models.param_count(run.member(0).d_params):,}",
             f"; {len(run.seeds)} seeds vmapped: {run.seeds}" if run.stacked else "")
    manager = ckpt.manager(workdir, config.keep_checkpoints)
    restored, _ = ckpt.restore(manager, run.state, move_unusable=workdir / ckpt.UNUSABLE)
    if restored is not None:
        run.set_state(restored)
        clock.resume(run.step_count)
        log.info("resumed from %s at step %d", manager.directory, run.step_count)
    elif config.init_from:
        branched, clock.offset = restore_branch(config.init_from, run.state, stacked=run.stacked)
        run.set_state(branched)
        log.info("branched from %s at step %d (%.1f minutes of training)", config.init_from, run.step_count,
                 clock.offset / 60)
    if is_main:
        for f in folders:
            _trim_logs(f, run.step_count)
    writers = [monitoring.Writer(f if is_main else None) for f in folders]
    with clock.paused():  # training the judge for the evaluations is not training time
        evaluator = Evaluator(run, folders) if config.eval_every or config.eval_every_minutes else None
    alive = [not (f / "divergence.json").exists() for f in folders] if run.stacked else [True]
    start = run.step_count
    if start == 0:
        for w in writers:
            w.hparams(config)
    bar = monitoring.progress(start, config.num_steps, enabled=config.progress and is_main)
    t0, last_log = time.perf_counter(), start
    pending = []  # (step, device metrics) not fetched yet: searched for the first bad step on divergence
    try:
        budget, every = 60 * config.max_train_minutes, 60 * config.eval_every_minutes
        next_eval = (math.floor(clock.seconds / every) + 1) * every if every else math.inf
        for step in range(start + 1, config.num_steps + 1):
            metrics = run.step()
            bar.update(1)
            elapsed = math.nan
            if (budget or every) and step % config.log_every == 0:  # the clock, read at logged steps
                jax.block_until_ready(metrics)
                elapsed = clock.seconds
            last = step == config.num_steps or (budget > 0 and elapsed >= budget)
            eval_now = last or elapsed >= next_eval or (config.eval_every > 0 and step % config.eval_every == 0)
            if elapsed >= next_eval:
                next_eval = (math.floor(elapsed / every) + 1) * every
            watch = config.divergence.threshold > 0 and step <= config.divergence.window
            sample_now = step % config.sample_every == 0 or last
            save_now = step % config.checkpoint_every == 0 or last
            if not (watch or step % config.log_every == 0 or last or save_now or sample_now or
                    (eval_now and evaluator is not None)):
                pending.append((step, metrics))
                continue
            per_member = _per_member(metrics, len(folders))
            bad_step, checked = step, per_member
            if any(alive[i] and divergence_reason(step, m, config) for i, m in enumerate(per_member)):
                bad_step, checked = _first_bad(pending, config, alive) or (step, per_member)
            pending = []
            for i, m in enumerate(checked):
                reason = divergence_reason(bad_step, m, config) if alive[i] else None
                if reason is not None:
                    alive[i] = False
                    last_ckpt = manager.latest_step()
                    _divergence_record(folders[i] if is_main else None, bad_step, reason, last_ckpt)
                    if not any(alive):
                        kept = (f"the last good checkpoint (step {last_ckpt}) is intact" if last_ckpt is not None
                                else "no checkpoint was written")
                        raise Diverged(bad_step, reason, f"diverged at step {bad_step} ({reason}); "
                                                         f"training stopped and {kept}")
                    log.warning("seed %d diverged at step %d (%s); the other seeds go on",
                                run.seeds[i], bad_step, reason)
            if step % config.log_every == 0 or last:
                now = time.perf_counter()
                rate = (step - last_log) / max(now - t0, 1e-9)
                t0, last_log = now, step
                for i, m in enumerate(per_member):
                    m["steps_per_sec"] = rate
                    if alive[i]:
                        writers[i].scalars(step, m)
                m = per_member[alive.index(True)]
                bar.set_postfix(d=f"{m['d_total']:.3g}", g=f"{m['g_loss']:.3g}")
                if not config.progress:
                    log.info("step %d: %s", step, ", ".join(f"{k}={v:.4g}" for k, v in m.items()))
            # Samples and evaluations before the checkpoint: a run stopped in between repeats the
            # step on resume and writes them again, so none is lost.
            for i in range(len(folders)):
                if alive[i] and sample_now:
                    write_samples(run, writers[i], folders[i], step, member=i)
                if alive[i] and evaluator is not None and eval_now:
                    jax.block_until_ready(run.state.step)
                    with clock.paused():
                        evaluator(step, writers[i], member=i, train_seconds=clock.seconds)
            if save_now:
                ckpt.save(manager, step, run.state)
                if is_main:
                    clock.record(step)
            if last:
                break
    finally:
        bar.close()
        manager.wait_until_finished()
        manager.close()
        for w in writers:
            w.close()
    return run


def restore_branch(spec: str, state, stacked: bool = False):
    """``(state, training seconds)`` of the checkpoint that ``init_from`` names: "WORKDIR",
    "WORKDIR:latest", "WORKDIR:best" or "WORKDIR:STEP", restored like ``state`` (which must have
    the same shapes: same model, optimizers and seeds), except that the branch may add
    discriminators: those start from ``state``'s fresh parameters and optimizer state. The seconds
    are the parent's training time at that step (clock.json), 0 when it recorded none."""
    src, _, which = spec.rpartition(":")
    if not src or not (which in ("best", "latest") or which.isdigit()):
        src, which = spec, "latest"
    src = Path(src)
    if not (src / "config.json").exists():
        raise FileNotFoundError(f"init_from={spec!r}: {src} is not a training run (no config.json)")
    parent = saved_config(src)
    parent_ds = models.discriminator_names(parent)
    dropped = [n for n in parent_ds if n not in state.d_params]
    if dropped:
        raise ValueError(f"init_from={spec!r}: the branch drops discriminator(s) {', '.join(dropped)} of "
                         f"its parent ({parent.discriminators}); a branch may add discriminators, not drop them")
    fresh_d, fresh_opt = state.d_params, state.d_opt
    added = [n for n in fresh_d if n not in parent_ds]
    state = state.replace(d_params={n: fresh_d[n] for n in parent_ds}, d_opt={n: fresh_opt[n] for n in parent_ds})
    fresh_replay = state.replay
    if not parent.replay:  # the parent kept no buffer: the branch starts an empty one
        state = state.replace(replay=None)
    elif fresh_replay is None:
        raise ValueError(f"init_from={spec!r}: {src} keeps a replay buffer (replay > 0); a branch of it "
                         f"must too (set --config.replay)")
    if which == "best" and stacked:
        raise ValueError(f"init_from={spec!r}: a run of several seeds keeps one best per seed; "
                         f"give a step number or latest")
    try:
        restored, step = ckpt.restore_named(src, which, state)
    except (FileNotFoundError, ValueError) as e:
        raise type(e)(f"init_from={spec!r}: {e}") from None
    if restored.replay is None:
        restored = restored.replace(replay=fresh_replay)
    if added:
        log.info("branch adds discriminator(s) %s, starting fresh", ", ".join(added))
        restored = restored.replace(d_params={**fresh_d, **restored.d_params}, d_opt={**fresh_opt, **restored.d_opt})
    return restored, _seconds_at(src, step)


def _seconds_at(workdir: Path, step: int) -> float:
    """A run's training seconds at ``step``: clock.json's entry, else the metrics.jsonl row of
    that step, else the entry of the last recorded step before it (0 when there is none)."""
    clock_file, metrics_file = workdir / "clock.json", workdir / "metrics.jsonl"
    recorded = {int(k): v for k, v in json.loads(clock_file.read_text()).items()} if clock_file.exists() else {}
    if step in recorded:
        return float(recorded[step])
    for line in metrics_file.read_text().splitlines() if metrics_file.exists() else []:
        row = json.loads(line)
        if row.get("step") == step and "train_seconds" in row:
            return float(row["train_seconds"])
    before = [s for s in recorded if s <= step]
    if before:
        log.warning("no training time recorded at step %d of %s: using step %d's", step, workdir, max(before))
    return float(recorded[max(before)]) if before else 0.0


class TrainClock:
    """The run's training wall time in seconds: from the start of ``train_and_evaluate`` (data,
    compilation and checkpoints included), without evaluations, summed over resumed sessions
    (``workdir/clock.json`` holds the time at each checkpoint step)."""

    def __init__(self, workdir: Path):
        self.file = Path(workdir) / "clock.json"
        self.recorded = json.loads(self.file.read_text()) if self.file.exists() else {}
        self.offset, self.start, self.excluded = 0.0, time.perf_counter(), 0.0

    @property
    def seconds(self) -> float:
        return self.offset + time.perf_counter() - self.start - self.excluded

    def resume(self, step: int) -> None:
        """Continue from the time recorded at checkpoint ``step`` (0 when none was recorded)."""
        self.offset = self.recorded.get(str(step), 0.0)

    def record(self, step: int) -> None:
        self.recorded[str(step)] = round(self.seconds, 3)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.recorded))
        tmp.replace(self.file)

    @contextlib.contextmanager
    def paused(self):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - t


def write_samples(run: Run, writer: "monitoring.Writer", folder: Path, step: int, member: int = 0) -> None:
    """EMA generator on fixed noise: wavs in folder/samples/step_N, audio and plots in TensorBoard."""
    if not writer.enabled:  # processes other than 0
        return
    z, labels, names = run.sample_inputs(run.config.samples_per_word, member=member)
    audio = run.generate_batched(z, labels, member=member)
    per = run.config.samples_per_word
    groups = {name: audio[i * per:(i + 1) * per] for i, name in enumerate(names)}
    monitoring.write_wavs(folder / "samples" / f"step_{step:06d}", groups, run.config.data.sample_rate)
    writer.audio_groups(step, groups, run.config.data.sample_rate)
    index = json.dumps({"latest_step": step, "words": names})
    data_lib.atomic_write(folder / "samples" / "index.json", lambda tmp: tmp.write_text(index))
