import hashlib
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import shared_data
from wavegan_jax import data, download, input_pipeline


def test_fsdd_prepare_gives_the_documented_counts_and_splits(tmp_path):
    m = data.prepare("fsdd", shared_data("fsdd"), tmp_path, words="sc09", sample_rate=8000, length=8192)
    assert m["words"] == list(data.DIGITS)
    assert m["counts"]["train"] == {w: 225 for w in data.DIGITS}  # 5 speakers x indices 5..49
    assert m["counts"]["test"] == {w: 25 for w in data.DIGITS}  # indices 0..4
    assert sum(m["counts"]["valid"].values()) == 0 and m["skipped"] == []
    audio, labels = data.load_split(tmp_path, "test")
    assert audio.shape == (250, 8192) and audio.dtype == np.float32 and labels.shape == (250,)
    assert np.abs(audio).max() <= 1.0 and np.abs(audio).max() > 0.1
    assert np.bincount(labels).tolist() == [25] * 10


def test_speech_commands_prepare_uses_the_official_lists(tmp_path):
    m = data.prepare("speech_commands", shared_data("speech_commands"), tmp_path, words="sc09",
                     sample_rate=16000, length=16384)
    n = {s: sum(c.values()) for s, c in m["counts"].items()}
    assert n == {"train": 62, "valid": 16, "test": 22}  # shared/data/README.md
    listed = (shared_data("speech_commands") / "testing_list.txt").read_text().split()
    assert sum(1 for f in listed if f.split("/")[0] in data.DIGITS) == 22


def test_unknown_word_lists_the_words_that_exist(tmp_path):
    with pytest.raises(ValueError, match=r"unknown word\(s\) eleven; this source has: zero, one"):
        data.prepare("fsdd", data.BUNDLED, tmp_path, words="zero,eleven", sample_rate=8000, length=4096)
    assert not (tmp_path / "manifest.json").exists()


def _folder_with_bad_files(root: Path) -> Path:
    (root / "yes").mkdir(parents=True)
    (root / "no").mkdir()
    t = np.linspace(0, 1, 8000, endpoint=False)
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    for i in range(3):
        sf.write(root / "yes" / f"good{i}.wav", tone, 8000, subtype="PCM_16")
        sf.write(root / "no" / f"good{i}.wav", -tone, 8000, subtype="PCM_16")
    stereo = np.stack([0.8 * tone, 0.4 * tone], axis=1)
    sf.write(root / "yes" / "stereo.wav", stereo, 8000, subtype="PCM_16")
    (root / "no" / "garbage.wav").write_bytes(b"this is not audio at all" * 10)
    (root / "no" / "empty.wav").write_bytes(b"")
    buf = io.BytesIO()
    sf.write(buf, tone, 8000, format="WAV", subtype="PCM_16")
    (root / "yes" / "truncated.wav").write_bytes(buf.getvalue()[:5000])
    sf.write(root / "no" / "zero_frames.wav", np.zeros(0), 8000, subtype="PCM_16")
    return root


def test_corrupt_files_are_reported_and_skipped_and_stereo_is_mixed(tmp_path, caplog):
    src = _folder_with_bad_files(tmp_path / "src")
    m = data.prepare("folder", src, tmp_path / "out", sample_rate=8000, length=4096)
    skipped = {s["file"]: s["reason"] for s in m["skipped"]}
    assert set(skipped) == {"no/garbage.wav", "no/empty.wav", "yes/truncated.wav", "no/zero_frames.wav"}
    assert "truncated" in skipped["yes/truncated.wav"]
    assert "unreadable" in skipped["no/garbage.wav"]
    assert all(f in caplog.text for f in skipped)
    assert sum(sum(c.values()) for c in m["counts"].values()) == 7  # 6 tones + stereo
    clip = data.load_clip(src / "yes" / "stereo.wav", 8000, 4096)
    assert np.abs(clip).max() == pytest.approx(0.3, abs=1e-3)  # the mean of 0.4 and 0.2 sines


def test_prepare_again_is_a_no_op_and_writes_atomically(tmp_path):
    m1 = data.prepare("fsdd", data.BUNDLED, tmp_path, words="one", sample_rate=8000, length=4096)
    before = (tmp_path / "train_audio.npy").stat().st_mtime_ns
    m2 = data.prepare("fsdd", data.BUNDLED, tmp_path, words="one", sample_rate=8000, length=4096)
    assert m2["up_to_date"] and m2["fingerprint"] == m1["fingerprint"]
    assert (tmp_path / "train_audio.npy").stat().st_mtime_ns == before
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    m3 = data.prepare("fsdd", data.BUNDLED, tmp_path, words="one", sample_rate=4000, length=4096)
    assert not m3.get("up_to_date") and m3["sample_rate"] == 4000


def test_fit_length_centres_the_energy():
    x = np.zeros(1000, np.float32)
    x[100:110] = 1.0
    y = data.fit_length(x, 200)  # long clip: the burst is moved to the middle of the window
    assert y.shape == (200,) and np.argmax(y) in range(95, 100) and y.sum() == 10
    short = np.zeros(50, np.float32)
    short[40:50] = 1.0
    z = data.fit_length(short, 200)  # short clip: centroid at 100, clip kept whole
    assert z.sum() == 10 and abs(np.mean(np.nonzero(z)[0]) - 100) <= 1


def test_batches_are_a_pure_function_of_position():
    audio = np.arange(50, dtype=np.float32)[:, None].repeat(4, axis=1)
    labels = np.arange(50) % 2
    a = input_pipeline.Batches(audio, labels, global_batch=8, n_critic=2, seed=3)
    b = input_pipeline.Batches(audio, labels, global_batch=8, n_critic=2, seed=3)
    first = [a.get(p)["audio"][..., 0] for p in range(0, 14, 2)]
    np.testing.assert_array_equal(b.get(6)["audio"][..., 0], first[3])  # random access = sequential
    epoch0 = np.concatenate([f.ravel() for f in first[:3]])  # 6 batches of 8 = one epoch (50 // 8)
    assert len(set(epoch0.tolist())) == 48  # no clip twice within an epoch
    halves = [input_pipeline.Batches(audio, labels, global_batch=8, n_critic=2, seed=3,
                                     process_index=i, process_count=2).get(4)["audio"] for i in (0, 1)]
    # The processes' parts, side by side, are the global batch in the same row order (GP pairs
    # real row i with fake row i, so the order matters).
    np.testing.assert_array_equal(np.concatenate(halves, axis=1), a.get(4)["audio"])


# ---- downloads against a local HTTP server --------------------------------------------------
@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _fsdd_archive(path: Path, files: int = 4) -> str:
    inner = "free-spoken-digit-dataset-26eb9aaf76e81b692f806f9140c2d2777410d7a1/recordings"
    with tarfile.open(path, "w:gz") as t:
        for f in sorted(data.BUNDLED.glob("recordings/*.wav"))[:files]:
            t.add(f, arcname=f"{inner}/{f.name}")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_checksum_match_unpacks(server, tmp_path):
    www, url = server
    sha = _fsdd_archive(www / "fsdd.tar.gz")
    source, root = download.download("fsdd", tmp_path / "cache", archive=f"{url}/fsdd.tar.gz", sha256=sha)
    assert source == "fsdd" and len(list(root.glob("*.wav"))) == 4
    # trust on first use: with no checksum given, the first one is recorded and enforced later
    source, root2 = download.download("fsdd", tmp_path / "cache2", archive=f"{url}/fsdd.tar.gz")
    assert json.loads((tmp_path / "cache2" / "checksums.json").read_text())["fsdd"] == sha


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path):
    www, url = server
    _fsdd_archive(www / "fsdd.tar.gz")
    cache = tmp_path / "cache"
    with pytest.raises(download.ChecksumError, match="nothing was unpacked"):
        download.download("fsdd", cache, archive=f"{url}/fsdd.tar.gz", sha256="0" * 64)
    assert list(cache.iterdir()) == []
    # a recorded checksum catches a changed archive on a later download
    download.download("fsdd", cache, archive=f"{url}/fsdd.tar.gz")
    _fsdd_archive(www / "fsdd.tar.gz", files=3)
    (cache / "fsdd" / ".complete").unlink()
    with pytest.raises(download.ChecksumError):
        download.download("fsdd", cache, archive=f"{url}/fsdd.tar.gz")


def test_speakers_can_be_kept_or_left_out_and_unknown_ones_are_listed(tmp_path):
    common = dict(words="zero", sample_rate=8000, length=4096)
    some = data.prepare("fsdd", data.BUNDLED, tmp_path / "a", speakers="george,theo", **common)
    rest = data.prepare("fsdd", data.BUNDLED, tmp_path / "b", speakers="-george,-theo", **common)
    assert set(some["files_sha256"]).isdisjoint(rest["files_sha256"])
    assert {f.split("_")[1] for f in some["files_sha256"]} == {"george", "theo"}
    assert sum(some["counts"]["train"].values()) + sum(rest["counts"]["train"].values()) == 225
    with pytest.raises(ValueError, match="unknown speaker.*bob; known: george, jackson, nicolas, theo, yweweler"):
        data.prepare("fsdd", data.BUNDLED, tmp_path / "c", speakers="bob", **common)
    with pytest.raises(ValueError, match="not both"):
        data.prepare("fsdd", data.BUNDLED, tmp_path / "c", speakers="george,-theo", **common)


def test_prepare_keeps_each_clips_speaker_and_rewrites_shards_without_them(tmp_path):
    common = dict(words="zero,one", sample_rate=8000, length=4096)
    m = data.prepare("fsdd", data.BUNDLED, tmp_path / "all", **common)
    assert m["speaker_names"] == ["george", "jackson", "nicolas", "theo", "yweweler"]
    who, names = data.load_speakers(tmp_path / "all", "train")
    audio, labels = data.load_split(tmp_path / "all", "train")
    assert names == m["speaker_names"] and who.shape == labels.shape
    assert np.bincount(who).tolist() == [90] * 5  # 2 words x indices 5..49 per speaker
    # row i's speaker is its file's: theo's own shard holds exactly the rows marked theo, in order
    data.prepare("fsdd", data.BUNDLED, tmp_path / "theo", speakers="theo", **common)
    theo_audio, theo_labels = data.load_split(tmp_path / "theo", "train")
    mask = who == names.index("theo")
    assert np.array_equal(theo_audio, audio[mask]) and np.array_equal(theo_labels, labels[mask])
    # a shard prepared before speaker labels were kept: a clear error, and prepare writes them
    (tmp_path / "all" / "train_speakers.npy").unlink()
    with pytest.raises(FileNotFoundError, match="before speaker labels were kept: prepare it again"):
        data.load_speakers(tmp_path / "all", "train")
    again = data.prepare("fsdd", data.BUNDLED, tmp_path / "all", **common)
    assert not again.get("up_to_date") and again["fingerprint"] == m["fingerprint"]
    assert np.array_equal(data.load_speakers(tmp_path / "all", "train")[0], who)
