"""The classifier-free speech measures, the "not a word" negatives and the metrics built on them."""
import numpy as np
import pytest

from wavegan_jax import data, metrics, negatives, speech

SR = 8000


def vowel(f0: float = 120.0, length: int = 4096, seed: int = 0) -> np.ndarray:
    """A synthetic voiced vowel: 30 harmonics of f0 under a formant-like envelope, in a Hann window."""
    t = np.arange(length) / SR
    rng = np.random.default_rng(seed)
    x = sum(np.exp(-((h * f0 - 700) / 400) ** 2) * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6))
            for h in range(1, 31))
    return (0.2 * x * np.hanning(length)).astype(np.float32)


def test_a_vowel_is_voiced_and_noise_of_every_colour_is_not():
    m = speech.measures(np.stack([vowel(100), vowel(220)]), SR)
    assert m["speech_like"].all() and (m["voiced_share"] > 0.5).all()
    assert (m["spectral_flatness"] < 0.05).all()
    rng = np.random.default_rng(0)
    for alpha in (0.0, 1.0, 2.0):
        noise = 0.05 * negatives.coloured_noise(rng, 20, 4096, alpha)
        m = speech.measures(noise, SR)
        assert m["voiced_share"].max() <= 0.05 and not m["speech_like"].any(), alpha
    white = speech.measures(0.05 * negatives.coloured_noise(rng, 20, 4096, 0.0), SR)
    assert 0.45 < white["spectral_flatness"].mean() < 0.65  # e^-gamma = 0.56 for Gaussian noise


def test_peak_db_tells_a_loud_clip_from_a_quiet_one():
    loud = vowel(120)
    db = speech.peak_db(np.stack([loud, 0.01 * loud]), SR)
    assert abs(db[0] - db[1] - 40.0) < 1e-6
    assert db[0] > speech.LOUD_DB > db[1]
    sine = np.sin(2 * np.pi * 200 * np.arange(4096) / SR)[None]
    assert abs(speech.peak_db(sine, SR)[0] + 3.01) < 0.05


def test_silence_and_a_lone_click_are_not_voiced():
    silent = np.zeros((2, 4096), np.float32)
    click = np.zeros((1, 4096), np.float32)
    click[0, 2000] = 0.9
    m = speech.measures(np.concatenate([silent, click]), SR)
    assert not m["speech_like"].any() and m["voiced_share"].max() == 0
    assert m["spectral_flatness"][0] == 1.0  # no active frame


def test_pitch_outside_the_voice_range_is_not_voiced():
    t = np.arange(4096) / SR
    low = 0.3 * np.sin(2 * np.pi * 30 * t)  # 30 Hz: below F0_MIN, and no period inside 70-400 Hz
    assert speech.measures(low[None].astype(np.float32), SR)["voiced_share"][0] < 0.05


def test_every_real_test_clip_is_speech_like(prepared):
    audio, _ = data.load_split(prepared, "test")
    m = speech.measures(np.asarray(audio), SR)
    assert m["speech_like"].all() and 0.3 < m["voiced_share"].mean() < 0.9


def test_negatives_have_the_clip_shape_and_the_promised_properties(prepared):
    audio, labels = (np.asarray(a) for a in data.load_split(prepared, "train"))
    rng = np.random.default_rng(0)
    for kind, fn in negatives.KINDS.items():
        x = fn(rng, audio, labels, 6, SR)
        assert x.shape == (6, 4096) and x.dtype == np.float32 and np.isfinite(x).all(), kind
        assert np.abs(x).max() <= 1.0, kind
    assert metrics.level_db(negatives.KINDS["silence"](rng, audio, labels, 4, SR)).max() < -55
    # the noise-filled envelope keeps a word's timing and formants but loses its voicing
    filled = negatives.smoothed_spectrogram_noise(rng, audio[:20])
    assert speech.measures(filled, SR)["voiced_share"].mean() < 0.05
    assert speech.measures(audio[:20], SR)["voiced_share"].mean() > 0.3
    env_real, env_fill = negatives.envelope(audio[:20]), negatives.envelope(filled)
    assert np.corrcoef(env_real.ravel(), env_fill.ravel())[0, 1] > 0.8
    mixed = negatives.KINDS["mixture"](rng, audio, labels, 50, SR)
    assert mixed.shape == (50, 4096)
    kinds = negatives.make(rng, audio, labels, 200, SR)
    assert kinds.shape == (200, 4096) and np.isfinite(kinds).all()


def test_speech_and_forced_choice_accuracy():
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.2, 0.7], [0.1, 0.8, 0.1], [0.6, 0.1, 0.3]])
    intended = np.array([0, 1, 1, 0])
    audio = np.full((4, 100), 0.1, np.float32)
    audio[3] = 1e-5  # near-silent
    speech_like = np.array([True, True, False, True])
    # clip 0 counts; 1 is "not a word"; 2 is not speech-like; 3 is near-silent
    assert metrics.speech_accuracy(probs, intended, audio, speech_like) == pytest.approx(0.25)
    # forced to choose between classes 0 and 1, clip 1 becomes "one" (0.2 > 0.1)
    assert metrics.forced_choice_accuracy(probs, intended, np.array([0, 1])) == pytest.approx(1.0)


def test_voicing_benchmark_splits_by_level_and_reweights():
    """benchmarks/voicing.py: two loud vowels and two quiet noises are half loud, voiced only
    when loud, and the re-weighting to a mix of all-loud (all-quiet) clips gives the loud (quiet)
    clips' voicing."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import voicing

    rng = np.random.default_rng(0)
    quiet = 0.002 * negatives.coloured_noise(rng, 2, 4096, 1.0)
    s = voicing.level_stats(np.concatenate([np.stack([vowel(100), vowel(200)]), quiet]), SR)
    assert s["loud"] == 0.5 and s["voiced|loud"] > 0.5 and s["voiced|quiet"] <= 0.05
    assert abs(s["voiced"] - (s["voiced|loud"] + s["voiced|quiet"]) / 2) < 1e-9
    assert voicing.at_mix(s, 1.0) == s["voiced|loud"] and voicing.at_mix(s, 0.0) == s["voiced|quiet"]
    loud_only = voicing.level_stats(np.stack([vowel(100), vowel(200)]), SR)
    assert np.isnan(loud_only["voiced|quiet"]) and voicing.at_mix(loud_only, 0.0) == loud_only["voiced"]


def test_voicing_benchmark_sorts_loud_frames_into_voiced_near_miss_and_no_period():
    """benchmarks/voicing.py --misses: a loud vowel's active frames are voiced, the same vowel in
    loud enough noise misses the threshold by less than noise alone does, and quiet clips count
    for nothing."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import voicing

    rng = np.random.default_rng(0)
    noise = lambda scale: scale * negatives.coloured_noise(rng, 1, 4096, 0.0)[0]
    clean, breathy, hiss = (voicing.misses(a[None], SR) for a in (vowel(120), vowel(120) + noise(0.05), noise(0.2)))
    assert clean[0] > 0.9 and hiss[2] > 0.9 and all(abs(sum(m) - 1) < 1e-9 for m in (clean, breathy, hiss))
    assert breathy[0] < clean[0] and breathy[2] < hiss[2]  # noise pulls the vowel's frames off, not all the way
    assert np.isnan(voicing.misses(0.001 * vowel(120)[None], SR)).all()  # never loud


def test_voicing_benchmark_places_aperiodic_energy_in_its_band():
    """benchmarks/voicing.py --misses, second table: a buzz of 28 harmonics is periodic in every
    band; with noise above 2 kHz added, only the 2-4 kHz band turns aperiodic and holds more of
    the energy."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import voicing

    rng = np.random.default_rng(0)
    t = np.arange(4096) / SR
    buzz = 0.1 * sum(np.sin(2 * np.pi * 120 * h * t + rng.uniform(0, 6.3)) / np.sqrt(h) for h in range(1, 29))
    hiss = np.fft.irfft(np.fft.rfft(rng.standard_normal(4096)) * (np.fft.rfftfreq(4096, 1 / SR) > 2000), 4096)
    clean, noisy = (voicing.aperiodicity(a[None], SR) for a in (buzz, buzz + 0.1 * hiss))
    assert [ap for ap, _ in clean["voiced"]] == pytest.approx([0, 0, 0, 0], abs=0.02)
    assert np.isnan(clean["near miss"][0][0])  # every frame of the buzz is voiced
    bands = noisy["voiced"] if not np.isnan(noisy["voiced"][0][0]) else noisy["near miss"]
    assert bands[0][0] < 0.1 and bands[3][0] > 0.5 and bands[3][1] > clean["voiced"][3][1]
    assert sum(share for _, share in clean["voiced"]) == pytest.approx(1, abs=0.01)


def test_voicing_benchmark_finds_each_vowels_pitch_band_and_keeps_voicing_through_griffin_lim():
    """benchmarks/voicing.py: a 100 Hz vowel's active frames fall in the 70-110 Hz band and a
    180 Hz vowel's in 150-200 Hz, voiced; re-phasing by Griffin-Lim keeps a vowel voiced (its
    magnitudes hold the harmonics) and noise unvoiced."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import voicing

    assert [b[0] for b in voicing.bands(vowel(100)[None], SR)][0] > 0.9
    (share, voiced), = [b for (lo, hi), b in zip(voicing.BANDS, voicing.bands(vowel(180)[None], SR)) if lo == 150]
    assert share > 0.9 and voiced > 0.9
    noise = 0.1 * negatives.coloured_noise(np.random.default_rng(0), 1, 4096, 0.0)
    clips = np.concatenate([np.stack([vowel(100), vowel(180)]), noise])
    after = speech.measures(voicing.rephase(clips, SR, iters=30), SR)["voiced_share"]
    before = speech.measures(clips, SR)["voiced_share"]
    assert (after[:2] > 0.8 * before[:2]).all() and after[2] < 0.05


def test_voicing_benchmark_reads_a_voice_as_its_share_level_and_pitch():
    """benchmarks/voicing.py's per-speaker table: a 110 Hz vowel and a 210 Hz one read as voiced
    at their own pitch and the same level; noise has no voiced frames and so no pitch."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import voicing

    low, high = (voicing.voices(np.stack([vowel(f0, seed=s) for s in range(2)]), SR) for f0 in (110.0, 210.0))
    assert low[0] > 0.5 and high[0] > 0.5 and abs(low[1] - high[1]) < 3
    assert abs(low[2] - 110) < 5 and abs(high[2] - 210) < 8
    hiss = voicing.voices(0.2 * negatives.coloured_noise(np.random.default_rng(0), 2, 4096, 0.0), SR)
    assert hiss[0] == 0 and np.isnan(hiss[2])
