"""What a run shows a person: TensorBoard scalars, audio and images (via tensorboardX), sample
wavs and a progress bar. Only process 0 writes: a Writer built with ``workdir=None`` does nothing.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402


class Writer:
    """TensorBoard event files plus ``scalars.jsonl`` (one JSON line per logged step and prefix),
    which the report reads without TensorBoard."""

    def __init__(self, workdir: str | Path | None):
        self.enabled = workdir is not None
        if self.enabled:
            from tensorboardX import SummaryWriter
            self._w = SummaryWriter(str(workdir))
            self._jsonl = Path(workdir) / "scalars.jsonl"

    def hparams(self, config) -> None:
        if self.enabled:
            self._w.add_text("config", "```\n" + str(config) + "\n```", 0)

    def scalars(self, step: int, metrics: dict[str, float], prefix: str = "train") -> None:
        if self.enabled:
            for k, v in metrics.items():
                self._w.add_scalar(f"{prefix}/{k}", v, step)
            self._w.flush()
            with open(self._jsonl, "a") as f:
                f.write(json.dumps({"step": step, "prefix": prefix, **metrics}) + "\n")

    def audio_groups(self, step: int, groups: dict[str, np.ndarray], sample_rate: int) -> None:
        """groups: word -> audio [n, length]. Audio clips plus one waveform/spectrogram figure."""
        if not self.enabled:
            return
        for word, clips in groups.items():
            for i, clip in enumerate(clips):
                self._w.add_audio(f"samples/{word}/{i}", clip, step, sample_rate=sample_rate)
        self._w.add_figure("samples/waveforms_spectrograms", figure(groups, sample_rate), step)
        self._w.flush()

    def close(self) -> None:
        if self.enabled:
            self._w.close()


def figure(groups: dict[str, np.ndarray], sample_rate: int):
    """Waveform (top) and spectrogram (bottom) of the first clip of each word."""
    fig, axes = plt.subplots(2, len(groups), figsize=(3 * len(groups), 4), squeeze=False)
    for j, (word, clips) in enumerate(groups.items()):
        x = clips[0]
        axes[0, j].plot(np.arange(len(x)) / sample_rate, x, lw=0.5)
        axes[0, j].set(title=word, ylim=(-1, 1))
        with np.errstate(divide="ignore"):  # silent (zero-padded) frames have log10(0)
            axes[1, j].specgram(x, NFFT=256, Fs=sample_rate, noverlap=192, cmap="magma")
        axes[1, j].set(xlabel="s", ylabel="Hz" if j == 0 else None)
    fig.tight_layout()
    return fig


def write_wavs(folder: Path, groups: dict[str, np.ndarray], sample_rate: int) -> list[Path]:
    """Write ``folder/{word}_{i:03d}.wav`` (16-bit PCM) for every clip; returns the paths.

    Each file is written under a temporary name and renamed, so a killed run leaves whole files
    or none (never a 0-byte wav); a failed write (disk full) removes its temporary file."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for word, clips in groups.items():
        for i, clip in enumerate(clips):
            paths.append(folder / f"{word}_{i:03d}.wav")
            tmp = folder / f".{paths[-1].name}.tmp"
            try:
                sf.write(tmp, np.clip(clip, -1, 1), sample_rate, subtype="PCM_16", format="WAV")
                tmp.replace(paths[-1])
            finally:
                tmp.unlink(missing_ok=True)
    return paths


def progress(start: int, total: int, enabled: bool):
    return tqdm(initial=start, total=total, disable=not enabled, unit="step", dynamic_ncols=True)
