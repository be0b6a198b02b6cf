import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wavegan_jax import conditioning, losses, models, train

A = jnp.array


def test_adversarial_losses_match_hand_computed_values():
    d, m = losses.wgan_d(A([1.0, 3.0]), A([0.0, 2.0]))
    assert float(d) == pytest.approx(-1.0) and float(m["wasserstein"]) == pytest.approx(1.0)
    assert float(losses.wgan_g(A([1.0, 3.0]))[0]) == pytest.approx(-2.0)
    ln2 = math.log(2)
    assert float(losses.nonsaturating_d(A([0.0]), A([0.0]))[0]) == pytest.approx(2 * ln2, rel=1e-6)
    # (1 - s) softplus(-2) + s softplus(2) + softplus(-1) with s = 0.1
    sp = lambda x: math.log1p(math.exp(x))
    want = 0.9 * sp(-2) + 0.1 * sp(2) + sp(-1)
    assert float(losses.nonsaturating_d(A([2.0]), A([-1.0]), label_smoothing=0.1)[0]) == pytest.approx(want, rel=1e-6)
    assert float(losses.nonsaturating_g(A([0.0]))[0]) == pytest.approx(ln2, rel=1e-6)
    assert float(losses.hinge_d(A([0.5, 2.0]), A([-2.0, 0.0]))[0]) == pytest.approx(0.75)
    assert float(losses.lsgan_d(A([1.0, 0.0]), A([0.0, 1.0]))[0]) == pytest.approx(0.5)
    assert float(losses.lsgan_d(A([1.0]), A([0.0]), label_smoothing=0.2)[0]) == pytest.approx(0.5 * 0.2 ** 2)
    assert float(losses.lsgan_g(A([1.0, 1.0]))[0]) == pytest.approx(0.0)
    assert float(losses.class_loss(jnp.zeros((3, 4)), A([0, 1, 3]))) == pytest.approx(math.log(4), rel=1e-6)


def _tiny_critic():
    w = jax.random.normal(jax.random.key(0), (6, 3))
    return lambda x: jnp.sum(jnp.tanh(x @ w), axis=-1)  # [B, 6] -> [B], examples independent


def test_gradient_penalty_equals_a_finite_difference_computation():
    d_fn = _tiny_critic()
    real = jax.random.normal(jax.random.key(1), (4, 6))
    fake = jax.random.normal(jax.random.key(2), (4, 6))
    eps = A([0.1, 0.5, 0.9, 0.3])
    gp, _ = losses.gradient_penalty(d_fn, real, fake, eps)
    x = np.asarray(eps[:, None] * real + (1 - eps[:, None]) * fake, np.float64)
    f = lambda x: np.asarray(d_fn(jnp.asarray(x, jnp.float32)), np.float64)
    h = 1e-2
    grads = np.stack([(f(x + h * np.eye(6)[j]) - f(x - h * np.eye(6)[j])) / (2 * h) for j in range(6)], axis=1)
    want = np.mean((np.linalg.norm(grads, axis=1) - 1) ** 2)
    assert float(gp) == pytest.approx(want, rel=1e-3)


def test_r1_penalty_of_a_linear_critic():
    real = jnp.ones((3, 5))
    assert float(losses.r1_penalty(lambda x: jnp.sum(2 * x, -1), real)) == pytest.approx(4 * 5, rel=1e-5)


def test_unknown_loss_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: wgan_gp, nonsaturating, hinge, lsgan"):
        losses.get("wasserstein")


@pytest.mark.parametrize("strategy,num_classes", list(itertools.product(
    [s for s in conditioning.STRATEGIES if s != "none"], [1, 2, 35])))
def test_every_strategy_builds_for_1_to_35_classes(strategy, num_classes):
    kw = dict(length=4096, d=4, num_classes=num_classes, conditioning=strategy)
    G, D = models.Generator(**kw), models.Discriminator(**kw)
    labels = jnp.arange(3) % num_classes
    gp = G.init(jax.random.key(0), jnp.zeros((3, 100)), labels)
    x = G.apply(gp, jax.random.normal(jax.random.key(1), (3, 100)), labels)
    dp = D.init(jax.random.key(2), x, labels, jnp.zeros((3, 4), jnp.int32))
    logits, cls, _ = D.apply(dp, x, labels, jnp.zeros((3, 4), jnp.int32))
    assert x.shape == (3, 4096) and logits.shape == (3,)
    assert cls.shape == ((3, num_classes) if strategy == "acgan" else (3, 0))


def test_sample_in_channel_puts_the_waveform_in_its_class_channel():
    x = jnp.arange(8, dtype=jnp.float32).reshape(2, 4, 1)
    y = conditioning.get("sample_in_channel").discriminator_input(x, A([2, 0]), 3)
    assert y.shape == (2, 4, 3)
    np.testing.assert_array_equal(y[0, :, 2], [0, 1, 2, 3])
    np.testing.assert_array_equal(y[1, :, 0], [4, 5, 6, 7])
    assert float(jnp.abs(y[0, :, :2]).sum() + jnp.abs(y[1, :, 1:]).sum()) == 0.0


def test_projection_logit_depends_on_the_label():
    D = models.Discriminator(length=4096, d=4, num_classes=2, conditioning="projection")
    x = jax.random.normal(jax.random.key(0), (2, 4096))
    shifts = jnp.zeros((2, 4), jnp.int32)
    p = D.init(jax.random.key(1), x, A([0, 1]), shifts)
    p = jax.tree.map(lambda a: a, p)
    p["params"]["class_embedding"] = jax.random.normal(jax.random.key(2), p["params"]["class_embedding"].shape)
    a, *_ = D.apply(p, x, A([0, 0]), shifts)
    b, *_ = D.apply(p, x, A([1, 1]), shifts)
    assert not np.allclose(a, b)


def _leaves(tree):
    return [np.array(x, copy=True) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("strategy,loss", list(itertools.product(conditioning.STRATEGIES, losses.LOSSES)))
def test_every_strategy_and_loss_pair_trains_one_step(smoke_config, strategy, loss):
    smoke_config.conditioning, smoke_config.loss = strategy, loss
    run = train.Run(smoke_config)
    g0, d0 = _leaves(run.state.g_params), _leaves(run.state.d_params)
    metrics = {k: float(v) for k, v in run.step().items()}
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    assert metrics["params_finite"] == 1.0
    assert sum(not np.array_equal(a, b) for a, b in zip(g0, _leaves(run.state.g_params))) == len(g0)
    changed = sum(not np.array_equal(a, b) for a, b in zip(d0, _leaves(run.state.d_params)))
    assert changed >= len(d0) - 1  # WGAN-type losses never move D's output bias
    z, labels, names = run.sample_inputs(2)
    assert run.generate(run.state.ema_params, z, labels).shape == (len(labels), 4096)
    assert ("gp" in metrics) == (loss == "wgan_gp") and ("d_class_loss" in metrics) == (strategy == "acgan")


def test_all_options_together(smoke_config):
    """Label smoothing, annealed instance noise, R1 and a 2:1 G:D update ratio in one step."""
    smoke_config.update({"conditioning": "acgan", "loss": "nonsaturating", "label_smoothing": 0.1,
                         "instance_noise": 0.1, "instance_noise_steps": 10, "r1_gamma": 1.0,
                         "g_steps": 2, "n_critic": 1})
    run = train.Run(smoke_config)
    metrics = {k: float(v) for k, v in run.step().items()}
    assert all(np.isfinite(v) for v in metrics.values()) and metrics["r1"] > 0
    assert int(run.state.g_opt[0].count) == 2 and int(run.state.d_opt["wave"][0].count) == 1
