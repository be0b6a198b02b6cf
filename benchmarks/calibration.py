"""The evaluation instrument's calibration table: sets with a known answer, scored by a judge.

    python benchmarks/calibration.py data/prepared/fsdd_zero_one_8k_4096
    python benchmarks/calibration.py data/prepared/fsdd_zero_one_8k_4096 \
        --classifier data/prepared/fsdd_digits_8k_4096 --fixture tests/fixtures/quickstart_step1000.npz

Rows: ``evaluate.calibration_sets`` (real test split, real clips labelled as another word, noise
of three colours, silence, reversed, shuffled and noise-filled words) and, with ``--fixture``, a
saved set of generated clips (npz with int16 ``audio`` and ``intended``). The prepared folder's
classifier (or ``--classifier``'s) must exist: ``wavegan_jax train-classifier`` makes it.
"""
import argparse
import json

import numpy as np

from wavegan_jax import evaluate

COLS = ["accuracy", "speech_accuracy", "not_a_word_share", "accuracy_in_vocabulary", "forced_choice_accuracy",
        "voiced_share", "speech_like_share", "spectral_flatness", "fid"]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prepared")
    p.add_argument("--classifier", help="judge with the classifier of this prepared folder")
    p.add_argument("--fixture", action="append", default=[], help="npz of generated clips (repeatable)")
    p.add_argument("--json", help="write the rows here")
    a = p.parse_args(argv)
    ref = evaluate.Reference.build(a.prepared, judge=a.classifier)
    sets = evaluate.calibration_sets(ref)
    for f in a.fixture:
        z = np.load(f)
        sets[f] = (z["audio"].astype(np.float32) / 32767, z["intended"].astype(np.int64))
    rows = {name: evaluate.score(ref, audio, intended) for name, (audio, intended) in sets.items()}
    cols = [c for c in COLS if any(c in r for r in rows.values())]
    print(f"judge: {a.classifier or a.prepared} ({', '.join(ref.clf.classes)})")
    print("| set | clips | " + " | ".join(cols) + " |\n" + "|---" * (len(cols) + 2) + "|")
    for name, r in rows.items():
        print(f"| {name} | {r['clips']} | " + " | ".join(f"{r[c]:.3f}" if c != "fid" else f"{r[c]:.1f}"
                                                     for c in cols) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
