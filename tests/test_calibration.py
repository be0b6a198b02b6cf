"""The evaluation instrument, calibrated: sets whose right answer is known, scored by the real
(30-epoch) judge of the bundled zero/one data. Noise of every colour, silence, reversed and
shuffled words, and a WaveGAN's shaped noise must not count as words; real words must.

The judge is a fixture (``fixtures/zero_one_judge.npz``: its parameters and ``info.json``), trained
by ``train-classifier`` with the quickstart's config as a user would; training it here took 4-6
minutes of the suite. ``python tests/test_calibration.py`` trains it again and rewrites the fixture
(needed when the classifier's architecture or the prepared data's fingerprint changes)."""
import json
import shutil
import sys
import tempfile
from pathlib import Path

import flax
import numpy as np
import pytest

from conftest import JUDGE, REPO, subprocess_env
from test_cli import cli
from wavegan_jax import classifier, data, evaluate

FIXTURE = Path(__file__).parent / "fixtures" / "quickstart_step1000.npz"


def train_judge(folder: Path, *overrides: str, optimised: bool = True) -> dict:
    """``train-classifier`` on the prepared data in ``folder`` through the CLI with the quickstart's
    config, compiled at XLA's default optimisation as users compile (``optimised``; the suite's
    level 0 would make 30 epochs several times slower); returns its info."""
    r = cli("train-classifier", f"--config={REPO}/experiments/quickstart.py", f"--config.data.prepared={folder}",
            *overrides, env=subprocess_env() if optimised else None, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.splitlines()[-1])


def pack_judge(folder: Path, out: Path) -> None:
    """The classifier saved in ``folder`` -> one .npz (parameters by path, ``info.json`` as text)."""
    clf = classifier.load(folder)
    flat = flax.traverse_util.flatten_dict(flax.serialization.to_state_dict(clf.params), sep="/")
    info = (folder / "classifier" / "info.json").read_text()
    np.savez_compressed(out, **{"params/" + k: np.asarray(v) for k, v in flat.items()}, info=np.array(info))


@pytest.fixture(scope="module")
def judge(judged):
    """A Reference with the fixture's 30-epoch classifier ("not a word" class) on a copy of the data."""
    info = json.loads((judged / "classifier" / "info.json").read_text())
    assert info["epochs"] == 30 and info["test_accuracy"] >= 0.97
    assert classifier.load(judged).classes == ["zero", "one", classifier.REJECT]
    return evaluate.Reference.build(judged)


def test_train_classifier_writes_a_judge_that_loads_and_refuses_other_data(prepared, tmp_path):
    """What made the fixture, shortened to one epoch: the CLI trains, saves and reports a judge."""
    folder = tmp_path / "fsdd_zero_one"
    shutil.copytree(prepared, folder, ignore=shutil.ignore_patterns("classifier"))
    printed = train_judge(folder, "--config.classifier.epochs=1", optimised=False)
    info = json.loads((folder / "classifier" / "info.json").read_text())
    assert info["epochs"] == 1 and printed["test_accuracy"] == info["test_accuracy"]
    assert printed["test_clips"] == len(np.load(folder / "test_labels.npy"))
    assert set(info["test_negatives_rejected"]) and info["classes"] == ["zero", "one", classifier.REJECT]
    clf = classifier.load(folder, words=["zero"], sample_rate=8000, length=4096)
    assert clf.predict(np.zeros((3, 4096), np.float32)).shape == (3, 3)
    with pytest.raises(ValueError, match="trained for"):
        classifier.load(folder, sample_rate=16000)


@pytest.fixture(scope="module")
def calibration(judge):
    return {name: evaluate.score(judge, audio, intended)
            for name, (audio, intended) in evaluate.calibration_sets(judge).items()}


def test_real_words_are_heard_and_speech_like(calibration):
    real = calibration["real test split"]
    assert real["accuracy"] >= 0.97 and real["speech_accuracy"] >= 0.97
    assert real["not_a_word_share"] <= 0.02
    assert real["speech_like_share"] == 1.0 and real["voiced_share_vs_real"] == pytest.approx(1.0)


def test_real_words_labelled_as_another_word_score_near_zero(calibration):
    assert calibration["real, wrong word"]["accuracy"] <= 0.03


@pytest.mark.parametrize("name", ["white noise", "pink noise", "brown noise", "silence", "time-reversed real",
                                  "frame-shuffled real", "noise in a word's spectrogram envelope"])
def test_clips_that_say_no_word_score_at_most_ten_percent(calibration, name):
    r = calibration[name]
    assert r["accuracy"] <= 0.10 and r["speech_accuracy"] <= 0.10, r
    if "noise" in name or name == "silence":
        assert r["voiced_share"] <= 0.01 and r["not_a_word_share"] >= 0.9, r


def test_the_forced_two_way_choice_was_fooled_by_the_same_sets(calibration):
    """Why the reject class is needed: forced to pick a word, the judge splits noise at chance
    and hears most reversed words as words (the old accuracy)."""
    assert calibration["white noise"]["forced_choice_accuracy"] >= 0.25
    assert calibration["time-reversed real"]["forced_choice_accuracy"] >= 0.6


def test_a_wavegan_writing_shaped_noise_is_scored_as_noise(judge):
    """The quickstart's own output (concat, 1000 steps, EMA generator; 10 clips per word), which
    the forced two-way choice scored as words."""
    f = np.load(FIXTURE)
    audio, intended = f["audio"].astype(np.float32) / 32767, f["intended"]
    r = evaluate.score(judge, audio, intended)
    assert r["speech_accuracy"] <= 0.10 and r["accuracy"] <= 0.2, r
    assert r["voiced_share"] < 0.1 * judge.real_voiced_share, r


if __name__ == "__main__":  # train the judge again and rewrite fixtures/zero_one_judge.npz
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "fsdd_zero_one"
        data.prepare("fsdd", data.BUNDLED, folder, words="zero,one", sample_rate=8000, length=4096)
        info = train_judge(folder)
        pack_judge(folder, JUDGE)
        print(f"wrote {JUDGE}: test accuracy {info['test_accuracy']}, {JUDGE.stat().st_size} bytes")
        sys.exit(0 if info["test_accuracy"] >= 0.97 else 1)
