"""Quality per hour of training: train configs for a wall-clock budget, evaluate every few
minutes, and plot the judge's accuracy, the voiced share and FID against minutes of training.

    python benchmarks/quality_per_hour.py --minutes 20 --eval-minutes 5 --out runs/qph \
        baseline=experiments/digits.py:baseline recipe=experiments/digits.py
    python benchmarks/quality_per_hour.py --out runs/qph --plot results/qph.png   # plot only

Each NAME=CONFIG[:ARG] is trained by ``wavegan_jax train`` into OUT/NAME with
``max_train_minutes`` and ``eval_every_minutes`` set (``--parallel 2 --pin`` runs two side by
side, one core each, each next run on the core that came free; ``--cores 1`` pins every run to
core 1, e.g. beside a long run pinned to core 0 by another invocation);
a workdir that already reached the budget is not trained again, one that stopped early resumes.
Minutes are the trainer's ``train_seconds`` (compilation and checkpoints included, evaluations
excluded), so a recipe with cheaper steps gets the credit. Extra ``--config.FIELD=VALUE``
arguments go to every run. Prints one table row per run and evaluation (EMA and raw generator)
and, with ``--plot``, draws the curves of every run under OUT.
"""
from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CURVES = [("speech_accuracy", "speech accuracy (judge right, audible, voiced)"),
          ("accuracy", "judge accuracy (reject class included)"),
          ("voiced_share", "voiced share of frames"), ("fid", "FID (judge features)")]


def rows(workdir: Path) -> list[dict]:
    """metrics.jsonl rows that carry train_seconds, in order ([] when there are none)."""
    f = workdir / "metrics.jsonl"
    if not f.exists():
        return []
    out = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return [r for r in out if "train_seconds" in r]


def train(name: str, spec: str, out: Path, minutes: float, eval_minutes: float, extra: list[str],
          core: int | None) -> int:
    workdir = out / name
    done = rows(workdir)
    if done and done[-1]["train_seconds"] >= 60 * minutes:
        print(f"{name}: already trained for {done[-1]['train_seconds'] / 60:.1f} min", flush=True)
        return 0
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "wavegan_jax", "train", f"--config={spec}", f"--workdir={workdir}",
           f"--config.max_train_minutes={minutes}", f"--config.eval_every_minutes={eval_minutes}",
           "--config.num_steps=100000000", "--config.progress=false", *extra]
    if core is not None:  # side by side: one core each
        cmd = ["taskset", "-c", str(core), *cmd]
    t = time.time()
    with open(workdir / "train.log", "a") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    print(f"{name}: exit {rc} after {time.time() - t:.0f} s wall ({workdir / 'train.log'})", flush=True)
    return rc


def table(out: Path) -> str:
    lines = ["| run | step | minutes | speech acc | accuracy | not a word | voiced | silent | FID | NN ratio |"
             " raw speech acc | raw accuracy | raw voiced | raw FID |", "|---" * 14 + "|"]
    for workdir in sorted(p for p in out.iterdir() if p.is_dir()):
        for r in rows(workdir):
            lines.append(f"| {workdir.name} | {r['step']} | {r['train_seconds'] / 60:.1f} | "
                         f"{r['speech_accuracy']:.3f} | {r['accuracy']:.3f} | {r['not_a_word_share']:.3f} | "
                         f"{r['voiced_share']:.3f} | {r['silent_share']:.3f} | {r['fid']:.1f} | "
                         f"{r['nn_distance_vs_real_test']:.2f} | {r['raw/speech_accuracy']:.3f} | "
                         f"{r['raw/accuracy']:.3f} | {r['raw/voiced_share']:.3f} | {r['raw/fid']:.1f} |")
    return "\n".join(lines)


def plot(out: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CURVES), figsize=(5 * len(CURVES), 4))
    for workdir in sorted(p for p in out.iterdir() if p.is_dir()):
        rs = rows(workdir)
        if not rs:
            continue
        minutes = [r["train_seconds"] / 60 for r in rs]
        for ax, (key, title) in zip(axes, CURVES):
            line, = ax.plot(minutes, [r[key] for r in rs], "o-", label=f"{workdir.name} (EMA)")
            ax.plot(minutes, [r[f"raw/{key}"] for r in rs], "x--", color=line.get_color(), alpha=0.6,
                    label=f"{workdir.name} (raw G)")
            ax.set_title(title)
            ax.set_xlabel("minutes of training (evaluation excluded)")
    axes[-1].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", help="NAME=CONFIG.py[:ARG]")
    p.add_argument("--out", required=True, type=Path, help="folder of the runs' workdirs")
    p.add_argument("--minutes", type=float, default=20.0, help="training budget per run")
    p.add_argument("--eval-minutes", type=float, default=5.0, help="minutes between evaluations")
    p.add_argument("--parallel", type=int, default=1, help="runs side by side (one core each when 2 on 2 cores)")
    p.add_argument("--pin", action="store_true", help="pin each run to a free core of 0..parallel-1 (taskset)")
    p.add_argument("--cores", help="comma-separated cores to pin runs to, one run per core at a time "
                                   "(sets --parallel; e.g. --cores 1)")
    p.add_argument("--plot", type=Path, help="draw the curves of every run under --out here")
    a, extra = p.parse_known_args(argv)
    bad = [x for x in extra if not x.startswith("--config.")]
    if bad:
        p.error(f"unknown arguments {bad}: only --config.FIELD=VALUE passes through")
    specs = []
    for r in a.runs:
        if "=" not in r:
            p.error(f"{r!r}: give NAME=CONFIG.py[:ARG]")
        specs.append(r.split("=", 1))
    n = max(a.parallel, 1)
    cores = [int(c) for c in a.cores.split(",")] if a.cores else list(range(n)) if a.pin else [None] * n
    free: queue.Queue = queue.Queue()
    for c in cores:
        free.put(c)

    def run(spec: list[str]) -> int:
        """Trains one run on a core taken from ``free``, then gives the core back."""
        core = free.get()
        try:
            return train(*spec, a.out, a.minutes, a.eval_minutes, extra, core)
        finally:
            free.put(core)

    with ThreadPoolExecutor(len(cores)) as pool:
        codes = list(pool.map(run, specs))
    if a.out.exists():
        print(table(a.out))
        if a.plot:
            plot(a.out, a.plot)
    return max(codes, default=0)


if __name__ == "__main__":
    sys.exit(main())
