"""Spectrograms of generated words beside real ones, one PNG for RESULTS.md.

    python benchmarks/spectrogram_grid.py --out results/recipe_cpu_spectrograms.png \
        recipe_lr2x=runs/qph_cpu/recipe_lr2x istft=runs/qph_cpu/istft_lr2x

One row per word; the first column is a real test clip of that word, then one generated clip
(EMA generator, latest checkpoint, ``--seed``) per NAME=WORKDIR. Each title gives what the run's
judge hears (word or "not a word", with its probability) and the clip's voiced share of frames.
All runs must share the first run's words and sample rate.
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wavegan_jax import data as data_lib, evaluate, sampling, speech  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="NAME=WORKDIR")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    names, workdirs = zip(*(r.split("=", 1) for r in a.runs))
    runs = [sampling.load_run(w) for w in workdirs]
    words, sr = runs[0].words, runs[0].config.data.sample_rate
    ref = evaluate.reference(runs[0].config)
    audio, labels = data_lib.load_split(runs[0].config.data.prepared, "test")
    columns = [("real test clip", np.stack([audio[np.flatnonzero(labels == i)[0]] for i in range(len(words))]))]
    for name, run in zip(names, runs):
        generated = sampling.generate(run, words, 1, a.seed)
        columns.append((f"{name} (step {run.step_count})", np.stack([generated[w][0] for w in words])))
    fig, axes = plt.subplots(len(words), len(columns), figsize=(2.6 * len(columns), 1.5 * len(words)),
                             squeeze=False, sharex=True, sharey=True)
    for j, (title, clips) in enumerate(columns):
        probs, voiced = ref.clf.predict(clips), speech.measures(clips, sr)["voiced_share"]
        for i, word in enumerate(words):
            ax = axes[i, j]
            ax.specgram(clips[i], NFFT=256, Fs=sr, noverlap=192, cmap="magma", vmin=-120)
            heard = ref.clf.classes[int(probs[i].argmax())]
            ax.set_title(f"{word}: heard {heard} {probs[i].max():.2f}, voiced {voiced[i]:.2f}", fontsize=7)
            if i == 0:
                ax.text(0.5, 1.35, title, transform=ax.transAxes, ha="center", fontsize=9)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(a.out, dpi=80)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
