"""Sweeps: every cell of a grid, for every seed, trained (or resumed) one after another in one
process, then ``results.csv`` (a row per run), ``results.md`` (a row per cell, seeds pooled) and
``plots/CELL.png`` (loss and accuracy curves of the cell's seeds).

    wavegan_jax sweep --config=experiments/quickstart.py --grid 'lr=1e-4,3e-4 n_critic=1,5' \
        --seeds 0,1,2 --steps 2000 --workdir runs/sweep

Layout: ``WORKDIR/CELL/seed_S/`` is an ordinary training run (``CELL`` is e.g.
``lr=1e-4,n_critic=5``); its ``result.json`` marks it finished, so a sweep run again skips
finished runs and resumes a killed one from its last checkpoint. With ``--vmap`` the seeds of a
cell train together as one ``num_seeds`` run in ``WORKDIR/CELL/`` (checkpoints there, each
seed's logs and results in its ``seed_S/``). A run stopped by the
divergence rule (``config.divergence``) is a result, not an error: ``diverged_at`` holds its step.
"""
from __future__ import annotations

import copy
import csv
import itertools
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Short grid keys; any other key is a config field path such as optim.b1 or model.d.
ALIASES = {"lr": ("optim.g_lr", "optim.d_lr"), "g_lr": ("optim.g_lr",), "d_lr": ("optim.d_lr",),
           "d": ("model.d",), "length": ("model.length",)}
RESULT_FIELDS = ("status", "steps", "diverged_at", "reason", "d_total", "g_loss")
EVAL_FIELDS = ("accuracy", "fid", "per_word_fid", "ndb_k", "nn_distance_vs_real_test", "silent_share")


@dataclass(frozen=True)
class Cell:
    """One grid point: ``values`` maps grid keys to their text values (as given)."""

    values: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.values) or "base"


def parse_grid(text: str) -> dict[str, list[str]]:
    """``'lr=1e-4,3e-4 batch_size=32,64'`` -> {"lr": ["1e-4", "3e-4"], "batch_size": ["32", "64"]}."""
    grid = {}
    for part in text.split():
        key, sep, values = part.partition("=")
        if not sep or not key or not values or "" in values.split(","):
            raise ValueError(f"bad grid entry {part!r}: write KEY=V1,V2 (e.g. lr=1e-4,3e-4)")
        if key in grid:
            raise ValueError(f"grid key {key!r} is given twice")
        grid[key] = values.split(",")
    return grid


def cells(grid: dict[str, list[str]]) -> list[Cell]:
    """Every combination of the grid's values, in the order given."""
    keys = list(grid)
    return [Cell(tuple(zip(keys, combo))) for combo in itertools.product(*(grid[k] for k in keys))]


def _set(config, path: str, text: str) -> None:
    *parents, leaf = path.split(".")
    node = config
    for p in parents:
        node = node[p] if p in node else None
        if node is None:
            break
    if node is None or leaf not in node:
        raise ValueError(f"unknown config field {path!r} in the grid; short keys: {', '.join(ALIASES)}, "
                         f"or any field of experiments/base.py (e.g. batch_size, gp_lambda, n_critic)")
    old = node[leaf]
    if isinstance(old, bool):
        value = {"true": True, "false": False}.get(text.lower())
        if value is None:
            raise ValueError(f"{path}={text!r}: give true or false")
    elif isinstance(old, (int, float)):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{path}={text!r}: expected a number") from None
        if isinstance(old, int):
            if value != int(value):
                raise ValueError(f"{path}={text!r}: expected a whole number")
            value = int(value)
    else:
        value = text
    node[leaf] = value


def cell_config(base, cell: Cell, seed: int, steps: int | None):
    """A copy of ``base`` with the cell's values, the seed and (when given) the step budget."""
    config = copy.deepcopy(base)
    with config.unlocked():
        for key, text in cell.values:
            for path in ALIASES.get(key, (key,)):
                _set(config, path, text)
        config.seed = seed
        if steps is not None:
            config.num_steps = steps
        config.progress = False
    return config


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _result(config, folder: Path) -> dict:
    """What one trained (or diverged) run left in ``folder``: status, steps, final losses, metrics."""
    div = folder / "divergence.json"
    result = {"status": "finished", "steps": config.num_steps, "diverged_at": None, "reason": ""}
    if div.exists():
        d = json.loads(div.read_text())
        result.update(status="diverged", steps=d["step"], diverged_at=d["step"], reason=d["reason"])
    train_rows = [r for r in _jsonl(folder / "scalars.jsonl") if r.get("prefix") == "train"]
    for k in ("d_total", "g_loss"):
        result[k] = train_rows[-1].get(k) if train_rows else None
    evals = _jsonl(folder / "metrics.jsonl")
    result.update({k: evals[-1].get(k) for k in EVAL_FIELDS} if evals else {})
    return result


def run_cell(config, cell_dir: Path, seeds: list[int], vmap: bool) -> list[dict]:
    """Train the cell's runs in ``cell_dir/seed_S`` (skipping those with a ``result.json``):
    one after another, or, with ``vmap``, all seeds as one ``num_seeds`` run (consecutive seeds);
    returns their results in the order of ``seeds``."""
    import jax

    from wavegan_jax import train

    folders = [cell_dir / f"seed_{s}" for s in seeds]
    groups = [(cell_dir, seeds)] if vmap else [(f, [s]) for f, s in zip(folders, seeds)]
    for workdir, group in groups:
        if all((cell_dir / f"seed_{s}" / "result.json").exists() for s in group):
            continue
        run_config = copy.deepcopy(config)
        with run_config.unlocked():
            run_config.seed, run_config.num_seeds = group[0], len(group)
        try:
            train.train_and_evaluate(run_config, workdir)
        except train.Diverged:
            pass  # recorded in divergence.json: a result, not an error
        if jax.process_index() == 0:
            for s in group:
                f = cell_dir / f"seed_{s}"
                (f / "result.json").write_text(json.dumps(_result(config, f)))
    return [json.loads((f / "result.json").read_text()) for f in folders]


def sweep(base, grid: dict[str, list[str]], seeds: list[int], workdir: str | Path,
          steps: int | None = None, vmap: bool = False) -> list[dict]:
    """Run every cell x seed under ``workdir``, then write the tables and plots; returns the rows.
    ``vmap``: each cell's seeds train together, vmapped in one process (``config.num_seeds``)."""
    import jax

    workdir = Path(workdir)
    if vmap and seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise ValueError(f"--vmap needs consecutive seeds (e.g. 0,1,2), got {seeds}")
    rows = []
    todo = cells(grid)
    for i, cell in enumerate(todo):
        config = cell_config(base, cell, seeds[0], steps)
        log.info("sweep cell %d/%d: %s, seeds %s", i + 1, len(todo), cell.name, seeds)
        for seed, result in zip(seeds, run_cell(config, workdir / cell.name, seeds, vmap)):
            rows.append({"cell": cell.name, **dict(cell.values), "seed": seed, **result})
    if jax.process_index() == 0:
        write_tables(rows, list(grid), workdir, window=base.divergence.window)
        plot_cells(workdir, [c.name for c in todo])
    return rows


def summarize(rows: list[dict], keys: list[str], window: int) -> list[dict]:
    """One row per cell: runs, diverged count, mean iterations before divergence (a run that did
    not diverge counts as its length, capped at ``window``: 5000 means none diverged in the
    original study's table) and mean/std of the final losses and metrics."""
    out = []
    for name in dict.fromkeys(r["cell"] for r in rows):
        runs = [r for r in rows if r["cell"] == name]
        reached = [min(r["diverged_at"] if r["diverged_at"] is not None else r["steps"], window) for r in runs]
        row = {"cell": name, **{k: runs[0][k] for k in keys}, "runs": len(runs),
               "diverged": sum(r["status"] == "diverged" for r in runs),
               "iterations_before_divergence": float(np.mean(reached)),
               "iterations_floor_1000": float(np.mean([1000 * (x // 1000) for x in reached]))}
        for k in ("d_total", "g_loss") + EVAL_FIELDS:
            vals = [r[k] for r in runs if r.get(k) is not None and math.isfinite(r[k])]
            if vals:
                row[k], row[k + "_std"] = float(np.mean(vals)), float(np.std(vals))
        out.append(row)
    return out


def write_tables(rows: list[dict], keys: list[str], workdir: Path, window: int = 5000) -> None:
    """``results.csv`` (a row per run) and ``results.md`` (a row per cell)."""
    fields = ["cell", *keys, "seed", *RESULT_FIELDS, *EVAL_FIELDS]
    with open(workdir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    summary = summarize(rows, keys, window)
    metric_cols = [k for k in ("d_total", "g_loss") + EVAL_FIELDS if any(k in s for s in summary)]
    lines = ["| " + " | ".join([*keys, "runs", "diverged", "iterations before divergence",
                                "same, each run floored to 1000", *metric_cols]) + " |",
             "|" + "---|" * (len(keys) + 4 + len(metric_cols))]
    for s in summary:
        cols = [str(s[k]) for k in keys] + [str(s["runs"]), str(s["diverged"]),
                                            f"{s['iterations_before_divergence']:.0f}",
                                            f"{s['iterations_floor_1000']:.0f}"]
        cols += [f"{s[k]:.3g} ± {s[k + '_std']:.2g}" if k in s else "" for k in metric_cols]
        lines.append("| " + " | ".join(cols) + " |")
    (workdir / "results.md").write_text("\n".join(lines) + "\n")


def plot_cells(workdir: Path, names: list[str]) -> None:
    """``plots/CELL.png``: D and G loss against steps for every seed, and accuracy when evaluated."""
    from wavegan_jax import monitoring  # noqa: F401  (selects the Agg backend)
    import matplotlib.pyplot as plt

    (workdir / "plots").mkdir(exist_ok=True)
    for name in names:
        seeds = sorted((workdir / name).glob("seed_*"))
        evals = {s.name: _jsonl(s / "metrics.jsonl") for s in seeds}
        panels = 3 if any(evals.values()) else 2
        fig, axes = plt.subplots(1, panels, figsize=(4 * panels, 3))
        for s in seeds:
            train_rows = [r for r in _jsonl(s / "scalars.jsonl") if r.get("prefix") == "train"]
            steps = [r["step"] for r in train_rows]
            for ax, key in zip(axes, ("d_total", "g_loss")):
                ax.plot(steps, [r.get(key, np.nan) for r in train_rows], lw=0.8, label=s.name,
                        marker="o" if len(steps) < 20 else None, ms=3)
            if panels == 3 and evals[s.name]:
                axes[2].plot([r["step"] for r in evals[s.name]], [r["accuracy"] for r in evals[s.name]],
                             marker="o", label=s.name)
        for ax, title in zip(axes, ("D loss", "G loss", "accuracy")):
            ax.set(title=title, xlabel="step")
        axes[0].legend(fontsize=7)
        fig.suptitle(name, fontsize=9)
        fig.tight_layout()
        fig.savefig(workdir / "plots" / f"{name}.png", dpi=80)
        plt.close(fig)
