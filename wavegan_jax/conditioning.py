"""Conditioning strategies: how the class label enters G and D, chosen by ``config.conditioning``.

A strategy is a pair of pure functions, kept in the table ``STRATEGIES``:

* ``generator_features(h, labels, num_classes) -> h'``: applied to G's first feature map
  ``h: [B, T, C]`` (after the dense layer); returns ``[B, T, C']``.
* ``discriminator_input(x, labels, num_classes) -> x'``: applied to D's input ``x: [B, L, 1]``;
  returns ``[B, L, C']``.

``labels: [B]`` int in ``[0, num_classes)``, or ``[B, num_classes]`` float class weights (a one-hot
row per clip, or a mix of two rows to interpolate between words).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

Fn = Callable[[jax.Array, jax.Array, int], jax.Array]


@dataclasses.dataclass(frozen=True)
class Strategy:
    generator_features: Fn
    discriminator_input: Fn
    needs_labels: bool


def _identity(h, labels, num_classes):
    del labels, num_classes
    return h


def _append_one_hot(h, labels, num_classes):
    """[B, T, C] -> [B, T, C + num_classes]: the one-hot label repeated along time."""
    onehot = labels.astype(h.dtype) if labels.ndim == 2 else jax.nn.one_hot(labels, num_classes, dtype=h.dtype)
    onehot = jnp.broadcast_to(onehot[:, None, :], h.shape[:2] + (num_classes,))
    return jnp.concatenate([h, onehot], axis=-1)


STRATEGIES: dict[str, Strategy] = {
    # Unconditional WaveGAN: labels are ignored.
    "none": Strategy(_identity, _identity, needs_labels=False),
    # One-hot channels after G's dense layer and at D's input (the original study's method).
    "concat": Strategy(_append_one_hot, _append_one_hot, needs_labels=True),
}


def get(name: str) -> Strategy:
    """The strategy called ``name``; an unknown name lists the known ones."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown conditioning {name!r}; known: {', '.join(STRATEGIES)}") from None
