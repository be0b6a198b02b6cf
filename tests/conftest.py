import json
import os
import shutil
import tempfile
from pathlib import Path

# One persistent XLA compilation cache for the whole test session, subprocesses included (they
# inherit the environment): many tests compile the same smoke-sized step, and reusing the compiled
# executable took two of test_train's tests from 117 s to 77 s on one core. Set before jax is imported.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _OWN_CACHE = tempfile.mkdtemp(prefix="wavegan_jax_xla_cache_")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# The tests' steps are tiny and their time goes to compiling: XLA CPU's backend at optimisation
# level 0 compiles a smoke-sized train step 2.6x faster (28 s -> 11 s on one core), and without
# XLA CPU's fusion emitters 3.2x faster again (the classic smoke step's backend compile 18.3 ->
# 5.8 s on one core of an AMD EPYC). Every test process compiles this way, subprocesses included,
# except those that compare numerics across device layouts (``subprocess_env`` below).
FAST_COMPILE = {"--xla_backend_optimization_level": "0", "--xla_cpu_use_fusion_emitters": "false"}
for _name, _value in FAST_COMPILE.items():
    if _name not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_name}={_value}".strip()

import pytest  # noqa: E402

from wavegan_jax import data  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
JUDGE = Path(__file__).parent / "fixtures" / "zero_one_judge.npz"  # fixtures/README.md


@pytest.fixture(scope="session")
def prepared(tmp_path_factory) -> Path:
    """The bundled FSDD zero/one clips prepared at 8 kHz, 4096 samples (what the quickstart uses)."""
    out = tmp_path_factory.mktemp("prepared") / "fsdd_zero_one"
    data.prepare("fsdd", data.BUNDLED, out, words="zero,one", sample_rate=8000, length=4096)
    return out


def unpack_judge(npz: Path, folder: Path) -> None:
    """Install the packed classifier next to the prepared data in ``folder``, as training would."""
    import flax
    import numpy as np

    from wavegan_jax import classifier

    f = np.load(npz)
    info = json.loads(str(f["info"]))
    fingerprint = data.read_manifest(folder)["fingerprint"]
    assert info["manifest_fingerprint"] == fingerprint, (
        f"{npz.name} was trained on other prepared data: run `python tests/test_calibration.py` to train it again")
    params = flax.traverse_util.unflatten_dict({k[len("params/"):]: f[k] for k in f.files if k.startswith("params/")},
                                               sep="/")
    classifier.save(folder, params, info)


@pytest.fixture(scope="session")
def judged(prepared, tmp_path_factory) -> Path:
    """A copy of ``prepared`` with the fixture's 30-epoch zero/one judge installed as its classifier
    (what training would use to evaluate), without training one in the suite. Read it, don't write."""
    folder = tmp_path_factory.mktemp("judged") / "fsdd_zero_one"
    shutil.copytree(prepared, folder, ignore=shutil.ignore_patterns("classifier"))
    unpack_judge(JUDGE, folder)
    return folder


@pytest.fixture
def smoke_config(prepared):
    """The quickstart experiment shrunk to seconds, reading the session's prepared shards."""
    from experiments import quickstart

    c = quickstart.get_config("classic,smoke")
    c.data.prepared = str(prepared)
    return c


def subprocess_env(devices: int | None = None, as_users: bool = True) -> dict[str, str]:
    """The environment for a test's subprocess: ``devices`` CPU devices (one unless given), and
    with ``as_users`` XLA's default optimisation and fusion, as users compile, for subprocesses that
    compare numerics across device layouts (reassociated sums at level 0 flip the sign of Adam's
    step for a near-zero gradient); else the suite's ``FAST_COMPILE``."""
    drop = ("--xla_force_host_platform_device_count", *(FAST_COMPILE if as_users else ()))
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(drop)]
    if devices:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    return dict(os.environ, XLA_FLAGS=" ".join(flags), JAX_PLATFORMS="cpu")


def shared_data(*parts) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.fail(f"{p} is missing: the tests need ../shared/data beside the repository")
    return p


@pytest.fixture(autouse=True)
def _cwd_repo(monkeypatch):
    monkeypatch.chdir(REPO)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(items):
    """Tests marked ``heavy`` (a minute or more of one worker) run first, in collection order, and
    the many short ones after them: the two workers then run out of tests within seconds of each
    other instead of one idling while the other finishes a long test at the end."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


def pytest_unconfigure(config):
    """Remove the session's compilation cache if this process made it (not one given by the user)."""
    if "_OWN_CACHE" in globals() and not hasattr(config, "workerinput"):
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)
