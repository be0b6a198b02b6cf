"""WaveGAN generator and discriminator (Donahue et al. 2019) as Flax linen modules.

Both are used as pure functions: ``Generator(...).apply(params, z, labels) -> audio`` and
``Discriminator(...).apply(params, audio, labels, shifts) -> logits``.

Every convolution is stored exactly as the paper's layer: a kernel of 25 taps,
``[25, in_channels, out_channels]``, stride 4. ``conv_impl`` only changes how XLA computes it:

* ``"direct"``: ``lax.conv_general_dilated`` with a stride (D) or an input dilation (G, the
  usual way a transposed convolution is computed).
* ``"polyphase"``: the same linear map rewritten as a stride-1 convolution of 7 taps. G's
  upsampling produces the 4 output phases as ``4 * C`` channels and interleaves them; D's
  downsampling folds 4 neighbouring samples into channels (space-to-depth) first. The 25-tap
  kernel is mapped onto the 28 (= 7 x 4) slots of the fast form with zeros in the 3 unused slots,
  so both forms compute the same function of the same parameters (``tests/test_models.py``).

On XLA CPU the polyphase form is 10-20x faster (see BENCHMARKS.md) because the direct forms
multiply zeros (the dilated input) or use slow strided kernels.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from wavegan_jax import conditioning as cond_lib

KERNEL = 25
STRIDE = 4
NUM_LAYERS = 5
LENGTHS = (1024, 2048, 4096, 8192, 16384)
CONV_IMPLS = ("polyphase", "direct")
_TAPS = 7  # ceil(25 / 4) taps per phase in the polyphase form; 7 * 4 = 28 slots
_DN = ("NWC", "WIO", "NWC")  # dimension numbers: [batch, time, channels], [taps, in, out]


def resolve_conv_impl(conv_impl: str) -> str:
    """``"auto"`` -> the faster form on this backend (polyphase everywhere we measured)."""
    if conv_impl == "auto":
        return "polyphase"
    if conv_impl not in CONV_IMPLS:
        raise ValueError(f"model.conv_impl={conv_impl!r}; known: auto, {', '.join(CONV_IMPLS)}")
    return conv_impl


def _conv(x, w, padding, **kw):
    return jax.lax.conv_general_dilated(x, w, window_strides=kw.pop("strides", (1,)),
                                        padding=padding, dimension_numbers=_DN, **kw)


def _conv7(x: jax.Array, w: jax.Array) -> jax.Array:
    """Stride-1 'SAME' convolution, x: [B, L, Cin], w: [7, Cin, Cout] -> [B, L, Cout].

    Sequences shorter than the kernel (the first/last layer of a 4096-sample model works on 4
    steps) go through an explicit im2col matmul: XLA CPU's convolution takes ~1 s there
    instead of ~7 ms (measured with B=64, 1024 -> 512 channels, see BENCHMARKS.md).
    """
    length = x.shape[1]
    if length >= _TAPS:
        return _conv(x, w, [(3, 3)])
    xp = jnp.pad(x, ((0, 0), (3, 3), (0, 0)))
    cols = jnp.concatenate([xp[:, j:j + length] for j in range(_TAPS)], axis=-1)  # [B, L, 7 Cin]
    return cols @ w.reshape(-1, w.shape[-1])


# ----------------------------------------------------------------------------------------------
# Upsampling by 4 (G). Definition, for x: [B, L, Cin], w: [25, Cin, Cout]:
#     y[t] = sum over (m, k) with 4 m + k = t + 12 of  x[m] @ w[k],   t = 0 .. 4 L - 1
# (a transposed convolution with 'SAME' output length 4 L, kernel centred).
# ----------------------------------------------------------------------------------------------
def upsample_direct(x: jax.Array, w: jax.Array) -> jax.Array:
    """[B, L, Cin], [25, Cin, Cout] -> [B, 4 L, Cout], computed on the 4x dilated input."""
    return _conv(x, w[::-1], [(12, 15)], lhs_dilation=(STRIDE,))


def upsample_polyphase_kernel(w: jax.Array) -> jax.Array:
    """Map a [25, Cin, Cout] kernel to the polyphase kernel [7, Cin, 4 * Cout].

    Output phase p of input position n uses x[n + j] for j = -3..3 with tap k = p + 12 - 4 j;
    slots with k = 25, 26, 27 are zero.
    """
    _, cin, cout = w.shape
    w28 = jnp.pad(w, ((0, 4 * _TAPS - KERNEL), (0, 0), (0, 0)))  # [28, Cin, Cout]
    wp = w28.reshape(_TAPS, STRIDE, cin, cout)[::-1]  # [j + 3, p, Cin, Cout]
    return wp.transpose(0, 2, 1, 3).reshape(_TAPS, cin, STRIDE * cout)


def upsample_polyphase(x: jax.Array, w: jax.Array) -> jax.Array:
    """[B, L, Cin], [25, Cin, Cout] -> [B, 4 L, Cout] as a stride-1 conv plus interleave."""
    b, length, _ = x.shape
    y = _conv7(x, upsample_polyphase_kernel(w))  # [B, L, 4 * Cout]
    return y.reshape(b, length * STRIDE, -1)


# ----------------------------------------------------------------------------------------------
# Downsampling by 4 (D). Definition, for x: [B, L, Cin], w: [25, Cin, Cout]:
#     y[n] = sum over k of x[4 n + k - 10] @ w[k],   n = 0 .. L / 4 - 1   (zero outside x)
# (a strided convolution with TensorFlow's 'SAME' padding: 10 before, 11 after).
# ----------------------------------------------------------------------------------------------
def downsample_direct(x: jax.Array, w: jax.Array) -> jax.Array:
    """[B, L, Cin], [25, Cin, Cout] -> [B, L / 4, Cout] with a strided convolution."""
    return _conv(x, w, [(10, 11)], strides=(STRIDE,))


def downsample_polyphase_kernel(w: jax.Array) -> jax.Array:
    """Map a [25, Cin, Cout] kernel to the space-to-depth kernel [7, 4 * Cin, Cout].

    Slot (j + 3, q) holds tap k = 4 (j + 3) + q - 2; slots with k = -2, -1, 25 are zero.
    """
    _, cin, cout = w.shape
    w28 = jnp.pad(w, ((2, 1), (0, 0), (0, 0)))  # w28[i] = w[i - 2]
    return w28.reshape(_TAPS, STRIDE * cin, cout)


def downsample_polyphase(x: jax.Array, w: jax.Array) -> jax.Array:
    """[B, L, Cin], [25, Cin, Cout] -> [B, L / 4, Cout]: space-to-depth, then stride-1 conv."""
    b, length, cin = x.shape
    xs = x.reshape(b, length // STRIDE, STRIDE * cin)
    return _conv7(xs, downsample_polyphase_kernel(w))


_UPSAMPLE = {"polyphase": upsample_polyphase, "direct": upsample_direct}
_DOWNSAMPLE = {"polyphase": downsample_polyphase, "direct": downsample_direct}


class Conv25(nn.Module):
    """One WaveGAN convolution (kernel 25, stride 4) with bias. ``up`` selects G's layer."""

    features: int
    up: bool
    conv_impl: str = "polyphase"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        w = self.param("kernel", nn.initializers.he_uniform(), (KERNEL, x.shape[-1], self.features))
        b = self.param("bias", nn.initializers.zeros, (self.features,))
        table = _UPSAMPLE if self.up else _DOWNSAMPLE
        return table[resolve_conv_impl(self.conv_impl)](x, w) + b


def phase_shuffle(x: jax.Array, shift: jax.Array, max_shift: int = 2) -> jax.Array:
    """Shift each example in time by its own ``shift`` in [-max_shift, max_shift], reflecting
    at the edges (WaveGAN's phase shuffle): ``y[t] = x[reflect(t - shift)]``.

    x: [B, L, C], shift: [B] int. Returns [B, L, C]. (A gather: on XLA CPU it measured faster
    than selecting among the 2 max_shift + 1 static shifts.)
    """
    if max_shift == 0:
        return x
    length = x.shape[1]
    idx = jnp.arange(length)[None, :] - shift[:, None]  # [B, L]
    idx = jnp.abs(idx)  # reflect at the start
    idx = (length - 1) - jnp.abs((length - 1) - idx)  # reflect at the end
    return jnp.take_along_axis(x, idx[:, :, None], axis=1)


def _layer_channels(d: int) -> list[int]:
    return [16 * d, 8 * d, 4 * d, 2 * d, d]


def check_length(length: int) -> int:
    if length not in LENGTHS:
        raise ValueError(f"model.length={length}; WaveGAN supports {LENGTHS}")
    return length // STRIDE ** NUM_LAYERS  # first feature map length: 1, 2, 4, 8 or 16


class Generator(nn.Module):
    """z: [B, latent_dim], labels: [B] int -> audio [B, length] in [-1, 1].

    dense -> [B, length/1024, 16 d] -> ReLU -> conditioning -> 5 x (upsample by 4: 8d, 4d, 2d, d, 1)
    with ReLU between and tanh at the end.
    """

    length: int = 16384
    d: int = 64
    num_classes: int = 0
    conditioning: str = "concat"
    conv_impl: str = "polyphase"

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array) -> jax.Array:
        steps = check_length(self.length)
        chans = _layer_channels(self.d)
        h = nn.Dense(steps * chans[0], kernel_init=nn.initializers.he_uniform())(z)
        h = nn.relu(h.reshape(z.shape[0], steps, chans[0]))
        h = cond_lib.get(self.conditioning).generator_features(h, labels, self.num_classes)
        for i, c in enumerate(chans[1:] + [1]):
            h = Conv25(c, up=True, conv_impl=self.conv_impl, name=f"up{i}")(h)
            h = nn.relu(h) if i < NUM_LAYERS - 1 else jnp.tanh(h)
        return h[..., 0]


class Discriminator(nn.Module):
    """audio: [B, length], labels: [B] int (or [B, K] weights), shifts: [B, 4] int (phase shuffle)
    -> (logits [B], class_logits [B, K] for the acgan head, else [B, 0]).

    conditioning input -> 5 x (strided conv: d, 2d, 4d, 8d, 16d; LeakyReLU 0.2; phase shuffle
    after the first four) -> flatten to features f -> dense 1 (+ <embed(y), f> for projection).
    """

    length: int = 16384
    d: int = 64
    num_classes: int = 0
    conditioning: str = "concat"
    conv_impl: str = "polyphase"
    phase_shuffle: int = 2

    @nn.compact
    def __call__(self, audio: jax.Array, labels: jax.Array, shifts: jax.Array):
        check_length(self.length)
        strategy = cond_lib.get(self.conditioning)
        h = strategy.discriminator_input(audio[..., None], labels, self.num_classes)
        for i, c in enumerate(reversed(_layer_channels(self.d))):
            h = nn.leaky_relu(Conv25(c, up=False, conv_impl=self.conv_impl, name=f"down{i}")(h), 0.2)
            if i < NUM_LAYERS - 1:
                h = phase_shuffle(h, shifts[:, i], self.phase_shuffle)
        f = h.reshape(h.shape[0], -1)  # [B, F]
        logits = nn.Dense(1, kernel_init=nn.initializers.he_uniform())(f)[:, 0]
        class_logits = jnp.zeros((f.shape[0], 0), f.dtype)
        if strategy.head == "projection":
            embed = self.param("class_embedding", nn.initializers.normal(0.02), (self.num_classes, f.shape[-1]))
            logits = logits + jnp.sum((cond_lib.class_weights(labels, self.num_classes) @ embed) * f, axis=-1)
        elif strategy.head == "acgan":
            class_logits = nn.Dense(self.num_classes, name="classifier")(f)
        return logits, class_logits


def build(config, num_classes: int) -> tuple[Generator, Discriminator]:
    """Generator and discriminator for ``config.model`` / ``config.conditioning``."""
    m = config.model
    kw = dict(length=m.length, d=m.d, num_classes=num_classes,
              conditioning=config.conditioning, conv_impl=resolve_conv_impl(m.conv_impl))
    return Generator(**kw), Discriminator(**kw, phase_shuffle=m.phase_shuffle)


def param_count(params) -> int:
    return sum(x.size for x in jax.tree_util.tree_leaves(params))

