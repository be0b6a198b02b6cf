"""K seeds vmapped in one compiled step (``config.num_seeds = K``) against K separate runs.

    python benchmarks/bench_seeds.py                          # the table in BENCHMARKS.md
    python benchmarks/bench_seeds.py --cases 1024:16:64 --ks 1,4,10 --repeats 3

For each length:d:batch case it times one training step of the one-seed run (K=1) and of the
vmapped run for each K (median of ``repeats`` calls after a warm-up call, random data, each
member with its own batch as with ``seeds_share_data=False``). "K sequential" is K times the
one-seed time: what running the K seeds one after another costs. Run it with nothing else on
the machine.
"""
from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from bench_step import machine_info, median_time
from experiments import base
from wavegan_jax import train


def seconds_per_step(length: int, d: int, batch: int, k: int, n_critic: int, repeats: int) -> float:
    c = base.get_config()
    c.model.length, c.model.d, c.batch_size, c.n_critic, c.num_seeds = length, d, batch, n_critic, k
    run = train.Run(c, manifest={"words": ["zero", "one"], "sample_rate": 8000, "length": length})
    rng = np.random.default_rng(0)
    lead = (k,) if k > 1 else ()
    batch_np = {"audio": rng.uniform(-1, 1, lead + (n_critic, batch, length)).astype(np.float32),
                "labels": rng.integers(0, 2, lead + (n_critic, batch)).astype(np.int32)}
    batch_dev = {key: jax.device_put(v, run.batch_sharding) for key, v in batch_np.items()}

    def call():
        run.state, m = run.train_step(run.state, batch_dev)
        return m

    return median_time(call, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="1024:16:64,4096:16:32", help="length:d:batch list")
    p.add_argument("--ks", default="1,4,10")
    p.add_argument("--n-critic", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    print(json.dumps(machine_info()))
    for case in a.cases.split(","):
        length, d, batch = (int(x) for x in case.split(":"))
        one = seconds_per_step(length, d, batch, 1, a.n_critic, a.repeats)
        for k in (int(x) for x in a.ks.split(",")):
            sec = one if k == 1 else seconds_per_step(length, d, batch, k, a.n_critic, a.repeats)
            print(json.dumps(dict(length=length, d=d, batch=batch, n_critic=a.n_critic, k=k,
                                  sec_vmapped=round(sec, 4), sec_sequential=round(k * one, 4),
                                  speedup=round(k * one / sec, 2))), flush=True)


if __name__ == "__main__":
    main()
