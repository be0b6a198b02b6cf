"""Every field of a wavegan_jax experiment, with its default and meaning.

Experiments import this module, call ``get_config()`` and override a few fields. Any field can
be overridden from the command line, e.g.::

    python -m wavegan_jax train --config=experiments/quickstart.py --workdir=runs/qs \
        --config.batch_size=32 --config.optim.g_lr=3e-4

A mistyped field (``--config.batchsize=32``) is an error, because configs are locked.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0  # one seed for everything: parameter init, data order, noise, phase shuffle
    c.num_seeds = 1  # K > 1: train seeds seed .. seed+K-1 as K GANs vmapped in one compiled step
    c.seeds_share_data = False  # with K > 1: True = every seed sees seed's data order (one batch)

    # ---- data: what `prepare` reads and where the shards go --------------------------------
    c.data = ml_collections.ConfigDict()
    c.data.source = "bundled"  # bundled | fsdd | speech_commands | folder
    c.data.path = ""  # recordings folder; ignored for "bundled" (the FSDD zero/one copy in the package)
    c.data.download = ""  # "" | fsdd | speech_commands: fetch the archive into data.cache first
    c.data.cache = "data/cache"  # where downloads are kept
    c.data.words = "zero,one"  # comma-separated words, a preset (sc09), or "" for every word
    c.data.sample_rate = 8000  # Hz; audio is resampled to this rate with soxr
    c.data.prepared = "data/prepared/fsdd_zero_one_8k_4096"  # shard folder (prepared when missing)
    c.data.speakers = ""  # fsdd/speech_commands: "a,b" only these speakers, "-a,-b" all but these
    # G and D conditioned on (word, speaker) pairs, class word * S + speaker, instead of the word:
    # each pair is one voice, not a mix of S; generated clips take the speakers in turn
    c.data.per_speaker = False

    # ---- model ----------------------------------------------------------------------------
    c.model = ml_collections.ConfigDict()
    c.model.length = 4096  # samples per clip: 1024, 2048, 4096, 8192 or 16384
    c.model.d = 32  # model size: 64 in the paper, 32 in the original study's downsized model
    c.model.latent_dim = 100  # size of z
    c.model.phase_shuffle = 2  # D shifts each layer's output by up to +-n samples (0 = off)
    c.model.d_preemphasis = 0.0  # > 0: the waveform D reads x_t - a x_{t-1} (upper harmonics weigh more)
    c.model.conv_impl = "auto"  # auto | polyphase | direct (same function, different speed)
    c.model.generator = "wave"  # wave (WaveGAN's upsampling G) | istft (G writes STFT frames)
    c.model.istft_channels = 128  # istft G: channels at the frame rate (length / 64 frames)
    c.model.istft_blocks = 2  # istft G: residual blocks at the frame rate
    c.model.istft_phase = "absolute"  # istft G writes each frame's phase | "demod": the same, against the clip's time origin | "if": its advance per frame | "magnitude": none (a phase vocoder's, from its magnitudes) | "hybrid": the vocoder's plus G's correction
    c.model.istft_fft = 256  # istft G: frame size (hop 64); 512 resolves a 100 Hz voice's harmonics at 8 kHz
    c.model.istft_harmonics = 0  # istft G: K > 0 adds a harmonic source (pitch + K harmonics per frame)
    c.model.istft_source = "add"  # with istft_harmonics: add the sinusoids | "filter": G's frames filter them
    c.model.istft_gate_init = 0.5  # istft_source=filter: the voiced mix every frame starts at
    c.model.istft_pitch = "latent"  # istft_source=filter: the comb's pitch from z | "chosen": G weighs 32 combs | "argmax": picks one
    c.model.istft_postfilter = 0.0  # istft G: > 0, a pitch (long-term) postfilter of this gain on its output
    c.model.istft_postfilter_fade = 0  # > 0: the postfilter in training only, its gain falling to 0 over this many steps
    c.model.istft_mag_init = 0.0  # istft G: every bin's starting log-magnitude (0: |S| = 1 everywhere)
    c.model.istft_if_scale = 0.125  # "if": phase advance per frame = output * pi * this (1 diverged)
    c.model.film = False  # G: per-class scale and shift after every upsampling layer (FiLM)
    c.model.stft_resolutions = "128,256,512"  # FFT sizes of the spectral discriminator (hop n/4)
    c.model.stft_channels = 32  # its convolutions' width
    c.model.stft_floor = 1e-8  # its input is (|X|^2 + floor)^0.15: the floor bounds gradients at silent bins
    c.model.periods = "2,3,5,7,11"  # periods of the period discriminator (HiFi-GAN's MPD)
    c.model.period_channels = 16  # its first convolution's width (then 2x, 4x, 4x)
    c.model.acf_resolutions = "512"  # frame sizes (hop n/4) of the autocorrelation D (width: stft_channels)
    c.model.acf_rms = False  # its frames' autocorrelation weighted by their RMS (bounded input gradient)
    c.model.cep_resolutions = "512"  # frame sizes (hop n/4) of the cepstrum D (width: stft_channels, floor: stft_floor)
    c.model.acf_highpass_hz = 0.0  # > 0: the autocorrelation of the frames' band above this (upper harmonics)
    # the discriminators, comma-separated: wave (WaveGAN's D), stft (multi-resolution STFT
    # magnitudes, models.SpectralDiscriminator), period (samples p apart, HiFi-GAN's MPD,
    # models.PeriodDiscriminator), acf (each frame's normalised autocorrelation: its period),
    # cep (each frame's real cepstrum: the comb's contrast, every bin alike);
    # each gets the strategy's head and its own optimizer state, and both players' objectives
    # sum over them
    c.discriminators = "wave"

    c.conditioning = "concat"  # none | concat | sample_in_channel | acgan | projection
    c.num_classes = -1  # -1: the number of words in the prepared data; 0 with conditioning=none

    # ---- loss and optimisation ------------------------------------------------------------
    c.loss = "wgan_gp"  # wgan_gp | nonsaturating | hinge | lsgan (see wavegan_jax/losses.py)
    c.gp_lambda = 10.0  # gradient penalty weight (used by wgan_gp)
    c.r1_gamma = 0.0  # R1 penalty gamma / 2 * E||grad D(real)||^2, any loss; 0 = off
    # drift penalty eps * E[D(real)^2] (Karras et al. 2018): pins the critic's level, which the
    # WGAN loss leaves free (a constant added to D cancels) and G's loss reports; 0 = off
    c.drift_penalty = 0.0
    c.label_smoothing = 0.0  # one-sided: real targets 1 - s (nonsaturating, lsgan)
    c.instance_noise = 0.0  # std of Gaussian noise added to D's real and fake inputs; 0 = off
    c.instance_noise_steps = 0  # anneal that std linearly to 0 over this many steps (0 = constant)
    c.acgan_weight = 1.0  # weight of the auxiliary class loss (conditioning=acgan), both players
    c.acgan_fake_class = False  # acgan: D's head has a class "generated" for fakes (K + 1 classes)
    c.feature_matching = 0.0  # G: weight of L1 between D's mean features on real and generated clips
    c.consistency = 0.0  # istft G: weight of the energy per frame its iSTFT drops, |STFT(iSTFT(S)) - S|^2
    # G: weight of the distance between the periodicity of generated and real clips' loudest frames
    # (losses.periodicity_distance), read above periodicity_highpass_hz; 0 = off
    c.periodicity_match = 0.0
    c.periodicity_highpass_hz = 1000.0
    c.periodicity_loud_share = 0.25  # the share of each clip's loudest frames matched (its vowel cores)
    # from generator step periodicity_late_step on, match this share instead (0 = off: no change)
    c.periodicity_late_share = 0.0
    c.periodicity_late_step = 3000
    # split those frames by level rank into this many groups, each matched on its own (1 = one pool)
    c.periodicity_level_groups = 1
    # band edges in Hz ("0,1000,2000,4000"): the term then matches each band's periodicity at the
    # full band's pitch lag, summed over the bands (periodicity_highpass_hz unused); "" = one band
    c.periodicity_bands = ""
    # differentiable augmentation of every D input (real and generated, both players' updates):
    # each of a random time shift (up to 1/8 of the clip, circular), a gain (x0.5..x1.5) and
    # Gaussian noise (std 0.01) is applied to a clip with this probability; 0 = off
    c.augment = 0.0
    # replay of past fakes (GAN forgetting; SimGAN's history buffer): each clip of D's fake batch
    # is, with probability replay, one that G made earlier for the same class, from a buffer of
    # replay_slots clips per class where each new fake is stored with probability replay_write
    # (so a stored clip is on average slots x classes / (batch x replay_write) steps old); 0 = off
    c.replay = 0.0
    c.replay_slots = 64
    c.replay_write = 0.02
    c.n_critic = 5  # discriminator updates per train step
    c.g_steps = 1  # generator updates per train step (G:D update ratio = g_steps : n_critic)
    c.batch_size = 64  # global batch (all devices and processes); must divide evenly
    c.optim = ml_collections.ConfigDict()
    c.optim.g_lr = 1e-4
    c.optim.d_lr = 1e-4
    c.optim.b1 = 0.5
    c.optim.b2 = 0.9
    # cosine decay of both learning rates to decay_to x their peak over decay_steps train steps
    # (then constant); 0 = constant learning rates
    c.optim.decay_steps = 0
    c.optim.decay_to = 0.0
    # a step schedule instead: from train step drop_at on, G's learning rate is g_lr x g_drop and
    # D's d_lr x d_drop; 0 = off
    c.optim.drop_at = 0
    c.optim.g_drop = 1.0
    c.optim.d_drop = 1.0
    c.ema_decay = 0.999  # EMA copy of G's parameters used for samples
    # warm-up: decay at step t is min(ema_decay, (1 + t) / (10 + t)) (TensorFlow's
    # ExponentialMovingAverage with num_updates), so the average forgets the random init quickly
    c.ema_warmup = True
    # start a new workdir from another run's state instead of the initialisation (a branch):
    # "WORKDIR" (its latest checkpoint), "WORKDIR:best" or "WORKDIR:STEP". G, D, both optimizer
    # states, the EMA and the step count are taken, with the training time recorded at that step,
    # so a branch can change what leaves the state's shapes alone (learning rates, EMA decay) and be
    # compared minute for minute with its parent. Read only while the workdir has no checkpoint.
    c.init_from = ""

    # ---- divergence (the original study's rule): stop and record the step in divergence.json --
    c.divergence = ml_collections.ConfigDict()
    c.divergence.threshold = 100.0  # |D loss| or |G loss| above this counts as diverged; 0 = off
    c.divergence.window = 5000  # ... when it happens within the first `window` steps (NaN/inf: always)

    # ---- run length, logging and checkpoints ----------------------------------------------
    c.num_steps = 20000  # generator updates
    c.log_every = 50  # TensorBoard scalars (and the NaN check)
    c.sample_every = 1000  # audio, waveform and spectrogram images, wavs in workdir/samples
    c.samples_per_word = 4  # clips per word at each sample interval
    c.checkpoint_every = 1000
    c.keep_checkpoints = 3
    c.progress = True  # tqdm progress bar

    # ---- evaluation during training (needs the classifier; trained first when missing) -----
    c.eval_every = 0  # steps between evaluations; 0 = off
    # minutes of training wall time (train_seconds in metrics.jsonl: compilation included,
    # evaluations excluded) between evaluations, read at logged steps; 0 = off
    c.eval_every_minutes = 0.0
    c.max_train_minutes = 0.0  # stop (checkpoint, samples, evaluation) after this much training time; 0 = off
    c.eval_samples = 50  # clips per word, fixed noise
    # any key of evaluate.score, e.g. speech_accuracy, accuracy, audible_accuracy, fid; the default
    # counts a clip only when the judge (with its "not a word" class) hears the intended word AND it
    # is not near-silent AND a pitch tracker finds voiced frames in it (shaped noise has none)
    c.best_metric = "speech_accuracy"
    c.best_mode = "max"  # max | min: which direction of best_metric is better

    # ---- the word classifier used for evaluation (wavegan_jax train-classifier) -------------
    c.classifier = ml_collections.ConfigDict()
    c.classifier.epochs = 30  # passes over the train split (with random shift/gain augmentation)
    c.classifier.batch_size = 64
    c.classifier.lr = 1e-3  # AdamW peak learning rate, cosine decay to 0
    # time and frequency masks per clip in training (SpecAugment); on FSDD ten digits 2 masks
    # underfit at 30 epochs: 91.2% test accuracy against 96.8% without
    c.classifier.spec_augment = 0
    # "not a word" clips added to each batch, as a share of batch_size (wavegan_jax/negatives.py)
    c.classifier.negative_share = 0.5
    # Judge with the classifier of another prepared folder (same words, rate, length), e.g. one
    # of speakers the generator never hears; "" = the classifier of data.prepared.
    c.classifier.prepared = ""
    return c


def variant(c: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
    """``c`` as ``get_config(name)`` asks: "" = as is, "smoke" = shrunk; anything else is an error
    (a typo such as ``:smokee`` must not run the full experiment)."""
    if name not in ("", "smoke"):
        raise ValueError(f"unknown variant {name!r}; known: smoke (or none)")
    return smoke(c) if name == "smoke" else c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrink any experiment to a run of seconds (``get_config("smoke")``)."""
    c.model.d = 4
    c.batch_size = 4
    c.n_critic = 1  # one D update per step: a third less to compile than two (tests set 2 where it matters)
    c.num_steps = 3
    c.log_every = 1
    c.sample_every = 3
    c.samples_per_word = 1
    c.checkpoint_every = 2
    c.progress = False
    c.classifier.epochs = 1
    c.classifier.batch_size = 16
    c.eval_samples = 4
    return c
