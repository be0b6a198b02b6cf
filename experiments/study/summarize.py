"""Summarise study runs: the last evaluation of every run folder as a markdown table.

    python experiments/study/summarize.py runs/study_quick
"""
import json
import sys
from pathlib import Path

COLS = ["accuracy", "fid", "per_word_fid", "ndb_k", "nn_distance_vs_real_test", "silent_share"]


def main(root: str) -> None:
    print("| run | step | " + " | ".join(COLS) + " |")
    print("|---" * (len(COLS) + 2) + "|")
    for f in sorted(Path(root).glob("*/metrics.jsonl")):
        rows = [json.loads(line) for line in f.read_text().splitlines()]
        last = rows[-1]
        print(f"| {f.parent.name} | {last['step']} | " + " | ".join(f"{last[c]:.3f}" for c in COLS) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/study_quick")
