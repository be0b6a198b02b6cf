"""Seconds per training iteration (n_critic D updates + 1 G update) and achieved FLOP rate.

    python benchmarks/bench_step.py                       # the table in BENCHMARKS.md
    python benchmarks/bench_step.py --cases 4096:32 --impls polyphase --repeats 3

For each length:d and conv_impl it builds the real compiled train step on random data
(no files needed), times ``repeats`` calls after one warm-up call, and divides XLA's
``cost_analysis()`` FLOPs of the compiled step by the median time. The reference rate is a
4096 x 4096 float32 matmul timed in the same process. Run it with nothing else on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments import base
from wavegan_jax import train


def machine_info() -> dict:
    """What the timings depend on: the cloud hosts behind "2-core AMD EPYC" differ ~3x in matmul rate."""
    info = {"machine": platform.machine(), "cpus": os.cpu_count(), "devices": str(jax.devices()),
            "jax": jax.__version__}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        field = lambda name: re.search(rf"^{name}\s*:\s*(.*)$", text, re.M).group(1)
        info["cpu"] = f"{field('model name')} (family {field('cpu family')}, model {field('model')}, " \
                      f"{float(field('cpu MHz')):.0f} MHz)"
        flags = set(field("flags").split())
        info["vector"] = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16") if f in flags]
    except (OSError, AttributeError):
        pass  # not Linux: the fields above still say what ran
    return info


def median_time(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # compile / warm up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def matmul_rate(repeats: int = 5) -> float:
    a = jax.random.normal(jax.random.key(0), (4096, 4096))
    f = jax.jit(lambda a: a @ a)
    return 2 * 4096 ** 3 / median_time(lambda: f(a), repeats)


def step_case(length: int, d: int, impl: str, batch: int, n_critic: int, repeats: int) -> dict:
    c = base.get_config()
    c.model.length, c.model.d, c.model.conv_impl = length, d, impl
    c.batch_size, c.n_critic = batch, n_critic
    manifest = {"words": ["zero", "one"], "sample_rate": 16000, "length": length}
    run = train.Run(c, manifest=manifest)
    rng = np.random.default_rng(0)
    batch_np = {"audio": rng.uniform(-1, 1, (n_critic, batch, length)).astype(np.float32),
                "labels": rng.integers(0, 2, (n_critic, batch)).astype(np.int32)}
    batch_dev = {k: jax.device_put(v, run.batch_sharding) for k, v in batch_np.items()}
    compiled = run.train_step.lower(run.state, batch_dev).compile()
    cost = compiled.cost_analysis()
    flops = float((cost[0] if isinstance(cost, list) else cost).get("flops", 0.0))

    def call():
        run.state, m = run.train_step(run.state, batch_dev)
        return m

    sec = median_time(call, repeats)
    return dict(length=length, d=d, conv_impl=impl, batch=batch, n_critic=n_critic,
                sec_per_step=round(sec, 3), gflops_per_step=round(flops / 1e9, 1),
                gflops_per_sec=round(flops / sec / 1e9, 1))


def generate_case(length: int, d: int, impl: str, num: int, repeats: int) -> dict:
    c = base.get_config()
    c.model.length, c.model.d, c.model.conv_impl = length, d, impl
    run = train.Run(c, manifest={"words": ["zero", "one"], "sample_rate": 16000, "length": length})
    z = jax.random.normal(jax.random.key(1), (num, c.model.latent_dim))
    labels = jnp.zeros((num,), jnp.int32)
    sec = median_time(lambda: run.generate(run.state.ema_params, z, labels), repeats)
    return dict(length=length, d=d, conv_impl=impl, clips=num, sec_generate=round(sec, 3))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="4096:32,8192:32,16384:64", help="length:d list")
    p.add_argument("--impls", default="polyphase,direct")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--n-critic", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--generate", default="16384:64", help="length:d for the 64-clip generation timing ('' to skip)")
    a = p.parse_args()
    print(json.dumps(machine_info()))
    ref = matmul_rate()
    print(json.dumps({"matmul_4096_gflops_per_sec": round(ref / 1e9, 1)}))
    for case in a.cases.split(","):
        length, d = map(int, case.split(":"))
        for impl in a.impls.split(","):
            r = step_case(length, d, impl, a.batch, a.n_critic, a.repeats)
            r["fraction_of_matmul"] = round(r["gflops_per_sec"] * 1e9 / ref, 2)
            print(json.dumps(r), flush=True)
    if a.generate:
        length, d = map(int, a.generate.split(":"))
        for impl in a.impls.split(","):
            print(json.dumps(generate_case(length, d, impl, 64, a.repeats)), flush=True)


if __name__ == "__main__":
    main()
