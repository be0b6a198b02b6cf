"""Metrics of generated audio, each a pure NumPy function of classifier outputs or features.

Notation: ``p(y|x)`` are classifier probabilities ``[N, K]``, features are the classifier's
penultimate activations ``[N, F]``, ``intended`` is the word each clip was asked to say ``[N]``.
"""
from __future__ import annotations

import numpy as np
import scipy.cluster.vq
import scipy.linalg
import scipy.stats


def accuracy(probs: np.ndarray, intended: np.ndarray, words: list[str]) -> dict[str, float]:
    """Share of clips whose arg-max class is the intended word: overall and per word.

    acc = mean_i [argmax_k p(k|x_i) == intended_i]
    """
    hit = probs.argmax(-1) == intended
    out = {"accuracy": float(hit.mean())}
    for i, w in enumerate(words):
        if (intended == i).any():
            out[f"accuracy/{w}"] = float(hit[intended == i].mean())
    return out


def inception_score(probs: np.ndarray, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))), mean and std over ``splits`` equal parts of the clips
    in a seeded random order (clips are often grouped by word; contiguous parts would hold one
    word each and score 1).

    Ranges from 1 (every clip gets the same distribution) to K (confident and uniform over K classes).
    """
    probs = probs[np.random.default_rng(seed).permutation(len(probs))]
    scores = []
    for part in np.array_split(probs, min(splits, len(probs))):
        py = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(part + 1e-12) - np.log(py + 1e-12)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """FID = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two feature sets."""
    mu_a, mu_b = feats_a.mean(0), feats_b.mean(0)
    s_a = np.cov(feats_a, rowvar=False)
    s_b = np.cov(feats_b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    fid = float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2.0 * covmean))
    return max(fid, 0.0)


def per_word_fid(feats: np.ndarray, intended: np.ndarray, ref_feats: np.ndarray,
                 ref_labels: np.ndarray, num_words: int) -> float:
    """Mean over words w of FID(generated clips of w, reference clips of w)."""
    return float(np.mean([frechet_distance(feats[intended == w], ref_feats[ref_labels == w])
                          for w in range(num_words)
                          if (intended == w).sum() > 1 and (ref_labels == w).sum() > 1]))


def ndb_from_counts(ref_counts: np.ndarray, gen_counts: np.ndarray, alpha: float = 0.05) -> int:
    """Number of statistically different bins (Richardson & Weiss 2018).

    For each bin, the two-proportion z-test with pooled p = (c_r + c_g) / (n_r + n_g):
    z = (c_r / n_r - c_g / n_g) / sqrt(p (1 - p) (1 / n_r + 1 / n_g)); different if |z| > z_(1-alpha/2).
    """
    n_r, n_g = ref_counts.sum(), gen_counts.sum()
    p = (ref_counts + gen_counts) / (n_r + n_g)
    se = np.sqrt(p * (1 - p) * (1.0 / n_r + 1.0 / n_g))
    z = np.divide(ref_counts / n_r - gen_counts / n_g, se, out=np.zeros_like(se), where=se > 0)
    return int(np.sum(np.abs(z) > scipy.stats.norm.ppf(1 - alpha / 2)))


def ndb_k(ref_feats: np.ndarray, gen_feats: np.ndarray, k: int = 50, alpha: float = 0.05,
          seed: int = 0) -> float:
    """NDB/K: k-means (K bins) on the reference features, both sets assigned to the nearest
    centre, then ``ndb_from_counts / K``. 0 = same distribution over bins; near 1 = different."""
    k = min(k, len(ref_feats))
    centres, ref_bins = scipy.cluster.vq.kmeans2(ref_feats.astype(np.float64), k, seed=seed, minit="++")
    gen_bins, _ = scipy.cluster.vq.vq(gen_feats.astype(np.float64), centres)
    return ndb_from_counts(np.bincount(ref_bins, minlength=k), np.bincount(gen_bins, minlength=k), alpha) / k


def nearest_neighbour_distances(feats: np.ndarray, train_feats: np.ndarray) -> np.ndarray:
    """Euclidean distance [N] from each clip to its nearest training clip (in feature space).

    A generator that copies its training data has distances near 0, well below the distances of
    real held-out clips to the training set.
    """
    d2 = (np.sum(feats ** 2, 1)[:, None] - 2 * feats @ train_feats.T + np.sum(train_feats ** 2, 1)[None])
    return np.sqrt(np.maximum(d2.min(axis=1), 0.0))


def level_db(audio: np.ndarray) -> np.ndarray:
    """RMS level [N] in dBFS of clips [N, L]: 20 log10(sqrt(mean(x^2)))."""
    rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2, axis=-1))
    return 20 * np.log10(rms + 1e-12)


def silent_share(audio: np.ndarray, threshold_db: float = -50.0) -> float:
    """Share of clips whose RMS level is below ``threshold_db`` dBFS."""
    return float(np.mean(level_db(audio) < threshold_db))


def audible_accuracy(probs: np.ndarray, intended: np.ndarray, audio: np.ndarray,
                     threshold_db: float = -50.0) -> float:
    """Share of clips that are both audible (RMS >= ``threshold_db`` dBFS) and heard as the
    intended word: the classifier normalises each clip's level, so a near-silent clip with the
    right spectral shape counts in ``accuracy`` but not here."""
    return float(np.mean((probs.argmax(-1) == intended) & (level_db(audio) >= threshold_db)))


def speech_accuracy(probs: np.ndarray, intended: np.ndarray, audio: np.ndarray, speech_like: np.ndarray,
                    threshold_db: float = -50.0) -> float:
    """Share of clips heard as the intended word (arg-max over every class, "not a word"
    included), audible (RMS >= ``threshold_db`` dBFS) **and** speech-like (``speech_like [N]``,
    from ``speech.measures``: voiced frames found by a pitch tracker, which no shaped noise has)."""
    return float(np.mean((probs.argmax(-1) == intended) & (level_db(audio) >= threshold_db) & speech_like))


def forced_choice_accuracy(probs: np.ndarray, intended: np.ndarray, choices: np.ndarray) -> float:
    """Accuracy when the classifier must pick one of ``choices`` (class indices [C]; ``intended``
    [N] indexes into them): the old two-way score, which splits any noise between the words."""
    return float(np.mean(probs[:, choices].argmax(-1) == intended))
