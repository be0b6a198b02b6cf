"""GAN losses, chosen by ``config.loss``. Each is a pair of pure functions in ``LOSSES``.

* ``d_loss(d_fn, real, fake, *, eps, gp_lambda) -> (scalar, metrics)``: ``d_fn`` maps audio
  ``[B, L]`` to logits ``[B]`` (D's parameters, labels and phase shifts already bound);
  ``real``, ``fake``: ``[B, L]``; ``eps``: ``[B]`` uniform(0, 1) interpolation weights.
* ``g_loss(fake_logits) -> (scalar, metrics)`` with ``fake_logits: [B]``.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp


def gradient_penalty(d_fn, real: jax.Array, fake: jax.Array, eps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """mean_i (||grad_x D(x_i)||_2 - 1)^2 at x_i = eps_i real_i + (1 - eps_i) fake_i.

    Returns (penalty, mean gradient norm). D treats examples independently, so the gradient of
    sum_i D(x_i) gives every per-example gradient at once.
    """
    x = eps[:, None] * real + (1.0 - eps[:, None]) * fake
    grads = jax.grad(lambda x: d_fn(x).sum())(x)
    norms = jnp.sqrt(jnp.sum(grads ** 2, axis=-1) + 1e-12)  # the epsilon keeps sqrt's gradient finite
    return jnp.mean((norms - 1.0) ** 2), jnp.mean(norms)


def wgan_gp_d(d_fn, real, fake, *, eps, gp_lambda):
    """D loss of WGAN-GP (Gulrajani et al. 2017): E[D(fake)] - E[D(real)] + lambda GP."""
    d_real, d_fake = d_fn(real), d_fn(fake)
    gp, gnorm = gradient_penalty(d_fn, real, fake, eps)
    wdist = jnp.mean(d_real) - jnp.mean(d_fake)
    loss = -wdist + gp_lambda * gp
    return loss, {"d_loss": loss, "wasserstein": wdist, "gp": gp, "gp_grad_norm": gnorm}


def wgan_g(fake_logits):
    """G loss of WGAN: -E[D(G(z))]."""
    loss = -jnp.mean(fake_logits)
    return loss, {"g_loss": loss}


@dataclasses.dataclass(frozen=True)
class Loss:
    d_loss: Callable
    g_loss: Callable


LOSSES: dict[str, Loss] = {
    "wgan_gp": Loss(wgan_gp_d, wgan_g),
}


def get(name: str) -> Loss:
    """The loss called ``name``; an unknown name lists the known ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}") from None
