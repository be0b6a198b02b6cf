"""The project's own word classifier: a small CNN on log-mel features of prepared shards.

Trained by ``wavegan_jax train-classifier --config=EXPERIMENT.py`` on the train split of
``config.data.prepared`` and saved next to the data, in ``PREPARED/classifier/`` (orbax
parameters plus ``info.json`` with the manifest fingerprint, words, rate, length and test
accuracy). Its penultimate layer gives the features for FID, NDB/K and nearest neighbours.

It has one class more than the data has words, ``REJECT`` ("not a word"), learnt from negatives
made on the fly (``wavegan_jax/negatives.py``: noise, silence, clicks, tones, and reversed,
shuffled, mixed or noise-filled real words), so that noise is not forced into a word.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from wavegan_jax import data as data_lib
from wavegan_jax import features
from wavegan_jax import negatives as negatives_lib

log = logging.getLogger(__name__)
FEATURE_DIM = 128
REJECT = "not_a_word"  # the extra class, last in ``Classifier.classes``


class WordCNN(nn.Module):
    """audio [B, L] -> (logits [B, num_classes], penultimate features [B, 128]).

    ``masks``: in training, that many time masks (up to 1/8 of the frames) and frequency masks
    (up to 8 of the 64 mel bands) set the normalised log-mel to 0 (SpecAugment, Park et al. 2019).
    """

    num_classes: int
    sample_rate: int
    masks: int = 0

    @nn.compact
    def __call__(self, audio: jax.Array, train: bool = False):
        x = features.log_mel(audio, self.sample_rate)  # [B, T, 64]
        x = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + 1e-5)
        if train and self.masks:
            x = spec_augment(self.make_rng("dropout"), x, self.masks)
        x = x[..., None]
        for ch in (16, 32, 64, 128):
            x = nn.relu(nn.GroupNorm(num_groups=8)(nn.Conv(ch, (3, 3), use_bias=False)(x)))
            x = nn.max_pool(x, (2, 2), (2, 2))
        x = jnp.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], axis=-1)
        x = nn.Dropout(0.3, deterministic=not train)(x)
        feats = nn.relu(nn.Dense(FEATURE_DIM)(x))
        return nn.Dense(self.num_classes)(feats), feats


def spec_augment(key: jax.Array, x: jax.Array, masks: int) -> jax.Array:
    """x [B, T, F] with ``masks`` random time bands (width 0..T/8) and frequency bands (width
    0..8) per clip set to 0."""
    b = x.shape[0]
    for axis, width in ((1, max(x.shape[1] // 8, 1)), (2, 8)):
        size = x.shape[axis]
        pos = jnp.arange(size).reshape((1, size, 1) if axis == 1 else (1, 1, size))
        for _ in range(masks):
            key, k_w, k_s = jax.random.split(key, 3)
            w = jax.random.randint(k_w, (b, 1, 1), 0, width + 1)
            start = jax.random.randint(k_s, (b, 1, 1), 0, size - w + 1)
            x = jnp.where((pos >= start) & (pos < start + w), 0.0, x)
    return x


def _augment(rng: np.random.Generator, audio: np.ndarray) -> np.ndarray:
    """Random shift (up to 1/8 of the clip, zero fill), gain 0.5-1.5 and faint noise."""
    n, length = audio.shape
    out = np.zeros_like(audio)
    shifts = rng.integers(-length // 8, length // 8 + 1, n)
    for i, s in enumerate(shifts):
        if s >= 0:
            out[i, s:] = audio[i, :length - s]
        else:
            out[i, :s] = audio[i, -s:]
    out *= rng.uniform(0.5, 1.5, (n, 1)).astype(np.float32)
    out += rng.normal(0, 1e-3, out.shape).astype(np.float32)
    return out


def _info_path(prepared: Path) -> Path:
    return Path(prepared) / "classifier" / "info.json"


def train_classifier(config) -> dict:
    """Train on the train split of ``config.data.prepared``, save, and return ``info``."""
    prepared = Path(config.data.prepared)
    manifest = data_lib.read_manifest(prepared)
    if manifest is None:
        raise FileNotFoundError(f"{prepared} has no manifest.json: run `wavegan_jax prepare` "
                                f"or `wavegan_jax train` with this config first")
    cc = config.classifier
    words, sr = manifest["words"], manifest["sample_rate"]
    audio, labels = (np.asarray(a) for a in data_lib.load_split(prepared, "train"))
    model = WordCNN(len(words) + 1, sr, masks=cc.spec_augment)
    n_neg = max(1, int(round(cc.batch_size * cc.negative_share)))
    key = jax.random.key(config.seed + 1000)
    params = model.init(key, jnp.zeros((1, manifest["length"])))
    steps_per_epoch = max(1, len(audio) // cc.batch_size)
    schedule = optax.cosine_decay_schedule(cc.lr, cc.epochs * steps_per_epoch)
    tx = optax.adamw(schedule, weight_decay=1e-4)
    opt = tx.init(params)

    @jax.jit
    def step(params, opt, x, y, key):
        def loss_fn(p):
            logits, _ = model.apply(p, x, train=True, rngs={"dropout": key})
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    rng = np.random.default_rng(config.seed)
    t0 = time.perf_counter()
    for epoch in range(cc.epochs):
        perm = rng.permutation(len(audio))
        losses = []
        for b in range(steps_per_epoch):
            idx = perm[b * cc.batch_size:(b + 1) * cc.batch_size]
            x = np.concatenate([audio[idx], negatives_lib.make(rng, audio, labels, n_neg, sr)])
            y = np.concatenate([labels[idx], np.full(n_neg, len(words), labels.dtype)])
            key, sub = jax.random.split(key)
            params, opt, loss = step(params, opt, _augment(rng, x), y, sub)
            losses.append(loss)
        log.info("classifier epoch %d/%d: loss %.4f", epoch + 1, cc.epochs, float(np.mean(losses)))
    clf = Classifier(model, params, words, sr, manifest["length"])
    test_audio, test_labels = (np.asarray(a) for a in data_lib.load_split(prepared, "test"))
    pred = clf.predict(test_audio).argmax(-1)
    per_word = {w: float((pred[test_labels == i] == i).mean()) for i, w in enumerate(words)
                if (test_labels == i).any()}
    # fresh negatives of every kind, built from the test split, must land in the reject class
    test_rng = np.random.default_rng(config.seed + 1)
    rejected = {kind: float((clf.predict(fn(test_rng, test_audio, test_labels, 20, sr)).argmax(-1)
                             == len(words)).mean())
                for kind, fn in negatives_lib.KINDS.items()} if len(test_labels) else {}
    info = dict(words=words, classes=clf.classes, sample_rate=sr, length=manifest["length"],
                manifest_fingerprint=manifest["fingerprint"], epochs=cc.epochs,
                spec_augment=cc.spec_augment, negative_share=cc.negative_share,
                train_seconds=round(time.perf_counter() - t0, 1), test_clips=int(len(test_labels)),
                test_accuracy=float((pred == test_labels).mean()) if len(test_labels) else None,
                test_accuracy_per_word=per_word,
                test_not_a_word_share=float((pred == len(words)).mean()) if len(test_labels) else None,
                test_negatives_rejected=rejected)
    save(prepared, params, info)
    log.info("classifier saved in %s: test accuracy %s", _info_path(prepared).parent, info["test_accuracy"])
    return info


def save(prepared: str | Path, params, info: dict) -> None:
    """Write a classifier's parameters (orbax) and ``info`` to ``PREPARED/classifier/``, where ``load`` reads them."""
    folder = _info_path(prepared).parent
    folder.mkdir(parents=True, exist_ok=True)
    with ocp.StandardCheckpointer() as c:
        c.save((folder / "params").absolute(), params, force=True)
    _info_path(prepared).write_text(json.dumps(info, indent=1))


class Classifier:
    """A trained WordCNN bound to its parameters; ``predict`` / ``probs_and_features`` take audio
    [N, L]. Its classes are ``words`` followed by ``REJECT`` (index ``reject_index``)."""

    def __init__(self, model: WordCNN, params, words, sample_rate: int, length: int):
        self.model, self.params, self.words = model, params, list(words)
        self.classes, self.reject_index = self.words + [REJECT], len(self.words)
        self.sample_rate, self.length = sample_rate, length
        self._apply = jax.jit(lambda p, x: model.apply(p, x))

    def _batched(self, audio: np.ndarray, batch: int = 256):
        if audio.ndim != 2 or audio.shape[1] != self.length:
            raise ValueError(f"the classifier takes clips of {self.length} samples, got shape {audio.shape}")
        outs = [self._apply(self.params, jnp.asarray(audio[i:i + batch], jnp.float32))
                for i in range(0, len(audio), batch)]
        return (np.concatenate([np.asarray(o[0]) for o in outs]),
                np.concatenate([np.asarray(o[1]) for o in outs]))

    def predict(self, audio: np.ndarray) -> np.ndarray:
        """Class probabilities [N, num_words + 1] (the last: not a word)."""
        return np.asarray(jax.nn.softmax(self._batched(audio)[0], axis=-1))

    def probs_and_features(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities [N, num_words + 1], penultimate features [N, 128])."""
        logits, feats = self._batched(audio)
        return np.asarray(jax.nn.softmax(logits, axis=-1)), feats


def exists(prepared: str | Path) -> bool:
    return _info_path(prepared).exists()


def load(prepared: str | Path, *, words=None, sample_rate=None, length=None) -> Classifier:
    """The classifier saved with ``prepared``; refuses one made for another rate or length, or
    whose words do not include ``words`` (a larger vocabulary may judge a smaller one)."""
    prepared = Path(prepared)
    info_file = _info_path(prepared)
    if not info_file.exists():
        raise FileNotFoundError(f"no classifier in {info_file.parent}: train one with "
                                f"`wavegan_jax train-classifier --config=EXPERIMENT.py`")
    info = json.loads(info_file.read_text())
    if "classes" not in info:
        raise ValueError(f"the classifier in {info_file.parent} predates the 'not a word' class: train it "
                         f"again with `wavegan_jax train-classifier --config=EXPERIMENT.py`")
    want = {k: v for k, v in dict(sample_rate=sample_rate, length=length).items() if v is not None}
    have = {k: info[k] for k in want}
    if words and not set(words) <= set(info["words"]):
        want["words"], have["words"] = list(words), info["words"]
    if have != want:
        raise ValueError(f"the classifier in {info_file.parent} was trained for {have}, "
                         f"but {want} was asked for: train one for this data")
    manifest = data_lib.read_manifest(prepared)
    if manifest and manifest["fingerprint"] != info["manifest_fingerprint"]:
        raise ValueError(f"{prepared} was prepared again after its classifier was trained: "
                         f"run `wavegan_jax train-classifier` again")
    model = WordCNN(len(info["classes"]), info["sample_rate"])
    local = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])  # each process its own copy
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=local),
                            jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, info["length"]))))
    with ocp.StandardCheckpointer() as c:
        params = c.restore((info_file.parent / "params").absolute(), abstract)
    return Classifier(model, params, info["words"], info["sample_rate"], info["length"])
