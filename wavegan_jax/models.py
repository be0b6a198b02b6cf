"""WaveGAN generator and discriminator (Donahue et al. 2019) as Flax linen modules.

Both are used as pure functions: ``Generator(...).apply(params, z, labels) -> audio`` and
``Discriminator(...).apply(params, audio, labels, shifts) -> (logits, class_logits, features)``;
``SpectralDiscriminator`` (multi-resolution STFT magnitudes) has the same signature, and
``build`` returns the discriminators a config names as a dict.

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

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

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
    with ReLU between and tanh at the end. With ``film`` (and classes) every upsampling layer but
    the last is followed by a per-class scale and shift, ``h * (1 + gamma[y]) + beta[y]``
    (FiLM / class-conditional normalisation without the normalisation, as in BigGAN), starting at
    the identity.
    """

    length: int = 16384
    d: int = 64
    num_classes: int = 0
    conditioning: str = "concat"
    conv_impl: str = "polyphase"
    film: bool = False

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array) -> jax.Array:
        steps = check_length(self.length)
        chans = _layer_channels(self.d)
        h = nn.Dense(steps * chans[0], kernel_init=nn.initializers.he_uniform())(z)
        h = nn.relu(h.reshape(z.shape[0], steps, chans[0]))
        h = cond_lib.get(self.conditioning).generator_features(h, labels, self.num_classes)
        for i, c in enumerate(chans[1:] + [1]):
            h = Conv25(c, up=True, conv_impl=self.conv_impl, name=f"up{i}")(h)
            if i == NUM_LAYERS - 1:
                return jnp.tanh(h)[..., 0]
            h = nn.relu(self._film(h, labels, f"film{i}"))

    def _film(self, h: jax.Array, labels: jax.Array, name: str) -> jax.Array:
        """h [B, T, C] -> h * (1 + gamma[y]) + beta[y] with a per-class table ``name`` starting at
        zero (the identity); h unchanged without ``film`` or classes."""
        if not (self.film and self.num_classes > 0):
            return h
        table = self.param(name, nn.initializers.zeros, (self.num_classes, 2 * h.shape[-1]))
        gamma, beta = jnp.split(cond_lib.class_weights(labels, self.num_classes, h.dtype) @ table, 2, -1)
        return h * (1 + gamma[:, None, :]) + beta[:, None, :]


def istft(log_magnitude: jax.Array, phase: jax.Array, n_fft: int, hop: int) -> jax.Array:
    """Inverse STFT: log-magnitude and phase [B, T, n_fft // 2 + 1] -> audio [B, T * hop].

    Each frame is the inverse real DFT of ``exp(log_magnitude) * e^(i phase)`` (a matmul with a
    cosine and a sine table, as in ``stft_magnitude``), times a periodic Hann window; frames are
    overlap-added at ``hop`` (which divides ``n_fft``), normalised by the window's squared sum, and
    the result is cropped by n_fft / 2 at the start, as ``stft_magnitude`` centres its frames."""
    mag = jnp.exp(jnp.minimum(log_magnitude, 10.0))  # no overflow (Vocos clips the same way)
    return istft_complex(mag * jnp.cos(phase), mag * jnp.sin(phase), n_fft, hop)


def istft_complex(real: jax.Array, imag: jax.Array, n_fft: int, hop: int) -> jax.Array:
    """``istft`` of a spectrum given as its real and imaginary parts [B, T, n_fft // 2 + 1]."""
    spec = jnp.concatenate([real, imag], axis=-1)  # [B, T, 2F]
    bins = n_fft // 2 + 1
    t, k = np.arange(n_fft), np.arange(bins)
    scale = np.where((k == 0) | (k == n_fft // 2), 1.0, 2.0) / n_fft  # irfft's weights per bin
    angle = 2 * np.pi * np.outer(k, t) / n_fft
    window = 0.5 - 0.5 * np.cos(2 * np.pi * t / n_fft)
    table = np.concatenate([np.cos(angle), -np.sin(angle)], axis=0) * np.tile(scale, 2)[:, None] * window
    frames = spec @ jnp.asarray(table, spec.dtype)  # [B, T, n_fft]
    b, n, _ = frames.shape
    k = n_fft // hop
    blocks = frames.reshape(b, n, k, hop)
    out = sum(jnp.pad(blocks[:, :, j], ((0, 0), (j, k - 1 - j), (0, 0))) for j in range(k))  # [B, T+k-1, hop]
    out = out.reshape(b, -1) / float(np.sum(window ** 2) / hop)
    return out[:, n_fft // 2:n_fft // 2 + n * hop]


ISTFT_FFT, HOP = 256, 64  # 2 upsamplings by 4 from length / 1024 give length / 64 frames
F0_RANGE = (70.0, 250.0)  # Hz: the harmonic source's pitch prior (FSDD's voices: 70-250 Hz, some higher)
PITCH_CHOICES = 32  # istft pitch="chosen": log-spaced pitches over F0_RANGE (0.7 semitone apart)


def pitch_grid(n: int = PITCH_CHOICES) -> np.ndarray:
    """The pitches [n] in Hz that G chooses among with pitch="chosen": log-spaced over F0_RANGE."""
    lo, hi = F0_RANGE
    return (lo * (hi / lo) ** np.linspace(0.0, 1.0, n)).astype(np.float32)


@functools.lru_cache(maxsize=8)
def comb_table(frames: int, n_fft: int, harmonics: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """``excitation_spectrum`` of a steady comb at each of ``pitch_grid``'s pitches, computed once
    (a constant of the traced step) -> real and imaginary parts [PITCH_CHOICES, frames, n_fft // 2 + 1]."""
    grid = pitch_grid()
    with jax.ensure_compile_time_eval():
        er, ei = excitation_spectrum(jnp.asarray(np.repeat(grid[:, None], frames, axis=1)), HOP, n_fft,
                                     harmonics, sample_rate)
    return np.asarray(er), np.asarray(ei)


def _frames_to_samples(x: jax.Array, hop: int) -> jax.Array:
    """Per-frame values [B, N, ...] -> per-sample [B, N * hop, ...], linear between frame t at
    sample t * hop (where ``istft`` centres frame t) and frame t + 1; held after the last frame."""
    nxt = jnp.concatenate([x[:, 1:], x[:, -1:]], axis=1)
    w = (np.arange(hop) / hop).astype(np.float32).reshape((1, 1, hop) + (1,) * (x.ndim - 2))
    up = x[:, :, None] * (1 - w) + nxt[:, :, None] * w  # [B, N, hop, ...]
    return up.reshape((x.shape[0], x.shape[1] * hop) + x.shape[2:])


def stft_complex(audio: jax.Array, n_fft: int, hop: int, frames: int | None = None) -> tuple[jax.Array, jax.Array]:
    """The STFT that ``istft_complex`` inverts: audio [B, L] -> real and imaginary parts
    [B, frames (1 + L // hop by default), n_fft // 2 + 1] of each Hann-windowed, centred frame."""
    f = _windowed_frames(audio, n_fft, hop)[:, :frames]
    re, im = jnp.split(f @ jnp.asarray(_dft_table(n_fft, n_fft), f.dtype), 2, axis=-1)
    return re, im


def stft_inconsistency(real: jax.Array, imag: jax.Array, audio: jax.Array, n_fft: int, hop: int
                       ) -> tuple[jax.Array, jax.Array]:
    """What of a spectrogram S [B, N, n_fft // 2 + 1] (real and imaginary parts) is not the STFT
    of its own iSTFT ``audio`` [B, N * hop] -> (|STFT(audio) - S|^2 / |S|^2 over the batch: 0 when
    consistent, ~1e-4 for a real clip's STFT; the same energy per frame, summed over bins). The
    iSTFT drops it and its null space gets no gradient, so an inconsistent G writes "magnitudes"
    that are not its output's: the recipe's ``istft`` G leaves 0.85-0.92 of its energy there. The
    loss term is the absolute energy per frame (shrinking the null-space part lowers it; the
    ratio is scale-free, which a shrink of all of S does not change)."""
    re, im = stft_complex(audio, n_fft, hop, real.shape[1])
    dropped = jnp.sum((re - real) ** 2 + (im - imag) ** 2, axis=-1)  # [B, N]
    return jnp.sum(dropped) / (jnp.sum(real ** 2 + imag ** 2) + 1e-12), jnp.mean(dropped)


def excitation_spectrum(f0: jax.Array, hop: int, n_fft: int, harmonics: int, sample_rate: int
                        ) -> tuple[jax.Array, jax.Array]:
    """The STFT (``istft``'s framing: frame t centred at sample t * hop) of a harmonic comb at
    pitch f0 [B, N]: harmonics 1..K of amplitude 1 each (below Nyquist), scaled so that a harmonic
    reads ~1 at its bin, as one of ``istft``'s bins of magnitude 1 is that bin's sinusoid.
    -> real and imaginary parts [B, N, n_fft // 2 + 1]: a source for G's spectral envelope to filter."""
    comb = harmonic_source(f0, jnp.ones(f0.shape + (harmonics,), f0.dtype), hop, sample_rate)
    frames = _windowed_frames(comb, n_fft, hop)[:, :f0.shape[1]]  # [B, N, n_fft]
    table = _dft_table(n_fft, n_fft) * (4.0 / n_fft)  # Hann's sum: n / 2
    return jnp.split(frames @ jnp.asarray(table, frames.dtype), 2, axis=-1)


def harmonic_source(f0: jax.Array, amplitudes: jax.Array, hop: int, sample_rate: int) -> jax.Array:
    """A sum of harmonics (DDSP's additive synthesiser): pitch f0 [B, N] in Hz and the amplitude
    of harmonics 1..K [B, N, K] per frame -> audio [B, N * hop] = sum_k a_k(t) sin(k phi(t)).

    Both are interpolated linearly to the sample rate; phi is 2 pi times the running sum of
    f0 / sample_rate (cycles, wrapped to [0, 1) before the multiplication), so the pitch glides
    without clicks; a harmonic at or above the Nyquist frequency is silenced, not aliased."""
    f = _frames_to_samples(f0, hop)  # [B, T]
    a = _frames_to_samples(amplitudes, hop)  # [B, T, K]
    k = np.arange(1, amplitudes.shape[-1] + 1, dtype=np.float32)
    cycles = jnp.cumsum(f / sample_rate, axis=1)
    cycles = cycles - jax.lax.stop_gradient(jnp.floor(cycles))
    a = jnp.where(f[..., None] * k < sample_rate / 2, a, 0.0)
    return jnp.sum(a * jnp.sin(2 * np.pi * cycles[..., None] * k), axis=-1)


class ISTFTGenerator(Generator):
    """z: [B, latent_dim], labels: [B] int -> audio [B, length] in [-1, 1], written as STFT frames.

    Instead of upsampling to the sample rate, G works at the frame rate (one frame per ``HOP`` = 64
    samples, FFT size ``n_fft``, 256 by default) and its last layer gives each frame's log-magnitude and phase, which
    ``istft`` turns into audio (iSTFTNet, Vocos): a harmonic is one output per frame and bin
    rather than a phase-coherent pattern that five transposed convolutions must build.
    dense -> [B, length/1024, 16 d] -> ReLU -> conditioning -> 2 x (upsample by 4: 8d, ``channels``)
    -> ``blocks`` x residual (conv 7, ReLU, conv 7) -> dense 2 (n_fft/2 + 1) -> istft -> tanh.
    With ``film`` (and classes) each layer and block is followed by a per-class scale and shift.
    With ``harmonics`` K > 0, ``harmonic_source``'s sum of K sinusoids is added to the iSTFT's
    output before the tanh (harmonic plus noise, as in DDSP): a voiced frame is then a few
    outputs, not a comb of bins with matching phases. The clip's pitch is a latent, not learnt:
    z[0] through the normal CDF, log-uniform over ``F0_RANGE`` (G sees it in z), because a pitch
    learnt through the sinusoids' gradient stayed at its initial value and G silenced the source
    (round 16). A second dense head gives each frame a contour (the pitch times 2^(+-1/2)), a
    loudness and a distribution over the K harmonics. With ``source="filter"`` the frames
    filter the comb instead (source-filter, as in a vocoder): each frame's spectrum is G's
    magnitudes times a per-frame mix, v * the comb's STFT + (1 - v) * e^(i phase), v = 0.5 + the
    head's one output clipped to [0, 1] with a straight-through gradient (a sigmoid there went to
    4e-6 in the first 1000 steps and never came back, while D by then scored clips with v = 0.5
    as more real: a dead gate), so the harmonics take the word's spectral envelope; the comb keeps the
    clip's pitch (no contour: a pitch learnt through the sinusoids did not move, and a comb that
    depends on z only costs no backward pass). With ``pitch="chosen"`` G picks the pitch itself,
    without a gradient through sinusoids: a softmax over ``PITCH_CHOICES`` precomputed combs
    (``comb_table``) from the frames' mean features, the blend scaled to one comb's energy (G
    shut every source whose pitch z imposed, round 16). With ``pitch="argmax"`` the same weights
    pick one comb (``straight_through_onehot``: the forward pass uses the heaviest comb alone, the
    backward pass the softmax's gradient), since the blend stayed near uniform and inharmonic; the
    pick is Gumbel-max over the last PITCH_CHOICES coordinates of z (``gumbel_from_latent``), as
    without a draw every clip took one pitch (the same 159 Hz in every word, or one pitch per word
    at the grid's edges, after 1,000 steps).
    """

    channels: int = 128  # the fields before these are Generator's
    blocks: int = 2
    phase: str = "absolute"  # absolute: each frame's phase | demod: its phase against the clip's time origin (bin_advance) | if: its advance per frame (phase_from_if) | magnitude: none, phase_from_magnitude | hybrid: phase_from_magnitude's plus a correction G writes
    if_scale: float = 0.125  # with "if": an output of 1 advances the phase by if_scale * pi per frame; "hybrid": moves it by if_scale * pi
    n_fft: int = ISTFT_FFT  # frame size (a multiple of HOP): 512 resolves a 100 Hz voice's harmonics at 8 kHz
    harmonics: int = 0  # K > 0: a harmonic source of K sinusoids beside the frames
    source: str = "add"  # add: the sinusoids are added to the output | filter: the frames filter them
    gate_init: float = 0.5  # filter: the voiced mix every frame starts at
    pitch: str = "latent"  # filter: the comb's pitch from z[0] | "chosen": G weighs PITCH_CHOICES combs | "argmax": picks one
    consistency: bool = False  # sow the spectrogram's stft_inconsistency (for the loss term "consistency")
    mag_init: float = 0.0  # every bin's log-magnitude at init (0: |S| = 1, ~0.99 of it dropped by the iSTFT)
    sample_rate: int = 8000  # Hz, for the harmonic source's pitch
    postfilter: float = 0.0  # > 0: the iSTFT's output through ``pitch_postfilter`` with this gain
    postfilter_fade: int = 0  # > 0: the postfilter is a training aid only (its gain given per step, see __call__)

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array, postfilter_gain: jax.Array | None = None) -> jax.Array:
        """z [B, latent], labels [B] -> audio [B, length]. ``postfilter_gain`` (a scalar, may be
        traced) replaces ``postfilter``'s gain for this call; with ``postfilter_fade`` > 0 the
        train step gives it (falling to 0 over that many steps, ``train.postfilter_gain``) and a
        call without it (sampling, evaluation) has no postfilter: G alone."""
        gain = postfilter_gain if postfilter_gain is not None else 0.0 if self.postfilter_fade else self.postfilter
        steps = check_length(self.length)
        h = nn.Dense(steps * 16 * self.d, kernel_init=nn.initializers.he_uniform())(z)
        h = nn.relu(h.reshape(z.shape[0], steps, 16 * self.d))
        h = cond_lib.get(self.conditioning).generator_features(h, labels, self.num_classes)
        for i, c in enumerate((8 * self.d, self.channels)):  # [B, length / 64, channels]
            h = Conv25(c, up=True, conv_impl=self.conv_impl, name=f"up{i}")(h)
            h = nn.relu(self._film(h, labels, f"film{i}"))
        for i in range(self.blocks):
            r = nn.relu(nn.Conv(self.channels, (7,), name=f"block{i}_a")(h))
            h = h + nn.Conv(self.channels, (7,), name=f"block{i}_b")(r)
            h = nn.relu(self._film(h, labels, f"block{i}_film"))
        bins = self.n_fft // 2 + 1
        written = 1 if self.phase == "magnitude" else 2  # log-magnitudes (and phases or corrections)
        # demod: fixed random phases, since all-zero ones against the clip's origin click every n_fft samples
        phase0 = np.random.default_rng(0).uniform(-1.0, 1.0, bins) if self.phase == "demod" else np.zeros(bins)
        start = np.concatenate([np.full(bins, self.mag_init), phase0])[:written * bins].astype(np.float32)
        out = nn.Dense(written * bins, kernel_init=nn.initializers.normal(0.01), name="frames",
                       bias_init=lambda *_: jnp.asarray(start))(h)
        log_mag = jnp.minimum(out[..., :bins], 10.0)  # no overflow (Vocos clips the same way)
        mag = jnp.exp(log_mag)
        if self.phase == "magnitude":  # phases read from the magnitudes (a phase vocoder's)
            phase = phase_from_magnitude(log_mag, phase_start(z, bins), self.n_fft, HOP)
        elif self.phase == "hybrid":  # the vocoder's phases, moved by G (its gradient reaches the phases)
            phase = (phase_from_magnitude(log_mag, phase_start(z, bins), self.n_fft, HOP)
                     + out[..., bins:] * (self.if_scale * np.pi))
        else:
            phase = out[..., bins:] * np.pi
        if self.phase == "demod":  # a steady partial at a bin's centre is one constant output
            phase = phase + jnp.asarray(bin_advance(h.shape[1], self.n_fft, HOP), phase.dtype)
        if self.phase == "if":  # frame t's phase sums t + 1 outputs: scaled down, or one update
            phase = phase_from_if(phase * self.if_scale)  # moves the last frames' phases 64x as far
        if not self.harmonics:
            return self._output(mag * jnp.cos(phase), mag * jnp.sin(phase), gain=gain)
        width = 1 if self.source == "filter" else 2 + self.harmonics
        bias = nn.initializers.constant(self.gate_init - 0.5 if self.source == "filter" else 0.0)
        src = nn.Dense(width, kernel_init=nn.initializers.normal(0.01), bias_init=bias, name="harmonic")(h)
        lo, hi = F0_RANGE
        pitch = lo * (hi / lo) ** jax.scipy.special.ndtr(z[:, :1])  # [B, 1]: the clip's
        if self.source == "filter":  # a steady pitch: the comb depends on z only (no backward pass)
            if self.pitch in ("chosen", "argmax"):  # G's choice among PITCH_CHOICES combs, linear in its weights
                logits = nn.Dense(PITCH_CHOICES, kernel_init=nn.initializers.normal(0.01),
                                  name="pitch")(h.mean(axis=1))  # [B, P]
                if self.pitch == "argmax":  # one comb, drawn per clip (a blend of combs is inharmonic)
                    w = straight_through_onehot(nn.softmax(logits + gumbel_from_latent(z[:, -PITCH_CHOICES:])))
                else:
                    w = nn.softmax(logits)
                tr, ti = comb_table(h.shape[1], self.n_fft, self.harmonics, self.sample_rate)
                norm = jnp.sqrt(jnp.sum(w * w, axis=-1))[:, None, None]  # a blend keeps a comb's energy
                er = jnp.einsum("bp,pnf->bnf", w, jnp.asarray(tr, h.dtype)) / norm
                ei = jnp.einsum("bp,pnf->bnf", w, jnp.asarray(ti, h.dtype)) / norm
                pitch = jnp.exp(w @ np.log(pitch_grid()))[:, None]  # [B, 1]: the weights' mean pitch
            f0 = jnp.broadcast_to(pitch, src.shape[:2])
            self.sow("intermediates", "f0", f0)  # read by benchmarks/voicing.py (mutable only)
            v = straight_through_unit(0.5 + src)  # [B, N, 1]: the voiced share of each frame
            if self.pitch == "latent":
                er, ei = excitation_spectrum(f0, HOP, self.n_fft, self.harmonics, self.sample_rate)
            if self.is_mutable_collection("intermediates"):  # the two parts apart, for voicing.py
                noise = istft_complex(mag * (1 - v) * jnp.cos(phase), mag * (1 - v) * jnp.sin(phase), self.n_fft, HOP)
                for name, value in (("loudness", v[..., 0]), ("istft_out", noise),
                                    ("voice", istft_complex(mag * v * er, mag * v * ei, self.n_fft, HOP))):
                    self.sow("intermediates", name, value)
            return self._output(mag * (v * er + (1 - v) * jnp.cos(phase)), mag * (v * ei + (1 - v) * jnp.sin(phase)),
                                gain=gain)
        f0 = pitch * 2.0 ** (0.5 * jnp.tanh(src[..., 0]))  # [B, N]
        self.sow("intermediates", "f0", f0)
        audio = self._output(mag * jnp.cos(phase), mag * jnp.sin(phase), squash=False, gain=gain)
        loudness = nn.softplus(src[..., 1] - 3.0)  # [B, N]: 0.05 at first, quieter than speech
        voice = harmonic_source(f0, loudness[..., None] * nn.softmax(src[..., 2:]), HOP, self.sample_rate)
        for name, value in (("loudness", loudness), ("voice", voice), ("istft_out", audio)):
            self.sow("intermediates", name, value)
        return jnp.tanh(audio + voice)


    def _output(self, real: jax.Array, imag: jax.Array, squash: bool = True, gain=0.0) -> jax.Array:
        """iSTFT of G's spectrogram [B, N, bins] (through ``pitch_postfilter`` of ``gain``, unless
        it is the number 0, then tanh-squashed unless ``squash`` is False); with
        ``consistency``, sows its ``stft_inconsistency`` (ratio, energy) into "intermediates" (read
        when that collection is mutable: by the train step; ``init`` keeps none)."""
        audio = istft_complex(real, imag, self.n_fft, HOP)
        if not isinstance(gain, (int, float)) or gain > 0:  # a traced gain: the train step's fading one
            audio = pitch_postfilter(audio, gain, self.sample_rate)
        if self.consistency and self.is_mutable_collection("intermediates"):  # not at init: init keeps none
            ratio, energy = stft_inconsistency(real, imag, audio, self.n_fft, HOP)
            self.sow("intermediates", "inconsistency", ratio)
            self.sow("intermediates", "dropped_energy", energy)
        return jnp.tanh(audio) if squash else audio


POSTFILTER_FFT = 256  # pitch_postfilter: the frames (32 ms at 8 kHz) whose period it finds
POSTFILTER_F0 = (70.0, 400.0)  # Hz: the periods it looks for


def pitch_lags(sample_rate: int) -> tuple[int, int]:
    """The shortest and longest lag (samples) of a pitch in ``POSTFILTER_F0``, both included."""
    return int(np.floor(sample_rate / POSTFILTER_F0[1])), int(np.ceil(sample_rate / POSTFILTER_F0[0]))


def pitch_postfilter(audio: jax.Array, gain: float, sample_rate: int, hop: int = HOP) -> jax.Array:
    """A long-term (pitch) postfilter, as speech codecs put after their decoder: audio [B, L] ->
    [B, L], y_n = (x_n + g_t x_{n - T_t}) / (1 + g_t). Per frame t (``POSTFILTER_FFT`` points,
    centred at t * hop) T_t is the period: the shortest lag in ``POSTFILTER_F0`` whose normalised
    autocorrelation (``frame_autocorrelation``) is within 0.85 of the highest (not its double), and
    g_t = ``gain`` times that correlation clipped to [0, 1], so a frame with no period is left
    nearly alone. A comb at the frame's own period: its harmonics pass unchanged, the noise between
    them drops to (1 - g) / (1 + g) (-9.5 dB at g = 0.5), the upper harmonics, which an ``istft``
    G leaves noise-filled (round 19), most. Lags and gains are read from the signal without a
    gradient, so y is linear in x: G's gradient passes through both of its copies. Between frame
    centres the two frames' delayed copies are cross-faded linearly."""
    lo, hi = pitch_lags(sample_rate)
    acf = jax.lax.stop_gradient(frame_autocorrelation(audio, POSTFILTER_FFT, hop))[..., lo - 1:hi]  # lags lo..hi
    best = jnp.max(acf, axis=-1, keepdims=True)  # [B, N, 1]
    lag = lo + jnp.argmax(acf >= 0.85 * best, axis=-1)  # [B, N]: the first lag near the best
    g = gain * jnp.clip(best[..., 0], 0.0, 1.0)  # [B, N]
    n = np.arange(audio.shape[1])
    t = np.minimum(n // hop, lag.shape[1] - 1)  # the frame at or before each sample
    t1 = np.minimum(t + 1, lag.shape[1] - 1)
    w = ((n % hop) / hop).astype(np.float32)
    delayed = lambda k: jnp.take_along_axis(audio, jnp.maximum(n - k, 0), axis=1) * (n >= k)
    past = (1 - w) * g[:, t] * delayed(lag[:, t]) + w * g[:, t1] * delayed(lag[:, t1])
    return (audio + past) / (1 + (1 - w) * g[:, t] + w * g[:, t1])


def straight_through_unit(x: jax.Array) -> jax.Array:
    """x clipped to [0, 1] in the forward pass, the identity's gradient in the backward pass: a
    gate that cannot saturate (a sigmoid's gradient vanishes at 0 and 1, so a gate pushed shut
    early stays shut)."""
    return x + jax.lax.stop_gradient(jnp.clip(x, 0.0, 1.0) - x)


def straight_through_onehot(w: jax.Array) -> jax.Array:
    """Weights [..., P] -> the one-hot of their argmax in the forward pass, w's own gradient in the
    backward pass (a straight-through pick: the softmax's gradient chooses, one choice is used)."""
    hard = jax.nn.one_hot(jnp.argmax(w, axis=-1), w.shape[-1], dtype=w.dtype)
    return w + jax.lax.stop_gradient(hard - w)


def gumbel_from_latent(z: jax.Array) -> jax.Array:
    """Latent coordinates z [..., P] (standard normal) -> Gumbel noise [..., P], -log(-log(Phi(z))):
    argmax(logits + noise) then draws a choice with softmax(logits)'s probabilities (the Gumbel-max
    trick) from G's own input, so G stays a function of z and sees what was drawn."""
    u = jnp.clip(jax.scipy.special.ndtr(z), 1e-6, 1 - 1e-6)
    return -jnp.log(-jnp.log(u))


def bin_advance(frames: int, n_fft: int, hop: int) -> np.ndarray:
    """[frames, n_fft // 2 + 1]: the phase (radians, in [0, 2 pi)) that bin k's centre frequency
    has turned through from the clip's first sample to the start of frame t (sample t hop - n_fft
    / 2, as ``istft`` centres its frames), 2 pi k (t hop - n_fft / 2) / n_fft, computed in
    integers so it stays exact.

    ``istft`` reads each frame's phases against the frame's own start, so a steady partial's phase
    turns by its frequency times the hop from frame to frame: in real speech's loud bins that
    change is nearly uniform over the circle (mean 1.45-1.82 rad, uniform: 1.57; ``phase="absolute"``
    must write it). Added
    to what G writes (``phase="demod"``), G's phases are read against the clip's time origin
    instead, where the same bins change by 0.70-0.90 rad per frame (real test clips, the 10% of
    bins with the most energy in each band): a partial is a slowly turning output, not a
    pattern that differs in every frame."""
    t, k = np.arange(frames)[:, None], np.arange(n_fft // 2 + 1)[None, :]
    return (2 * np.pi / n_fft) * (((t * hop - n_fft // 2) * k) % n_fft)


def phase_from_if(increments: jax.Array) -> jax.Array:
    """Instantaneous frequency [B, T, F] -> phase [B, T, F] (GANSynth): frame t's phase is the sum
    of the increments of frames 0..t. A steady harmonic is then one constant increment per bin,
    where absolute phases must be a different pattern in every frame. (No bin-centre term: with
    one, G's initial near-zero output would make every bin coherent, an impulse every hop, and
    the first run went silent within 500 steps.)"""
    return jnp.cumsum(increments, axis=1)


def peak_frequencies(log_magnitude: jax.Array) -> jax.Array:
    """log_magnitude [B, T, F] -> [B, T, F]: each bin's frequency in bins, read as that of its
    nearest spectral peak (a local maximum; the nearer one, the lower on a tie), refined by the
    parabola through the peak's log-magnitude and its neighbours' (sinusoidal modelling's
    interpolation, within +-0.5 bin); a frame with no peak keeps each bin's own centre. A real
    signal's magnitudes mirror at 0 and at Nyquist, so the edge bins' outer neighbours are
    their inner ones."""
    f = log_magnitude.shape[-1]
    k = jnp.arange(f)
    pad = jnp.pad(log_magnitude, ((0, 0), (0, 0), (1, 1)), mode="reflect")  # |X(-k)| = |X(k)|, at Nyquist too
    a, b, c = pad[..., :-2], log_magnitude, pad[..., 2:]
    peak = (b > a) & (b >= c)
    curve = a - 2 * b + c  # < 0 at a peak
    ok = peak & (curve < -1e-6)
    refined = k + jnp.clip(jnp.where(ok, 0.5 * (a - c) / jnp.where(ok, curve, -1.0), 0.0), -0.5, 0.5)
    left = jax.lax.cummax(jnp.where(peak, k, -1), axis=2)  # the nearest peak at or below each bin
    right = jax.lax.cummin(jnp.where(peak, k, f), axis=2, reverse=True)  # at or above
    nearest = jnp.where((right >= f) | ((left >= 0) & (k - left <= right - k)), left, right)
    return jnp.where(nearest < 0, k, jnp.take_along_axis(refined, jnp.clip(nearest, 0, f - 1), axis=2))


def phase_from_magnitude(log_magnitude: jax.Array, start: jax.Array, n_fft: int, hop: int) -> jax.Array:
    """Phases for a magnitude spectrogram from the magnitude alone, as a phase vocoder with
    identity phase locking makes them (Laroche & Dolson 1999; TiFGAN's G also writes magnitudes
    only): log_magnitude [B, T, F], start [B, F] (frame 0's phases) -> phase [B, T, F].

    Each bin turns at the frequency of its nearest spectral peak (``peak_frequencies``): frame t's
    phase is start + 2 pi hop / n_fft times the sum of frames 1..t's frequencies in bins. Every bin
    of a harmonic's lobe then turns at the harmonic's own frequency, so the upper harmonics
    cannot wash into noise through their phases (round 19: G's own phases leave them aperiodic).
    Real test clips' magnitudes with these phases: voiced share 0.46-0.47 against their own 0.451
    (random starts; independent per-bin frequencies read from the log-magnitude's slope, PGHI's
    time direction: 0.37; random phases: 0.04). The bins' relative phases are ``start``'s (random
    per clip: phases of pi k would make a flat spectrum one impulse). No gradient: phases follow
    the magnitudes, and G is trained through its magnitudes alone."""
    bins = jax.lax.stop_gradient(peak_frequencies(log_magnitude))
    advance = (2 * np.pi * hop / n_fft) * bins  # radians per frame
    return start[:, None, :] + jnp.cumsum(advance, axis=1) - advance[:, :1]


def phase_start(z: jax.Array, bins: int) -> jax.Array:
    """z [B, latent] -> [B, bins] frame-0 phases for ``phase_from_magnitude``: a fixed random
    projection of z (standard deviation 2 pi), so they are random per clip and the same for the same z."""
    r = np.random.default_rng(0).standard_normal((z.shape[-1], bins)) / np.sqrt(z.shape[-1])
    return (2 * np.pi) * (z @ jnp.asarray(r, z.dtype))


GENERATORS = ("wave", "istft")
ISTFT_PHASES = ("absolute", "demod", "if", "magnitude", "hybrid")
ISTFT_SOURCES = ("add", "filter")
ISTFT_PITCHES = ("latent", "chosen", "argmax")


def _conditional_head(module: nn.Module, f: jax.Array, labels: jax.Array, num_classes: int, head: str,
                      fake_class: bool = False):
    """D's output from features f [B, F]: (logits [B], class_logits [B, K] for acgan else [B, 0];
    [B, K + 1] with ``fake_class``, the last class meaning "generated").
    Called inside ``module``'s compact ``__call__`` (its parameters are the module's)."""
    logits = nn.Dense(1, kernel_init=nn.initializers.he_uniform())(f)[:, 0]
    class_logits = jnp.zeros((f.shape[0], 0), f.dtype)
    if head == "projection":
        embed = module.param("class_embedding", nn.initializers.normal(0.02), (num_classes, f.shape[-1]))
        logits = logits + jnp.sum((cond_lib.class_weights(labels, num_classes) @ embed) * f, axis=-1)
    elif head == "acgan":
        class_logits = nn.Dense(num_classes + int(fake_class), name="classifier")(f)
    return logits, class_logits


class Discriminator(nn.Module):
    """audio: [B, length], labels: [B] int (or [B, K] weights), shifts: [B, 4] int (phase shuffle)
    -> (logits [B], class_logits [B, K] for the acgan head, else [B, 0], features: the five layers'
    activations [B, L_i, C_i], for feature matching).

    conditioning input -> 5 x (strided conv: d, 2d, 4d, 8d, 16d; LeakyReLU 0.2; phase shuffle
    after the first four) -> flatten to features f -> dense 1 (+ <embed(y), f> for projection).
    With ``preemphasis`` a > 0, D reads x_t - a x_{t-1} (speech's pre-emphasis: +6 dB per octave
    at a = 1, so a vowel's upper harmonics weigh as much as its first ones).
    """

    length: int = 16384
    d: int = 64
    num_classes: int = 0
    conditioning: str = "concat"
    conv_impl: str = "polyphase"
    phase_shuffle: int = 2
    fake_class: bool = False
    preemphasis: float = 0.0

    @nn.compact
    def __call__(self, audio: jax.Array, labels: jax.Array, shifts: jax.Array):
        check_length(self.length)
        if self.preemphasis:
            audio = jnp.concatenate([audio[:, :1], audio[:, 1:] - self.preemphasis * audio[:, :-1]], axis=1)
        strategy = cond_lib.get(self.conditioning)
        h = strategy.discriminator_input(audio[..., None], labels, self.num_classes)
        feats = []
        for i, c in enumerate(reversed(_layer_channels(self.d))):
            h = nn.leaky_relu(Conv25(c, up=False, conv_impl=self.conv_impl, name=f"down{i}")(h), 0.2)
            feats.append(h)
            if i < NUM_LAYERS - 1:
                h = phase_shuffle(h, shifts[:, i], self.phase_shuffle)
        f = h.reshape(h.shape[0], -1)  # [B, F]
        return (*_conditional_head(self, f, labels, self.num_classes, strategy.head, self.fake_class),
                tuple(feats))


def _windowed_frames(audio: jax.Array, n_fft: int, hop: int) -> jax.Array:
    """audio [B, L] -> Hann-windowed (periodic) frames [B, 1 + L // hop, n_fft], centred by reflect
    padding (``hop`` divides ``n_fft``). Frames are stacked slices: on XLA CPU a gather was slower."""
    x = jnp.pad(audio, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
    blocks = x[:, :x.shape[1] // hop * hop].reshape(x.shape[0], -1, hop)  # [B, nb, hop]
    k = n_fft // hop
    frames_n = blocks.shape[1] - k + 1
    frames = jnp.concatenate([blocks[:, j:j + frames_n] for j in range(k)], axis=-1)  # [B, T, n_fft]
    return frames * jnp.asarray(_hann(n_fft), audio.dtype)


def _hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def _dft_table(n: int, n_dft: int) -> np.ndarray:
    """The real DFT as a matmul table [n, 2 (n_dft // 2 + 1)]: cosines, then minus sines."""
    angle = 2 * np.pi * np.outer(np.arange(n), np.arange(n_dft // 2 + 1)) / n_dft
    return np.concatenate([np.cos(angle), -np.sin(angle)], axis=1)


def _power_spectrum(frames: jax.Array, n_dft: int) -> jax.Array:
    """frames [..., n] -> |DFT_{n_dft}|^2 [..., n_dft // 2 + 1] (zero-padded to n_dft >= n), as a
    matmul with a cosine and a sine table (``jnp.fft.rfft`` made the spectral D's step 3x slower
    on XLA CPU)."""
    re, im = jnp.split(frames @ jnp.asarray(_dft_table(frames.shape[-1], n_dft), frames.dtype), 2, axis=-1)
    return re ** 2 + im ** 2


def stft_magnitude(audio: jax.Array, n_fft: int, hop: int, floor: float = 1e-8) -> jax.Array:
    """Compressed STFT magnitude (|X|^2 + floor)^0.15 (about |X|^0.3) of audio [B, L] with a
    periodic Hann window, frames centred by reflect padding: -> [B, 1 + L // hop, n_fft // 2 + 1]
    (``hop`` divides ``n_fft``). The floor bounds the slope at quiet bins: d/d|X| peaks near
    |X|^2 = 1.4 floor at 0.17 floor^-0.35 (106 at 1e-8, 4.2 at 1e-4, against 0.3 at |X| = 1), so a
    low floor makes D's input gradient, which R1 penalises, come from the quietest bins."""
    return (_power_spectrum(_windowed_frames(audio, n_fft, hop), n_fft) + floor) ** 0.15


def frame_autocorrelation(audio: jax.Array, n_fft: int, hop: int, floor_db: float = -60.0,
                          rms_weighted: bool = False, highpass: float = 0.0, lowpass: float = 0.5) -> jax.Array:
    """Normalised autocorrelation of each Hann-windowed frame, lags 1..n_fft // 2:
    audio [B, L] -> [B, 1 + L // hop, n_fft // 2].

    r(tau) = sum_j x_j x_{j+tau} of the windowed frame, through its power spectrum zero-padded to
    2 n_fft (no circular wrap), divided by (r(0) + floor) and by the window's own normalised
    autocorrelation (Boersma 1993, Praat's pitch tracker), so a periodic frame reads ~1 at its
    period and its multiples at every lag up to n_fft / 2, white noise ~0, and a frame below
    ``floor_db`` dBFS RMS ~0. A voiced frame is one with a peak at a lag of 1/F0: the quantity
    that ``speech.voiced_frames`` thresholds, which a magnitude spectrogram holds only as a comb
    of harmonics and the waveform D only across its strided filters.

    ``rms_weighted`` multiplies each frame's values by its RMS (r(tau) / sqrt(r(0))): loud frames
    count more, and the input gradient is the same at every level (the plain normalisation's grows
    as 1 / RMS in quiet frames, where R1 on the real clips then penalises D for reading them).

    ``highpass`` (cycles per sample, e.g. 1000 Hz / 8000 Hz = 0.125) drops the power spectrum's
    bins below it first: the autocorrelation of the frame's upper band, whose period only coherent
    upper harmonics keep (a vowel's energy is ~75% below 500 Hz, so the full band's peak is the
    first harmonics'; G's voiced frames are aperiodic above 1 kHz, round 19); ``lowpass`` (below
    0.5) drops the bins from it up, so the two make a band. The window correction is then
    approximate."""
    return _normalised_autocorrelation(_frame_power(audio, n_fft, hop), n_fft, floor_db, rms_weighted,
                                       highpass, lowpass)


def _frame_power(audio: jax.Array, n_fft: int, hop: int) -> jax.Array:
    """audio [B, L] -> the Hann-windowed frames' power spectra zero-padded to 2 n_fft [B, T, n_fft + 1]."""
    return _power_spectrum(_windowed_frames(audio, n_fft, hop), 2 * n_fft)


def _normalised_autocorrelation(power: jax.Array, n_fft: int, floor_db: float = -60.0, rms_weighted: bool = False,
                                highpass: float = 0.0, lowpass: float = 0.5) -> jax.Array:
    """``_frame_power``'s [B, T, n_fft + 1] -> ``frame_autocorrelation`` [B, T, n_fft // 2] of its band."""
    n, lags = n_fft, n_fft // 2
    k = np.arange(n + 1)
    # r(tau) = (1 / 2n) sum over the 2n bins of P_k cos(pi k tau / n); the one-sided bins count twice
    weight = np.where((k == 0) | (k == n), 1.0, 2.0) / (2 * n)
    table = weight[:, None] * np.cos(np.pi * np.outer(k, np.arange(lags + 1)) / n)  # [n + 1, lags + 1]
    if highpass:
        table = table * (k >= highpass * 2 * n)[:, None]  # bin k of 2n is k / 2n cycles per sample
    if lowpass < 0.5:
        table = table * (k < lowpass * 2 * n)[:, None]
    r = power @ jnp.asarray(table, power.dtype)  # [B, T, lags + 1]
    w = _hann(n)
    r_w = np.array([np.dot(w[:n - t], w[t:]) for t in range(lags + 1)])
    floor = 10 ** (floor_db / 10) * r_w[0]  # r(0) of a frame at floor_db RMS
    norm = r[..., 1:] / (r[..., :1] + floor) / jnp.asarray(r_w[1:] / r_w[0], power.dtype)
    return norm * jnp.sqrt((r[..., :1] + floor) / r_w[0]) if rms_weighted else norm


def frame_periodicity(audio: jax.Array, sample_rate: int, highpass_hz: float = 0.0,
                      n_fft: int = POSTFILTER_FFT, hop: int = HOP, bands: tuple[float, ...] = ()
                      ) -> tuple[jax.Array, jax.Array]:
    """audio [B, L] -> (periodicity [B, T], level [B, T]), T = 1 + L // hop: each frame's highest
    normalised autocorrelation (``frame_autocorrelation`` of the band above ``highpass_hz``) at a
    pitch lag (``POSTFILTER_F0``, 70-400 Hz), ~1 for a clean period and ~0 for noise, and its
    power r(0) (no gradient: it only ranks frames). Differentiable in audio through the peak.

    With ``bands`` (edges in Hz, e.g. (0, 1000, 2000, 4000); ``highpass_hz`` unused) periodicity
    is [B, T, len(bands) - 1]: each band's normalised autocorrelation at the lag of the full
    band's peak (found without a gradient). A voiced frame's harmonics share its period, so its
    upper bands read high at that lag too; noise-filled upper harmonics read ~0 there even where
    their own highest peak, taken anywhere in the pitch range, is a chance one."""
    lo, hi = pitch_lags(sample_rate)
    level = jax.lax.stop_gradient(jnp.mean(_windowed_frames(audio, n_fft, hop) ** 2, axis=-1))
    power = _frame_power(audio, n_fft, hop)
    if not bands:
        return jnp.max(_normalised_autocorrelation(power, n_fft, highpass=highpass_hz / sample_rate)[..., lo - 1:hi],
                       axis=-1), level
    full = jax.lax.stop_gradient(_normalised_autocorrelation(power, n_fft)[..., lo - 1:hi])
    lag = jnp.argmax(full, axis=-1)[..., None]  # [B, T, 1]: index into lags lo..hi
    per_band = [jnp.take_along_axis(_normalised_autocorrelation(power, n_fft, highpass=a / sample_rate,
                                                                lowpass=b / sample_rate)[..., lo - 1:hi], lag, axis=-1)
                for a, b in zip(bands[:-1], bands[1:])]
    return jnp.concatenate(per_band, axis=-1), level


def frame_cepstrum(audio: jax.Array, n_fft: int, hop: int, floor: float = 1e-4) -> jax.Array:
    """Real cepstrum of each Hann-windowed frame, quefrencies 1..n_fft // 2 samples:
    audio [B, L] -> [B, 1 + L // hop, n_fft // 2]: c(q) = (1/n) sum over the n bins of
    log(|X_k|^2 + floor) cos(2 pi k q / n). A comb of harmonics 1/T apart is a ripple of the log
    spectrum, a peak of c at q = T; the log weighs every bin's ripple alike, so the comb's contrast
    between 1 and 4 kHz (3/4 of the bins), where G's harmonics wash out into noise (round 19: 3.8
    against 7.1 dB at 1-2 kHz), counts as much as its first harmonics', which dominate the
    autocorrelation. ``floor`` bounds the log's slope at quiet bins (``stft_magnitude``'s)."""
    n, k = n_fft, np.arange(n_fft // 2 + 1)
    weight = np.where((k == 0) | (k == n // 2), 1.0, 2.0) / n
    table = weight[:, None] * np.cos(2 * np.pi * np.outer(k, np.arange(1, n // 2 + 1)) / n)  # [n/2 + 1, n/2]
    logp = jnp.log(_power_spectrum(_windowed_frames(audio, n, hop), n) + floor)
    return logp @ jnp.asarray(table, audio.dtype)


class SpectralDiscriminator(nn.Module):
    """Multi-resolution STFT discriminator: audio [B, L], labels, shifts (unused) ->
    (logits [B], class_logits [B, K] or [B, 0], features).

    For each FFT size n (hop n / 4) the compressed magnitude [B, T, n/2 + 1] is read as a sequence
    of T frames with the frequency bins as channels (so the first layer is a learned filterbank
    over the whole spectrum: harmonics and formants are patterns across bins); with
    ``representation="autocorrelation"`` (the ``acf`` discriminator) the frames' normalised
    autocorrelation [B, T, n/2] instead, lags as channels (a frame's period). Then four 1-D
    convolutions over time (``channels`` wide; kernels 5, 5, 5, 3; stride 1; LeakyReLU 0.2); the time mean of the last ones goes to the strategy's head (plain, projection
    or acgan; input-conditioning strategies append one-hot channels to the frames). Logits and
    class logits are averaged over the resolutions. (2-D convolutions over the spectrogram, as in
    UnivNet's MRD, measured 100x slower per step on XLA CPU: 46.6 s against 0.41 s for the
    waveform D's whole step at d=16, batch 32.)
    """

    num_classes: int = 0
    conditioning: str = "concat"
    resolutions: tuple[int, ...] = (128, 256, 512)
    channels: int = 32
    floor: float = 1e-8
    fake_class: bool = False
    representation: str = "magnitude"  # | "autocorrelation" | "autocorrelation_rms" | "cepstrum"
    highpass: float = 0.0  # autocorrelation: of the band above this (cycles per sample)

    @nn.compact
    def __call__(self, audio: jax.Array, labels: jax.Array, shifts: jax.Array | None = None):
        del shifts
        strategy = cond_lib.get(self.conditioning)
        outs, feats = [], []
        for n in self.resolutions:
            if self.representation == "magnitude":
                h = stft_magnitude(audio, n, n // 4, self.floor)
            elif self.representation == "cepstrum":
                h = frame_cepstrum(audio, n, n // 4, self.floor)
            else:
                h = frame_autocorrelation(audio, n, n // 4, rms_weighted=self.representation == "autocorrelation_rms",
                                          highpass=self.highpass)
            if strategy.discriminator_input is not cond_lib.STRATEGIES["none"].discriminator_input:
                h = cond_lib.STRATEGIES["concat"].discriminator_input(h, labels, self.num_classes)
            for i, kernel in enumerate((5, 5, 5, 3)):
                h = nn.leaky_relu(nn.Conv(self.channels, (kernel,), name=f"n{n}_conv{i}")(h), 0.2)
                feats.append(h)
            f = jnp.mean(h, axis=1)  # [B, C]
            outs.append(_Head(self.num_classes, strategy.head, self.fake_class, name=f"n{n}_head")(f, labels))
        logits = sum(o[0] for o in outs) / len(outs)
        class_logits = sum(o[1] for o in outs) / len(outs)
        return logits, class_logits, tuple(feats)


class _Head(nn.Module):
    """``_conditional_head`` as a module of its own (one per resolution of the spectral D)."""

    num_classes: int
    head: str
    fake_class: bool = False

    @nn.compact
    def __call__(self, f, labels):
        return _conditional_head(self, f, labels, self.num_classes, self.head, self.fake_class)


class SlicedConv(nn.Module):
    """A 1-D convolution with ``nn.Conv``'s parameters, initialisation and 'SAME' padding, computed
    as one matmul of stacked strided slices: x [N, T, C] -> [N, ceil(T / stride), features].
    On XLA CPU a strided ``nn.Conv`` over few channels is far slower than this (the period D)."""

    features: int
    kernel_size: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, s = self.kernel_size, self.stride
        w = self.param("kernel", nn.initializers.lecun_normal(), (k, x.shape[-1], self.features))
        b = self.param("bias", nn.initializers.zeros, (self.features,))
        out = -(-x.shape[1] // s)
        pad = max((out - 1) * s + k - x.shape[1], 0)
        x = jnp.pad(x, ((0, 0), (pad // 2, pad - pad // 2), (0, 0)))
        cols = jnp.concatenate([x[:, j:j + (out - 1) * s + 1:s] for j in range(k)], axis=-1)  # [N, out, k C]
        return cols @ w.reshape(-1, self.features) + b


def fold_period(audio: jax.Array, p: int) -> jax.Array:
    """audio [B, L] -> its p interleaved sequences [B, p, ceil(L / p)]: out[b, j, t] = x[b, p t + j]
    of the clip reflect-padded at its end to a multiple of p (as in HiFi-GAN's MPD)."""
    pad = -audio.shape[1] % p
    x = jnp.pad(audio, ((0, 0), (0, pad)), mode="reflect") if pad else audio
    return x.reshape(x.shape[0], -1, p).transpose(0, 2, 1)


class PeriodDiscriminator(nn.Module):
    """Multi-period discriminator (HiFi-GAN's MPD): audio [B, L], labels, shifts (unused) ->
    (logits [B], class_logits [B, K] or [B, 0], features [B, p, T_i, C_i]).

    For each period p the clip (reflect-padded to a multiple of p) is cut into its p interleaved
    sequences x[p t + j], j < p, each [L / p] long; the same 1-D convolutions read every one of
    them (HiFi-GAN's (k, 1) 2-D kernels): kernel 5 with stride 3 and widths c, 2c, 4c, then
    kernel 3 with stride 1 and width 4c, LeakyReLU 0.1. A voiced frame repeats every pitch period,
    so its samples p apart are alike for some of the p's: a structure that the waveform D's
    stride-4 filters and the STFT D's magnitudes (which drop the phase) see only indirectly. The
    time and column mean of the last layer goes to the strategy's head; input-conditioning
    strategies append one-hot channels to each sequence. Logits and class logits are averaged
    over the periods.
    """

    num_classes: int = 0
    conditioning: str = "concat"
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    channels: int = 16
    fake_class: bool = False

    @nn.compact
    def __call__(self, audio: jax.Array, labels: jax.Array, shifts: jax.Array | None = None):
        del shifts
        strategy = cond_lib.get(self.conditioning)
        batch = audio.shape[0]
        outs, feats = [], []
        for p in self.periods:
            h = fold_period(audio, p).reshape(batch * p, -1, 1)  # [B p, ceil(L / p), 1]
            if strategy.discriminator_input is not cond_lib.STRATEGIES["none"].discriminator_input:
                h = cond_lib.STRATEGIES["concat"].discriminator_input(
                    h, jnp.repeat(labels, p, axis=0), self.num_classes)
            c = self.channels
            for i, (width, kernel, stride) in enumerate(((c, 5, 3), (2 * c, 5, 3), (4 * c, 5, 3),
                                                         (4 * c, 3, 1))):
                h = nn.leaky_relu(SlicedConv(width, kernel, stride, name=f"p{p}_conv{i}")(h), 0.1)
                feats.append(h.reshape(batch, p, *h.shape[1:]))
            f = jnp.mean(h.reshape(batch, p, *h.shape[1:]), axis=(1, 2))  # [B, C]
            outs.append(_Head(self.num_classes, strategy.head, self.fake_class, name=f"p{p}_head")(f, labels))
        logits = sum(o[0] for o in outs) / len(outs)
        class_logits = sum(o[1] for o in outs) / len(outs)
        return logits, class_logits, tuple(feats)


DISCRIMINATORS = ("wave", "stft", "period", "acf", "cep")


def build(config, num_classes: int) -> tuple[Generator, dict[str, nn.Module]]:
    """Generator and the discriminators (name -> module, ``config.discriminators``) for
    ``config.model`` / ``config.conditioning``."""
    m = config.model
    kw = dict(num_classes=num_classes, conditioning=config.conditioning)
    wave = dict(kw, length=m.length, d=m.d, conv_impl=resolve_conv_impl(m.conv_impl))
    fake = config.acgan_fake_class
    make = {"wave": lambda: Discriminator(**wave, phase_shuffle=m.phase_shuffle, fake_class=fake,
                                         preemphasis=m.d_preemphasis),
            "stft": lambda: SpectralDiscriminator(**kw, resolutions=stft_sizes(config), fake_class=fake,
                                                 channels=m.stft_channels, floor=m.stft_floor),
            "period": lambda: PeriodDiscriminator(**kw, periods=period_sizes(config), fake_class=fake,
                                                  channels=m.period_channels),
            "acf": lambda: SpectralDiscriminator(**kw, resolutions=acf_sizes(config), fake_class=fake,
                                                channels=m.stft_channels, highpass=m.acf_highpass_hz / config.data.sample_rate,
                                                representation="autocorrelation_rms" if m.acf_rms else "autocorrelation"),
            "cep": lambda: SpectralDiscriminator(**kw, resolutions=cep_sizes(config), fake_class=fake,
                                                channels=m.stft_channels, floor=m.stft_floor, representation="cepstrum")}
    if m.generator not in GENERATORS:
        raise ValueError(f"model.generator={m.generator!r}; known: {', '.join(GENERATORS)}")
    if m.istft_phase not in ISTFT_PHASES:
        raise ValueError(f"model.istft_phase={m.istft_phase!r}; known: {', '.join(ISTFT_PHASES)}")
    if m.istft_fft < HOP or m.istft_fft % HOP:
        raise ValueError(f"model.istft_fft={m.istft_fft}; give a multiple of the hop {HOP}, e.g. 256 or 512")
    if m.istft_source not in ISTFT_SOURCES:
        raise ValueError(f"model.istft_source={m.istft_source!r}; known: {', '.join(ISTFT_SOURCES)}")
    if not 0 <= m.istft_gate_init <= 1:
        raise ValueError(f"model.istft_gate_init={m.istft_gate_init}; give the starting voiced mix in [0, 1], e.g. 0.5")
    if not 0 <= m.d_preemphasis <= 1:
        raise ValueError(f"model.d_preemphasis={m.d_preemphasis}; give a coefficient in [0, 1] (0: off), e.g. 0.9")
    if not 0 <= m.acf_highpass_hz < config.data.sample_rate / 2:
        raise ValueError(f"model.acf_highpass_hz={m.acf_highpass_hz}; give a cutoff from 0 (off) to below "
                         f"half the sample rate ({config.data.sample_rate / 2:g} Hz), e.g. 1000")
    if m.istft_pitch not in ISTFT_PITCHES:
        raise ValueError(f"model.istft_pitch={m.istft_pitch!r}; known: {', '.join(ISTFT_PITCHES)}")
    if m.istft_pitch != "latent" and m.istft_source != "filter":
        raise ValueError(f"model.istft_pitch={m.istft_pitch} needs model.istft_source=filter (and istft_harmonics > 0)")
    if m.istft_harmonics < 0:
        raise ValueError(f"model.istft_harmonics={m.istft_harmonics}; give 0 (none) or a number of harmonics, e.g. 40")
    if not 0 <= m.get("istft_postfilter", 0.0) < 1:
        raise ValueError(f"model.istft_postfilter={m.istft_postfilter}; give the pitch postfilter's gain in [0, 1) "
                         f"(0: off), e.g. 0.5")
    fade = m.get("istft_postfilter_fade", 0)
    if fade < 0 or fade != int(fade) or (fade and not (m.generator == "istft" and m.get("istft_postfilter", 0.0) > 0)):
        raise ValueError(f"model.istft_postfilter_fade={fade}; give 0 (off) or a number of steps over which "
                         f"the postfilter's gain falls to 0, with model.generator=istft and model.istft_postfilter > 0")
    if not m.istft_if_scale > 0:
        raise ValueError(f"model.istft_if_scale={m.istft_if_scale}; give a positive fraction of pi, e.g. 0.125")
    g = (Generator(**wave, film=m.film) if m.generator == "wave" else
         ISTFTGenerator(**wave, film=m.film, channels=m.istft_channels, blocks=m.istft_blocks,
                        phase=m.istft_phase, if_scale=m.istft_if_scale, n_fft=m.istft_fft,
                        harmonics=m.istft_harmonics, source=m.istft_source, gate_init=m.istft_gate_init,
                        pitch=m.istft_pitch, consistency=config.get("consistency", 0.0) > 0,
                        mag_init=m.get("istft_mag_init", 0.0), postfilter=m.get("istft_postfilter", 0.0),
                        postfilter_fade=int(m.get("istft_postfilter_fade", 0)),
                        sample_rate=config.data.sample_rate))
    return g, {name: make[name]() for name in discriminator_names(config)}


def _sizes(config, field: str, low: int, high: int, what: str, example: str) -> tuple[int, ...]:
    """``config.model.<field>`` ("a,b,c") as integers in [low, high]; a one-line error otherwise."""
    text = str(config.model[field])
    try:
        sizes = tuple(int(n) for n in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(n < low or n > high for n in sizes):
        raise ValueError(f"model.{field}={text!r}: give {what}, e.g. {example}")
    return sizes


def stft_sizes(config) -> tuple[int, ...]:
    """``config.model.stft_resolutions`` ("128,256,512") as FFT sizes between 16 and half the clip."""
    half = config.model.length // 2
    return _sizes(config, "stft_resolutions", 16, half,
                  f"FFT sizes between 16 and model.length / 2 = {half}", "128,256,512")


def acf_sizes(config) -> tuple[int, ...]:
    """``config.model.acf_resolutions`` ("512") as frame sizes between 16 and half the clip."""
    half = config.model.length // 2
    return _sizes(config, "acf_resolutions", 16, half, f"frame sizes between 16 and model.length / 2 = {half}",
                  "512")


def cep_sizes(config) -> tuple[int, ...]:
    """``config.model.cep_resolutions`` ("512") as frame sizes between 16 and half the clip."""
    half = config.model.length // 2
    return _sizes(config, "cep_resolutions", 16, half, f"frame sizes between 16 and model.length / 2 = {half}",
                  "512")


def period_sizes(config) -> tuple[int, ...]:
    """``config.model.periods`` ("2,3,5,7,11") between 2 and model.length / 64 (the three stride-3
    layers need that many samples per sequence)."""
    top = config.model.length // 64
    return _sizes(config, "periods", 2, top, f"periods between 2 and model.length / 64 = {top}", "2,3,5,7,11")


def discriminator_names(config) -> list[str]:
    """``config.discriminators`` ("wave", "wave,stft,period", ...) as a list; unknown names list the known."""
    names = [n for n in config.discriminators.split(",") if n]
    bad = [n for n in names if n not in DISCRIMINATORS]
    if bad or not names:
        raise ValueError(f"discriminators={config.discriminators!r}; known: {', '.join(DISCRIMINATORS)} "
                         f"(comma-separated, at least one)")
    return names


def param_count(params) -> int:
    return sum(x.size for x in jax.tree_util.tree_leaves(params))

