"""The divergence tables of experiments/run_divergence.sh next to the original study's.

    python experiments/divergence_table.py runs/divergence [--out results/divergence_table.md] [--skip-empty] \
        [--previous results/divergence_cpu_runs.json] [--runs-json results/divergence_cpu_runs.json]

``--previous`` pools in the records of an earlier ``--runs-json`` (runs whose folders are gone, e.g.
from another machine or session); a run found under the root replaces the record of the same
setting and seed.

Each row is one setting (one factor changed from the base: lr 1e-4, batch 64, lambda 10, one
critic update); the base setting's runs (COND-base) serve every factor. "Iterations" is the mean
number of iterations reached before divergence, each run floored to the thousand as the original
did (5000: none diverged in its 5000 iterations); runs still in progress are not counted. "Max
|loss|" is the largest |D loss| (penalty included) or |G loss| logged (every 100 steps) over the
runs: how far the setting stayed from the divergence threshold of 100; "|loss| > 10" is the mean
first logged step at which it passed 10 (5000 when it never did), and "runs past 10" how many
runs did: the same rule at a tenth of the threshold, to rank settings that never reach 100.
"Max |gap|" is the largest logged critic gap E[D(real)] - E[D(fake)] (the Wasserstein
estimate): when it is far below max |loss|, the loss was large because of the critic's level
(E[D(real)] + E[D(fake)]) / 2, which the WGAN loss leaves free and G's loss (-E[D(fake)])
reports, not because D separated real from fake.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wavegan_jax import sweep  # noqa: E402

# The original study's tables: mean iterations before divergence (thousands), 10 runs per setting.
ORIGINAL = {
    "none": {"lr": {"1e-4": 3.7, "1e-5": 5}, "batch_size": {"8": 4.7, "16": 4.4, "32": 4.6, "64": 3.6},
             "gp_lambda": {"10": 3.7, "100": 4.5}, "n_critic": {"1": 4, "2": 1.9, "3": 1.3, "4": 1.1, "5": 0}},
    "concat": {"lr": {"1e-4": 0.2, "1e-5": 4.5}, "batch_size": {"8": 0.3, "16": 0.5, "32": 0.4, "64": 0.4},
               "gp_lambda": {"10": 0, "100": 1}},
}
BASE = {"lr": "1e-4", "batch_size": "64", "gp_lambda": "10", "n_critic": "1"}


def _runs(folder: Path) -> list[dict]:
    rows = []
    for f in sorted(folder.glob("seed_*/result.json")):
        r = json.loads(f.read_text())
        logged = [json.loads(line) for line in (f.parent / "scalars.jsonl").read_text().splitlines()] \
            if (f.parent / "scalars.jsonl").exists() else []
        peaks = [(x.get("step", 0), max(abs(x[k]) for k in ("d_total", "g_loss") if k in x))
                 for x in logged if "d_total" in x or "g_loss" in x]
        r["max_abs_loss"] = max((p for _, p in peaks), default=None)
        r["first_above_10"] = min([step for step, p in peaks if p > 10 and step <= 5000] + [5000])
        r["max_abs_gap"] = max((abs(x["wasserstein"]) for x in logged if "wasserstein" in x), default=None)
        rows.append({"seed": f.parent.name, **r})
    return rows


def _row(cond: str, factor: str, value: str, original: str, rows: list[dict]) -> str:
    ours = [0, "", "not run", "", "", "", "", ""]
    if rows:
        s = sweep.summarize([{**r, "cell": ""} for r in rows], [], 5000)[0]
        peak = lambda k: max((r[k] for r in rows if r[k] is not None), default=float("nan"))
        ours = [s["runs"], s["diverged"], f"{s['iterations_floor_1000'] / 1000:.1f}k",
                f"{s['iterations_before_divergence']:.0f}", f"{peak('max_abs_loss'):.3g}",
                f"{sum(r['first_above_10'] for r in rows) / len(rows):.0f}",
                sum(r["first_above_10"] < 5000 for r in rows), f"{peak('max_abs_gap'):.3g}"]
    name = "unconditional" if cond == "none" else cond
    return "| " + " | ".join(map(str, [name, factor, value, original, *ours])) + " |"


def collect(root: Path, previous: list[dict] | None = None) -> dict[str, list[dict]]:
    """Every finished run, by setting ("COND-FACTOR/CELL"): the records of ``previous`` (an earlier
    ``--runs-json``) overlaid with the runs found under ``root`` (COND-FACTOR/CELL/seed_S)."""
    keys = ("status", "steps", "diverged_at", "max_abs_loss", "first_above_10", "max_abs_gap")
    found = {(r["setting"], r["seed"]): r for r in previous or []}
    for folder in sorted(root.glob("*-*/*=*")):
        setting = f"{folder.parent.name}/{folder.name}"
        for r in _runs(folder):
            found[(setting, r["seed"])] = {"setting": setting, "seed": r["seed"], **{k: r.get(k) for k in keys}}
    out: dict[str, list[dict]] = {}
    for (setting, seed), r in sorted(found.items(), key=lambda kv: (kv[0][0], int(kv[0][1].split("_")[-1]))):
        out.setdefault(setting, []).append(r)
    return out


def table(runs: dict[str, list[dict]] | Path, skip_empty: bool = False) -> str:
    """The markdown table of ``runs`` (from :func:`collect`, or a root folder to collect);
    ``skip_empty`` leaves out the settings with no finished run."""
    if isinstance(runs, Path):
        runs = collect(runs)
    lines = ["| model | factor | value | original: iterations | ours: runs | diverged | iterations "
             "(floored) | iterations (exact) | max abs loss logged | abs loss > 10 | runs past 10 | max abs gap logged |",
             "|" + "---|" * 12]
    for cond, factors in ORIGINAL.items():
        for factor, values in factors.items():
            for value, original in values.items():
                setting = f"{cond}-base/n_critic=1" if value == BASE[factor] else f"{cond}-{factor}/{factor}={value}"
                rows = runs.get(setting, [])
                if rows or not skip_empty:
                    lines.append(_row(cond, factor, value + (" (base)" if value == BASE[factor] else ""),
                                      f"{original:g}k", rows))
    for setting, rows in sorted(runs.items()):  # settings the original did not try, e.g. drift_penalty
        cond, factor = setting.split("/", 1)[0].split("-", 1)
        value = setting.split("=", 1)[1]
        if factor == "base" or value in ORIGINAL.get(cond, {}).get(factor, {}):
            continue
        lines.append(_row(cond, factor, value, "not tried", rows))
    return "\n".join(lines)


def every_run(runs: dict[str, list[dict]]) -> list[dict]:
    """One record per finished run: the numbers behind the table."""
    return [r for rows in runs.values() for r in rows]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("root", nargs="?", default="runs/divergence")
    p.add_argument("--out", default="")
    p.add_argument("--skip-empty", action="store_true", help="leave out the settings with no finished run")
    p.add_argument("--previous", default="", help="pool in the run records of an earlier --runs-json "
                   "(a list, or a results/ file's {\"device\": ..., \"runs\": [...]})")
    p.add_argument("--runs-json", default="", help="also write every finished run's numbers to this JSON file")
    a = p.parse_args(argv)
    previous = json.loads(Path(a.previous).read_text()) if a.previous else None
    if isinstance(previous, dict):  # results/*.json keep the runs beside a note of the device they ran on
        previous = previous["runs"]
    runs = collect(Path(a.root), previous)
    text = table(runs, a.skip_empty)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    if a.runs_json:
        Path(a.runs_json).write_text(json.dumps(every_run(runs), indent=1) + "\n")


if __name__ == "__main__":
    main()
