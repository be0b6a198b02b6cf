"""Classifier-free speech measures: voiced frames (a YIN pitch tracker) and spectral flatness.

No classifier can be fooled here: a clip of shaped noise, however word-like its spectrogram
envelope, has (almost) no frame with a clear period in the range of a human voice, while every
spoken digit has a vowel. All functions are pure NumPy on clips ``audio: [N, L]`` at
``sample_rate`` Hz, framed in ``FRAME_S`` windows every ``HOP_S``.

Voicing (de Cheveigné & Kawahara 2002, YIN steps 1-3): for a frame x of W samples and lag tau,
``d(tau) = sum_{j<S} (x_j - x_{j+tau})^2`` with S = W - tau_max, and the cumulative mean normalised
difference ``d'(tau) = d(tau) / ((1/tau) sum_{k<=tau} d(k))``. A frame is *voiced* when it is active
(its RMS is at least ``ACTIVE_DB`` dBFS and within ``ACTIVE_RANGE_DB`` of the clip's loudest frame)
and ``min d'(tau)`` over the lags of ``F0_MIN``..``F0_MAX`` Hz is below ``YIN_THRESHOLD``. White
noise gives d' ~ 1 at every lag and brown noise ~ 2 (the plain autocorrelation, by contrast, is
high at every lag for brown noise), a vowel well below 0.25.
Thresholds were calibrated on the FSDD test split against generated noise (RESULTS.md,
tests/test_speech.py).
"""
from __future__ import annotations

import numpy as np

FRAME_S = 0.040  # analysis window: two periods of the lowest pitch
HOP_S = 0.010
F0_MIN, F0_MAX = 70.0, 400.0  # Hz, the pitch range searched
YIN_THRESHOLD = 0.25  # min d'(tau) below this = a clear period
ACTIVE_DB = -55.0  # frames quieter than this (dBFS RMS) are never voiced
ACTIVE_RANGE_DB = 35.0  # ... nor those this far below the clip's loudest frame
MIN_VOICED_FRAMES = 3  # a clip is speech-like with at least this many voiced frames (30 ms)
# a clip is "loud" when its loudest frame is above this (dBFS RMS): FSDD's speakers record at
# different levels (median peak -16 to -21 dB for george, jackson, nicolas; -33 and -39 dB for
# yweweler and theo), and the frames of a quiet recording are less often voiced (RESULTS.md)
LOUD_DB = -28.0


def frames(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """audio [N, L] -> frames [N, T, W] (W = FRAME_S * rate, hop HOP_S * rate, no padding)."""
    audio = np.asarray(audio, np.float64)
    w, hop = int(round(FRAME_S * sample_rate)), int(round(HOP_S * sample_rate))
    if audio.shape[-1] < w:
        raise ValueError(f"clips of {audio.shape[-1]} samples are shorter than one {w}-sample frame")
    t = 1 + (audio.shape[-1] - w) // hop
    idx = np.arange(t)[:, None] * hop + np.arange(w)[None]
    return audio[:, idx]


def _frame_db(f: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.mean(f ** 2, axis=-1) + 1e-20)


def active_frames(f: np.ndarray) -> np.ndarray:
    """frames [N, T, W] -> bool [N, T]: loud enough in absolute terms and relative to the clip."""
    db = _frame_db(f)
    return (db >= ACTIVE_DB) & (db >= db.max(axis=1, keepdims=True) - ACTIVE_RANGE_DB)


def _dprime(f: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, int]:
    """frames [N, T, W] -> (YIN's d'(tau) over the pitch lags [N, T, hi - lo + 1], whether each
    frame's first part holds at least a quarter of its share of the frame's energy [N, T], lo)."""
    lo, hi = int(np.floor(sample_rate / F0_MAX)), int(np.ceil(sample_rate / F0_MIN))
    w = f.shape[-1]
    if hi >= w:
        raise ValueError(f"a {w}-sample frame cannot hold lags up to {hi} at {sample_rate} Hz")
    span = w - hi
    head = f[..., :span]
    d = np.stack([np.sum((head - f[..., tau:tau + span]) ** 2, axis=-1)
                  for tau in range(1, hi + 1)], axis=-1)  # [N, T, hi]
    dprime = d / np.maximum(np.cumsum(d, axis=-1) / np.arange(1, hi + 1), 1e-30)
    fair = np.sum(f ** 2, axis=-1) * span / w
    return dprime[..., lo - 1:], np.sum(head ** 2, axis=-1) >= 0.25 * fair, lo


def periodicity(f: np.ndarray, sample_rate: int) -> np.ndarray:
    """frames [N, T, W] -> min over the pitch lags of YIN's d'(tau) [N, T] (0 = perfectly
    periodic, ~1 for white noise, ~2 for brown noise; 1 where the frame's first part holds less
    than a quarter of its share of the frame's energy, e.g. a lone click near the frame's end)."""
    dp, fair, _ = _dprime(f, sample_rate)
    return np.where(fair, dp.min(axis=-1), 1.0)


def pitch(f: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """frames [N, T, W] -> (``periodicity`` [N, T], the pitch in Hz [N, T]: YIN's step 4, the
    minimum of the first dip of d'(tau) below YIN_THRESHOLD (so not a multiple of the period,
    which dips as low), or the lag of the overall minimum where there is no such dip)."""
    dp, fair, lo = _dprime(f, sample_rate)
    below = dp < YIN_THRESHOLD
    idx = np.arange(dp.shape[-1])
    first = np.argmax(below, axis=-1)[..., None]  # the first lag below the threshold (0 if none)
    dip = below & (idx >= first) & (np.cumsum(~below & (idx > first), axis=-1) == 0)
    lag = np.where(below.any(-1), np.argmin(np.where(dip, dp, np.inf), axis=-1), dp.argmin(-1))
    return np.where(fair, dp.min(axis=-1), 1.0), sample_rate / (lo + lag)


def voiced_frames(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """bool [N, T]: active frames with a clear period between F0_MIN and F0_MAX Hz."""
    f = frames(audio, sample_rate)
    return active_frames(f) & (periodicity(f, sample_rate) < YIN_THRESHOLD)


def peak_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """[N]: each clip's loudest frame, dBFS RMS (a sine of amplitude 1 is -3 dB)."""
    return _frame_db(frames(audio, sample_rate)).max(axis=1)


def spectral_flatness(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """[N]: mean over active frames of geometric / arithmetic mean of the Hann-windowed power
    spectrum (Wiener entropy; ~0.56 for white noise, 0.01-0.1 for voiced speech; 1.0 for a
    clip without an active frame)."""
    f = frames(audio, sample_rate)
    spec = np.abs(np.fft.rfft(f * np.hanning(f.shape[-1]), axis=-1)) ** 2 + 1e-12
    flat = np.exp(np.mean(np.log(spec), axis=-1)) / np.mean(spec, axis=-1)  # [N, T]
    act = active_frames(f)
    return np.where(act.any(1), (flat * act).sum(1) / np.maximum(act.sum(1), 1), 1.0)


def measures(audio: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    """Per clip [N]: ``voiced_share`` (voiced frames / frames), ``speech_like`` (at least
    MIN_VOICED_FRAMES voiced frames) and ``spectral_flatness``."""
    v = voiced_frames(audio, sample_rate)
    return {"voiced_share": v.mean(axis=1), "speech_like": v.sum(axis=1) >= MIN_VOICED_FRAMES,
            "spectral_flatness": spectral_flatness(audio, sample_rate)}
