"""Two processes on 127.0.0.1 train one model (jax.distributed, Gloo collectives on CPU)."""
import json
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO, subprocess_env
from wavegan_jax import checkpoints as ckpt
from wavegan_jax import train


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.heavy
def test_two_processes_train_like_one_and_only_process_0_writes(smoke_config, judged, tmp_path):
    """Two processes of one device each train like one process with two devices: the same mesh and
    the same global batch, so only where the two halves' gradients are summed differs (Gloo or
    in-process), and a sum of two is exact. That the two-device step equals the one-device step is
    ``test_two_device_step_equals_one_device_step``; all three compile as the suite does."""
    smoke_config.data.prepared = str(judged)  # with a judge, so evaluation runs too
    smoke_config.num_steps, smoke_config.checkpoint_every, smoke_config.eval_every = 3, 3, 3
    overrides = [f"--config.data.prepared={judged}", "--config.num_steps=3", "--config.checkpoint_every=3",
                 "--config.eval_every=3"]
    port = free_port()
    train_cmd = [sys.executable, "-m", "wavegan_jax", "train", "--config=experiments/quickstart.py:classic,smoke", *overrides]
    procs = [subprocess.Popen(
        [*train_cmd, f"--workdir={tmp_path / 'two'}", f"--coordinator=127.0.0.1:{port}",
         "--num_processes=2", f"--process_id={i}"], cwd=REPO, env=subprocess_env(as_users=False),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in (0, 1)]
    # The reference: 1 process with 2 devices on the same global batch
    procs.append(subprocess.Popen([*train_cmd, f"--workdir={tmp_path / 'one'}"], cwd=REPO,
                                  env=subprocess_env(devices=2, as_users=False),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for i, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"process {i}:\n{out[-3000:]}"
    for i in (0, 1):
        assert f"process {i} of 2; 1 local and 2 global devices" in outs[i]
    assert "devices: [CpuDevice(id=0), CpuDevice(id=1)]" in outs[2]

    managers = {w: ckpt.manager(tmp_path / w, 3) for w in ("one", "two")}
    assert managers["two"].all_steps() == [3]
    template = train.Run(smoke_config).state
    one, two = (ckpt.restore(managers[w], template)[0] for w in ("one", "two"))
    worst = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(two)))
    assert worst < 1e-6, f"2-process parameters differ from the 1-process, 2-device run by {worst}"
    # Process 0 alone wrote the logs: every step once, and one evaluation line.
    rows = [json.loads(x) for x in (tmp_path / "two" / "scalars.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["prefix"] == "train"] == [1, 2, 3]
    assert len((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()) == 1
    assert json.loads((tmp_path / "two" / "best" / "best.json").read_text())["step"] == 3
    assert len(list((tmp_path / "two").glob("events.out.tfevents.*"))) == 1
