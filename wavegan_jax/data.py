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
import errno
import hashlib
import json
import logging
import os
import re
import stat
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
_FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.(wav|wave)$", re.IGNORECASE)
AUDIO_SUFFIXES = (".wav", ".wave")  # any case
MAX_FILE_BYTES = 256 * 2**20  # a larger file is skipped unread (a 1 s clip at 48 kHz stereo is 0.4 MB)

# Degenerate audio, skipped unless prepare(keep_degenerate=True), which keeps it with a warning.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384000  # Hz; a file outside is unreadable, never kept
MIN_SECONDS = 0.02  # shorter clips hold no word
SILENT_PEAK = 2e-4  # -74 dBFS (about 7 steps of 16-bit audio): below this peak, DC removed, a clip is
# silent; the quietest of the 2,648 shared recordings peaks at 2.2e-3
CLIPPED_SHARE = 0.10  # share of samples within 0.1% of the peak: a sine has 2.8%, speech far less
ACTIVE_RATIO, MIN_ACTIVE_SECONDS = 0.01, 0.01  # sound above -40 dB of its peak must last >= 10 ms


class AudioError(ValueError):
    """A file that cannot be used as a clip; the message says why."""


class DegenerateAudio(AudioError):
    """Readable audio that holds no usable word (silent, constant, clipped, a click, too short)."""


@dataclasses.dataclass(frozen=True)
class Item:
    path: Path  # absolute
    rel: str  # relative to the source root, used in manifests and split lists
    word: str
    split: str
    speaker: str = ""  # FSDD: from the file name; Speech Commands: the hash before "_nohash_"
    problem: str = ""  # why the entry cannot be read at all ("" = a regular, readable file)


def _is_audio_name(p: Path) -> bool:
    return p.suffix.lower() in AUDIO_SUFFIXES


def entry_problem(p: Path) -> str:
    """Why ``p`` cannot be read as a clip without reading it ("" when it is a regular, readable
    file of at most MAX_FILE_BYTES): directories, FIFOs, devices, dangling links and link loops
    are never opened (opening a FIFO or /dev/zero would hang or never end)."""
    try:
        st = os.stat(p)  # follows symlinks
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop"
        if p.is_symlink():
            return f"dangling symlink to {os.readlink(p)}"
        return f"cannot be examined ({e.strerror})"
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file")
        return f"not a regular file ({kind})"
    if st.st_size > MAX_FILE_BYTES:
        return f"too large ({st.st_size} bytes > {MAX_FILE_BYTES})"
    if not os.access(p, os.R_OK):
        return "not readable (permission denied)"
    return ""


def _entries(folder: Path) -> list[Path]:
    """The entries of ``folder``, sorted; [] (with a warning) when it cannot be listed."""
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        log.warning("skipping folder %s: %s", folder, e.strerror)
        return []


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
        for p in _entries(root):
            m = _FSDD_NAME.match(p.name)
            if not m:
                if _is_audio_name(p):
                    log.warning("skipping %s: not an FSDD name {digit}_{speaker}_{index}.wav", p.name)
                continue
            split = "test" if int(m.group(3)) < 5 else "train"
            items.append(Item(p, p.name, DIGITS[int(m.group(1))], split, m.group(2), entry_problem(p)))
    elif source in ("speech_commands", "folder"):
        lists = {}
        if source == "speech_commands":
            for split, name in (("valid", "validation_list.txt"), ("test", "testing_list.txt")):
                f = root / name
                if not f.is_file():
                    raise FileNotFoundError(f"{f} is missing: is {root} a Speech Commands folder?")
                lists.update({line.strip(): split for line in f.read_text().splitlines() if line.strip()})
        for word_dir in [d for d in _entries(root) if d.is_dir() and not d.name.startswith("_")]:
            for p in _entries(word_dir):
                if not _is_audio_name(p):
                    continue
                rel = f"{word_dir.name}/{p.name}"
                split = lists.get(rel, "train") if source == "speech_commands" else _seeded_split(rel, seed)
                speaker = p.name.split("_nohash_")[0] if source == "speech_commands" else ""
                items.append(Item(p, rel, word_dir.name, split, speaker, entry_problem(p)))
    else:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    if not items:
        raise FileNotFoundError(f"no .wav or .wave files for source {source!r} under {root}")
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


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """(samples [n, channels] float32, sample rate) of any file soundfile knows.

    Raises AudioError (with the reason) for unreadable, empty, truncated or non-finite files.
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
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:  # always skipped: resampling it could need any memory
        raise AudioError(f"sample rate {sr} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    return x, int(sr)


def degenerate_reason(x: np.ndarray, sr: int) -> str:
    """Why ``x: [n, channels]`` at ``sr`` Hz holds no usable word, or "" (thresholds: the
    module's MIN_SECONDS, SILENT_PEAK, CLIPPED_SHARE, ACTIVE_RATIO and
    MIN_ACTIVE_SECONDS)."""
    if len(x) < MIN_SECONDS * sr:
        return f"too short: {len(x)} samples ({1e3 * len(x) / sr:.1f} ms < {1e3 * MIN_SECONDS:g} ms)"
    mono = x.mean(axis=1)
    ac = mono - mono.mean()
    peak = float(np.abs(ac).max())
    if peak < SILENT_PEAK:
        if float(np.abs(x - x.mean(axis=0)).max()) >= SILENT_PEAK:
            return "its channels cancel when mixed to mono (anti-phase)"
        if abs(float(mono.mean())) >= SILENT_PEAK:
            return f"constant: a DC offset of {float(mono.mean()):.3g} and no sound"
        return f"silent: peak {peak:.2g} < {SILENT_PEAK:g} (-74 dBFS)"
    at_peak = float(np.mean(np.abs(ac) >= 0.999 * peak))
    if at_peak >= CLIPPED_SHARE:
        return f"clipped or square: {100 * at_peak:.0f}% of samples at the peak (>= {100 * CLIPPED_SHARE:g}%)"
    active = int(np.sum(np.abs(ac) > ACTIVE_RATIO * peak))
    if active < MIN_ACTIVE_SECONDS * sr:
        return (f"a click: only {active} samples above -40 dB of the peak "
                f"(< {1e3 * MIN_ACTIVE_SECONDS:g} ms)")
    return ""


def to_clip(x: np.ndarray, sr: int, sample_rate: int, length: int) -> np.ndarray:
    """``x: [n, channels]`` at ``sr`` -> mono float32 ``[length]`` at ``sample_rate`` (channels
    averaged, resampled, centred by ``fit_length``, clipped to [-1, 1])."""
    x = x.mean(axis=1)
    if sr != sample_rate:
        x = soxr.resample(x, sr, sample_rate).astype(np.float32)
    return np.clip(fit_length(x, length), -1.0, 1.0).astype(np.float32)


def load_clip(path: str | Path, sample_rate: int, length: int) -> np.ndarray:
    """Read any audio file soundfile knows -> mono float32 ``[length]`` at ``sample_rate``.

    Raises AudioError for unreadable files and DegenerateAudio for ones with no usable word.
    """
    x, sr = read_audio(path)
    reason = degenerate_reason(x, sr)
    if reason:
        raise DegenerateAudio(reason)
    return to_clip(x, sr, sample_rate, length)


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


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` then rename to ``path``; on any failure (disk full) the temporary file is
    removed and the error says which file could not be written."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise OSError(e.errno, f"cannot write {path}: {e.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


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
            force: bool = False, speakers: str = "", keep_degenerate: bool = False,
            check_length=None) -> dict:
    """Prepare shards of ``words`` from ``source`` at ``path`` into ``out_dir``; returns the manifest.

    ``speakers``: "" for all, "a,b" for only those, "-a,-b" for all but those (see
    ``select_speakers``): e.g. a generator's data and its judge's data with no speaker in common.
    Re-running with the same inputs and options is a no-op (the manifest's fingerprint matches).
    Every file ends as used or listed in ``manifest["skipped"]`` with its reason, never fatal:
    entries that are not regular readable files are skipped unread (``entry_problem``), and
    degenerate audio (``degenerate_reason``) is skipped, or with ``keep_degenerate`` kept and
    listed in ``manifest["kept_degenerate"]``. ``check_length(length)`` (e.g. the model's) runs
    before anything is read or written. Words left with no clips are named in
    ``manifest["empty_words"]`` and logged.
    """
    if sample_rate < MIN_SAMPLE_RATE or length < 1:
        raise ValueError(f"sample rate {sample_rate} Hz and length {length} must be >= {MIN_SAMPLE_RATE} and >= 1")
    if check_length is not None:
        check_length(length)
    out_dir = Path(out_dir)
    items = select_speakers(list_items(source, path, seed), speakers)
    chosen = _select_words(items, parse_words(words))
    items = [it for it in items if it.word in chosen]
    checksums = {}
    for i, it in enumerate(items):
        if not it.problem:
            try:
                checksums[it.rel] = sha256_file(it.path)
                continue
            except OSError as e:
                items[i] = it = dataclasses.replace(it, problem=f"cannot be read ({e.strerror})")
        checksums[it.rel] = f"unusable: {it.problem}"
    options = dict(source=source, words=chosen, sample_rate=int(sample_rate), length=int(length),
                   seed=int(seed), format_version=FORMAT_VERSION)
    if speakers:  # only when set, so that earlier manifests keep their fingerprints
        options["speakers"] = speakers
    if keep_degenerate:
        options["keep_degenerate"] = True
    fingerprint = hashlib.sha256(json.dumps([options, sorted(checksums.items()),
                                             sorted((it.rel, it.split) for it in items)]).encode()).hexdigest()
    old = read_manifest(out_dir)
    # shards written before speaker labels lack *_speakers.npy: written again (same fingerprint)
    if old and old.get("fingerprint") == fingerprint and not force and (out_dir / "train_speakers.npy").exists():
        log.info("%s is up to date (same inputs and options): nothing to do", out_dir)
        return {**old, "up_to_date": True}

    out_dir.mkdir(parents=True, exist_ok=True)
    clips = {s: [] for s in SPLITS}
    labels = {s: [] for s in SPLITS}
    who = {s: [] for s in SPLITS}
    speaker_names = sorted({it.speaker for it in items if it.speaker})
    skipped, kept = [], []
    for it in items:
        try:
            if it.problem:
                raise AudioError(it.problem)
            x, sr = read_audio(it.path)
            reason = degenerate_reason(x, sr)
            if reason and not keep_degenerate:
                raise DegenerateAudio(reason)
            clip = to_clip(x, sr, sample_rate, length)
        except Exception as e:  # one file never stops the run: AudioError, OSError, or anything else
            why = str(e) if isinstance(e, AudioError) else f"{type(e).__name__}: {e}"
            log.warning("skipping %s: %s", it.rel, why)
            skipped.append({"file": it.rel, "reason": why})
            continue
        if reason:
            log.warning("keeping %s although %s", it.rel, reason)
            kept.append({"file": it.rel, "reason": reason})
        clips[it.split].append(clip)
        labels[it.split].append(chosen.index(it.word))
        who[it.split].append(speaker_names.index(it.speaker) if it.speaker else -1)
    counts = {}
    for s in SPLITS:
        audio = np.stack(clips[s]) if clips[s] else np.zeros((0, length), np.float32)
        lab = np.asarray(labels[s], dtype=np.int32)
        for name, arr in (("audio", audio), ("labels", lab), ("speakers", np.asarray(who[s], dtype=np.int32))):
            atomic_write(out_dir / f"{s}_{name}.npy", lambda tmp, arr=arr: np.save(tmp, arr))
        counts[s] = {w: int((lab == i).sum()) for i, w in enumerate(chosen)}
    empty = [w for w in chosen if not sum(counts[s][w] for s in SPLITS)]
    if empty:
        log.warning("no usable clips of %s: every file was skipped (see manifest.json)", ", ".join(empty))
    manifest = dict(options, words=chosen, speaker_names=speaker_names, counts=counts, skipped=skipped,
                    kept_degenerate=kept, empty_words=empty,
                    source_path=str(Path(path).resolve()), fingerprint=fingerprint,
                    source_sha256=hashlib.sha256(json.dumps(sorted(checksums.items())).encode()).hexdigest(),
                    files_sha256=checksums)
    text = json.dumps(manifest, indent=1)
    atomic_write(out_dir / "manifest.json", lambda tmp: tmp.write_text(text))
    n = {s: sum(c.values()) for s, c in counts.items()}
    log.info("wrote %s: %s clips (train %d, valid %d, test %d), %d skipped", out_dir,
             sum(n.values()), n["train"], n["valid"], n["test"], len(skipped))
    return manifest


def load_speakers(out_dir: str | Path, split: str) -> tuple[np.ndarray, list[str]]:
    """(speaker index [n] int32 into the names, the names) of a prepared split's clips, in the
    order of ``load_split``; -1 for a clip whose source names no speaker (``folder``)."""
    out_dir = Path(out_dir)
    f = out_dir / f"{split}_speakers.npy"
    if not f.exists():
        raise FileNotFoundError(f"{out_dir} was prepared before speaker labels were kept: prepare it again "
                                f"(`wavegan_jax prepare ... --out {out_dir} --force`, or delete the folder)")
    return np.load(f), list((read_manifest(out_dir) or {}).get("speaker_names", []))


def load_split(out_dir: str | Path, split: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(audio [n, length] float32, labels [n] int32) of a prepared split, memory-mapped."""
    out_dir = Path(out_dir)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    mode = "r" if mmap else None
    return (np.load(out_dir / f"{split}_audio.npy", mmap_mode=mode),
            np.load(out_dir / f"{split}_labels.npy", mmap_mode=mode))

