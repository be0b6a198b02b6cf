import json

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO
from test_cli import cli
from wavegan_jax import classifier, data, evaluate, train


@pytest.fixture(scope="session")
def trained_run(prepared, tmp_path_factory):
    """A smoke run with evaluation every 2 steps (which trains the smoke classifier first)."""
    from experiments import quickstart

    c = quickstart.get_config("classic,smoke")
    c.data.prepared = str(prepared)
    c.eval_every = 2
    workdir = tmp_path_factory.mktemp("run")
    train.train_and_evaluate(c, workdir)
    return workdir


def test_evaluation_during_training_writes_metrics_and_keeps_the_best(trained_run, prepared):
    lines = [json.loads(l) for l in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [2, 3]
    for l in lines:
        assert 0 <= l["accuracy"] <= 1 and l["fid"] >= 0 and 0 <= l["ndb_k"] <= 1
    best = json.loads((trained_run / "best" / "best.json").read_text())
    assert best["metric"] == "speech_accuracy" and best["value"] == max(l["speech_accuracy"] for l in lines)
    for l in lines:  # speech AND audible AND intended; the raw generator scored beside the EMA one
        assert l["speech_accuracy"] <= l["audible_accuracy"] <= l["accuracy"]
        assert 0 <= l["raw/accuracy"] <= 1 and 0 <= l["raw/not_a_word_share"] <= 1 and l["raw/fid"] >= 0
    info = json.loads((prepared / "classifier" / "info.json").read_text())
    assert info["words"] == ["zero", "one"] and info["length"] == 4096 and 0 <= info["test_accuracy"] <= 1
    assert info["classes"] == ["zero", "one", "not_a_word"] and set(info["test_negatives_rejected"]) == {
        "noise", "silence", "clicks", "tones", "reversed", "shuffled", "mixture", "smoothed"}


def test_classifier_of_other_data_is_refused(trained_run, prepared):
    with pytest.raises(ValueError, match="trained for .*'length': 4096"):
        classifier.load(prepared, length=8192)
    with pytest.raises(ValueError, match="trained for"):
        classifier.load(prepared, words=["zero", "one", "two"])
    with pytest.raises(FileNotFoundError, match="train-classifier"):
        classifier.load(prepared.parent)


def test_classifier_without_the_reject_class_is_refused(trained_run, prepared, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(prepared, old)
    info = json.loads((old / "classifier" / "info.json").read_text())
    del info["classes"]
    (old / "classifier" / "info.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="predates the 'not a word' class"):
        classifier.load(old)


class _FakeJudge:
    """A judge of four words plus "not a word" whose answers are given: probs_and_features returns
    the rows of ``probs`` in order."""

    words = ["one", "two", "zero", "three"]
    classes = words + ["not_a_word"]
    reject_index = 4

    def __init__(self, probs):
        self.probs = np.asarray(probs, np.float32)

    def probs_and_features(self, audio):
        feats = np.random.default_rng(len(audio)).normal(size=(len(audio), 8))
        return (self.probs[:len(audio)] if len(audio) <= len(self.probs) else
                np.tile(self.probs, (len(audio) // len(self.probs) + 1, 1))[:len(audio)]), feats


def test_a_larger_vocabulary_judges_a_smaller_one():
    """Data words zero, one; judge words one, two, zero, three: intended indices map by name."""
    probs = [[0.0, 0.0, 0.9, 0.1, 0.0],  # zero: heard as zero
             [0.1, 0.6, 0.3, 0.0, 0.0],  # zero: heard as "two", which the data does not have
             [0.7, 0.0, 0.3, 0.0, 0.0],  # one: heard as one
             [0.3, 0.0, 0.0, 0.0, 0.7]]  # one: not a word
    feats = np.random.default_rng(0).normal(size=(40, 8))
    ref = evaluate.Reference(_FakeJudge(probs), ["zero", "one"], 8000, feats, np.repeat([0, 1], 20),
                             np.zeros((4, 4096), np.float32), np.array([0, 0, 1, 1]), 1.0, 0.5, 0.05)
    audio = np.zeros((4, 4096), np.float32)
    r = evaluate.score(ref, audio, np.array([0, 0, 1, 1]))
    assert r["accuracy"] == pytest.approx(0.5)  # clips 0 and 2
    assert r["not_a_word_share"] == pytest.approx(0.25)
    assert r["accuracy_in_vocabulary"] == pytest.approx(0.75)  # clip 1: zero beats one and not-a-word
    assert r["forced_choice_accuracy"] == pytest.approx(1.0)  # clip 3: one beats zero
    assert r["accuracy/zero"] == pytest.approx(0.5) and r["accuracy/one"] == pytest.approx(0.5)
    assert r["speech_accuracy"] == 0.0  # silent clips never count


def test_evaluate_reproduces_the_training_time_evaluation(trained_run):
    """One scoring path: `evaluate --seed SEED --num EVAL_SAMPLES` on the last checkpoint gives the
    numbers the trainer logged at its last step, for the EMA and the raw generator."""
    last = [json.loads(l) for l in (trained_run / "metrics.jsonl").read_text().splitlines()][-1]
    r = cli("evaluate", "--workdir", str(trained_run), "--num", "4", "--seed", "0", "--json",
            str(trained_run / "repro.json"))
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads((trained_run / "repro.json").read_text())["rows"]
    ema, raw = (next(v for k, v in rows.items() if k.endswith(f"{g})")) for g in ("ema", "raw"))
    for k in ("accuracy", "speech_accuracy", "not_a_word_share", "voiced_share", "fid"):
        assert ema[k] == pytest.approx(last[k], abs=1e-6), k
    for k in ("accuracy", "fid"):
        assert raw[k] == pytest.approx(last[f"raw/{k}"], abs=1e-6), k


@pytest.mark.heavy
def test_evaluate_and_report_right_after_training_from_any_directory(prepared, tmp_path):
    """A fresh run without a classifier: `evaluate` trains one on demand, and finds the run's data
    from another current directory."""
    import shutil

    data_copy = tmp_path / "data" / "fsdd_zero_one"
    shutil.copytree(prepared, data_copy, ignore=shutil.ignore_patterns("classifier"))
    r = cli("train", f"--config={REPO}/experiments/quickstart.py:classic,smoke", "--workdir=run",
            "--config.data.prepared=data/fsdd_zero_one", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = cli("evaluate", "--workdir", str(tmp_path / "run"), "--num", "2", cwd=elsewhere)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "training one first" in r.stderr and (data_copy / "classifier" / "info.json").exists()
    assert not (elsewhere / "data").exists()  # nothing prepared again in the wrong place
    assert "speech_accuracy" in r.stdout and "not_a_word_share" in r.stdout


def test_generate_writes_the_same_files_for_the_same_seed(trained_run, tmp_path):
    for out in ("a", "b"):
        r = cli("generate", "--workdir", str(trained_run), "--word", "one", "--num", "3", "--seed", "3",
                "--out", str(tmp_path / out))
        assert r.returncode == 0, r.stderr[-2000:]
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["one_000.wav", "one_001.wav", "one_002.wav"]
    for n in names:
        np.testing.assert_array_equal(sf.read(tmp_path / "a" / n)[0], sf.read(tmp_path / "b" / n)[0])
    assert not np.array_equal(sf.read(tmp_path / "a" / names[0])[0], sf.read(tmp_path / "a" / names[1])[0])
    r = cli("generate", "--workdir", str(trained_run), "--word", "one", "--num", "3", "--seed", "3",
            "--truncation", "0.5", "--out", str(tmp_path / "t"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert not np.array_equal(sf.read(tmp_path / "a" / names[0])[0], sf.read(tmp_path / "t" / names[0])[0])


def test_truncation_bounds_the_noise_and_zero_keeps_the_plain_normal():
    import types

    import jax

    from wavegan_jax import sampling, train

    run = types.SimpleNamespace(config=types.SimpleNamespace(model=types.SimpleNamespace(latent_dim=64)), speakers=[])
    run.class_ids = lambda *a: train.Run.class_ids(run, *a)  # labels as a Run gives them
    run.speaker_index = lambda *a: train.Run.speaker_index(run, *a)
    z, labels = sampling.word_noise(run, [0, 1], 200, seed=5)
    plain = jax.random.normal(jax.random.fold_in(jax.random.key(5), 1), (200, 64))
    np.testing.assert_array_equal(np.asarray(z[200:]), np.asarray(plain))  # word 1's noise, as before
    assert np.abs(np.asarray(z)).max() > 2.5 and labels.tolist() == [0] * 200 + [1] * 200
    t, _ = sampling.word_noise(run, [0, 1], 200, seed=5, truncation=0.5)
    t = np.asarray(t)
    assert np.abs(t).max() <= 0.5 and t.std() > 0.2  # bounded, not collapsed onto zero
    with pytest.raises(ValueError, match="truncation -1"):
        sampling.word_noise(run, [0], 2, seed=5, truncation=-1.0)


def test_generate_all_words_interpolation_and_best(trained_run, tmp_path):
    r = cli("generate", "--workdir", str(trained_run), "--all-words", "--num", "2", "--checkpoint", "best",
            "--out", str(tmp_path / "all"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["one_000.wav", "one_001.wav",
                                                                  "zero_000.wav", "zero_001.wav"]
    r = cli("generate", "--workdir", str(trained_run), "--interpolate", "zero,one", "--steps", "4",
            "--out", str(tmp_path / "interp"))
    assert r.returncode == 0, r.stderr[-2000:]
    clips = [sf.read(p)[0] for p in sorted((tmp_path / "interp").iterdir())]
    assert len(clips) == 4 and not np.array_equal(clips[0], clips[-1])


def test_generate_errors_are_actionable(trained_run, tmp_path):
    r = cli("generate", "--workdir", str(trained_run), "--word", "seven")
    assert r.returncode == 2 and "this model knows: zero, one" in r.stderr
    r = cli("generate", "--workdir", str(trained_run), "--word", "one", "--speaker", "theo")
    assert r.returncode == 2 and "trained without data.per_speaker" in r.stderr
    (tmp_path / "config.json").write_text((trained_run / "config.json").read_text())
    r = cli("generate", "--workdir", str(tmp_path), "--word", "one")
    assert r.returncode == 2 and "no checkpoint yet" in r.stderr and "wavegan_jax train" in r.stderr
    r = cli("generate", "--workdir", str(tmp_path / "nothing"), "--word", "one")
    assert r.returncode == 2 and "not a training run" in r.stderr


def test_evaluate_a_folder_of_real_clips_lists_unreadable_files(trained_run, prepared, tmp_path):
    audio, labels = data.load_split(prepared, "test")
    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(6):
        word = ["zero", "one"][labels[i * 8]]
        sf.write(folder / f"{word}_{i:03d}.wav", audio[i * 8], 8000, subtype="PCM_16")
    (folder / "one_999.wav").write_bytes(b"not audio")
    r = cli("evaluate", "--folder", str(folder), "--data", str(prepared))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| real test split |" in r.stdout
    result = json.loads((folder / "evaluation.json").read_text())
    assert result["rows"][str(folder)]["clips"] == 6
    assert [s[0] for s in result["skipped"]] == ["one_999.wav"]


def test_evaluate_a_run_scores_it_next_to_the_real_ceiling(trained_run):
    r = cli("evaluate", "--workdir", str(trained_run), "--num", "4")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads((trained_run / "evaluation.json").read_text())["rows"]
    real = rows["real test split"]
    assert real["nn_distance_vs_real_test"] == pytest.approx(1.0)
    assert len(rows) == 3 and all(0 <= r["accuracy"] <= 1 for r in rows.values())  # ema, raw, real
    assert all(0 <= r["not_a_word_share"] <= 1 and 0 <= r["voiced_share"] <= 1 for r in rows.values())
    r = cli("evaluate", "--workdir", str(trained_run), "--num", "4", "--generator", "ema", "--truncation", "0.5",
            "--json", str(trained_run / "truncated.json"))
    assert r.returncode == 0, r.stderr[-2000:]
    names = list(json.loads((trained_run / "truncated.json").read_text())["rows"])
    assert names[0].endswith("ema, truncation 0.5)") and len(names) == 2


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def test_report_loads_in_a_headless_browser_without_errors(trained_run, tmp_path):
    import re
    import shutil
    import subprocess

    r = cli("report", "--workdir", str(trained_run), "--per-word", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    page = trained_run / "report.html"
    text = page.read_text()
    assert text.count("<audio") == 8 and "real test split" in text  # 2 words x (2 generated + 2 real)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed for this test (.ci/run installs it: apt-get install chromium)"
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    check = re.search(r'data-check="([^"]*)"', dom.stdout)
    assert check, dom.stderr[-2000:]
    assert check.group(1).startswith("ok images=") and "audio=8" in check.group(1), check.group(1)
    assert "bad_images=0 bad_audio=0" in check.group(1)
    console_errors = [l for l in dom.stderr.splitlines() if "CONSOLE" in l and "report:" in l]
    assert not console_errors, console_errors
    shot = subprocess.run(["bash", str(REPO / "tools" / "screenshot_report.sh"), str(page), str(tmp_path / "r.png")],
                          capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and (tmp_path / "r.png").stat().st_size > 10_000, shot.stderr


def test_spec_augment_zeroes_bounded_bands_and_nothing_else():
    import jax
    import jax.numpy as jnp

    from wavegan_jax.classifier import spec_augment

    x = jnp.ones((64, 40, 64))
    y = np.asarray(spec_augment(jax.random.key(0), x, masks=1))
    assert set(np.unique(y)) <= {0.0, 1.0} and (y == 0).any()
    for clip in y:
        time_rows = np.flatnonzero((clip == 0).all(axis=1))  # frames masked across every band
        freq_cols = np.flatnonzero((clip == 0).all(axis=0))  # bands masked across every frame
        for band, limit in ((time_rows, 40 // 8), (freq_cols, 8)):
            assert len(band) <= limit and (len(band) == 0 or np.ptp(band) == len(band) - 1)  # one contiguous band
        expected = np.ones((40, 64))
        expected[time_rows, :] = 0
        expected[:, freq_cols] = 0
        np.testing.assert_array_equal(clip, expected)  # nothing outside the two bands is touched
    assert not np.array_equal(y[0], y[1]) or not np.array_equal(y[1], y[2])  # bands differ per clip


def test_label_sensitivity_follows_the_kept_checkpoints(trained_run):
    from experiments.study import label_sensitivity

    rows = [label_sensitivity.sensitivity(str(trained_run), ckpt) for ckpt in ("2", "latest")]
    assert [r["step"] for r in rows] == [2, 3]
    for r in rows:  # concat: D takes the label at its input, so a wrong label moves its logit
        assert r["mean_abs_change_wrong_label"] > 0 and 0 <= r["match_rate"] <= 1
        assert 0 <= r["g_grad_label_share"] <= 2
    assert rows[0]["logit_std_over_clips"] != rows[1]["logit_std_over_clips"]  # another D
    with pytest.raises(ValueError, match="no checkpoint 1 in"):
        label_sensitivity.sensitivity(str(trained_run), "1")
