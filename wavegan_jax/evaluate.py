"""Score clips against the prepared data: the one scoring path of ``evaluate``, ``report``, the
trainer's evaluations, the notebook and the study scripts. The real test split scored the same way
gives every table its ceiling.

Judge: the project's classifier with its "not a word" class (``classifier.REJECT``), by default the
one of the run's own data, or that of another prepared folder of the same rate and length whose
words include the run's (held-out speakers, or a larger vocabulary: a zero/one model judged by the
ten-digit classifier). A clip counts as its word only when its arg-max class over every class of
the judge is that word. Classifier-free speech measures (``speech.py``) sit beside it.

Reference set for FID, per-word FID, NDB/K and nearest neighbours: the train split (what a
generator learns from), in the judge's feature space; a copying generator therefore shows NN
distances far below the real test split's.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np

from wavegan_jax import classifier as classifier_lib
from wavegan_jax import data as data_lib
from wavegan_jax import metrics, speech

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Reference:
    """Judge outputs and speech measures of the prepared data, computed once per evaluation."""

    clf: classifier_lib.Classifier
    words: list[str]  # the data's words: ``intended`` indexes into these
    sample_rate: int
    train_feats: np.ndarray  # [n_train, F]
    train_labels: np.ndarray  # [n_train]
    test_audio: np.ndarray  # [n_test, L]
    test_labels: np.ndarray  # [n_test]
    test_to_train_nn: float  # mean NN distance of real test clips to the train split
    real_voiced_share: float  # mean voiced share of the real test split
    real_flatness: float  # mean spectral flatness of the real test split

    @classmethod
    def build(cls, prepared: str | Path, clf: classifier_lib.Classifier | None = None,
              judge: str | Path | None = None) -> "Reference":
        """Real-data statistics of ``prepared`` seen by ``clf``, or by the classifier saved with
        ``judge`` (another prepared folder, e.g. of held-out speakers or more words; default
        ``prepared``)."""
        manifest = data_lib.read_manifest(prepared)
        if manifest is None:
            raise FileNotFoundError(f"{prepared} has no manifest.json: run `wavegan_jax prepare` first")
        clf = clf or classifier_lib.load(judge or prepared, words=manifest["words"],
                                         sample_rate=manifest["sample_rate"], length=manifest["length"])
        train_audio, train_labels = (np.asarray(a) for a in data_lib.load_split(prepared, "train"))
        test_audio, test_labels = (np.asarray(a) for a in data_lib.load_split(prepared, "test"))
        _, train_feats = clf.probs_and_features(train_audio)
        _, test_feats = clf.probs_and_features(test_audio)
        nn = float(metrics.nearest_neighbour_distances(test_feats, train_feats).mean())
        real = speech.measures(test_audio, manifest["sample_rate"])
        return cls(clf, list(manifest["words"]), manifest["sample_rate"], train_feats, train_labels,
                   test_audio, test_labels, nn, float(real["voiced_share"].mean()),
                   float(real["spectral_flatness"].mean()))

    @property
    def judge_classes(self) -> np.ndarray:
        """The judge's class index of each data word [W]."""
        return np.array([self.clf.words.index(w) for w in self.words])


def reference(config, judge: str | Path | None = None) -> Reference:
    """The Reference of a run's config: judged by ``judge``, else ``config.classifier.prepared``,
    else the classifier of ``config.data.prepared``, which is trained first when it has none."""
    import jax

    prepared = config.data.prepared
    origin = "--classifier" if judge else "config.classifier.prepared"
    judge = judge or config.classifier.prepared or None
    if judge is None and not classifier_lib.exists(prepared):
        if jax.process_count() > 1:
            raise FileNotFoundError(f"no classifier for {prepared}: with several processes, run "
                                    f"`wavegan_jax train-classifier` first")
        log.info("no classifier for %s yet: training one first (config.classifier)", prepared)
        classifier_lib.train_classifier(config)
    elif judge is not None and not classifier_lib.exists(judge):
        raise FileNotFoundError(f"no classifier in {judge} ({origin}): train it with `wavegan_jax "
                                f"train-classifier` on that data first (an experiment whose data.prepared is {judge})")
    return Reference.build(prepared, judge=judge)


def score(ref: Reference, audio: np.ndarray, intended: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Every measure for clips ``audio: [N, L]`` meant to say ``intended: [N]`` (indices into
    ``ref.words``).

    accuracy: arg-max over all the judge's classes ("not a word" included) is the intended word;
    not_a_word_share: arg-max is "not a word"; forced_choice_accuracy: the old score, arg-max among
    the data's words only; accuracy_in_vocabulary (when the judge knows more words): arg-max among
    the data's words and "not a word"; speech_accuracy: correct, audible and speech-like (the
    default best_metric); voiced_share, speech_like_share, spectral_flatness (speech.py) and their
    ratios to the real test split's; then IS, FID, per-word FID, NDB/K, NN distances, silent share.
    """
    probs, feats = ref.clf.probs_and_features(audio)
    classes = ref.judge_classes
    target = classes[intended]
    is_mean, is_std = metrics.inception_score(probs)
    nn = metrics.nearest_neighbour_distances(feats, ref.train_feats)
    sp = speech.measures(audio, ref.sample_rate)
    acc = metrics.accuracy(probs, target, ref.clf.classes)
    out = {
        "clips": int(len(audio)),
        "accuracy": acc.pop("accuracy"),
        "speech_accuracy": metrics.speech_accuracy(probs, target, audio, sp["speech_like"]),
        "not_a_word_share": float(np.mean(probs.argmax(-1) == ref.clf.reject_index)),
        "forced_choice_accuracy": metrics.forced_choice_accuracy(probs, intended, classes),
    }
    if len(ref.clf.words) > len(ref.words):
        allowed = np.append(classes, ref.clf.reject_index)
        out["accuracy_in_vocabulary"] = float(np.mean(allowed[probs[:, allowed].argmax(-1)] == target))
    out.update(acc)
    out.update({
        "audible_accuracy": metrics.audible_accuracy(probs, target, audio),
        "voiced_share": float(sp["voiced_share"].mean()),
        "voiced_share_vs_real": float(sp["voiced_share"].mean() / max(ref.real_voiced_share, 1e-9)),
        "speech_like_share": float(sp["speech_like"].mean()),
        "spectral_flatness": float(sp["spectral_flatness"].mean()),
        "flatness_vs_real": float(sp["spectral_flatness"].mean() / max(ref.real_flatness, 1e-9)),
        "inception_score": is_mean, "inception_score_std": is_std,
        "fid": metrics.frechet_distance(feats, ref.train_feats),
        "per_word_fid": metrics.per_word_fid(feats, intended, ref.train_feats, ref.train_labels, len(ref.words)),
        "ndb_k": metrics.ndb_k(ref.train_feats, feats, k=50, seed=seed),
        "nn_distance": float(nn.mean()),
        "nn_distance_vs_real_test": float(nn.mean() / ref.test_to_train_nn),
        "silent_share": metrics.silent_share(audio),
    })
    return out


def score_real_test(ref: Reference) -> dict[str, float]:
    """The ceiling: the real test split scored as if it were generated."""
    return score(ref, ref.test_audio, ref.test_labels)


def run_clips(run, num: int, seed: int, generator: str = "ema", member: int = 0,
              truncation: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``num`` clips per word of a conditional run, from noise seed ``seed`` (``sampling.generate``'s
    noise, ``truncation`` included: the same clips ``generate --seed`` writes) -> (audio [W * num, L],
    intended [W * num])."""
    from wavegan_jax import sampling

    if not run.num_classes:
        raise ValueError("an unconditional model has no intended words to score; use a conditional run")
    clips = sampling.generate(run, run.words, num, seed, generator=generator, member=member, truncation=truncation)
    return np.concatenate(list(clips.values())), np.repeat(np.arange(len(run.words)), num)


def score_run(run, ref: Reference, num: int, seed: int, generator: str = "ema", member: int = 0,
              truncation: float = 0.0) -> dict[str, float]:
    """Generate ``num`` clips per word with the ``ema`` or ``raw`` generator parameters (of member
    ``member`` for a vmapped run; noise truncated to [-t, t] for ``truncation`` t > 0) and
    ``score`` them: what every evaluation of a run calls."""
    audio, intended = run_clips(run, num, seed, generator, member, truncation)
    return score(ref, audio, intended, seed=seed)


def calibration_sets(ref: Reference, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sets with a known answer, built from the real test split: name -> (audio [N, L], intended [N]).

    ``real test split`` (must score high), ``real, wrong word`` (each clip labelled as another
    word: near 0), and clips that say no word, labelled as the test clips' words (near 0 each):
    white, pink and brown noise at -25 dBFS, digital silence, time-reversed and frame-shuffled real
    clips, and real clips' spectrogram envelopes filled with noise (``negatives``).
    """
    from wavegan_jax import negatives

    rng = np.random.default_rng(seed)
    audio, labels = ref.test_audio, ref.test_labels
    n, length = audio.shape
    noise = lambda alpha: (0.056 * negatives.coloured_noise(rng, n, length, alpha)).astype(np.float32)
    return {
        "real test split": (audio, labels),
        "real, wrong word": (audio, (labels + 1) % len(ref.words)),
        "white noise": (noise(0.0), labels),
        "pink noise": (noise(1.0), labels),
        "brown noise": (noise(2.0), labels),
        "silence": (np.zeros_like(audio), labels),
        "time-reversed real": (audio[:, ::-1].copy(), labels),
        "frame-shuffled real": (negatives.KINDS["shuffled"](rng, audio, labels, n, ref.sample_rate), labels),
        "noise in a word's spectrogram envelope": (
            negatives.smoothed_spectrogram_noise(rng, audio).astype(np.float32), labels),
    }


_WORD_FILE = re.compile(r"^([A-Za-z]+)_\d+\.wav$")


def load_folder(folder: str | Path, words: list[str], sample_rate: int, length: int):
    """Clips from ``folder/WORD/*.wav`` or ``folder/WORD_N.wav``.

    Returns (audio [N, L], intended [N], skipped [(file, reason)]). Files of unknown words and
    unreadable files are skipped and listed.
    """
    folder = Path(folder)
    clips, intended, skipped = [], [], []
    for p in sorted(folder.rglob("*.wav")):
        rel = p.relative_to(folder)
        m = _WORD_FILE.match(p.name)
        word = rel.parts[0] if len(rel.parts) > 1 else (m.group(1) if m else None)
        if word not in words:
            skipped.append((str(rel), f"word {word!r} is not one of {', '.join(words)}"))
            continue
        try:
            x, sr = data_lib.read_audio(p)  # generated silence or noise is scored, not skipped
            clips.append(data_lib.to_clip(x, sr, sample_rate, length))
        except data_lib.AudioError as e:
            skipped.append((str(rel), str(e)))
            continue
        intended.append(words.index(word))
    for f, why in skipped:
        log.warning("skipping %s: %s", f, why)
    if not clips:
        raise FileNotFoundError(f"no usable clips of {', '.join(words)} in {folder}")
    return np.stack(clips), np.asarray(intended), skipped


def json_safe(obj):
    """``obj`` with every non-finite float replaced by None (JSON has no NaN: ``null`` instead)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)) and not np.isfinite(obj):
        return None
    return obj


TABLE_COLUMNS = ["accuracy", "speech_accuracy", "not_a_word_share", "accuracy_in_vocabulary",
                 "forced_choice_accuracy", "voiced_share", "speech_like_share", "spectral_flatness", "fid",
                 "per_word_fid", "ndb_k", "nn_distance_vs_real_test", "silent_share"]


def table(rows: dict[str, dict[str, float]], words: list[str]) -> str:
    """Markdown table: one row per scored set, the main measures (those any row has) as columns."""
    cols = [c for c in TABLE_COLUMNS[:5] + [f"accuracy/{w}" for w in words] + TABLE_COLUMNS[5:]
            if any(c in r for r in rows.values())]
    lines = ["| set | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{r.get(c, float('nan')):.3f}" for c in cols) + " |")
    return "\n".join(lines)
