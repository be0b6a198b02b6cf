"""Nothing lost, nothing silently wrong: one fast test per defect of issue 38 (the soak test,
``benchmarks/soak.py``, repeats them at scale)."""
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO
from wavegan_jax import checkpoints as ckpt
from wavegan_jax import data, sampling, train


def leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def flip_bytes(folder, n=400):
    """Flip n bytes in the largest data file of a checkpoint folder."""
    f = max((p for p in folder.rglob("*") if p.is_file() and p.name != ckpt.SEAL), key=lambda p: p.stat().st_size)
    b = bytearray(f.read_bytes())
    for i in range(len(b) // 3, min(len(b) // 3 + n, len(b))):
        b[i] ^= 0xFF
    f.write_bytes(bytes(b))
    return f


# 1. A corrupted checkpoint restores silently
def test_a_corrupt_latest_checkpoint_is_detected_and_the_newest_intact_one_used(smoke_config, tmp_path, caplog):
    smoke_config.num_steps, smoke_config.checkpoint_every = 4, 2
    train.train_and_evaluate(smoke_config, tmp_path)
    flip_bytes(tmp_path / "checkpoints" / "4")
    (tmp_path / "checkpoints" / "2" / "commit_success.txt").unlink()  # a deleted file: unusable too
    with pytest.raises(ckpt.CheckpointError, match=r"none of the 2 checkpoints .* is usable .*4: 1 file\(s\) changed"):
        sampling.load_run(tmp_path)
    # A fresh intact run: the bad latest one is named and step 2 is used.
    run_dir = tmp_path / "b"
    train.train_and_evaluate(smoke_config, run_dir)
    flip_bytes(run_dir / "checkpoints" / "4")
    run = sampling.load_run(run_dir)
    assert run.step_count == 2 and "using checkpoint 2: the newer 4 is unusable" in caplog.text
    with pytest.raises(ckpt.CheckpointError, match="checkpoint 4 .* is unusable"):
        sampling.load_run(run_dir, "4")
    assert (run_dir / "checkpoints" / "4").exists()  # reading moves nothing
    # train resumes from step 2, keeps the bad one aside, and ends where an unbroken run ends.
    smoke_config.num_steps = 6
    resumed = train.train_and_evaluate(smoke_config, run_dir)
    assert (run_dir / ckpt.UNUSABLE / "4").is_dir() and sorted(
        int(p.name) for p in (run_dir / "checkpoints").iterdir()) == [2, 4, 6]
    unbroken = train.train_and_evaluate(smoke_config, tmp_path / "c")
    for a, b in zip(leaves(resumed.state), leaves(unbroken.state)):
        np.testing.assert_array_equal(a, b)


def test_a_corrupt_best_checkpoint_is_an_error_not_a_silent_restore(smoke_config, tmp_path):
    state = train.Run(smoke_config).state
    ckpt.save_best(tmp_path, state, {"step": 3, "metric": "accuracy", "value": 0.5})
    np.testing.assert_array_equal(leaves(ckpt.restore_best(tmp_path, state))[0], leaves(state)[0])
    flip_bytes(tmp_path / "best" / "state")
    with pytest.raises(ckpt.CheckpointError, match=r"best checkpoint \(step 3\).*changed.*--checkpoint latest"):
        ckpt.restore_best(tmp_path, state)


# 2. One entry stops or hangs `prepare`
def test_prepare_skips_entries_that_are_not_regular_readable_files_without_opening_them(tmp_path, monkeypatch):
    import signal

    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("prepare hangs (opened the FIFO or /dev/zero?)"))
    signal.alarm(120)
    src = tmp_path / "src"
    for w in ("yes", "no"):
        (src / w).mkdir(parents=True)
        for i in range(2):
            sf.write(src / w / f"good{i}.wav", 0.5 * np.sin(np.arange(4000) * 0.3), 8000)
    (src / "no" / "dir.wav").mkdir()
    os.symlink("loop.wav", src / "no" / "loop.wav")
    os.symlink("gone.wav", src / "no" / "dangling.wav")
    os.mkfifo(src / "no" / "fifo.wav")
    os.symlink("/dev/zero", src / "no" / "endless.wav")
    sf.write(src / "no" / "locked.wav", 0.5 * np.sin(np.arange(4000) * 0.3), 8000)
    real_access = os.access
    monkeypatch.setattr(data.os, "access", lambda p, mode: not str(p).endswith("locked.wav") and real_access(p, mode))
    m = data.prepare("folder", src, tmp_path / "out", sample_rate=8000, length=4096)
    skipped = {s["file"]: s["reason"] for s in m["skipped"]}
    assert skipped == {"no/dir.wav": "not a regular file (a directory)", "no/loop.wav": "symlink loop",
                       "no/dangling.wav": "dangling symlink to gone.wav", "no/fifo.wav": "not a regular file (a FIFO)",
                       "no/endless.wav": "not a regular file (a device)",
                       "no/locked.wav": "not readable (permission denied)"}
    assert sum(sum(c.values()) for c in m["counts"].values()) == 4
    signal.alarm(0)


# 3. A failed resume overwrites config.json
def test_a_resume_with_another_config_is_refused_before_anything_is_written(smoke_config, tmp_path):
    smoke_config.num_steps = 2
    train.train_and_evaluate(smoke_config, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    smoke_config.model.d, smoke_config.loss = 8, "hinge"
    with pytest.raises(ValueError, match=r"another configuration \(loss: 'wgan_gp' -> 'hinge'; model.d: 4 -> 8\)"):
        train.train_and_evaluate(smoke_config, tmp_path)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    smoke_config.model.d, smoke_config.loss, smoke_config.num_steps = 4, "wgan_gp", 3  # longer: allowed
    assert train.train_and_evaluate(smoke_config, tmp_path).step_count == 3


# 4. Words are not checked against the prepared data
def test_words_of_the_config_must_be_the_prepared_words_and_none_may_be_empty(smoke_config, tmp_path):
    smoke_config.data.words = "zero,two"
    with pytest.raises(ValueError, match=r"holds .*'words': \['zero', 'one'\].* asks for .*'words': \['zero', 'two'\]"):
        train.prepare_data(smoke_config)
    src = tmp_path / "src"
    for w in ("yes", "no"):
        (src / w).mkdir(parents=True)
        for i in range(3):
            sf.write(src / w / f"{i}.wav", (w == "yes") * 0.5 * np.sin(np.arange(4000) * 0.3), 8000)  # "no": silent
    m = data.prepare("folder", src, tmp_path / "out", sample_rate=8000, length=4096)
    assert m["empty_words"] == ["no"] and len(m["skipped"]) == 3
    smoke_config.data.words, smoke_config.data.prepared = "no,yes", str(tmp_path / "out")
    with pytest.raises(ValueError, match="has no training clips of no"):
        train.prepare_data(smoke_config)


# 5. Degenerate audio is accepted silently
def test_degenerate_audio_is_skipped_with_its_reason_or_kept_by_option(tmp_path):
    src = tmp_path / "src"
    (src / "w").mkdir(parents=True)
    t = np.arange(8000) / 8000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    impulse = np.zeros(8000)
    impulse[4000] = 0.9
    bad = {"zeros": (np.zeros(8000), 8000), "quiet": (1e-6 * tone, 8000), "dc": (np.full(8000, 0.3), 8000),
           "square": (0.9 * np.sign(np.sin(2 * np.pi * 100 * t + 0.1)), 8000), "click": (impulse, 8000),
           "one": (np.array([0.5]), 8000), "two": (np.array([0.5, -0.5]), 8000), "rate1": (tone[:100], 1),
           "antiphase": (np.stack([tone, -tone], axis=1), 8000)}
    for name, (x, sr) in bad.items():
        sf.write(src / "w" / f"{name}.wav", x, sr, subtype="FLOAT")
    sf.write(src / "w" / "good.wav", tone, 8000)
    sf.write(src / "w" / "LOUD.WAV", tone, 8000, format="WAV")
    sf.write(src / "w" / "other.wave", tone, 8000, format="WAV")
    m = data.prepare("folder", src, tmp_path / "out", sample_rate=8000, length=4096)
    reasons = {s["file"].split("/")[1].split(".")[0]: s["reason"] for s in m["skipped"]}
    assert set(reasons) == set(bad) and sum(sum(c.values()) for c in m["counts"].values()) == 3  # .WAV, .wave kept
    for name, word in [("zeros", "silent"), ("quiet", "silent"), ("dc", "constant"), ("square", "square"),
                       ("click", "click"), ("one", "too short"), ("two", "too short"), ("rate1", "1 Hz"),
                       ("antiphase", "cancel")]:
        assert word in reasons[name], (name, reasons[name])
    kept = data.prepare("folder", src, tmp_path / "kept", sample_rate=8000, length=4096, keep_degenerate=True)
    assert len(kept["kept_degenerate"]) == 8 and [s["file"] for s in kept["skipped"]] == ["w/rate1.wav"]


# 6. Samples lost on a kill just after a checkpoint; duplicate rows after a resume
def test_a_run_stopped_at_a_checkpoint_loses_no_samples_and_logs_each_step_once(smoke_config, tmp_path, monkeypatch):
    smoke_config.num_steps, smoke_config.checkpoint_every, smoke_config.sample_every = 4, 2, 2
    real_save = ckpt.save

    def killed_at_4(manager, step, state):
        if step == 4:
            raise KeyboardInterrupt  # stopped before checkpoint 4 exists
        real_save(manager, step, state)

    monkeypatch.setattr(ckpt, "save", killed_at_4)
    with pytest.raises(KeyboardInterrupt):
        train.train_and_evaluate(smoke_config, tmp_path)
    monkeypatch.setattr(ckpt, "save", real_save)
    (tmp_path / "samples" / "step_000004" / "zero_000.wav").write_bytes(b"")  # as if cut off mid-write
    train.train_and_evaluate(smoke_config, tmp_path)
    for step in (2, 4):
        for w in ("zero", "one"):
            x, _ = sf.read(tmp_path / "samples" / f"step_{step:06d}" / f"{w}_000.wav")
            assert len(x) == 4096
    rows = [json.loads(x)["step"] for x in (tmp_path / "scalars.jsonl").read_text().splitlines()]
    assert rows == [1, 2, 3, 4]
    assert not list(tmp_path.rglob(".*.tmp"))


# 7. Tracebacks where a one-line error belongs
def cli(*args):
    return subprocess.run([sys.executable, "-m", "wavegan_jax", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_cli_errors_are_one_line_with_exit_2(smoke_config, tmp_path):
    smoke_config.num_steps = 2
    train.train_and_evaluate(smoke_config, tmp_path / "run")
    (tmp_path / "file").write_text("x")
    smoke = ["--config=experiments/quickstart.py:classic,smoke", f"--config.data.prepared={smoke_config.data.prepared}"]
    cases = {
        ("train", "--config=experiments/quickstart.py:classic,smoke", f"--workdir={tmp_path}/a", "--config.batchsize=3"):
            'no such config field: batchsize Did you mean "batch_size"',
        ("train", "--config=experiments/nope.py", f"--workdir={tmp_path}/a"): "config file experiments/nope.py not found",
        ("train", "--config=experiments/quickstart.py:smokee", f"--workdir={tmp_path}/a"): "unknown variant 'smokee'",
        ("train", *smoke, f"--workdir={tmp_path}/a", "--config.model.d=0"): "config.model.d=0 must be >= 1",
        ("train", *smoke, f"--workdir={tmp_path}/a", "--config.model.latent_dim=0"): "latent_dim=0 must be >= 1",
        ("train", *smoke, f"--workdir={tmp_path}/file/sub"): "Not a directory",
        ("generate", "--workdir", str(tmp_path / "run"), "--word", "zero", "--num", "0"): "--num: 0 must be >= 1",
        ("evaluate", "--workdir", str(tmp_path / "run"), "--truncation", "-1"): "--truncation: -1.0 must be >= 0",
        ("generate", "--workdir", str(tmp_path / "run"), "--word", "zero", "--out", str(tmp_path / "file" / "o")):
            "Not a directory",
        ("report", "--workdir", str(tmp_path / "run"), "--per-word", "0"): "--per-word: 0 must be >= 1",
        ("sweep", "--config=experiments/quickstart.py:classic,smoke", f"--workdir={tmp_path}/s", "--steps", "0"):
            "0 is not a positive integer",
        ("generate", "--workdir", str(tmp_path / "nothing"), "--word", "zero"): "is not a training run",
    }
    for args, message in cases.items():
        r = cli(*args)
        last = r.stderr.strip().splitlines()[-1]
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr[-2000:])
        assert last.startswith(f"wavegan_jax {args[0]}: ") and "error" in last and message in last, (args, last)
    assert not (tmp_path / "a").exists() and not (tmp_path / "nothing").exists()


# 8. Leftovers and wrong facts
def test_a_full_disk_leaves_no_temporary_file_and_says_which_file(tmp_path, monkeypatch):
    def full(path, arr):
        open(path, "wb").write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(data.np, "save", full)
    with pytest.raises(OSError, match=r"cannot write .*train_audio.npy: No space left on device"):
        data.prepare("fsdd", data.BUNDLED, tmp_path, words="one", sample_rate=8000, length=4096)
    assert list(tmp_path.iterdir()) == []


def test_a_nan_between_logged_steps_is_reported_at_its_step_and_writes_no_samples(smoke_config, tmp_path, monkeypatch):
    smoke_config.num_steps, smoke_config.log_every, smoke_config.sample_every = 10, 10, 10
    smoke_config.checkpoint_every, smoke_config.divergence.threshold = 10, 0.0
    real_step = train.Run.step

    def nan_from_5(self):
        metrics = real_step(self)
        if self.step_count >= 5:
            metrics = dict(metrics, params_finite=metrics["params_finite"] * np.nan)
        return metrics

    monkeypatch.setattr(train.Run, "step", nan_from_5)
    with pytest.raises(FloatingPointError, match="diverged at step 5 "):
        train.train_and_evaluate(smoke_config, tmp_path)
    assert not (tmp_path / "samples").exists() and json.loads((tmp_path / "divergence.json").read_text())["step"] == 5


def test_generate_creates_nothing_in_the_run_and_report_out_writes_only_there(smoke_config, tmp_path):
    from wavegan_jax import evaluate, report

    smoke_config.num_steps = 2
    train.train_and_evaluate(smoke_config, tmp_path / "run")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text((tmp_path / "run" / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no checkpoint yet"):
        sampling.load_run(bare)
    assert sorted(p.name for p in bare.iterdir()) == ["config.json"]
    before = sorted(p.name for p in (tmp_path / "run").iterdir())
    report.build(tmp_path / "run", per_word=1, out=tmp_path / "elsewhere.html")
    assert (tmp_path / "elsewhere.html").exists() and sorted(p.name for p in (tmp_path / "run").iterdir()) == before
    assert json.dumps(evaluate.json_safe({"fid": float("nan"), "x": [1.0, np.float32("inf")]})) == \
        '{"fid": null, "x": [1.0, null]}'


def test_an_invalid_length_is_rejected_before_shards_are_written(smoke_config, tmp_path):
    smoke_config.model.length, smoke_config.data.prepared = 5000, str(tmp_path / "p")
    with pytest.raises(ValueError, match="model.length=5000"):
        train.Run(smoke_config)
    assert not (tmp_path / "p").exists()


def test_the_soak_benchmark_fuzzes_prepare_with_no_crash_hang_or_silent_accept(tmp_path):
    import random

    sys.path.insert(0, str(REPO / "benchmarks"))
    import soak

    counts = soak.soak_fuzz(40, tmp_path, random.Random(1), timeout=120)
    assert counts["inputs"] == 40 and counts["crashes"] == counts["hangs"] == 0
    assert counts["silent_accepts"] == counts["unaccounted"] == 0
    assert counts["skipped_with_reason"] >= 30 and counts["used"] + counts["skipped_with_reason"] == 40
