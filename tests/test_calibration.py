"""The evaluation instrument, calibrated: sets whose right answer is known, scored by the real
(30-epoch) judge of the bundled zero/one data. Noise of every colour, silence, reversed and
shuffled words, and a WaveGAN's shaped noise must not count as words; real words must."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, subprocess_env
from test_cli import cli
from wavegan_jax import classifier, evaluate

FIXTURE = Path(__file__).parent / "fixtures" / "quickstart_step1000.npz"


@pytest.fixture(scope="module")
def judge(prepared, tmp_path_factory):
    """A Reference with the default classifier (30 epochs, "not a word" class) on a copy of the
    data, trained by the CLI as a user would, compiled at XLA's default optimisation (the suite's
    level 0 would make its 30 epochs several times slower)."""
    folder = tmp_path_factory.mktemp("judge") / "fsdd_zero_one"
    shutil.copytree(prepared, folder, ignore=shutil.ignore_patterns("classifier"))
    r = cli("train-classifier", f"--config={REPO}/experiments/quickstart.py", f"--config.data.prepared={folder}",
            env=subprocess_env(), timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.splitlines()[-1])["test_accuracy"] >= 0.97
    assert classifier.load(folder).classes == ["zero", "one", classifier.REJECT]
    return evaluate.Reference.build(folder)


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
