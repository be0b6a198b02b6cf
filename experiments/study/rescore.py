"""Score the last checkpoint of study runs again with today's metrics (e.g. audible_accuracy),
on the same fixed evaluation noise the training-time evaluation used.

    python experiments/study/rescore.py runs/study_quick
"""
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from wavegan_jax import evaluate, sampling

COLS = ["accuracy", "audible_accuracy", "silent_share"]


def main(root: str) -> None:
    refs, cells = {}, defaultdict(list)
    for workdir in sorted(p.parent for p in Path(root).glob("*/config.json")):
        if json.loads((workdir / "config.json").read_text())["conditioning"] == "none":
            continue  # no intended words
        run = sampling.load_run(workdir)
        prepared = run.config.data.prepared
        if prepared not in refs:
            refs[prepared] = evaluate.Reference.build(prepared, judge=run.config.classifier.prepared or None)
        z, labels, _ = run.sample_inputs(run.config.eval_samples, stream=1)
        result = evaluate.score(refs[prepared], run.generate_batched(z, labels), np.asarray(labels))
        print(json.dumps({"run": workdir.name, "step": run.step_count, **{k: result[k] for k in COLS}}), flush=True)
        cells[re.sub(r"-s\d+$", "", workdir.name)].append(result)
    print("| cell | seeds | " + " | ".join(COLS) + " |\n" + "|---" * (len(COLS) + 2) + "|")
    for cell, rows in cells.items():
        print(f"| {cell} | {len(rows)} | " + " | ".join(
            f"{np.mean([r[k] for r in rows]):.3g} ± {np.std([r[k] for r in rows]):.2g}" for k in COLS) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/study_quick")
