"""Score clips with the project's classifier against the prepared data; the real test split is
scored the same way, which gives every table its ceiling.

Reference set for FID, per-word FID, NDB/K and nearest neighbours: the train split (what a
generator learns from); a copying generator therefore shows NN distances far below the real
test split's.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np

from wavegan_jax import classifier as classifier_lib
from wavegan_jax import data as data_lib
from wavegan_jax import metrics

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Reference:
    """Classifier outputs on the prepared data, computed once per evaluation."""

    clf: classifier_lib.Classifier
    train_feats: np.ndarray  # [n_train, F]
    train_labels: np.ndarray  # [n_train]
    test_audio: np.ndarray  # [n_test, L]
    test_labels: np.ndarray  # [n_test]
    test_to_train_nn: float  # mean NN distance of real test clips to the train split

    @classmethod
    def build(cls, prepared: str | Path, clf: classifier_lib.Classifier | None = None,
              judge: str | Path | None = None) -> "Reference":
        """Real-data statistics of ``prepared`` seen by ``clf``, or by the classifier saved with
        ``judge`` (another prepared folder, e.g. of held-out speakers; default ``prepared``)."""
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
        return cls(clf, train_feats, train_labels, test_audio, test_labels, nn)


def score(ref: Reference, audio: np.ndarray, intended: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Every metric of ``metrics`` for clips ``audio: [N, L]`` meant to say ``intended: [N]``."""
    probs, feats = ref.clf.probs_and_features(audio)
    words = ref.clf.words
    is_mean, is_std = metrics.inception_score(probs)
    nn = metrics.nearest_neighbour_distances(feats, ref.train_feats)
    return {
        "clips": int(len(audio)),
        **metrics.accuracy(probs, intended, words),
        "audible_accuracy": metrics.audible_accuracy(probs, intended, audio),
        "inception_score": is_mean, "inception_score_std": is_std,
        "fid": metrics.frechet_distance(feats, ref.train_feats),
        "per_word_fid": metrics.per_word_fid(feats, intended, ref.train_feats, ref.train_labels, len(words)),
        "ndb_k": metrics.ndb_k(ref.train_feats, feats, k=50, seed=seed),
        "nn_distance": float(nn.mean()),
        "nn_distance_vs_real_test": float(nn.mean() / ref.test_to_train_nn),
        "silent_share": metrics.silent_share(audio),
    }


def score_real_test(ref: Reference) -> dict[str, float]:
    """The ceiling: the real test split scored as if it were generated."""
    return score(ref, ref.test_audio, ref.test_labels)


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
            clips.append(data_lib.load_clip(p, sample_rate, length))
        except data_lib.AudioError as e:
            skipped.append((str(rel), str(e)))
            continue
        intended.append(words.index(word))
    for f, why in skipped:
        log.warning("skipping %s: %s", f, why)
    if not clips:
        raise FileNotFoundError(f"no usable clips of {', '.join(words)} in {folder}")
    return np.stack(clips), np.asarray(intended), skipped


def table(rows: dict[str, dict[str, float]], words: list[str]) -> str:
    """Markdown table: one row per scored set, the main metrics as columns."""
    cols = ["accuracy", "audible_accuracy"] + [f"accuracy/{w}" for w in words] + [
        "inception_score", "fid", "per_word_fid", "ndb_k", "nn_distance", "nn_distance_vs_real_test",
        "silent_share"]
    lines = ["| set | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{r.get(c, float('nan')):.3f}" for c in cols) + " |")
    return "\n".join(lines)
