"""Say every digit: the recipe of issue 37, its baseline, and every component as a switch.

    python -m wavegan_jax train --config=experiments/digits.py --workdir=runs/digits
    python -m wavegan_jax train --config=experiments/digits.py:baseline --workdir=runs/digits_base
    python -m wavegan_jax train --config=experiments/digits.py:baseline,+stft --workdir=runs/screen_stft
    python -m wavegan_jax train --config=experiments/digits.py:-stft --workdir=runs/ablate_stft
    python -m wavegan_jax train --config=experiments/digits.py:zero_one --workdir=runs/zero_one

The argument is a comma-separated list: ``baseline`` starts from no component (the study's best:
acgan + wgan_gp, 5 critic updates per G update) instead of the recipe; ``+NAME`` adds component
NAME, ``-NAME`` removes it (the ablation); ``zero_one`` trains on the bundled FSDD "zero"/"one" (the
quickstart) instead of ten digits; ``smoke`` shrinks it to seconds. Components (``COMPONENTS``,
applied in this order): stft (a multi-resolution STFT discriminator beside the waveform one), film
(per-class scale and shift in every G layer), cheap (hinge loss with R1 on reals, one D update per G
update, two learning rates: G 2e-4, D 8e-4; the screens' "recipe" rows before round 8 used 1e-4 /
4e-4), aug (differentiable augmentation of D's inputs), fm (feature matching), istft (G writes STFT
frames: log-magnitude and phase, inverted to audio), fakeclass (the AC head has an 11th class,
"generated", for fakes: a word must be told from its imitation), floor (the STFT D reads (|X|^2 +
1e-4)^0.15 instead of a 1e-8 floor, so its input gradient does not come from silent bins), ema
(samples and evaluations from an EMA of G with decay 0.99 instead of 0.999: a word's mode moves
faster than a 1000-step average follows; training itself is unchanged), replay (a quarter of D's
fakes are G's earlier ones of the same word, on average ~1000 steps old: against forgetting), period
(HiFi-GAN's multi-period D beside the others: samples 2, 3, 5, 7 and 11 apart, for voicing), if
(the istft G writes each frame's phase advance, its instantaneous frequency, instead of its phase:
GANSynth's representation, under which a steady harmonic is one constant output, scaled to
pi/8 per unit (``model.istft_if_scale``); for voicing), vocoder (the istft G writes log-magnitudes
only and its phases are a phase vocoder's: each bin turns at its nearest spectral peak's frequency,
``models.phase_from_magnitude``; for voicing), acf (a D that reads each 64 ms frame's
normalised autocorrelation, whose peak at the pitch period is what makes a frame voiced; for voicing),
harmonic (the istft G adds a DDSP harmonic source: the clip's pitch from z, per frame a contour, a
loudness and the shares of 40 harmonics, summed as sinusoids beside its STFT frames; for voicing),
sourcefilter (the same comb of 40 harmonics filtered by G's frames: each frame's magnitudes times a
learnt mix of the comb's spectrum and G's own phases; for voicing), chosenpitch (sourcefilter
whose pitch G picks among 32 precomputed combs, 70-250 Hz, instead of taking it from z), pickpitch
(chosenpitch with one comb, the heaviest, in the forward pass and the softmax's gradient in the
backward pass: a blend of combs is inharmonic), consistent
(G also minimises the energy per frame that its iSTFT drops, |STFT(iSTFT(S)) - S|^2, weight 1: the
recipe's istft G leaves ~0.9 of its frames' energy in the iSTFT's null space), quietstart (the istft
G's log-magnitudes start at -3, |S| = 0.05, instead of 0, |S| = 1, which the iSTFT mostly drops),
wide (the istft G's frame-rate layers 256 channels wide instead of 128; 0.7x the steps per minute),
postfilter (the istft G's output through a pitch postfilter of gain 0.5, as speech codecs have: a
comb at each frame's own period, ``models.pitch_postfilter``; for voicing), postfade (that postfilter
in training only, its gain falling from 0.5 to 0 over the first 2000 steps, so G must learn the
comb; its clips are G's alone), hybrid (the istft G's phases a phase vocoder's read from its
magnitudes, as vocoder, plus a correction G writes, up to pi/8 per unit: coherent harmonics with a
gradient through the phases), periodic (G also pays the distance between the periodicity of its
loudest frames above 1 kHz and the real clips', ``losses.periodicity_distance``, weight 1; for
voicing), periodicfull (that term on the full band, weight 10: round 25's option), periodicbands
(weight 10, per band 0-1, 1-2, 2-4 kHz at the full band's pitch lag, summed: the upper harmonics
count), deep (6 residual blocks
at the frame rate instead of 2; 0.85x the steps per minute), cep (a D
that reads each 64 ms frame's real cepstrum, the ripple of its log spectrum: harmonics that wash
into noise above 1 kHz lose it; for voicing), speakers (G and D conditioned on (word, speaker)
pairs, ``data.per_speaker``: 50 classes, each one voice instead of a mix of five; generated clips
take the speakers in turn; for voicing), demod (the istft G's phases read against the clip's time
origin, ``models.bin_advance``, not each frame's start: a steady partial is one constant output;
for voicing).
Data: ten FSDD digits of the five speakers in ../shared/data/fsdd, 4096 samples at
8 kHz (0.51 s: FSDD's digits are 0.2-0.8 s long, and the energy-centred crop keeps the word),
model d=16, batch 32; evaluated every 5 minutes of training time.
"""
from experiments import base

COMPONENTS = {
    "stft": lambda c: c.update({"discriminators": "wave,stft"}),
    "film": lambda c: c.model.update({"film": True}),
    "cheap": lambda c: (c.update({"loss": "hinge", "r1_gamma": 1.0, "n_critic": 1}),
                        c.optim.update({"g_lr": 2e-4, "d_lr": 8e-4, "b1": 0.0, "b2": 0.99})),
    "aug": lambda c: c.update({"augment": 0.3}),
    "fm": lambda c: c.update({"feature_matching": 1.0}),
    "istft": lambda c: c.model.update({"generator": "istft"}),
    "fakeclass": lambda c: c.update({"acgan_fake_class": True}),
    "floor": lambda c: c.model.update({"stft_floor": 1e-4}),
    "ema": lambda c: c.update({"ema_decay": 0.99}),
    "replay": lambda c: c.update({"replay": 0.25}),
    "period": lambda c: c.update({"discriminators": c.discriminators + ",period"}),
    "if": lambda c: c.model.update({"istft_phase": "if"}),
    "demod": lambda c: c.model.update({"istft_phase": "demod"}),
    "vocoder": lambda c: c.model.update({"istft_phase": "magnitude"}),
    "acf": lambda c: c.update({"discriminators": c.discriminators + ",acf"}),
    "cep": lambda c: c.update({"discriminators": c.discriminators + ",cep"}),
    "harmonic": lambda c: c.model.update({"istft_harmonics": 40}),
    "sourcefilter": lambda c: c.model.update({"istft_harmonics": 40, "istft_source": "filter"}),
    "chosenpitch": lambda c: c.model.update({"istft_harmonics": 40, "istft_source": "filter",
                                             "istft_pitch": "chosen"}),
    "pickpitch": lambda c: c.model.update({"istft_harmonics": 40, "istft_source": "filter",
                                           "istft_pitch": "argmax"}),
    "consistent": lambda c: c.update({"consistency": 1.0}),
    "quietstart": lambda c: c.model.update({"istft_mag_init": -3.0}),
    "postfilter": lambda c: c.model.update({"istft_postfilter": 0.5}),
    "postfade": lambda c: c.model.update({"istft_postfilter": 0.5, "istft_postfilter_fade": 2000}),
    "hybrid": lambda c: c.model.update({"istft_phase": "hybrid"}),
    "periodic": lambda c: c.update({"periodicity_match": 1.0}),
    "periodicfull": lambda c: c.update({"periodicity_match": 10.0, "periodicity_highpass_hz": 0.0}),
    "periodicbands": lambda c: c.update({"periodicity_match": 10.0, "periodicity_bands": "0,1000,2000,4000"}),
    "wide": lambda c: c.model.update({"istft_channels": 256}),
    "deep": lambda c: c.model.update({"istft_blocks": 6}),
    "speakers": lambda c: c.data.update({"per_speaker": True}),
}
# the best stack per CPU-minute in the screens (RESULTS.md); istft joined in round 10 (3 of 3 seeds
# past 90% at 30 minutes of both cores, against 1 of 3 without it)
RECIPE = ("cheap", "stft", "film", "fm", "istft", "fakeclass", "floor", "ema")


def get_config(arg: str = ""):
    tokens = [t for t in arg.split(",") if t]
    known = {"baseline", "zero_one", "smoke"} | {s + n for s in "+-" for n in COMPONENTS}
    bad = [t for t in tokens if t not in known]
    if bad:
        raise ValueError(f"unknown digits.py argument(s) {bad}; known: baseline, zero_one, smoke, "
                         f"+NAME or -NAME with NAME in {', '.join(COMPONENTS)}")
    c = base.get_config()
    if "zero_one" in tokens:
        c.data.source, c.data.words = "bundled", "zero,one"
        c.data.prepared = "data/prepared/fsdd_zero_one_8k_4096"
    else:
        c.data.source, c.data.path, c.data.words = "fsdd", "../shared/data/fsdd", "sc09"
        c.data.prepared = "data/prepared/fsdd_digits_8k_4096"
    c.data.sample_rate = 8000
    c.model.length, c.model.d = 4096, 16
    c.batch_size = 32
    c.conditioning, c.loss = "acgan", "wgan_gp"
    c.num_steps = 100000
    c.eval_every_minutes = 5.0
    c.eval_samples = 50
    c.log_every = 25
    c.sample_every = 1000
    c.checkpoint_every = 500
    c.keep_checkpoints = 2
    c.progress = False
    parts = set() if "baseline" in tokens else set(RECIPE)
    parts |= {t[1:] for t in tokens if t.startswith("+")}
    parts -= {t[1:] for t in tokens if t.startswith("-")}
    for name in COMPONENTS:  # a fixed order, whatever the argument's
        if name in parts:
            COMPONENTS[name](c)
    return base.smoke(c) if "smoke" in tokens else c
