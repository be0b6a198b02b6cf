import os
from pathlib import Path

import pytest

from wavegan_jax import data

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def prepared(tmp_path_factory) -> Path:
    """The bundled FSDD zero/one clips prepared at 8 kHz, 4096 samples (what the quickstart uses)."""
    out = tmp_path_factory.mktemp("prepared") / "fsdd_zero_one"
    data.prepare("fsdd", data.BUNDLED, out, words="zero,one", sample_rate=8000, length=4096)
    return out


@pytest.fixture
def smoke_config(prepared):
    """The quickstart experiment shrunk to seconds, reading the session's prepared shards."""
    from experiments import quickstart

    c = quickstart.get_config("smoke")
    c.data.prepared = str(prepared)
    return c


def shared_data(*parts) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.fail(f"{p} is missing: the tests need ../shared/data beside the repository")
    return p


@pytest.fixture(autouse=True)
def _cwd_repo(monkeypatch):
    monkeypatch.chdir(REPO)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
