import numpy as np
import pytest

from wavegan_jax import metrics


def test_fid_of_identical_sets_is_zero_and_of_shifted_sets_is_the_squared_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, 2.0, 0, 0, 0, 0])
    assert metrics.frechet_distance(a, a + shift) == pytest.approx(5.0, abs=1e-6)  # same covariance


def test_fid_of_scaled_gaussians_matches_the_closed_form():
    # N(0, I) vs N(0, 4 I) in d dims: Tr(I + 4I - 2 * 2I) = d
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20000, 3))
    assert metrics.frechet_distance(a, 2 * a) == pytest.approx(3.0, rel=0.03)


def test_inception_score_extremes():
    k = 4
    onehot = np.eye(k)[np.arange(400) % k]  # confident, uniform over the classes
    assert metrics.inception_score(onehot)[0] == pytest.approx(k, rel=0.05)  # random parts of 40
    grouped = np.eye(k)[np.repeat(np.arange(k), 100)]  # the same clips grouped by word, as generated
    assert metrics.inception_score(grouped)[0] == pytest.approx(k, rel=0.05)
    same = np.tile([0.7, 0.1, 0.1, 0.1], (400, 1))  # every clip gets the same distribution
    assert metrics.inception_score(same)[0] == pytest.approx(1.0, rel=1e-6)


def test_accuracy_overall_and_per_word():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    out = metrics.accuracy(probs, np.array([0, 1, 1, 1]), ["zero", "one"])
    assert out == {"accuracy": 0.75, "accuracy/zero": 1.0, "accuracy/one": 2 / 3}


def test_ndb_from_known_bin_counts():
    # n = 100 each, pooled p = 0.5, se = sqrt(0.25 * 0.02) = 0.0707
    assert metrics.ndb_from_counts(np.array([90, 10]), np.array([10, 90])) == 2  # z = 11.3
    assert metrics.ndb_from_counts(np.array([55, 45]), np.array([45, 55])) == 0  # z = 1.41 < 1.96
    assert metrics.ndb_from_counts(np.array([65, 35]), np.array([45, 55])) == 2  # z = 2.83
    assert metrics.ndb_from_counts(np.array([50, 50, 0]), np.array([50, 50, 0])) == 0  # empty bin


def test_ndb_k_is_zero_for_the_same_set_and_high_for_a_collapsed_one():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(1000, 4))
    assert metrics.ndb_k(real, real, k=10) == 0.0
    collapsed = np.repeat(real[:1], 1000, axis=0)  # mode collapse: every clip the same
    assert metrics.ndb_k(real, collapsed, k=10) >= 0.9


def test_nearest_neighbour_distance_catches_copies():
    train = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(metrics.nearest_neighbour_distances(train, train), [0, 0], atol=1e-6)
    np.testing.assert_allclose(metrics.nearest_neighbour_distances(np.array([[0.0, 1.0], [6.0, 8.0]]), train),
                               [1.0, 5.0], atol=1e-6)


def test_silent_share():
    t = np.linspace(0, 1, 1000)
    clips = np.stack([np.zeros(1000), 0.5 * np.sin(2 * np.pi * 5 * t), np.full(1000, 1e-4)])
    assert metrics.silent_share(clips) == pytest.approx(2 / 3)
    np.testing.assert_allclose(metrics.level_db(clips[1:2]), [20 * np.log10(0.5 / np.sqrt(2))], atol=0.01)


def test_audible_accuracy_counts_only_audible_clips_heard_as_intended():
    t = np.linspace(0, 1, 1000)
    loud, quiet = 0.5 * np.sin(2 * np.pi * 5 * t), 1e-4 * np.sin(2 * np.pi * 5 * t)
    audio = np.stack([loud, quiet, loud, quiet])
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8], [0.2, 0.8]])
    intended = np.array([0, 0, 0, 1])  # right+loud, right+quiet, wrong+loud, right+quiet
    assert metrics.accuracy(probs, intended, ["a", "b"])["accuracy"] == pytest.approx(0.75)
    assert metrics.audible_accuracy(probs, intended, audio) == pytest.approx(0.25)
