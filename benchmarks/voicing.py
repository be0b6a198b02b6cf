"""Where a generator's voicing falls short of the real words, word by word.

    python benchmarks/voicing.py runs/qph_2core/istft_seed0
    python benchmarks/voicing.py runs/qph_2core/istft_seed0 --checkpoint best --num 50 --fsdd ../shared/data/fsdd
    python benchmarks/voicing.py runs/qph_r15/cont --num 30 --rephase
    python benchmarks/voicing.py runs/qph_r16/srcfilt_sigmoid --num 10 --open=-0.5,0,0.5
    python benchmarks/voicing.py runs/quickstart --num 20 --frames
    python benchmarks/voicing.py runs/qph_2core/wide256_seed0 --num 50 --misses
    python benchmarks/voicing.py runs/qph_2core/wide256_seed0 --num 50 --postfilter 0.3,0.5,0.7
    python benchmarks/voicing.py runs/qph_2core/wide256_seed0 --num 50 --vocoder
    python benchmarks/voicing.py runs/qph_r22/speakers_s0 --num 50

The voiced share (``speech.measures``) of a word's real test clips and of ``--num`` generated
ones (EMA generator), split by loudness: a clip is loud when its loudest frame is above
``speech.LOUD_DB``. FSDD's speakers record at different levels and a quiet recording's frames are
less often voiced, so a generator can fall short in two ways: it writes the speakers' mix of loud
and quiet clips wrongly (``loud`` column), or its clips are less periodic at the same level
(``voiced|loud``, ``voiced|quiet``). ``at real mix`` re-weights the generated clips' voicing per
level to the real split's share of loud clips: the part of the gap that is not the mix.
``--fsdd`` also prints each speaker's voiced share and level in an FSDD folder (the real range).

Over all words, ``by_rank`` splits each clip's frames into quarters by their level within the
clip (the loudest quarter first) and gives the voiced share of each: the periodicity term
(``config.periodicity_loud_share``, 0.25) matches only the loudest quarter, where the real clips
hold 0.42 of their voiced frames. Two more tables over all words: ``bands`` splits the active frames by their pitch (``speech.pitch``,
``BANDS``), so a gap confined to low voices (unresolved harmonics) shows as one band's, a noise
floor on every voice as all bands'; ``--rephase`` re-synthesises the real and generated clips
from their STFT magnitudes alone (Griffin-Lim, ``REPHASE_FFT`` points, 100 iterations, phases
made consistent): if the generated clips' voicing rose to the real ones' there, the gap would be
in G's phases; if it stays, it is in the output's magnitudes (the harmonics are not clean), which
for an ``istft`` G are not the magnitudes G writes: see ``--frames``.

For a ``data.per_speaker`` run (``digits.py:+speakers``) a table per speaker: the voiced share,
median loudest-frame level and median pitch of its real test clips beside G's clips of its classes,
so that one sees whether each class is that speaker's voice; ``--speaker NAME`` reads every table
on that speaker alone (G's clips all in that voice, the real side that speaker's test clips).
For a generator with a harmonic source (``model.istft_harmonics``), ``source`` shows per word how
much of the output (before the tanh) the sinusoids write, ``voice / (voice + istft_out)`` in energy (the iSTFT frames' output),
the share of frames where the source is on at all (loudness, or the filter's mix, above 0),
and where their pitch sits: the 10th, 50th and 90th percentile of the head's F0 over the frames
where its loudness is above a tenth of that clip's loudest (the source is on there).
``--misses`` asks how the loud clips' unvoiced active frames miss YIN's threshold, per word: the
share of them with a clear period (d' < ``speech.YIN_THRESHOLD``), a near miss (below
``NEAR_MISS``: a period with some aperiodic energy, as breathy or noisy voicing) or none (the
frame has no period: a consonant, silence's edge, or noise). A second table says where in the
spectrum the aperiodic energy sits: for the loud clips' active frames with a period (voiced or
near miss), per ``AP_BANDS`` band, the median aperiodicity (the energy of x_j - x_{j+T} over
that of x_j and x_{j+T}, T the frame's period: 0 periodic, ~1 unrelated) and the band's mean
share of the frame's energy.
``--frames`` (an ``istft`` G) measures how much of G's own spectrogram its iSTFT drops
(``models.stft_inconsistency``) and how voiced G's magnitudes are on their own (Griffin-Lim
phases at G's framing), beside real magnitudes through the same.
``--postfilter G,G,...`` passes the same clips through ``models.pitch_postfilter`` (a comb at
each frame's own period, gain G) without training: what a pitch postfilter would change in the
judge's accuracy, FID, voicing, the 1-2 kHz aperiodicity and the discriminators' scores.
``--vocoder`` re-synthesises the same clips and the real ones from their STFT magnitudes with a
phase vocoder's phases (``models.phase_from_magnitude``): accuracy, FID, voicing and aperiodicity
before and after, for whether the gap is in the coherence of G's phases.
``--open B,B,...`` asks what the source would do if G left it on: the head's kernel set to 0 and
its biases to each B (``model.istft_source=filter``: the voiced mix is 0.5 + B, clipped; "add":
every output is B, so the loudness is softplus(B - 3), the harmonics equal and the pitch times
2^(tanh(B) / 2)), with each setting's voiced share and every
discriminator's mean logit on the same clips (higher: more real to that D).
"""
from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np
import scipy.signal

from wavegan_jax import data as data_lib, sampling, speech

COLUMNS = ("voiced", "loud", "voiced|loud", "voiced|quiet")
BANDS = ((70, 110), (110, 150), (150, 200), (200, 400))  # Hz, the pitch bands of ``bands``
REPHASE_FFT = 512
NEAR_MISS = 0.4  # YIN's d' between speech.YIN_THRESHOLD and this: a near miss (``misses``)
AP_BANDS = ((0, 500), (500, 1000), (1000, 2000), (2000, 4000))  # Hz, the bands of ``aperiodicity``


def level_stats(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """audio [N, L] -> mean voiced share, share of loud clips, voiced share among loud / quiet."""
    voiced = speech.measures(audio, sample_rate)["voiced_share"]
    loud = speech.peak_db(audio, sample_rate) > speech.LOUD_DB
    part = lambda m: float(voiced[m].mean()) if m.any() else float("nan")
    return {"voiced": float(voiced.mean()), "loud": float(loud.mean()),
            "voiced|loud": part(loud), "voiced|quiet": part(~loud)}


def at_mix(gen: dict[str, float], loud_share: float) -> float:
    """The generated voicing per level weighted by another set's share of loud clips (a level the
    generator never writes counts with its overall voiced share)."""
    lo = gen["voiced|loud"] if np.isfinite(gen["voiced|loud"]) else gen["voiced"]
    qu = gen["voiced|quiet"] if np.isfinite(gen["voiced|quiet"]) else gen["voiced"]
    return loud_share * lo + (1 - loud_share) * qu


def by_rank(audio: np.ndarray, sample_rate: int) -> list[float]:
    """[4]: the voiced share of each quarter of every clip's frames ranked by level (loudest first)."""
    f = speech.frames(audio, sample_rate)
    voiced = speech.voiced_frames(audio, sample_rate)
    rank = np.argsort(np.argsort(-np.mean(f ** 2, axis=-1), axis=1), axis=1) / f.shape[1]  # 0 = loudest
    return [float(voiced[(rank >= q / 4) & (rank < (q + 1) / 4)].mean()) for q in range(4)]


def bands(audio: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
    """audio [N, L] -> per ``BANDS`` entry (share of the active frames whose pitch falls in the
    band, share of those that are voiced)."""
    f = speech.frames(audio, sample_rate)
    active = speech.active_frames(f)
    per, f0 = (a[active] for a in speech.pitch(f, sample_rate))
    out = []
    for lo, hi in BANDS:
        m = (f0 >= lo) & (f0 < hi)
        out.append((float(m.mean()) if m.size else float("nan"),
                    float((per[m] < speech.YIN_THRESHOLD).mean()) if m.any() else float("nan")))
    return out


def loud_active(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """audio [N, L] -> its frames [N, F, W] (``speech.frames``) and which of them [N, F] are the
    loud clips' active frames (the frames ``misses`` and ``aperiodicity`` read)."""
    f = speech.frames(audio, sample_rate)
    loud = speech.peak_db(audio, sample_rate) > speech.LOUD_DB
    return f, speech.active_frames(f) & loud[:, None]


def misses(audio: np.ndarray, sample_rate: int) -> tuple[float, float, float]:
    """audio [N, L] -> shares of the loud clips' active frames whose YIN periodicity is below
    ``speech.YIN_THRESHOLD`` (voiced), below ``NEAR_MISS`` (a near miss) or higher (no period);
    NaNs when no clip is loud."""
    f, keep = loud_active(audio, sample_rate)
    per = speech.periodicity(f, sample_rate)[keep]
    if not per.size:
        return (float("nan"),) * 3
    voiced, none = per < speech.YIN_THRESHOLD, per >= NEAR_MISS
    return float(voiced.mean()), float(1 - voiced.mean() - none.mean()), float(none.mean())


def aperiodicity(audio: np.ndarray, sample_rate: int, n_dft: int = 512) -> dict[str, list[tuple[float, float]]]:
    """audio [N, L] -> {"voiced", "near miss"}: per ``AP_BANDS`` band (median aperiodicity, mean
    energy share) over the loud clips' active frames with a period (YIN's d' below ``NEAR_MISS``).
    A frame's aperiodicity in a band is sum |H - P|^2 / sum (|H|^2 + |P|^2) over the band's bins,
    H the DFT of the Hann-windowed x_j (j over YIN's window) and P that of x_{j+T}: the band's share
    of YIN's difference function. T is the frame's period (``speech.pitch``) refined between
    samples by a parabola through d(T - 1), d(T), d(T + 1), its fraction applied as a linear phase
    (an integer T would leave a 120 Hz buzz 0.23 aperiodic above 2 kHz). NaNs where no frame
    qualifies."""
    f, keep = loud_active(audio, sample_rate)
    per, f0 = speech.pitch(f, sample_rate)
    keep &= per < NEAR_MISS
    span = f.shape[-1] - int(np.ceil(sample_rate / speech.F0_MIN))  # YIN's window (speech._dprime)
    x, per = f[keep], per[keep]
    lag = np.clip(np.round(sample_rate / f0[keep]).astype(int), 2, f.shape[-1] - span - 1)  # T +- 1 fit
    rows = np.arange(len(x))[:, None]
    head = x[:, :span]
    at = lambda t: x[rows, t[:, None] + np.arange(span)]  # [M, span]: x_{j+t}
    d = [np.sum((head - at(lag + k)) ** 2, axis=-1) for k in (-1, 0, 1)]
    curve = d[0] - 2 * d[1] + d[2]
    frac = np.clip(np.where(curve > 0, 0.5 * (d[0] - d[2]) / np.where(curve > 0, curve, 1), 0), -0.5, 0.5)
    hz = np.fft.rfftfreq(n_dft, 1 / sample_rate)
    spec = lambda a: np.fft.rfft(a * np.hanning(span), n_dft)
    h, p = spec(head), spec(at(lag)) * np.exp(2j * np.pi * hz * frac[:, None] / sample_rate)
    diff, both = np.abs(h - p) ** 2, np.abs(h) ** 2 + np.abs(p) ** 2
    out = {}
    for kind, m in (("voiced", per < speech.YIN_THRESHOLD), ("near miss", per >= speech.YIN_THRESHOLD)):
        bands = []
        for lo, hi in AP_BANDS:
            b = (hz >= lo) & (hz < hi)
            e, t = diff[m][:, b].sum(-1), both[m][:, b].sum(-1)
            bands.append((float(np.median(e / np.maximum(t, 1e-30))) if m.any() else float("nan"),
                          float((t / np.maximum(both[m].sum(-1), 1e-30)).mean()) if m.any() else float("nan")))
        out[kind] = bands
    return out


def rephase(audio: np.ndarray, sample_rate: int, n_fft: int = REPHASE_FFT, iters: int = 100,
            seed: int = 0) -> np.ndarray:
    """audio [N, L] -> [N, L] re-synthesised from its STFT magnitudes (hop n_fft / 4) with phases
    from Griffin-Lim (``iters`` rounds from random phases)."""
    kw = dict(fs=sample_rate, nperseg=n_fft, noverlap=n_fft - n_fft // 4)
    mag = np.abs(scipy.signal.stft(audio, **kw)[2])
    phase = np.exp(2j * np.pi * np.random.default_rng(seed).random(mag.shape))
    for _ in range(iters + 1):
        y = scipy.signal.istft(mag * phase, **kw)[1][..., :audio.shape[-1]]
        phase = np.exp(1j * np.angle(scipy.signal.stft(y, **kw)[2]))
    return y


def own_frames(run, real: np.ndarray, num: int, seed: int, iters: int = 100) -> None:
    """The istft G's spectrogram S (its frames' magnitudes and phases, before the harmonic
    source) against its output: the share of S's energy that its iSTFT drops
    (``models.stft_inconsistency``), and the voicing of S's magnitudes alone with phases from
    ``iters`` rounds of Griffin-Lim from random phases at G's own framing; the real clips'
    magnitudes through the same show what Griffin-Lim itself loses."""
    import jax
    import jax.numpy as jnp

    from wavegan_jax import models

    if run.config.model.istft_phase != "absolute":
        raise SystemExit(f"--frames reads G's written phases: this G has model.istft_phase="
                         f"{run.config.model.istft_phase}, not absolute")
    n_fft, hop, sr = run.config.model.istft_fft, models.HOP, run.config.data.sample_rate
    stft = lambda y, n: models.stft_complex(y, n_fft, hop, n)

    @jax.jit
    def griffin_lim(mag, phase):
        def rebuild(re, im):
            norm = jnp.maximum(jnp.hypot(re, im), 1e-12)
            return models.istft_complex(mag * re / norm, mag * im / norm, n_fft, hop)
        re, im = jax.lax.fori_loop(0, iters, lambda _, c: stft(rebuild(*c), mag.shape[1]),
                                   (jnp.cos(phase), jnp.sin(phase)))
        return rebuild(re, im)

    rng = np.random.default_rng(seed)
    rms = lambda x: jnp.sqrt(jnp.mean(x ** 2, axis=1, keepdims=True)) + 1e-9
    voiced = lambda a: speech.measures(np.asarray(a), sr)["voiced_share"].mean()
    real = jnp.asarray(real)
    re, im = stft(real, real.shape[1] // hop)
    mag = jnp.hypot(re, im)
    back = griffin_lim(mag, jnp.asarray(rng.uniform(0, 2 * np.pi, mag.shape), jnp.float32))
    print(f"\nreal clips: voiced {voiced(real):.3f}; their {n_fft}-point magnitudes with Griffin-Lim "
          f"phases ({iters} rounds): {voiced(back * rms(real) / rms(back)):.3f}")
    z, labels = sampling.word_noise(run, list(range(len(run.words))), num, seed)
    G = run.G.clone(consistency=True)
    audio, st = G.apply(run.state.ema_params, z, labels, mutable=["intermediates"],
                        capture_intermediates=lambda m, _: m.name == "frames")
    out = st["intermediates"]["frames"]["__call__"][0]
    bins = n_fft // 2 + 1
    mag, phase = jnp.exp(jnp.minimum(out[..., :bins], 10.0)), out[..., bins:] * np.pi
    pre = models.istft(out[..., :bins], phase, n_fft, hop)
    back = griffin_lim(mag, jnp.asarray(rng.uniform(0, 2 * np.pi, mag.shape), jnp.float32))
    print(f"generated: voiced {voiced(audio):.3f}; G's spectrogram drops "
          f"{float(st['intermediates']['inconsistency'][0]):.3f} of its energy in the iSTFT; its magnitudes "
          f"with Griffin-Lim phases: {voiced(jnp.tanh(back * rms(pre) / rms(back))):.3f}")


def source(run, num: int, seed: int) -> None:
    """The harmonic source's energy share and pitch percentiles per word (EMA generator)."""
    print("\n| word | source energy share | frames open | F0 p10 | F0 p50 | F0 p90 (Hz, where the source is on) |\n"
          "|---|---|---|---|---|---|")
    for k, word in enumerate(run.words):
        z, labels = sampling.word_noise(run, [k], num, seed)
        _, sown = run.G.apply(run.state.ema_params, z, labels, mutable=["intermediates"])
        got = {name: np.asarray(v[0]) for name, v in sown["intermediates"].items()}
        voice, frames = (np.mean(got[n] ** 2) for n in ("voice", "istft_out"))
        on = got["loudness"] > 0.1 * got["loudness"].max(axis=1, keepdims=True)
        pitch = " | ".join(f"{q:.0f}" for q in np.percentile(got["f0"][on], [10, 50, 90])) if on.any() else "- | - | -"
        print(f"| {word} | {voice / (voice + frames):.3f} | {np.mean(got['loudness'] > 0):.3f} | {pitch} |")  # "-": the source is shut everywhere


def open_source(run, biases: list[float], num: int, seed: int) -> None:
    """Voiced share, RMS and the discriminators' mean logits of the same clips with the harmonic
    head as it is and with its kernel 0 and biases B (the source held open)."""
    import jax
    import jax.numpy as jnp

    from wavegan_jax.train import PHASE_LAYERS

    z, labels = sampling.word_noise(run, list(range(len(run.words))), num, seed)
    shifts = jnp.zeros((len(labels), PHASE_LAYERS), jnp.int32)
    sr = run.config.data.sample_rate
    print("\n| harmonic head | voiced | RMS | " + " | ".join(f"D {n}" for n in run.Ds) + " |\n|"
          + "---|" * (3 + len(run.Ds)))
    for b in [None] + biases:
        params = run.state.ema_params if b is None else jax.tree_util.tree_map_with_path(
            lambda path, x: (jnp.full_like(x, b) if "bias" in str(path) else jnp.zeros_like(x))
            if "harmonic" in str(path) else x, run.state.ema_params)
        audio = run.G.apply(params, z, labels)
        logits = [float(jnp.mean(D.apply(run.state.d_params[n], audio, labels, shifts)[0])) for n, D in run.Ds.items()]
        print(f"| {'as trained' if b is None else f'bias {b:g}'} | "
              f"{speech.measures(np.asarray(audio), sr)['voiced_share'].mean():.3f} | "
              f"{float(jnp.sqrt(jnp.mean(audio ** 2))):.4f} | " + " | ".join(f"{v:.3f}" for v in logits) + " |")


def postfilter_probe(run, real: np.ndarray, gains: list[float], num: int, seed: int) -> None:
    """The same clips (EMA generator, ``num`` per word) with G's output through
    ``models.pitch_postfilter`` at each gain (0: as trained), no training: the judge's accuracy,
    FID, voiced share, the loud clips' voiced frames' aperiodicity at 1-2 kHz, RMS and every
    discriminator's mean logit (higher: more real to that D). The controls: the ``real`` clips
    [N, L] and white noise through the same filter (it should not invent voicing)."""
    import jax.numpy as jnp

    from wavegan_jax import evaluate, models
    from wavegan_jax.train import PHASE_LAYERS

    if run.config.model.generator != "istft":
        raise SystemExit(f"--postfilter acts on an istft G's output; this run's G is {run.config.model.generator!r}")
    ref = evaluate.reference(run.config)
    z, labels = sampling.word_noise(run, list(range(len(run.words))), num, seed)
    shifts = jnp.zeros((len(labels), PHASE_LAYERS), jnp.int32)
    sr = run.config.data.sample_rate
    band = AP_BANDS.index((1000, 2000))
    print("\n| postfilter gain | accuracy | FID | voiced | 1-2 kHz aperiodicity (voiced) | RMS | "
          + " | ".join(f"D {n}" for n in run.Ds) + " |\n|" + "---|" * (6 + len(run.Ds)))
    for g in [0.0] + gains:
        audio = run.G.clone(postfilter=g, postfilter_fade=0).apply(run.state.ema_params, z, labels)
        logits = [float(jnp.mean(D.apply(run.state.d_params[n], audio, labels, shifts)[0])) for n, D in run.Ds.items()]
        a = np.asarray(audio)
        got = evaluate.score(ref, a, word_labels(run, labels), seed=seed)
        print(f"| {g:g} | {got['accuracy']:.3f} | {got['fid']:.1f} | {got['voiced_share']:.3f} | "
              f"{aperiodicity(a, sr)['voiced'][band][0]:.3f} | {float(jnp.sqrt(jnp.mean(audio ** 2))):.4f} | "
              + " | ".join(f"{v:.3f}" for v in logits) + " |")
    noise = 0.05 * np.random.default_rng(seed).standard_normal(real[:100].shape).astype(np.float32)
    for name, clips in (("real test clips", real), ("white noise", noise)):
        shares = [speech.measures(np.asarray(models.pitch_postfilter(jnp.asarray(clips), g, sr)) if g else clips,
                                  sr)["voiced_share"].mean() for g in [0.0] + gains]
        print(f"{name} through the same filter, voiced share at gain " + ", ".join(
            f"{g:g}: {v:.3f}" for g, v in zip([0.0] + gains, shares)))


def vocoder_probe(run, real: np.ndarray, labels: np.ndarray, num: int, seed: int) -> None:
    """The same clips (EMA generator, ``num`` per word) and the ``real`` test clips [N, L] (words
    ``labels``) re-synthesised from their own 256-point STFT magnitudes with a phase vocoder's
    phases (``models.phase_from_magnitude``, random starts; RMS kept), no training: whether the
    gap is in how coherent G's phases are, and what that re-phasing costs the words (judge
    accuracy), FID, voicing and the 1-2 kHz aperiodicity of voiced frames."""
    import jax
    import jax.numpy as jnp

    from wavegan_jax import evaluate, models

    ref = evaluate.reference(run.config)
    z, gen_labels = sampling.word_noise(run, list(range(len(run.words))), num, seed)
    n_fft, hop, sr = models.ISTFT_FFT, models.HOP, run.config.data.sample_rate
    band = AP_BANDS.index((1000, 2000))

    def rephase(a: jax.Array) -> jax.Array:
        re, im = models.stft_complex(a, n_fft, hop, a.shape[1] // hop)
        mag = jnp.hypot(re, im)
        start = models.phase_start(jax.random.normal(jax.random.key(seed), (a.shape[0], 100)), n_fft // 2 + 1)
        phase = models.phase_from_magnitude(jnp.log(mag + 1e-7), start, n_fft, hop)
        y = models.istft_complex(mag * jnp.cos(phase), mag * jnp.sin(phase), n_fft, hop)
        rms = lambda x: jnp.sqrt(jnp.mean(x ** 2, axis=1, keepdims=True)) + 1e-9
        return y * rms(a) / rms(y)

    audio = run.G.apply(run.state.ema_params, z, gen_labels)
    print("\n| clips | accuracy | FID | voiced | 1-2 kHz aperiodicity (voiced) |\n|---|---|---|---|---|")
    for name, a, y in (("generated", audio, word_labels(run, gen_labels)), ("real test", jnp.asarray(real), labels)):
        for how, clips in (("", a), (", phase vocoder", rephase(a))):
            c = np.asarray(clips)
            got = evaluate.score(ref, c, np.asarray(y), seed=seed)
            print(f"| {name}{how} | {got['accuracy']:.3f} | {got['fid']:.2f} | {got['voiced_share']:.3f} | "
                  f"{aperiodicity(c, sr)['voiced'][band][0]:.3f} |")


def word_labels(run, labels) -> np.ndarray:
    """G's class labels [N] -> the words' [N] (a ``data.per_speaker`` class is word * S + speaker)."""
    return np.asarray(labels) // max(len(run.speakers), 1)


def speakers(folder: Path, sample_rate: int, length: int) -> None:
    """Each speaker's median peak level and voiced share in an FSDD folder (``data.list_items``)."""
    by = collections.defaultdict(list)
    for it in data_lib.list_items("fsdd", folder):
        if not it.problem:
            by[it.speaker].append(data_lib.load_clip(it.path, sample_rate, length))
    print("| speaker | clips | median peak dB | voiced |\n|---|---|---|---|")
    for name, clips in sorted(by.items()):
        a = np.stack(clips)
        print(f"| {name} | {len(a)} | {np.median(speech.peak_db(a, sample_rate)):.1f} | "
              f"{speech.measures(a, sample_rate)['voiced_share'].mean():.3f} |")


def voices(audio: np.ndarray, sample_rate: int) -> tuple[float, float, float]:
    """audio [N, L] -> (voiced share, median loudest-frame dBFS, median pitch of the voiced frames in Hz)."""
    voiced = speech.voiced_frames(audio, sample_rate)
    f0 = speech.pitch(speech.frames(audio, sample_rate), sample_rate)[1][voiced]
    return (float(voiced.mean()), float(np.median(speech.peak_db(audio, sample_rate))),
            float(np.median(f0)) if f0.size else float("nan"))


def per_speaker(run, test: np.ndarray, gen: dict[str, np.ndarray], sample_rate: int) -> None:
    """A ``data.per_speaker`` run: each speaker's real test clips beside G's clips of that
    speaker's classes (clip i of a word is speaker i mod S's, ``Run.class_ids``), all words."""
    who, names = data_lib.load_speakers(run.config.data.prepared, "test")
    s = len(run.speakers)
    print("\n| speaker | real clips | real voiced | real peak dB | real pitch Hz "
          "| gen clips | gen voiced | gen peak dB | gen pitch Hz |\n|" + "---|" * 9)
    cells = lambda a: [str(len(a))] + [f"{v:.3f}" if i == 0 else f"{v:.1f}" for i, v in enumerate(voices(a, sample_rate))]
    for k, name in enumerate(run.speakers):
        real = test[who == names.index(name)]
        fake = np.concatenate([a[k::s] for a in gen.values()])
        print(f"| {name} | " + " | ".join(cells(real) + cells(fake)) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workdir")
    ap.add_argument("--checkpoint", default="latest")
    ap.add_argument("--num", type=int, default=50, help="generated clips per word")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fsdd", type=Path, help="an FSDD folder: also print each speaker's voicing")
    ap.add_argument("--rephase", action="store_true", help="also the voicing after Griffin-Lim (slow)")
    ap.add_argument("--frames", action="store_true",
                    help="istft G: how consistent its spectrogram is, and its magnitudes' own voicing")
    ap.add_argument("--misses", action="store_true",
                    help="also how the loud clips' active frames miss the voicing threshold, per word")
    ap.add_argument("--postfilter", help="istft G: gains G,G,... of a pitch postfilter on its output (see above)")
    ap.add_argument("--open", help="harmonic source: biases B,B,... to hold it open at (see above)")
    ap.add_argument("--vocoder", action="store_true",
                    help="also the clips re-phased by a phase vocoder from their magnitudes (see above)")
    ap.add_argument("--speaker", help="a data.per_speaker run: only this speaker's classes and test clips")
    args = ap.parse_args()
    run = sampling.load_run(args.workdir, args.checkpoint)
    m = data_lib.read_manifest(run.config.data.prepared)
    sr = m["sample_rate"]
    test, labels = (np.asarray(a) for a in data_lib.load_split(run.config.data.prepared, "test"))
    gen = sampling.generate(run, run.words, args.num, args.seed, speaker=args.speaker)
    if args.speaker:  # the real side: the same speaker's test clips
        who, names = data_lib.load_speakers(run.config.data.prepared, "test")
        keep = who == names.index(args.speaker)
        test, labels = test[keep], labels[keep]
    head = " | ".join(f"{w} {c}" for w in ("real", "gen") for c in COLUMNS)
    print(f"| word | {head} | gen at real mix |\n|" + "---|" * (2 * len(COLUMNS) + 2))
    totals = collections.defaultdict(list)
    for k, word in enumerate(run.words):
        real, fake = level_stats(test[labels == k], sr), level_stats(gen[word], sr)
        row = [real[c] for c in COLUMNS] + [fake[c] for c in COLUMNS] + [at_mix(fake, real["loud"])]
        for i, v in enumerate(row):
            totals[i].append(v)
        print(f"| {word} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    print("| mean | " + " | ".join(f"{np.nanmean(v):.3f}" for v in totals.values()) + " |")
    every = np.concatenate([gen[w] for w in run.words])
    print("\n| frames by level within the clip | loudest quarter | second | third | quietest |\n|---|---|---|---|---|")
    for who, a in (("real voiced", test), ("gen voiced", every)):
        print(f"| {who} | " + " | ".join(f"{v:.3f}" for v in by_rank(a, sr)) + " |")
    print("\n| pitch band | real: share of active frames | real: voiced | gen: share | gen: voiced |\n"
          "|---|---|---|---|---|")
    for (lo, hi), r, g in zip(BANDS, bands(test, sr), bands(every, sr)):
        print(f"| {lo}-{hi} Hz | {r[0]:.3f} | {r[1]:.3f} | {g[0]:.3f} | {g[1]:.3f} |")
    if args.misses:
        print("\n| word (loud clips' active frames) | real voiced | real near miss | real no period "
              "| gen voiced | gen near miss | gen no period |\n|" + "---|" * 7)
        rows = [misses(test[labels == k], sr) + misses(gen[w], sr) for k, w in enumerate(run.words)]
        for word, row in zip(run.words + ["mean"], rows + [tuple(np.nanmean(rows, axis=0))]):
            print(f"| {word} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
        print("\n| frames with a period (loud clips) | " + " | ".join(f"{lo}-{hi} Hz" for lo, hi in AP_BANDS)
              + " |\n|" + "---|" * (len(AP_BANDS) + 1))
        for who, a in (("real", test), ("gen", every)):
            for kind, rows in aperiodicity(a, sr).items():
                print(f"| {who} {kind}: aperiodicity (energy share) | "
                      + " | ".join(f"{ap:.3f} ({sh:.3f})" for ap, sh in rows) + " |")
    if run.speakers and not args.speaker:
        per_speaker(run, test, gen, sr)
    if run.config.model.get("istft_harmonics", 0) and run.config.model.generator == "istft":
        source(run, args.num, args.seed)
        if args.open:
            open_source(run, [float(b) for b in args.open.split(",")], min(args.num, 10), args.seed)
    if args.postfilter:
        postfilter_probe(run, test, [float(g) for g in args.postfilter.split(",")], args.num, args.seed)
    if args.vocoder:
        vocoder_probe(run, test, labels, args.num, args.seed)
    if args.frames:
        if run.config.model.generator != "istft":
            raise SystemExit(f"--frames reads an istft G's spectrogram; this run's G is {run.config.model.generator!r}")
        own_frames(run, test, min(args.num, 20), args.seed)
    if args.rephase:
        voiced = lambda a: speech.measures(a, sr)["voiced_share"].mean()
        print(f"\nGriffin-Lim from {REPHASE_FFT}-point magnitudes: real {voiced(test):.3f} -> "
              f"{voiced(rephase(test, sr)):.3f}, generated {voiced(every):.3f} -> {voiced(rephase(every, sr)):.3f}")
    if args.fsdd:
        speakers(args.fsdd, sr, m["length"])


if __name__ == "__main__":
    main()
