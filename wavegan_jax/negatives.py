"""Clips that are not a word, made on the fly: the evaluation classifier's "not a word" class.

A word classifier that must name a word for every clip splits anything, noise included, between
the words. Trained with these negatives as one more class it can say "none of them". Each kind is
a pure function ``(rng, real, labels, n, sample_rate) -> [n, L]`` of real clips ``real: [M, L]`` (labels
``[M]``); ``make`` draws a mix of all kinds. Levels are random between -45 and -12 dBFS RMS.

Kinds: coloured noise (white, pink, brown), flat or under a real clip's amplitude envelope;
silence and near-silence; clicks; hum and tones; and the hard negatives, built from real words so
that their spectrum is speech-like but they say nothing: time-reversed and frame-shuffled clips,
mixtures of two different words, and a real clip's spectrogram envelope filled with noise
(smoothed over frequency, random phase: formant-shaped noise without harmonics, what an
untrained WaveGAN writes).
"""
from __future__ import annotations

import numpy as np
import scipy.ndimage


def _level(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Scale each clip of x [n, L] to a random RMS level in -45..-12 dBFS, clipped to [-1, 1]."""
    rms = np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True)) + 1e-12
    target = 10 ** (rng.uniform(-45, -12, (len(x), 1)) / 20)
    return np.clip(x * target / rms, -1, 1).astype(np.float32)


def coloured_noise(rng: np.random.Generator, n: int, length: int, alpha: float) -> np.ndarray:
    """[n, length] Gaussian noise with power spectrum ~ 1 / f^alpha (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rng.normal(size=(n, length)), axis=-1)
    f = np.arange(spec.shape[-1], dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / f ** (alpha / 2), n=length, axis=-1)
    return x / (x.std(axis=-1, keepdims=True) + 1e-12)


def envelope(real: np.ndarray, width: int = 256) -> np.ndarray:
    """Smoothed amplitude envelope [n, L] of clips [n, L] (moving RMS over ``width`` samples)."""
    power = scipy.ndimage.uniform_filter1d(real.astype(np.float64) ** 2, width, axis=-1)
    return np.sqrt(np.maximum(power, 0.0))


def _noise(rng, real, labels, n, sample_rate):
    x = coloured_noise(rng, n, real.shape[1], rng.choice([0.0, 1.0, 2.0]))
    shaped = rng.random(n) < 0.5
    if shaped.any():
        x[shaped] *= envelope(real[rng.integers(0, len(real), shaped.sum())])
    return _level(rng, x)


def _silence(rng, real, labels, n, sample_rate):
    return (rng.normal(size=(n, real.shape[1])) * 10 ** (rng.uniform(-120, -60, (n, 1)) / 20)).astype(np.float32)


def _clicks(rng, real, labels, n, sample_rate):
    x = np.zeros((n, real.shape[1]))
    for c in x:
        pos = rng.integers(0, len(c), rng.integers(1, 20))
        c[pos] = rng.uniform(-1, 1, len(pos))
    return _level(rng, x)


def _tones(rng, real, labels, n, sample_rate):
    """Hum (50/60 Hz and harmonics) or 1-3 tones or a chirp, 60 Hz .. 0.4 * rate."""
    t = np.arange(real.shape[1]) / sample_rate
    x = np.zeros((n, len(t)))
    for c in x:
        kind = rng.integers(3)
        if kind == 0:
            base = rng.choice([50.0, 60.0])
            for h in range(1, 6):
                c += rng.uniform(0, 1) / h * np.sin(2 * np.pi * base * h * t + rng.uniform(0, 2 * np.pi))
        elif kind == 1:
            for _ in range(rng.integers(1, 4)):
                c += rng.uniform(0.3, 1) * np.sin(2 * np.pi * rng.uniform(60, 0.4 * sample_rate) * t)
        else:
            f0, f1 = rng.uniform(60, 0.4 * sample_rate, 2)
            c += np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * t[-1])))
    return _level(rng, x)


def _reversed(rng, real, labels, n, sample_rate):
    return real[rng.integers(0, len(real), n), ::-1].copy()


def _shuffled(rng, real, labels, n, sample_rate):
    out = real[rng.integers(0, len(real), n)].copy()
    length = out.shape[1]
    for c in out:
        size = int(rng.integers(length // 40, length // 10))
        parts = np.array_split(c, max(2, length // size))
        order = rng.permutation(len(parts))
        c[:] = np.concatenate([parts[i] for i in order])
    return out


def _mixture(rng, real, labels, n, sample_rate):
    a = rng.integers(0, len(real), n)
    others = [np.flatnonzero(labels != labels[i]) for i in a]
    b = np.array([rng.choice(o) if len(o) else rng.integers(0, len(real)) for o in others])
    gain = rng.uniform(0.5, 1.0, (n, 1))
    shift = rng.integers(-real.shape[1] // 8, real.shape[1] // 8 + 1, n)
    mixed = real[a] + gain * np.stack([np.roll(real[j], s) for j, s in zip(b, shift)])
    return np.clip(mixed / (1 + gain), -1, 1).astype(np.float32)


def smoothed_spectrogram_noise(rng: np.random.Generator, real: np.ndarray, n_fft: int = 256,
                               smooth_bins: int = 12) -> np.ndarray:
    """[n, L]: each clip's STFT magnitude averaged over ``smooth_bins`` frequency bins (removing
    harmonics, keeping formants and timing), with random phase, overlap-added back."""
    n, length = real.shape
    hop = n_fft // 4
    win = np.hanning(n_fft + 1)[:-1]
    pad = np.pad(real.astype(np.float64), ((0, 0), (n_fft, n_fft)))
    idx = np.arange(0, pad.shape[1] - n_fft + 1, hop)[:, None] + np.arange(n_fft)[None]
    mag = np.abs(np.fft.rfft(pad[:, idx] * win, axis=-1))  # [n, T, F]
    mag = scipy.ndimage.uniform_filter1d(mag, smooth_bins, axis=-1)
    phase = np.exp(2j * np.pi * rng.random(mag.shape))
    frames = np.fft.irfft(mag * phase, n=n_fft, axis=-1) * win
    out = np.zeros_like(pad)
    norm = np.zeros(pad.shape[1])
    for t, start in enumerate(idx[:, 0]):
        out[:, start:start + n_fft] += frames[:, t]
        norm[start:start + n_fft] += win ** 2
    out = out / np.maximum(norm, 1e-3)
    return out[:, n_fft:n_fft + length]


def _smoothed(rng, real, labels, n, sample_rate):
    x = smoothed_spectrogram_noise(rng, real[rng.integers(0, len(real), n)])
    return _level(rng, x)


KINDS = {"noise": _noise, "silence": _silence, "clicks": _clicks, "tones": _tones,
         "reversed": _reversed, "shuffled": _shuffled, "mixture": _mixture, "smoothed": _smoothed}
# How often each kind is drawn: the hard negatives (speech-like spectra) twice as often as the
# easy ones, which the classifier separates within a few epochs.
WEIGHTS = np.array([1, 1, 1, 1, 2, 2, 2, 2], np.float64) / 12


def make(rng: np.random.Generator, real: np.ndarray, labels: np.ndarray, n: int,
         sample_rate: int = 8000) -> np.ndarray:
    """``n`` negatives [n, L] float32, each of a kind drawn from ``KINDS`` with ``WEIGHTS``,
    built from the real clips ``real: [M, L]`` with word ``labels: [M]``."""
    kinds = rng.choice(len(KINDS), n, p=WEIGHTS)
    out = np.zeros((n, real.shape[1]), np.float32)
    for k, fn in enumerate(KINDS.values()):
        sel = np.flatnonzero(kinds == k)
        if len(sel):
            out[sel] = fn(rng, real, labels, len(sel), sample_rate)
    return out
