"""How D's gradients and the critic gap scale with the clip length and the model size d.

The original study asked why a downsized WaveGAN (1024 samples, d=16) needs other
hyperparameters than the full one (16384 samples, d=64). This probe trains the unconditional
WGAN-GP base recipe of experiments/divergence.py (lr 1e-4, lambda 10, one critic update) for a
few hundred steps at each length L (1 s of the bundled zero/one clips at L Hz) and d, and records
the quantities the divergence rule (|loss| > 100) depends on: the critic's outputs on real and
generated clips, their gap (the Wasserstein estimate), the input-gradient norm that the gradient
penalty pins to 1, and the global norms of D's and G's parameter gradients.

    python experiments/scaling_probe.py --steps 200 --out results/scaling_probe.json

Needs the prepared folders data/prepared/fsdd_zero_one_{L}hz_{L} (python -m wavegan_jax prepare
--source fsdd --path wavegan_jax/bundled/fsdd_zero_one --words zero,one --sample-rate L --length L
--out ...; made on first use). Cases above --max-cost (L * d^2 relative to 1024 * 16^2) run one
step only: their "init" columns are measured, their "trained" columns are not.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import divergence  # noqa: E402
from wavegan_jax import data as data_lib, train  # noqa: E402

KEYS = ("d_real", "d_fake", "wasserstein", "gp_grad_norm", "gp", "d_total", "g_loss",
        "d_grad_norm", "g_grad_norm")


def probe(length: int, d: int, steps: int, batch: int, seed: int) -> dict:
    folder = Path(f"data/prepared/fsdd_zero_one_{length}hz_{length}")
    if not folder.exists():
        data_lib.prepare("fsdd", "wavegan_jax/bundled/fsdd_zero_one", folder, words="zero,one",
                         sample_rate=length, length=length)
    c = divergence.get_config("none")
    c.data.prepared, c.data.sample_rate = str(folder), length
    c.model.length, c.model.d, c.batch_size, c.seed = length, d, batch, seed
    run = train.Run(c)
    t = time.perf_counter()
    rows = [{k: float(v) for k, v in jax.device_get(run.step()).items()} for _ in range(steps)]
    seconds = time.perf_counter() - t
    audio, _ = data_lib.load_split(folder, "train")
    out = {"length": length, "d": d, "steps": steps, "batch": batch, "seed": seed,
           "seconds": round(seconds, 1),
           "real_l2_norm": float(np.linalg.norm(audio, axis=1).mean()),  # mean ||x||_2 of a real clip
           "d_params": int(sum(x.size for x in jax.tree.leaves(run.state.d_params))),
           "init": {k: rows[0][k] for k in KEYS}}
    if steps > 1:
        tail = rows[-min(50, steps // 2):]
        out["trained"] = {k: float(np.mean([r[k] for r in tail])) for k in KEYS}
        out["max_abs"] = {k: float(max(abs(r[k]) for r in rows)) for k in ("d_total", "g_loss", "gp_grad_norm")}
    return out


def table(results: list[dict]) -> str:
    lines = ["| L | d | D params | mean ‖x‖ real | steps | init gap | init ‖∇ₓD‖ | init ‖∇θD‖ | init ‖∇θG‖ "
             "| trained gap | trained ‖∇ₓD‖ | trained ‖∇θD‖ | trained ‖∇θG‖ | max abs D loss | max abs G loss |",
             "|" + "---|" * 15]
    for r in results:
        i, t, m = r["init"], r.get("trained"), r.get("max_abs")
        cells = [r["length"], r["d"], f"{r['d_params']:,}", f"{r['real_l2_norm']:.2f}", r["steps"],
                 f"{i['wasserstein']:.3g}", f"{i['gp_grad_norm']:.3g}", f"{i['d_grad_norm']:.3g}",
                 f"{i['g_grad_norm']:.3g}"]
        cells += [f"{t['wasserstein']:.3g}", f"{t['gp_grad_norm']:.3g}", f"{t['d_grad_norm']:.3g}",
                  f"{t['g_grad_norm']:.3g}", f"{m['d_total']:.3g}", f"{m['g_loss']:.3g}"] if t else ["not run"] * 6
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lengths", default="1024,4096,16384")
    p.add_argument("--ds", default="16,32,64")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-cost", type=float, default=16.0, help="L*d^2 / (1024*16^2) above which a case runs 1 step")
    p.add_argument("--out", default="results/scaling_probe.json")
    a = p.parse_args(argv)
    results = []
    for length in map(int, a.lengths.split(",")):
        for d in map(int, a.ds.split(",")):
            cost = length * d * d / (1024 * 16 * 16)
            results.append(probe(length, d, a.steps if cost <= a.max_cost else 1, a.batch, a.seed))
            print(json.dumps(results[-1]), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=1))
    Path(a.out).with_suffix(".md").write_text(table(results) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
