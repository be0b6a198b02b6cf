"""Soak test: the robustness checks of tests/test_robustness.py, repeated at scale (run on demand).

    python benchmarks/soak.py --kills 20 --fuzz 200 --corrupt 10 --out runs/soak

1. Kills: ``train`` (the quickstart's smoke config, a few more steps) is killed with SIGKILL at a
   random moment (a random time, or just after the samples or the checkpoint of a random step
   appear), then run again to the end; the final parameters, every sample wav and the
   logged rows must equal an uninterrupted run's, bit for bit.
2. Fuzz: ``prepare`` over a folder of generated hostile inputs (truncations, bit flips, odd
   headers, odd files, degenerate audio) in a subprocess with a time limit; every input must end
   as used or skipped with a reason; inputs known to be unusable must be skipped.
3. Corrupted checkpoints: bytes flipped, files truncated, deleted or emptied in the latest
   checkpoint of a copy of the finished run; ``load_run`` (what generate, evaluate and report
   use) must fall back to an older intact checkpoint and restore exactly its parameters.

Prints the counts (kills survived, inputs tried, skipped with a reason, crashes, hangs, silent
accepts, silent corruptions) and writes them to OUT/soak.json. Exit 1 when any check fails.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
STEPS, EVERY = 24, 3


def smoke_args(prepared: Path) -> list[str]:
    return ["--config=experiments/quickstart.py:classic,smoke", f"--config.data.prepared={prepared}",
            f"--config.num_steps={STEPS}", f"--config.checkpoint_every={EVERY}", f"--config.sample_every={EVERY}"]


def train_cmd(prepared: Path, workdir: Path) -> list[str]:
    return [sys.executable, "-m", "wavegan_jax", "train", *smoke_args(prepared), f"--workdir={workdir}"]


def run_record(workdir: Path) -> dict:
    """What must be identical between runs: sample wav bytes and logged rows (timings dropped)."""
    wavs = {str(p.relative_to(workdir)): p.read_bytes() for p in sorted((workdir / "samples").rglob("*.wav"))}
    rows = [{k: v for k, v in json.loads(x).items() if k != "steps_per_sec"}
            for x in (workdir / "scalars.jsonl").read_text().splitlines()]
    return {"wavs": wavs, "rows": rows}


_TEMPLATE = {}


def final_params(config, workdir: Path, step: int | None = None):
    from wavegan_jax import checkpoints as ckpt
    from wavegan_jax import train

    if not _TEMPLATE:
        _TEMPLATE["state"] = train.Run(config).state
    template = _TEMPLATE["state"]
    manager = ckpt.manager(workdir, 3, read_only=True)
    state, at = ckpt.restore(manager, template, step)
    manager.close()
    import jax

    return at, [np.asarray(x) for x in jax.tree.leaves(state)]


def reference(prepared: Path, out: Path) -> tuple[Path, float]:
    """The uninterrupted run (trained once, reused) and its wall time in seconds."""
    ref = out / "kills" / "reference"
    if not (ref / "seconds.json").exists():
        shutil.rmtree(ref, ignore_errors=True)
        t = time.time()
        subprocess.run(train_cmd(prepared, ref), cwd=REPO, check=True, capture_output=True)
        (ref / "seconds.json").write_text(json.dumps(time.time() - t))
    return ref, json.loads((ref / "seconds.json").read_text())


def soak_kills(n: int, prepared: Path, out: Path, rng: random.Random, config) -> dict:
    """Trials until ``n`` of them were killed (at most 3n): kill at a random moment of the run,
    run again to the end, compare with the uninterrupted reference."""
    ref, duration = reference(prepared, out)
    want, (_, want_params) = run_record(ref), final_params(config, ref)
    counts = {"trials": 0, "kills": 0, "kills_after_a_checkpoint": 0, "survived": 0, "failed": 0,
              "reference_seconds": round(duration, 1)}
    while counts["kills"] < n and counts["trials"] < 3 * n:
        i = counts["trials"]
        w = out / "kills" / f"trial_{i:03d}"
        shutil.rmtree(w, ignore_errors=True)
        # The moment: a random time (start-up, compilation), or a random short while after the
        # samples or the checkpoint of a random step appear (mid-write, between the two, after).
        step = rng.choice(range(EVERY, STEPS + 1, EVERY))
        mark = rng.choice([None, w / "samples" / f"step_{step:06d}", w / "checkpoints" / str(step)])
        delay = rng.uniform(0.5, duration) if mark is None else rng.uniform(0.0, 0.3)
        moment = f"{delay:.1f} s" if mark is None else f"{delay:.2f} s after {mark.relative_to(w)} appeared"
        p = subprocess.Popen(train_cmd(prepared, w), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while mark is not None and not mark.exists() and p.poll() is None:
            time.sleep(0.01)
        killed = False
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            killed = True
        left = sorted(int(c.name) for c in (w / "checkpoints").glob("[0-9]*") if c.name.isdigit()) if killed else []
        counts["kills_after_a_checkpoint"] += bool(left)
        r = subprocess.run(train_cmd(prepared, w), cwd=REPO, capture_output=True, text=True)
        ok = r.returncode == 0
        why = "" if ok else r.stderr.strip().splitlines()[-1:]
        if ok:
            got, (_, params) = run_record(w), final_params(config, w)
            ok = got == want and all(np.array_equal(a, b) for a, b in zip(params, want_params))
            why = "" if ok else "differs from the uninterrupted run"
        counts["trials"] += 1
        counts["kills"] += killed
        counts["failed"] += not ok
        counts["survived"] += killed and ok
        print(f"trial {i}: {'killed' if killed else 'finished before the kill'} at {moment} "
              f"(checkpoints left: {left}) -> {'identical' if ok else why}", flush=True)
    return counts


# ---- fuzzed inputs for prepare ------------------------------------------------------------------
def _wav_bytes(x: np.ndarray, sr: int = 8000, subtype: str = "PCM_16") -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def make_inputs(folder: Path, m: int, rng: random.Random) -> dict[str, str]:
    """Write m hostile inputs into folder/fuzz/ (plus 4 good clips per word); returns
    file -> kind, where kinds starting with "bad:" must be skipped."""
    t = np.arange(8000) / 8000
    good = [0.4 * np.sin(2 * np.pi * f * t) * np.hanning(8000) for f in (220, 330, 440, 550)]
    kinds = {}
    for w in ("good", "fuzz"):
        (folder / w).mkdir(parents=True, exist_ok=True)
    for i, x in enumerate(good):
        (folder / "good" / f"g{i}.wav").write_bytes(_wav_bytes(x))
    base = _wav_bytes(good[0])
    makers = ["truncate", "flip_header", "flip_data", "odd_header", "random_bytes", "empty", "text", "directory",
              "fifo", "dev_zero", "loop", "dangling", "silent", "dc", "square", "click", "short", "nan_float",
              "low_rate", "antiphase"]
    for i in range(m):
        kind = makers[i % len(makers)]
        f = folder / "fuzz" / f"{i:04d}_{kind}.wav"
        b = bytearray(base)
        if kind == "truncate":  # cut inside the data chunk
            f.write_bytes(bytes(b[:rng.randrange(45, len(b) - 1)]))
            kinds[f.name] = "bad:truncated"
            continue
        if kind in ("flip_header", "flip_data"):
            lo, hi = (0, 44) if kind == "flip_header" else (44, len(b))
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(lo, hi)] ^= 1 << rng.randrange(8)
            f.write_bytes(bytes(b))
            kinds[f.name] = "either"  # may still be a valid file with other samples
            continue
        if kind == "odd_header":
            field = rng.choice([(4, "<I"), (16, "<I"), (20, "<H"), (22, "<H"), (24, "<I"), (34, "<H"), (40, "<I")])
            struct.pack_into(field[1], b, field[0], rng.choice([0, 1, 3, 0xFFFF, 0xFFFFFFFF if field[1] == "<I" else 7]))
            f.write_bytes(bytes(b))
            kinds[f.name] = "either"
            continue
        kinds[f.name] = "bad:" + kind
        if kind == "random_bytes":
            f.write_bytes(rng.randbytes(rng.randrange(1, 5000)))
        elif kind == "empty":
            f.write_bytes(b"")
        elif kind == "text":
            f.write_text("not audio\n" * rng.randrange(1, 50))
        elif kind == "directory":
            f.mkdir()
        elif kind == "fifo":
            os.mkfifo(f)
        elif kind == "dev_zero":
            os.symlink("/dev/zero", f)
        elif kind == "loop":
            os.symlink(f.name, f)
        elif kind == "dangling":
            os.symlink(f"missing_{i}.wav", f)
        elif kind == "silent":
            f.write_bytes(_wav_bytes(rng.choice([0.0, 1e-6, 1e-5]) * good[1], subtype="FLOAT"))
        elif kind == "dc":
            f.write_bytes(_wav_bytes(np.full(8000, rng.uniform(-0.9, 0.9))))
        elif kind == "square":
            f.write_bytes(_wav_bytes(rng.uniform(0.1, 1.0) * np.sign(np.sin(2 * np.pi * rng.uniform(50, 500) * t + 0.1))))
        elif kind == "click":
            x = np.zeros(8000)
            x[rng.randrange(8000)] = rng.uniform(0.1, 1.0)
            f.write_bytes(_wav_bytes(x))
        elif kind == "short":
            f.write_bytes(_wav_bytes(np.array([rng.uniform(-1, 1) for _ in range(rng.randrange(1, 100))])))
        elif kind == "nan_float":
            x = good[2].copy()
            x[rng.randrange(8000)] = rng.choice([np.nan, np.inf])
            f.write_bytes(_wav_bytes(x, subtype="FLOAT"))
        elif kind == "low_rate":
            f.write_bytes(_wav_bytes(good[3][:1000], sr=rng.choice([1, 10, 999])))
        elif kind == "antiphase":
            f.write_bytes(_wav_bytes(np.stack([good[1], -good[1]], axis=1)))
    return kinds


def soak_fuzz(m: int, out: Path, rng: random.Random, timeout: float) -> dict:
    folder = out / "fuzz" / "inputs"
    shutil.rmtree(out / "fuzz", ignore_errors=True)
    kinds = make_inputs(folder, m, rng)
    counts = {"inputs": m, "used": 0, "skipped_with_reason": 0, "unaccounted": 0, "crashes": 0, "hangs": 0,
              "silent_accepts": 0}
    cmd = [sys.executable, "-m", "wavegan_jax", "prepare", "--source", "folder", "--path", str(folder),
           "--sample-rate", "8000", "--length", "4096", "--out", str(out / "fuzz" / "prepared")]
    try:
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        counts["hangs"] = 1
        return counts
    if r.returncode != 0 or "Traceback" in r.stderr:
        counts["crashes"] = 1
        print(r.stderr[-3000:])
        return counts
    manifest = json.loads((out / "fuzz" / "prepared" / "manifest.json").read_text())
    skipped = {s["file"].split("/")[-1]: s["reason"] for s in manifest["skipped"]}
    listed = {k.split("/")[-1] for k in manifest["files_sha256"]}
    for name, kind in kinds.items():
        if name in skipped:
            counts["skipped_with_reason"] += bool(skipped[name])
        elif name in listed:
            counts["used"] += 1
            if kind.startswith("bad:"):
                counts["silent_accepts"] += 1
                print(f"silently accepted: {name}")
        else:
            counts["unaccounted"] += 1
            print(f"unaccounted: {name}")
    return counts


# ---- corrupted checkpoints -----------------------------------------------------------------------
def soak_corrupt(k: int, out: Path, rng: random.Random, config) -> dict:
    from wavegan_jax import checkpoints as ckpt
    from wavegan_jax import sampling

    ref, _ = reference(Path(config.data.prepared), out)
    _, older = final_params(config, ref, STEPS - EVERY)
    _, newest = final_params(config, ref, STEPS)
    counts = {"corrupted": 0, "fell_back": 0, "refused": 0, "intact_data_restored": 0, "silent_corruption": 0,
              "crashes": 0}
    for i in range(k):
        w = out / "corrupt" / f"trial_{i:03d}"
        shutil.rmtree(w, ignore_errors=True)
        shutil.copytree(ref, w, symlinks=True)
        latest = w / "checkpoints" / str(STEPS)
        files = sorted(p for p in latest.rglob("*") if p.is_file())
        f = rng.choice(files)
        how = rng.choice(["flip", "truncate", "delete", "empty"])
        if how == "flip":
            b = bytearray(f.read_bytes() or b"\0")
            for _ in range(rng.randint(1, 400)):
                b[rng.randrange(len(b))] ^= 0xFF
            f.write_bytes(bytes(b))
        elif how == "truncate":
            f.write_bytes(f.read_bytes()[:rng.randrange(max(len(f.read_bytes()), 1))])
        elif how == "delete":
            f.unlink()
        else:
            f.write_bytes(b"")
        counts["corrupted"] += 1
        what = f"{how} {f.relative_to(latest)}"
        try:
            run = sampling.load_run(w)
        except ckpt.CheckpointError as e:
            counts["refused"] += 1
            print(f"corrupt {i}: {what} -> refused: {e}")
            continue
        except Exception as e:  # noqa: BLE001 (anything else is a crash to count)
            counts["crashes"] += 1
            print(f"corrupt {i}: {what} -> crash {type(e).__name__}: {e}")
            continue
        import jax

        got = [np.asarray(x) for x in jax.tree.leaves(run.state)]
        if run.step_count == STEPS - EVERY and all(np.array_equal(a, b) for a, b in zip(got, older)):
            counts["fell_back"] += 1
            print(f"corrupt {i}: {what} -> fell back to step {run.step_count}")
        elif run.step_count == STEPS and all(np.array_equal(a, b) for a, b in zip(got, newest)):
            counts["intact_data_restored"] += 1  # e.g. the seal deleted: the data is still exact
            print(f"corrupt {i}: {what} -> step {run.step_count} restored exactly (its data was intact)")
        else:
            counts["silent_corruption"] += 1
            print(f"corrupt {i}: {what} -> SILENT: restored step {run.step_count}")
    return counts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--fuzz", type=int, default=200)
    p.add_argument("--corrupt", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hang-seconds", type=float, default=300, help="prepare slower than this counts as a hang")
    p.add_argument("--out", type=Path, default=Path("runs/soak"))
    a = p.parse_args(argv)
    a.out = a.out.absolute()
    rng = random.Random(a.seed)
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(a.out / "xla_cache"))  # subprocesses compile once
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    from experiments import quickstart
    from wavegan_jax import data

    prepared = a.out / "prepared"
    data.prepare("fsdd", data.BUNDLED, prepared, words="zero,one", sample_rate=8000, length=4096)
    config = quickstart.get_config("classic,smoke")
    config.data.prepared = str(prepared)
    t = time.time()
    result = {"kills": soak_kills(a.kills, prepared, a.out, rng, config) if a.kills else {},
              "fuzz": soak_fuzz(a.fuzz, a.out, rng, a.hang_seconds) if a.fuzz else {},
              "corrupt": soak_corrupt(a.corrupt, a.out, rng, config) if a.corrupt else {}}
    result["seconds"] = round(time.time() - t)
    print(json.dumps(result, indent=1))
    (a.out / "soak.json").write_text(json.dumps(result, indent=1))
    bad = (result["kills"].get("failed", 0) + sum(result["fuzz"].get(k, 0) for k in
                                                   ("crashes", "hangs", "silent_accepts", "unaccounted"))
           + result["corrupt"].get("silent_corruption", 0) + result["corrupt"].get("crashes", 0))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
