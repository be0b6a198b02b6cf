import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wavegan_jax import conditioning, models


def reference_upsample(x, w):
    """y[t] = sum_{4m + k = t + 12} x[m] w[k], straight from the definition (NumPy loops)."""
    b, length, _ = x.shape
    y = np.zeros((b, 4 * length, w.shape[2]))
    for t in range(4 * length):
        for m in range(length):
            k = t + 12 - 4 * m
            if 0 <= k < 25:
                y[:, t] += x[:, m] @ w[k]
    return y


def reference_downsample(x, w):
    """y[n] = sum_k x[4n + k - 10] w[k] (zero outside x)."""
    b, length, _ = x.shape
    y = np.zeros((b, length // 4, w.shape[2]))
    for n in range(length // 4):
        for k in range(25):
            i = 4 * n + k - 10
            if 0 <= i < length:
                y[:, n] += x[:, i] @ w[k]
    return y


@pytest.mark.parametrize("length", [1, 2, 4, 16])  # 1, 2 and 4 take the short-sequence im2col path
def test_upsample_forms_compute_the_kernel25_stride4_layer(length):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, length, 3)).astype(np.float32)
    w = rng.normal(size=(25, 3, 5)).astype(np.float32)
    ref = reference_upsample(x, w)
    np.testing.assert_allclose(models.upsample_direct(x, w), ref, atol=1e-4)
    np.testing.assert_allclose(models.upsample_polyphase(x, w), ref, atol=1e-4)


@pytest.mark.parametrize("length", [4, 8, 16, 64])
def test_downsample_forms_compute_the_kernel25_stride4_layer(length):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, length, 3)).astype(np.float32)
    w = rng.normal(size=(25, 3, 5)).astype(np.float32)
    ref = reference_downsample(x, w)
    np.testing.assert_allclose(models.downsample_direct(x, w), ref, atol=1e-4)
    np.testing.assert_allclose(models.downsample_polyphase(x, w), ref, atol=1e-4)


def test_polyphase_kernels_put_zeros_in_the_three_unused_slots():
    w = jnp.ones((25, 1, 1))
    assert float(models.upsample_polyphase_kernel(w).sum()) == 25.0
    assert float(models.downsample_polyphase_kernel(w).sum()) == 25.0


def expected_counts(length, d, k):
    """Parameter counts of the paper's WaveGAN with k one-hot channels (concat) or k=0."""
    steps, ch = length // 1024, [16 * d, 8 * d, 4 * d, 2 * d, d, 1]
    g = 100 * steps * 16 * d + steps * 16 * d
    g += sum(25 * (cin + (k if i == 0 else 0)) * cout + cout for i, (cin, cout) in enumerate(zip(ch, ch[1:])))
    dch = [1 + k] + ch[::-1][1:]
    dcount = sum(25 * cin * cout + cout for cin, cout in zip(dch, dch[1:])) + steps * 16 * d + 1
    return g, dcount


@pytest.mark.parametrize("length,d,conv_impl", list(itertools.product(models.LENGTHS, [32, 64], ["polyphase", "direct"])))
def test_shapes_and_parameter_counts(length, d, conv_impl):
    for cond, k in (("none", 0), ("concat", 3)):
        kw = dict(length=length, d=d, num_classes=k, conditioning=cond, conv_impl=conv_impl)
        G, D = models.Generator(**kw), models.Discriminator(**kw)
        z, labels = jnp.zeros((2, 100)), jnp.array([0, 2])
        gp = jax.eval_shape(G.init, jax.random.key(0), z, labels)
        shifts = jnp.zeros((2, 4), jnp.int32)
        dp = jax.eval_shape(D.init, jax.random.key(0), jnp.zeros((2, length)), labels, shifts)
        assert jax.eval_shape(G.apply, gp, z, labels).shape == (2, length)
        assert jax.eval_shape(D.apply, dp, jnp.zeros((2, length)), labels, shifts)[0].shape == (2,)
        assert (models.param_count(gp), models.param_count(dp)) == expected_counts(length, d, k)


def test_paper_generator_has_19_million_parameters():
    g, _ = expected_counts(16384, 64, 0)
    assert g == 19_065_345  # dense 1,654,784 + five kernel-25 layers


def test_generator_runs_and_respects_tanh_range():
    G = models.Generator(length=4096, d=4, num_classes=2)
    z = jax.random.normal(jax.random.key(0), (3, 100))
    p = G.init(jax.random.key(1), z, jnp.array([0, 1, 1]))
    y = G.apply(p, z, jnp.array([0, 1, 1]))
    assert y.shape == (3, 4096) and float(jnp.abs(y).max()) <= 1.0
    assert not np.allclose(y[0], y[1])


def test_phase_shuffle_shifts_with_reflection():
    x = jnp.arange(6, dtype=jnp.float32).reshape(1, 6, 1).repeat(3, axis=0)
    y = models.phase_shuffle(x, jnp.array([0, 2, -1]), 2)[..., 0]
    np.testing.assert_array_equal(y[0], [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(y[1], [2, 1, 0, 1, 2, 3])
    np.testing.assert_array_equal(y[2], [1, 2, 3, 4, 5, 4])


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="known: none, concat"):
        conditioning.get("concatenate")
    with pytest.raises(ValueError, match="WaveGAN supports"):
        models.check_length(5000)
    with pytest.raises(ValueError, match="known: auto, polyphase, direct"):
        models.resolve_conv_impl("fft")


def test_concat_conditioning_changes_the_output():
    G = models.Generator(length=4096, d=4, num_classes=2, conditioning="concat")
    z = jnp.ones((2, 100))
    p = G.init(jax.random.key(0), z, jnp.array([0, 1]))
    y = G.apply(p, z, jnp.array([0, 1]))
    assert not np.allclose(y[0], y[1])  # same z, different word
