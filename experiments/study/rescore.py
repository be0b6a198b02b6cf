"""Score study runs again with today's measures, the EMA and the raw generator side by side,
through the one scoring path (``evaluate.score_run``, noise seed = the run's seed, as in training).

    python experiments/study/rescore.py runs/study_quick
    python experiments/study/rescore.py runs/study_quick --classifier data/prepared/fsdd_digits_8k_4096
    python experiments/study/rescore.py runs/study_quick --checkpoint 500 --json rescored.jsonl

Prints one JSON line per run and generator, then a table per cell (seeds pooled, mean ± std).
"""
import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from wavegan_jax import evaluate, sampling

COLS = ["accuracy", "speech_accuracy", "not_a_word_share", "accuracy_in_vocabulary", "forced_choice_accuracy",
        "voiced_share", "fid", "silent_share"]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", nargs="?", default="runs/study_quick", help="folder of run folders")
    p.add_argument("--classifier", help="judge with the classifier of this prepared folder")
    p.add_argument("--checkpoint", default="latest")
    p.add_argument("--num", type=int, default=0, help="clips per word (default: the run's eval_samples)")
    p.add_argument("--json", help="also append the JSON lines to this file")
    a = p.parse_args(argv)
    refs, cells = {}, defaultdict(list)
    for workdir in sorted(p.parent for p in Path(a.root).glob("*/config.json")):
        if json.loads((workdir / "config.json").read_text())["conditioning"] == "none":
            continue  # no intended words
        run = sampling.load_run(workdir, a.checkpoint)
        key = (run.config.data.prepared, a.classifier or run.config.classifier.prepared)
        if key not in refs:
            refs[key] = evaluate.reference(run.config, judge=a.classifier)
        for g in ("ema", "raw"):
            result = evaluate.score_run(run, refs[key], a.num or run.config.eval_samples, run.config.seed, generator=g)
            line = json.dumps({"run": workdir.name, "step": run.step_count, "generator": g,
                               **{k: result[k] for k in COLS if k in result}})
            print(line, flush=True)
            if a.json:
                with open(a.json, "a") as f:
                    f.write(line + "\n")
            cells[(re.sub(r"-s\d+$", "", workdir.name), g)].append(result)
    cols = [c for c in COLS if any(c in r for rows in cells.values() for r in rows)]
    print("| cell | generator | seeds | " + " | ".join(cols) + " |\n" + "|---" * (len(cols) + 3) + "|")
    for (cell, g), rows in cells.items():
        print(f"| {cell} | {g} | {len(rows)} | " + " | ".join(
            f"{np.mean([r[k] for r in rows]):.3g} ± {np.std([r[k] for r in rows]):.2g}" for k in cols) + " |")


if __name__ == "__main__":
    main()
