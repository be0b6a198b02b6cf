"""``prepare``: recordings -> fixed-length float32 NumPy shards, done once and read many times.

Output folder::

    manifest.json                 words, sample rate, length, counts, checksums, skipped files
    {train,valid,test}_audio.npy  float32 [n, length] in [-1, 1]
    {train,valid,test}_labels.npy int32 [n], index into manifest["words"]

Sources (``source``):

* ``speech_commands``: ``WORD/*.wav`` plus ``validation_list.txt`` / ``testing_list.txt`` (the
  official split; files in neither list are training files).
* ``fsdd``: a Free Spoken Digit Dataset ``recordings/`` folder, ``{digit}_{speaker}_{index}.wav``;
  digits map to the words zero..nine; index 0-4 is the official test split, the rest train
  (FSDD has no validation split, so ``valid`` is empty).
* ``folder``: any ``WORD/*.wav`` tree; a seeded hash of each file name puts 10% in valid and
  10% in test.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PRESETS = {"sc09": DIGITS, "digits": DIGITS}
SOURCES = ("speech_commands", "fsdd", "folder")
FORMAT_VERSION = 1
BUNDLED = Path(__file__).parent / "bundled" / "fsdd_zero_one"
_FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


class AudioError(ValueError):
    """A file that cannot be used as a clip; the message says why."""


@dataclasses.dataclass(frozen=True)
class Item:
    path: Path  # absolute
    rel: str  # relative to the source root, used in manifests and split lists
    word: str
    split: str
    speaker: str = ""  # FSDD: from the file name; Speech Commands: the hash before "_nohash_"


def parse_words(words: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """``"zero,one"`` / ``"sc09"`` / a list -> list of words; ``None`` or ``""`` -> all words."""
    if words is None or words == "" or words == ():
        return None
    if isinstance(words, str):
        if words in PRESETS:
            return list(PRESETS[words])
        words = [w.strip() for w in words.split(",") if w.strip()]
    return list(words)


def _seeded_split(rel: str, seed: int) -> str:
    h = int(hashlib.sha256(f"{seed}:{rel}".encode()).hexdigest()[:8], 16) % 100
    return "test" if h < 10 else "valid" if h < 20 else "train"


def list_items(source: str, root: str | Path, seed: int = 0) -> list[Item]:
    """Every candidate clip of ``source`` under ``root``, with its word and split."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"data path {root} is not a folder")
    items = []
    if source == "fsdd":
        if (root / "recordings").is_dir():
            root = root / "recordings"
        for p in sorted(root.glob("*.wav")):
            m = _FSDD_NAME.match(p.name)
            if not m:
                log.warning("skipping %s: not an FSDD name {digit}_{speaker}_{index}.wav", p.name)
                continue
            split = "test" if int(m.group(3)) < 5 else "train"
            items.append(Item(p, p.name, DIGITS[int(m.group(1))], split, m.group(2)))
    elif source in ("speech_commands", "folder"):
        lists = {}
        if source == "speech_commands":
            for split, name in (("valid", "validation_list.txt"), ("test", "testing_list.txt")):
                f = root / name
                if not f.exists():
                    raise FileNotFoundError(f"{f} is missing: is {root} a Speech Commands folder?")
                lists.update({line.strip(): split for line in f.read_text().splitlines() if line.strip()})
        for word_dir in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("_")):
            for p in sorted(word_dir.glob("*.wav")):
                rel = f"{word_dir.name}/{p.name}"
                split = lists.get(rel, "train") if source == "speech_commands" else _seeded_split(rel, seed)
                speaker = p.name.split("_nohash_")[0] if source == "speech_commands" else ""
                items.append(Item(p, rel, word_dir.name, split, speaker))
    else:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    if not items:
        raise FileNotFoundError(f"no .wav files for source {source!r} under {root}")
    return items


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Crop or zero-pad ``x: [n]`` to ``[length]`` with its energy centroid in the middle.

    A long clip keeps the window of ``length`` samples centred on the centroid of ``x**2``
    (clamped to the clip); a short clip is placed so that its centroid sits at ``length / 2``,
    shifted only as far as needed to keep the whole clip inside.
    """
    n = len(x)
    energy = x.astype(np.float64) ** 2
    total = energy.sum()
    centre = (energy * np.arange(n)).sum() / total if total > 0 else n / 2
    if n >= length:
        start = int(np.clip(round(centre - length / 2), 0, n - length))
        return x[start:start + length]
    offset = int(np.clip(round(length / 2 - centre), 0, length - n))
    out = np.zeros(length, dtype=x.dtype)
    out[offset:offset + n] = x
    return out


def load_clip(path: str | Path, sample_rate: int, length: int) -> np.ndarray:
    """Read any audio file soundfile knows -> mono float32 ``[length]`` at ``sample_rate``.

    Raises AudioError (with the reason) for unreadable, empty, truncated or non-finite files. Stereo is mixed down by averaging the channels.
    """
    path = Path(path)
    try:
        info = sf.info(str(path))
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile's errors have several types
        raise AudioError(f"unreadable audio ({type(e).__name__}: {str(e).strip()})") from None
    if x.shape[0] == 0:
        raise AudioError("empty: no audio frames")
    if info.format == "WAV":
        short = _wav_missing_bytes(path)
        if short:
            raise AudioError(f"truncated: the data chunk is {short} bytes shorter than its header says")
    if not np.isfinite(x).all():
        raise AudioError("contains NaN or inf samples")
    x = x.mean(axis=1)
    if sr != sample_rate:
        x = soxr.resample(x, sr, sample_rate).astype(np.float32)
    return np.clip(fit_length(x, length), -1.0, 1.0).astype(np.float32)


def _wav_missing_bytes(path: Path) -> int:
    """Bytes missing from a RIFF/WAVE file's data chunk (0 when complete or not a plain RIFF).

    libsndfile silently reads what is there, so a cut-off download would pass unnoticed.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(4) != b"RIFF" or f.read(8)[4:] != b"WAVE":
            return 0
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk, length = f.read(4), int.from_bytes(f.read(4), "little")
            if chunk == b"data":
                return max(0, pos + 8 + length - size)
            pos += 8 + length + (length & 1)
    return 0


def _sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _select_words(items: list[Item], words: list[str] | None) -> list[str]:
    available = sorted({it.word for it in items}, key=lambda w: (w not in DIGITS, DIGITS.index(w) if w in DIGITS else 0, w))
    if words is None:
        return available
    unknown = [w for w in words if w not in available]
    if unknown:
        raise ValueError(f"unknown word(s) {', '.join(unknown)}; this source has: {', '.join(available)}")
    return list(words)


def read_manifest(out_dir: str | Path) -> dict | None:
    f = Path(out_dir) / "manifest.json"
    return json.loads(f.read_text()) if f.exists() else None


def select_speakers(items: list[Item], speakers: str) -> list[Item]:
    """Keep the items of ``speakers``: "a,b" keeps only a and b, "-a,-b" keeps all but a and b
    ("" keeps all). Unknown names are an error that lists the known ones."""
    names = [x.strip() for x in speakers.split(",") if x.strip()]
    if not names:
        return items
    known = sorted({it.speaker for it in items if it.speaker})
    if not known:
        raise ValueError("this source has no speaker names (only fsdd and speech_commands do)")
    exclude = all(n.startswith("-") for n in names)
    if not exclude and any(n.startswith("-") for n in names):
        raise ValueError(f"speakers={speakers!r}: list speakers to keep, or -speakers to leave out, not both")
    wanted = {n.lstrip("-") for n in names}
    unknown = sorted(wanted - set(known))
    if unknown:
        raise ValueError(f"unknown speaker(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [it for it in items if (it.speaker in wanted) != exclude]


def prepare(source: str, path: str | Path, out_dir: str | Path, *, words=None,
            sample_rate: int = 16000, length: int = 16384, seed: int = 0,
            force: bool = False, speakers: str = "") -> dict:
    """Prepare shards of ``words`` from ``source`` at ``path`` into ``out_dir``; returns the manifest.

    ``speakers``: "" for all, "a,b" for only those, "-a,-b" for all but those (see
    ``select_speakers``): e.g. a generator's data and its judge's data with no speaker in common.
    Re-running with the same inputs and options is a no-op (the manifest's fingerprint matches).
    Unusable files are logged and listed in ``manifest["skipped"]``, never fatal.
    """
    out_dir = Path(out_dir)
    items = select_speakers(list_items(source, path, seed), speakers)
    chosen = _select_words(items, parse_words(words))
    items = [it for it in items if it.word in chosen]
    checksums = {it.rel: _sha256_file(it.path) for it in items}
    options = dict(source=source, words=chosen, sample_rate=int(sample_rate), length=int(length),
                   seed=int(seed), format_version=FORMAT_VERSION)
    if speakers:  # only when set, so that earlier manifests keep their fingerprints
        options["speakers"] = speakers
    fingerprint = hashlib.sha256(json.dumps([options, sorted(checksums.items()),
                                             sorted((it.rel, it.split) for it in items)]).encode()).hexdigest()
    old = read_manifest(out_dir)
    if old and old.get("fingerprint") == fingerprint and not force:
        log.info("%s is up to date (same inputs and options): nothing to do", out_dir)
        return {**old, "up_to_date": True}

    out_dir.mkdir(parents=True, exist_ok=True)
    clips = {s: [] for s in SPLITS}
    labels = {s: [] for s in SPLITS}
    skipped = []
    for it in items:
        try:
            clip = load_clip(it.path, sample_rate, length)
        except AudioError as e:
            log.warning("skipping %s: %s", it.rel, e)
            skipped.append({"file": it.rel, "reason": str(e)})
            continue
        clips[it.split].append(clip)
        labels[it.split].append(chosen.index(it.word))
    counts = {}
    for s in SPLITS:
        audio = np.stack(clips[s]) if clips[s] else np.zeros((0, length), np.float32)
        lab = np.asarray(labels[s], dtype=np.int32)
        for name, arr in (("audio", audio), ("labels", lab)):
            tmp = out_dir / f".{s}_{name}.tmp-{os.getpid()}.npy"
            np.save(tmp, arr)
            os.replace(tmp, out_dir / f"{s}_{name}.npy")
        counts[s] = {w: int((lab == i).sum()) for i, w in enumerate(chosen)}
    manifest = dict(options, words=chosen, counts=counts, skipped=skipped,
                    source_path=str(Path(path).resolve()), fingerprint=fingerprint,
                    source_sha256=hashlib.sha256(json.dumps(sorted(checksums.items())).encode()).hexdigest(),
                    files_sha256=checksums)
    _atomic_write_bytes(out_dir / "manifest.json", json.dumps(manifest, indent=1).encode())
    n = {s: sum(c.values()) for s, c in counts.items()}
    log.info("wrote %s: %s clips (train %d, valid %d, test %d), %d skipped", out_dir,
             sum(n.values()), n["train"], n["valid"], n["test"], len(skipped))
    return manifest


def load_split(out_dir: str | Path, split: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(audio [n, length] float32, labels [n] int32) of a prepared split, memory-mapped."""
    out_dir = Path(out_dir)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    mode = "r" if mmap else None
    return (np.load(out_dir / f"{split}_audio.npy", mmap_mode=mode),
            np.load(out_dir / f"{split}_labels.npy", mmap_mode=mode))

