"""Does D use the label? D's logit on real test clips with the true label and with a wrong one.

* ratio: mean |D(x, y) - D(x, y')| over the spread of D(x, y) across clips; near 0: the label
  changes nothing.
* match_rate: share of clips whose logit, centred per assigned label (a per-label offset cancels
  in the WGAN loss), is higher with the true label than with the wrong one. 0.5: D does not check
  whether the clip matches the label; 1.0: it always does.
* g_grad_label_share: how much of the gradient G receives depends on the label. For generated
  clips x = G(z, y) it takes the gradient of G's loss (adversarial, plus the class loss for
  acgan) with respect to x, once with the intended label y and once with another label y', and
  reports the mean over clips of 1 - cos(grad_y, grad_y'): 0 means G is pushed the same way
  whatever word it was asked for (no word-specific signal); 1 means orthogonal pushes.

    python experiments/study/label_sensitivity.py runs/study_quick/concat-wgan_gp-s0 ...
    python experiments/study/label_sensitivity.py runs/study_quick/projection-hinge-s1 --checkpoints 250,500,1000

``--checkpoints`` measures the same quantities at earlier kept checkpoints (steps), to follow
them along training; the default is the last checkpoint.
"""
import argparse

import jax
import jax.numpy as jnp
import numpy as np

from wavegan_jax import data, sampling, train


def sensitivity(workdir: str, checkpoint: str = "latest") -> dict:
    run = sampling.load_run(workdir, checkpoint)
    audio, labels = (np.asarray(a) for a in data.load_split(run.config.data.prepared, "test"))
    shifts = jnp.zeros((len(audio), 4), jnp.int32)
    d = lambda y: np.asarray(run.Ds["wave"].apply(run.state.d_params["wave"], jnp.asarray(audio), jnp.asarray(y), shifts)[0])
    true = d(labels)
    k = max(run.num_classes, 1)
    wrong = np.mean([np.abs(true - d((labels + j) % k)) for j in range(1, k)], axis=0)
    return {"run": workdir, "step": run.step_count, "logit_std_over_clips": float(true.std()),
            "mean_abs_change_wrong_label": float(wrong.mean()),
            "ratio": float(wrong.mean() / (true.std() + 1e-12)),
            "match_rate": _match_rate(d, labels, k),
            "g_grad_label_share": _g_grad_label_share(run, k) if run.num_classes else 0.0}


def _g_grad_label_share(run, k: int, per_word: int = 50) -> float:
    """Mean over generated clips of 1 - cos(d loss_G / dx with the intended label, ... with label + 1)."""
    z, labels = sampling.word_noise(run, list(range(k)) if run.num_classes else [0], per_word, run.config.seed)
    x = run.generate(run.state.ema_params, z, labels)
    shifts = jnp.zeros((len(labels), 4), jnp.int32)

    def g_loss(x, y):  # G's training loss, summed over clips: each clip's gradient is its own
        return train.generator_loss(run.config, run.Ds, run.state.d_params, x, y, shifts)[0] * len(y)

    grad = jax.grad(g_loss)
    a, b = np.asarray(grad(x, labels)), np.asarray(grad(x, (labels + 1) % k))
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-20)
    return float(np.mean(1 - cos))


def _match_rate(d, labels, k) -> float:
    """Share of clips scored higher with the true label than with label + 1, per-label offsets removed."""
    centred = {}
    for y in range(k):
        s = d(np.full_like(labels, y))
        centred[y] = s - s.mean()
    idx = np.arange(len(labels))
    true = np.stack([centred[y] for y in range(k)])[labels, idx]
    wrong = np.stack([centred[y] for y in range(k)])[(labels + 1) % k, idx]
    return float(np.mean(true > wrong) + 0.5 * np.mean(true == wrong))  # ties (label unused) count half


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+")
    p.add_argument("--checkpoints", default="latest", help="comma-separated steps of kept checkpoints")
    a = p.parse_args()
    for w in a.runs:
        for ckpt in a.checkpoints.split(","):
            print(sensitivity(w, ckpt))
