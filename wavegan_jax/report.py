"""``wavegan_jax report``: one self-contained HTML page about a run.

Per word: audio players and spectrograms of generated clips next to real test clips; the metric
table with the real-data ceiling (from ``evaluation.json``, computed when missing); training and
evaluation curves. Audio and images are embedded as data URIs, so the file can be mailed or
opened offline. A small script at the end of the page checks that every image and audio element
loaded and records the result in ``<body data-check=...>`` (used by the headless-browser test).
"""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from wavegan_jax import data as data_lib  # noqa: E402
from wavegan_jax import speech  # noqa: E402

_CHECK_SCRIPT = """
<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const audios = [...document.querySelectorAll('audio')];
  const badImgs = imgs.filter(i => !(i.complete && i.naturalWidth > 0));
  const settle = a => new Promise(res => {
    if (a.error) return res(false);
    if (a.readyState >= 1) return res(true);
    a.addEventListener('loadedmetadata', () => res(true), {once: true});
    a.addEventListener('error', () => res(false), {once: true});
    a.load();
  });
  Promise.all(audios.map(settle)).then(ok => {
    const badAudio = ok.filter(x => !x).length;
    if (badImgs.length || badAudio) console.error('report: ' + badImgs.length + ' images and ' + badAudio + ' audio failed');
    document.body.dataset.check = (badImgs.length || badAudio ? 'failed' : 'ok') +
      ' images=' + imgs.length + ' audio=' + audios.length + ' bad_images=' + badImgs.length + ' bad_audio=' + badAudio;
  });
});
</script>
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _wav(clip: np.ndarray, sample_rate: int) -> str:
    buf = io.BytesIO()
    sf.write(buf, np.clip(clip, -1, 1), sample_rate, format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()


def _spectrogram(clip: np.ndarray, sample_rate: int) -> str:
    fig, ax = plt.subplots(figsize=(2.6, 1.6))
    with np.errstate(divide="ignore"):
        ax.specgram(clip, NFFT=256, Fs=sample_rate, noverlap=192, cmap="magma")
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    return _png(fig)


def _curves(workdir: Path) -> list[str]:
    """PNG data URIs of the training losses and of the evaluation metrics against steps."""
    out = []
    scalars = workdir / "scalars.jsonl"
    if scalars.exists():
        rows = {}
        for line in scalars.read_text().splitlines():
            r = json.loads(line)
            if r.pop("prefix") == "train":
                rows[r["step"]] = r  # a resumed run may log a step twice: keep the last
        steps = sorted(rows)
        fig, axes = plt.subplots(1, 3, figsize=(12, 3))
        for ax, keys in zip(axes, (["d_total", "g_loss"], ["d_real", "d_fake"], ["gp", "r1"])):
            for k in keys:
                ax.plot(steps, [rows[s].get(k, np.nan) for s in steps], label=k)
            ax.set(xlabel="step")
            ax.legend()
        fig.tight_layout()
        out.append(_png(fig))
    metrics = workdir / "metrics.jsonl"
    if metrics.exists():
        rows = [json.loads(line) for line in metrics.read_text().splitlines()]
        fig, axes = plt.subplots(1, 3, figsize=(12, 3))
        for ax, keys in zip(axes, (("speech_accuracy", "accuracy", "raw/speech_accuracy"),
                                   ("not_a_word_share", "voiced_share"), ("fid", "raw/fid"))):
            for k in keys:
                if any(k in r for r in rows):
                    ax.plot([r["step"] for r in rows], [r.get(k, np.nan) for r in rows], marker="o", label=k)
            ax.set(xlabel="step")
            ax.legend()
        fig.tight_layout()
        out.append(_png(fig))
    return out


def _number(x) -> float:
    """A metric from evaluation.json, where JSON's null stands for NaN."""
    return float("nan") if x is None else x


def build(workdir: str | Path, *, checkpoint: str = "latest", per_word: int = 4, seed: int = 0,
          out: str | Path | None = None, member: int = 0) -> Path:
    """Write ``report.html`` for the run in ``workdir`` (for a num_seeds > 1 run: member
    ``member``, in its seed_S folder) and return its path."""
    from wavegan_jax import evaluate, sampling

    run = sampling.load_run(workdir, checkpoint, member)
    workdir = Path(workdir) if run.config.num_seeds == 1 else Path(workdir) / f"seed_{run.seeds[0]}"
    sr = run.config.data.sample_rate
    words = run.words if run.num_classes else None
    generated = sampling.generate(run, words, per_word, seed)
    test_audio, test_labels = data_lib.load_split(run.config.data.prepared, "test")
    evaluation_file = workdir / "evaluation.json"
    rows = json.loads(evaluation_file.read_text())["rows"] if evaluation_file.exists() else {}
    ref = evaluate.reference(run.config) if run.num_classes else None
    if ref is not None and not any("speech_accuracy" in r for r in rows.values()):  # none yet, or older measures
        rows = {f"model ({checkpoint}, {g})": evaluate.score_run(run, ref, 50, seed, generator=g)
                for g in ("ema", "raw")}
        rows["real test split"] = evaluate.score_real_test(ref)
        if out is None:  # cached beside the run; with --out nothing is written into the workdir
            evaluation_file.write_text(json.dumps(evaluate.json_safe({"rows": rows, "skipped": []}), indent=1))

    def captions(clips: np.ndarray) -> list[str]:
        """Per clip of clips [n, L]: what the judge hears and how much of the clip is voiced."""
        if ref is None:
            return [""] * len(clips)
        probs, voiced = ref.clf.predict(clips), speech.measures(clips, sr)["voiced_share"]
        return [f"<br><small>heard: {html.escape(ref.clf.classes[int(p.argmax())])} ({p.max():.2f}), "
                f"voiced {v:.0%}</small>" for p, v in zip(probs, voiced)]

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>wavegan_jax report: "
             f"{html.escape(workdir.name)}</title><style>body{{font-family:sans-serif;margin:2em}}"
             f"table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}"
             f".clip{{display:inline-block;margin:4px;text-align:center}}audio{{width:200px}}</style>"
             f"</head><body><h1>{html.escape(str(workdir))}</h1>"
             f"<p>step {int(run.state.step)}, checkpoint {html.escape(checkpoint)}, {sr} Hz, "
             f"{run.config.model.length} samples, d={run.config.model.d}, conditioning "
             f"{html.escape(run.config.conditioning)}, loss {html.escape(run.config.loss)}</p>"]
    if rows:
        cols = [c for c in evaluate.TABLE_COLUMNS[:5] + [f"accuracy/{w}" for w in run.words] + evaluate.TABLE_COLUMNS[5:]
                if any(c in r for r in rows.values())]
        parts.append("<h2>Metrics</h2><p>accuracy: the judge's top class, 'not a word' included, is the intended "
                     "word; speech_accuracy: that, audible and with voiced frames; forced_choice_accuracy: the old "
                     "score, the top class among the run's words only</p><table><tr><th>set</th>"
                     + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
        for name, r in rows.items():
            parts.append(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{_number(r.get(c)):.3f}</td>" for c in cols) + "</tr>")
        parts.append("</table>")
    for name, clips in generated.items():
        parts.append(f"<h2>{html.escape(name)}</h2><h3>generated</h3>")
        real = test_audio[test_labels == run.words.index(name)][:per_word] if name in run.words else test_audio[:per_word]
        for title, group in (("generated", clips), ("real (test split)", np.asarray(real))):
            if title != "generated":
                parts.append(f"<h3>{title}</h3>")
            for clip, text in zip(group, captions(group)):
                parts.append(f"<div class='clip'><img alt='spectrogram' src='{_spectrogram(clip, sr)}'><br>"
                             f"<audio controls preload='metadata' src='{_wav(clip, sr)}'></audio>{text}</div>")
    curves = _curves(workdir)
    if curves:
        parts.append("<h2>Training</h2>" + "".join(f"<img alt='curves' src='{c}'><br>" for c in curves))
    parts.append(_CHECK_SCRIPT + "</body></html>")
    path = Path(out) if out else workdir / "report.html"
    path.write_text("\n".join(parts))
    return path
