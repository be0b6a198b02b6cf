"""Conditioning strategies: how the class label enters G and D, chosen by ``config.conditioning``.

A strategy is two pure functions and the kind of D output head, kept in the table ``STRATEGIES``:

* ``generator_features(h, labels, num_classes) -> h'``: applied to G's first feature map
  ``h: [B, T, C]`` (after the dense layer); returns ``[B, T, C']``.
* ``discriminator_input(x, labels, num_classes) -> x'``: applied to D's input ``x: [B, L, 1]``;
  returns ``[B, L, C']``.
* ``head``: ``"plain"`` (D's logit ignores the label after its input), ``"acgan"`` (D also
  outputs class logits, trained with a classification loss, Odena et al. 2017) or
  ``"projection"`` (D's logit adds ``<embed(y), features>``, Miyato & Koyama 2018). The heads
  live in ``models.Discriminator``; they hold parameters.

``labels: [B]`` int in ``[0, num_classes)``, or ``[B, num_classes]`` float class weights (a one-hot
row per clip, or a mix of two rows to interpolate between words).

G's side is the same for every conditional strategy: one-hot channels appended to its first
feature map. The next layer is linear in them, so this equals a learned per-class embedding.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

Fn = Callable[[jax.Array, jax.Array, int], jax.Array]
HEADS = ("plain", "acgan", "projection")


@dataclasses.dataclass(frozen=True)
class Strategy:
    generator_features: Fn
    discriminator_input: Fn
    head: str = "plain"
    needs_labels: bool = True


def class_weights(labels: jax.Array, num_classes: int, dtype=jnp.float32) -> jax.Array:
    """[B] int or [B, K] weights -> [B, K] weights."""
    return labels.astype(dtype) if labels.ndim == 2 else jax.nn.one_hot(labels, num_classes, dtype=dtype)


def _identity(h, labels, num_classes):
    del labels, num_classes
    return h


def _append_one_hot(h, labels, num_classes):
    """[B, T, C] -> [B, T, C + num_classes]: the one-hot label repeated along time."""
    onehot = class_weights(labels, num_classes, h.dtype)
    onehot = jnp.broadcast_to(onehot[:, None, :], h.shape[:2] + (num_classes,))
    return jnp.concatenate([h, onehot], axis=-1)


def _sample_in_channel(x, labels, num_classes):
    """[B, L, 1] -> [B, L, num_classes]: the waveform in its class's channel, zeros elsewhere."""
    return x * class_weights(labels, num_classes, x.dtype)[:, None, :]


STRATEGIES: dict[str, Strategy] = {
    # Unconditional WaveGAN: labels are ignored.
    "none": Strategy(_identity, _identity, needs_labels=False),
    # One-hot channels after G's dense layer and at D's input (the original study's method).
    "concat": Strategy(_append_one_hot, _append_one_hot),
    # D sees the waveform in its class's channel instead of beside a channel of ones (the study's idea).
    "sample_in_channel": Strategy(_append_one_hot, _sample_in_channel),
    # D's input is unconditional; an auxiliary head classifies the word.
    "acgan": Strategy(_append_one_hot, _identity, head="acgan"),
    # D's input is unconditional; the label is projected onto D's last features.
    "projection": Strategy(_append_one_hot, _identity, head="projection"),
}


def get(name: str) -> Strategy:
    """The strategy called ``name``; an unknown name lists the known ones."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown conditioning {name!r}; known: {', '.join(STRATEGIES)}") from None
