"""Summarise study runs: per cell (runs named CELL-sSEED, or CELL/seed_SEED for a cell whose seeds
trained vmapped in one run), the last evaluation's metrics as mean ± std over the seeds that
finished, and a plot of accuracy against steps.

    python experiments/study/summarize.py runs/study_quick [--plot RESULTS_curves.png]
"""
import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

COLS = ["accuracy", "speech_accuracy", "not_a_word_share", "voiced_share", "fid", "per_word_fid", "ndb_k",
        "nn_distance_vs_real_test", "silent_share"]
NO_WORDS = ("accuracy", "speech_accuracy", "not_a_word_share")  # n/a for an unconditional model


def load(root: Path, final_step: int) -> dict[str, list[list[dict]]]:
    """cell -> list (one per finished seed) of that run's evaluation rows."""
    cells = defaultdict(list)
    for f in sorted([*root.glob("*/metrics.jsonl"), *root.glob("*/seed_*/metrics.jsonl")]):
        rows = [json.loads(line) for line in f.read_text().splitlines()]
        member = f.parent.name.startswith("seed_")
        if rows and rows[-1]["step"] == final_step:
            cells[f.parent.parent.name if member else re.sub(r"-s\d+$", "", f.parent.name)].append(rows)
    return cells


def heard_words(row: dict, above: float = 0.4) -> str:
    """The words of one evaluation row whose accuracy is above ``above``, best first."""
    acc = {k.split("/", 1)[1]: v for k, v in row.items() if k.startswith("accuracy/")}
    return ", ".join(w for w, v in sorted(acc.items(), key=lambda kv: -kv[1]) if v > above) or "-"


def table(cells: dict[str, list[list[dict]]]) -> str:
    lines = ["| cell | seeds | " + " | ".join(COLS) + " | words above 0.4 (per seed) |", "|---" * (len(COLS) + 3) + "|"]
    for cell, runs in cells.items():
        vals = [[r[-1].get(c) for r in runs] for c in COLS]
        # runs evaluated before a metric existed lack it: experiments/study/rescore.py computes it
        text = [f"{np.mean(v):.3g} ± {np.std(v):.2g}" if None not in v else "rescore.py" for v in vals]
        words = "; ".join(heard_words(r[-1]) for r in runs)
        if cell.startswith("none"):  # no intended words: "accuracy" would be the share heard as word 0
            for c in NO_WORDS:
                text[COLS.index(c)] = "n/a"
            words = ""
        lines.append(f"| {cell} | {len(runs)} | " + " | ".join(text) + f" | {words} |")
    return "\n".join(lines)


def plot(cells: dict[str, list[list[dict]]], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for cell, runs in cells.items():
        if cell.startswith("none"):
            continue
        steps = sorted({r["step"] for run in runs for r in run})
        mean = [np.mean([r["accuracy"] for run in runs for r in run if r["step"] == s]) for s in steps]
        ax.plot(steps, mean, marker="o", label=f"{cell} ({len(runs)} seeds)")
    ax.set(xlabel="generator step", ylabel="intended-word accuracy (mean over seeds)", ylim=(0, 1))
    words = max((sum(k.startswith("accuracy/") for k in runs[0][0]) for runs in cells.values()), default=2)
    ax.axhline(1 / max(words, 1), color="gray", lw=0.5, ls="--")  # chance
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("root", nargs="?", default="runs/study_quick")
    p.add_argument("--final-step", type=int, default=1000)
    p.add_argument("--plot", help="write the accuracy curves to this PNG")
    a = p.parse_args()
    cells = load(Path(a.root), a.final_step)
    print(table(cells))
    if a.plot:
        plot(cells, Path(a.plot))


if __name__ == "__main__":
    main()
