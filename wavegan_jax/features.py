"""Log-mel spectrogram features of waveforms, in JAX (used by the word classifier)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular HTK-style mel filters, [n_fft // 2 + 1, n_mels], from 20 Hz to Nyquist."""
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(20.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down)).T.astype(np.float32)


def frame_params(sample_rate: int) -> tuple[int, int]:
    """(n_fft, hop): a ~32 ms window rounded to a power of two, hop a quarter of it."""
    n_fft = 1 << int(round(np.log2(0.032 * sample_rate)))
    return n_fft, n_fft // 4


def log_mel(audio: jax.Array, sample_rate: int, n_mels: int = 64) -> jax.Array:
    """audio: [B, L] -> log-mel [B, frames, n_mels] with frames = L // hop (Hann window)."""
    n_fft, hop = frame_params(sample_rate)
    length = audio.shape[-1]
    x = jnp.pad(audio, ((0, 0), (n_fft // 2, n_fft // 2)))
    frames = length // hop
    idx = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None]
    window = jnp.asarray(np.hanning(n_fft + 1)[:-1], jnp.float32)
    spec = jnp.abs(jnp.fft.rfft(x[:, idx] * window, axis=-1)) ** 2  # [B, frames, n_fft/2 + 1]
    return jnp.log(spec @ mel_filterbank(sample_rate, n_fft, n_mels) + 1e-6)
