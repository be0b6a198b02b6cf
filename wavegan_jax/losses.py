"""GAN losses, chosen by ``config.loss``, each a pair of pure functions in ``LOSSES``, plus the
penalties and the auxiliary class loss that the train step adds to any of them.

* ``d_loss(real_logits, fake_logits, *, label_smoothing) -> (scalar, metrics)``
* ``g_loss(fake_logits) -> (scalar, metrics)``

with logits ``[B]``. ``label_smoothing`` s is one-sided: real targets become 1 - s (used by the
losses with targets: nonsaturating and lsgan).

Each player's objective is a sum of named, weighted terms (descript-audio-codec's ``lambdas``):
``weights(config, head)`` gives ``{"d": {term: weight}, "g": {term: weight}}`` and
``d_terms`` / ``g_terms`` compute only the terms with a non-zero weight, for one discriminator.
D's terms: ``adv`` (the loss's D side), ``gp`` (WGAN-GP), ``r1``, ``drift``, ``class`` (AC-GAN head);
G's: ``adv``, ``class``, ``feature_match`` (L1 between D's mean features of real and generated clips),
and, outside the discriminators, ``consistency`` (train.py) and ``periodicity`` (``periodicity_distance``).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax


def _metrics(loss, real, fake, name="d_loss"):
    return {name: loss, "d_real": jnp.mean(real), "d_fake": jnp.mean(fake)}


# ---- WGAN (with the gradient penalty added by the step) ----------------------------------------
def wgan_d(real, fake, *, label_smoothing=0.0):
    """E[D(fake)] - E[D(real)] (Arjovsky et al. 2017); the Wasserstein estimate is its negative."""
    del label_smoothing
    loss = jnp.mean(fake) - jnp.mean(real)
    return loss, {**_metrics(loss, real, fake), "wasserstein": -loss}


def wgan_g(fake):
    loss = -jnp.mean(fake)
    return loss, {"g_loss": loss}


# ---- non-saturating (sigmoid cross-entropy) --------------------------------------------------
def nonsaturating_d(real, fake, *, label_smoothing=0.0):
    """BCE(D(real), 1 - s) + BCE(D(fake), 0) with logits: (1-s) softplus(-r) + s softplus(r) + softplus(f)."""
    real_loss = (1 - label_smoothing) * jax.nn.softplus(-real) + label_smoothing * jax.nn.softplus(real)
    loss = jnp.mean(real_loss) + jnp.mean(jax.nn.softplus(fake))
    return loss, _metrics(loss, real, fake)


def nonsaturating_g(fake):
    """BCE(D(fake), 1) = softplus(-D(fake)) (Goodfellow et al. 2014)."""
    loss = jnp.mean(jax.nn.softplus(-fake))
    return loss, {"g_loss": loss}


# ---- hinge -----------------------------------------------------------------------------------
def hinge_d(real, fake, *, label_smoothing=0.0):
    """E[relu(1 - D(real))] + E[relu(1 + D(fake))] (Lim & Ye 2017; Miyato et al. 2018)."""
    del label_smoothing
    loss = jnp.mean(jax.nn.relu(1 - real)) + jnp.mean(jax.nn.relu(1 + fake))
    return loss, _metrics(loss, real, fake)


# ---- least squares ---------------------------------------------------------------------------
def lsgan_d(real, fake, *, label_smoothing=0.0):
    """0.5 E[(D(real) - (1 - s))^2] + 0.5 E[D(fake)^2] (Mao et al. 2017)."""
    loss = 0.5 * jnp.mean((real - (1 - label_smoothing)) ** 2) + 0.5 * jnp.mean(fake ** 2)
    return loss, _metrics(loss, real, fake)


def lsgan_g(fake):
    loss = 0.5 * jnp.mean((fake - 1) ** 2)
    return loss, {"g_loss": loss}


@dataclasses.dataclass(frozen=True)
class Loss:
    d_loss: Callable
    g_loss: Callable
    gradient_penalty: bool = False  # add gp_lambda * GP (WGAN-GP)


LOSSES: dict[str, Loss] = {
    "wgan_gp": Loss(wgan_d, wgan_g, gradient_penalty=True),
    "nonsaturating": Loss(nonsaturating_d, nonsaturating_g),
    "hinge": Loss(hinge_d, wgan_g),  # G: -E[D(fake)]
    "lsgan": Loss(lsgan_d, lsgan_g),
}


def get(name: str) -> Loss:
    """The loss called ``name``; an unknown name lists the known ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}") from None


# ---- penalties and the auxiliary class loss ---------------------------------------------------
def _input_grad_norms(d_fn, x):
    """||grad_x D(x_i)||_2 for each example; D treats examples independently, so one gradient of
    sum_i D(x_i) gives them all. x: [B, L] -> [B]."""
    grads = jax.grad(lambda x: d_fn(x).sum())(x)
    return jnp.sqrt(jnp.sum(grads ** 2, axis=-1) + 1e-12)  # the epsilon keeps sqrt's gradient finite


def gradient_penalty(d_fn, real: jax.Array, fake: jax.Array, eps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """mean_i (||grad_x D(x_i)||_2 - 1)^2 at x_i = eps_i real_i + (1 - eps_i) fake_i
    (Gulrajani et al. 2017). eps: [B] uniform(0, 1). Returns (penalty, mean gradient norm)."""
    x = eps[:, None] * real + (1.0 - eps[:, None]) * fake
    norms = _input_grad_norms(d_fn, x)
    return jnp.mean((norms - 1.0) ** 2), jnp.mean(norms)


def r1_penalty(d_fn, real: jax.Array) -> jax.Array:
    """mean_i ||grad_x D(real_i)||^2 (Mescheder et al. 2018); the step adds gamma / 2 times it."""
    return jnp.mean(_input_grad_norms(d_fn, real) ** 2)


def class_loss(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy of class logits [B, K] against int labels [B] (AC-GAN's auxiliary loss)."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(class_logits, labels))


# ---- each player's objective as named, weighted terms -----------------------------------------
D_TERMS = ("adv", "gp", "r1", "drift", "class")  # summed in this order
G_TERMS = ("adv", "class", "feature_match")


def weights(config, head: str) -> dict[str, dict[str, float]]:
    """The weight of every term of D's and G's objective for ``config`` (0 = not computed)."""
    acgan = config.acgan_weight if head == "acgan" else 0.0
    return {"d": {"adv": 1.0, "gp": config.gp_lambda if get(config.loss).gradient_penalty else 0.0,
                  "r1": 0.5 * config.r1_gamma, "drift": config.drift_penalty, "class": acgan},
            "g": {"adv": 1.0, "class": acgan, "feature_match": config.feature_matching,
                  "consistency": config.get("consistency", 0.0),
                  "periodicity": config.get("periodicity_match", 0.0)}}


def matched_frames(loud_share: float, frames: int) -> int:
    """How many of a clip's ``frames`` the periodicity term matches: its ``loud_share`` loudest, at least 1."""
    return max(1, int(round(loud_share * frames)))


def periodicity_distance(fake: tuple[jax.Array, jax.Array], real: tuple[jax.Array, jax.Array],
                         loud_share: float = 0.25, level_groups: int = 1) -> jax.Array:
    """The 1-D Wasserstein distance between the periodicities of the loudest frames of generated
    and real clips: each is ``models.frame_periodicity``'s (periodicity [B, T] or, one per band,
    [B, T, N], level [B, T]); per clip the ``loud_share`` loudest frames (a word's vowel cores) are
    kept, and the mean absolute difference of the two sorted samples [B x k] is returned (a scalar,
    summed over the N bands; no gradient to the real side). Matching the distribution, not a mean,
    leaves no reward for making every frame periodic: it is 0 when G's loud frames are as periodic
    as the speakers', in the same proportions.

    With ``level_groups`` G > 1 the kept frames are split by their level rank within the clip into
    G equal groups (loudest first; k // G frames each, the quietest k mod G dropped), each group's
    distribution [B x k // G] is matched on its own, and the G distances are averaged: G cannot buy
    the match by moving voicing from its loudest frames into quieter ones."""
    def loud(p, level):
        p = p if p.ndim == 3 else p[..., None]  # [B, T, N]
        per = max(1, matched_frames(loud_share, p.shape[1]) // level_groups)
        idx = jnp.argsort(level, axis=1)[:, ::-1][:, :per * level_groups, None]  # loudest first
        x = jnp.take_along_axis(p, idx, axis=1).reshape(p.shape[0], level_groups, per, p.shape[-1])
        return jnp.sort(x.transpose(1, 0, 2, 3).reshape(level_groups, -1, p.shape[-1]), axis=1)  # [G, B per, N]
    return jnp.sum(jnp.mean(jnp.abs(loud(*fake) - jax.lax.stop_gradient(loud(*real))), axis=(0, 1)))


def _weighted_sum(terms: dict, w: dict, order) -> jax.Array:
    total = None
    for name in order:
        if name in terms:
            value = w[name] * terms[name] if w[name] != 1.0 else terms[name]
            total = value if total is None else total + value
    return total


def d_terms(loss: Loss, w: dict, d_fn, real, fake, labels, eps, *, label_smoothing=0.0, fake_class=False):
    """D's objective for one discriminator ``d_fn(x [B, L]) -> (logits [B], class_logits [B, K], features)``
    on real and fake clips [B, L] with labels [B] and GP mixing weights eps [B]. The class term
    trains fakes as their intended word (AC-GAN), or with ``fake_class`` (class logits [B, K + 1])
    as the extra class K, "generated", so the head must tell a word from an imitation of it.
    Returns (weighted sum, metrics with every term)."""
    (real_logits, real_cls, _), (fake_logits, fake_cls, _) = d_fn(real), d_fn(fake)
    terms = {}
    terms["adv"], m = loss.d_loss(real_logits, fake_logits, label_smoothing=label_smoothing)
    logit_fn = lambda x: d_fn(x)[0]
    if w["gp"]:
        terms["gp"], m["gp_grad_norm"] = gradient_penalty(logit_fn, real, fake, eps)
    if w["r1"]:
        terms["r1"] = r1_penalty(logit_fn, real)
    if w["drift"]:
        terms["drift"] = jnp.mean(real_logits ** 2)
    if w["class"]:
        fake_labels = jnp.full_like(labels, fake_cls.shape[-1] - 1) if fake_class else labels
        terms["class"] = 0.5 * (class_loss(real_cls, labels) + class_loss(fake_cls, fake_labels))
        m["d_class_acc_real"] = jnp.mean(real_cls.argmax(-1) == labels)
    m.update({"d_class_loss" if k == "class" else k: v for k, v in terms.items() if k != "adv"})
    return _weighted_sum(terms, w, D_TERMS), m


def g_terms(loss: Loss, w: dict, d_fn, fake, labels, real=None):
    """G's objective against one discriminator (``d_fn`` as in ``d_terms``) for generated clips
    fake [B, L] with labels [B]; ``real`` [B, L] only for feature matching.
    Returns (weighted sum, metrics)."""
    logits, cls, feats = d_fn(fake)
    terms = {}
    terms["adv"], m = loss.g_loss(logits)
    if w["class"]:
        terms["class"] = m["g_class_loss"] = class_loss(cls, labels)
    if w["feature_match"]:
        real_feats = jax.lax.stop_gradient(d_fn(real)[2])
        terms["feature_match"] = m["feature_match"] = sum(
            jnp.mean(jnp.abs(jnp.mean(f, 0) - jnp.mean(r, 0))) for f, r in zip(feats, real_feats))
    return _weighted_sum(terms, w, G_TERMS), m
