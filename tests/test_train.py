import json
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, subprocess_env
from wavegan_jax import checkpoints as ckpt
from wavegan_jax import data, sampling, train


def leaves(tree):
    return [np.array(x, copy=True) for x in jax.tree.leaves(tree)]  # copies: the step donates its input


def test_one_step_gives_finite_losses_and_changes_g_and_d(smoke_config):
    run = train.Run(smoke_config)
    g0, d0 = leaves(run.state.g_params), leaves(run.state.d_params)
    metrics = {k: float(v) for k, v in run.step().items()}
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    assert metrics["params_finite"] == 1.0 and metrics["gp"] >= 0
    assert metrics["d_grad_norm"] > 0 and metrics["g_grad_norm"] > 0
    assert all(not np.array_equal(a, b) for a, b in zip(g0, leaves(run.state.g_params)))
    d1 = jax.tree.map(lambda x: np.array(x), run.state.d_params)["wave"]["params"]
    # WGAN's D loss is invariant to a constant added to D's output, so the output bias never moves
    assert np.array_equal(d0.pop(0), d1["Dense_0"].pop("bias"))
    assert all(not np.array_equal(a, b) for a, b in zip(d0, jax.tree.leaves(d1)))
    assert int(run.state.step) == 1 and int(run.state.data_position) == smoke_config.n_critic


def test_same_seed_gives_bit_identical_parameters(smoke_config):
    runs = [train.Run(smoke_config) for _ in range(2)]
    for run in runs:
        run.step(), run.step()
    for a, b in zip(leaves(runs[0].state), leaves(runs[1].state)):
        np.testing.assert_array_equal(a, b)
    smoke_config.seed = 1
    other = train.Run(smoke_config)
    assert not np.array_equal(leaves(other.state.g_params)[0], leaves(runs[0].state.g_params)[0])


def test_stopped_and_resumed_run_equals_uninterrupted(smoke_config, tmp_path):
    smoke_config.num_steps, smoke_config.checkpoint_every, smoke_config.sample_every = 4, 2, 100
    whole = train.train_and_evaluate(smoke_config, tmp_path / "whole")
    smoke_config.num_steps = 2
    train.train_and_evaluate(smoke_config, tmp_path / "split")
    smoke_config.num_steps = 4
    resumed = train.train_and_evaluate(smoke_config, tmp_path / "split")
    assert int(resumed.state.step) == 4 and int(resumed.state.data_position) == 4 * smoke_config.n_critic
    for a, b in zip(leaves(whole.state), leaves(resumed.state)):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in (tmp_path / "split" / "checkpoints").iterdir() if p.name.isdigit()) == ["2", "4"]
    assert (tmp_path / "split" / "samples" / "step_000004" / "zero_000.wav").exists()


@pytest.mark.heavy
def test_branch_from_another_run_carries_its_whole_state_and_clock(smoke_config, tmp_path):
    smoke_config.num_steps, smoke_config.checkpoint_every, smoke_config.sample_every = 4, 2, 100
    whole = train.train_and_evaluate(smoke_config, tmp_path / "whole")
    smoke_config.num_steps = 2
    parent = train.train_and_evaluate(smoke_config, tmp_path / "parent").state
    (tmp_path / "parent" / "clock.json").write_text(json.dumps({"2": 600.0}))
    smoke_config.num_steps, smoke_config.init_from = 4, str(tmp_path / "parent") + ":2"
    branch = train.train_and_evaluate(smoke_config, tmp_path / "branch")
    for a, b in zip(leaves(whole.state), leaves(branch.state)):  # same config: the same run
        np.testing.assert_array_equal(a, b)
    assert json.loads((tmp_path / "branch" / "clock.json").read_text())["4"] >= 600.0
    assert sorted(p.name for p in (tmp_path / "branch" / "checkpoints").iterdir() if p.name.isdigit()) == ["4"]
    smoke_config.optim.d_lr *= 4  # a branch may change what leaves the shapes alone
    smoke_config.init_from = str(tmp_path / "parent")
    other = train.train_and_evaluate(smoke_config, tmp_path / "other")
    assert int(other.state.step) == 4
    assert any(not np.array_equal(a, b) for a, b in zip(leaves(whole.state.d_params), leaves(other.state.d_params)))
    smoke_config.replay, smoke_config.replay_write = 0.5, 1.0
    smoke_config.init_from = str(tmp_path / "parent")  # its parent has no buffer: it starts an empty one
    replayed = train.train_and_evaluate(smoke_config, tmp_path / "replayed")
    assert int(replayed.state.step) == 4 and bool(np.asarray(replayed.state.replay["filled"]).any())
    smoke_config.replay, smoke_config.init_from = 0.0, str(tmp_path / "replayed")
    with pytest.raises(ValueError, match="keeps a replay buffer"):
        train.train_and_evaluate(smoke_config, tmp_path / "bad")
    smoke_config.discriminators, smoke_config.model.acf_resolutions = "wave,acf", "64"
    smoke_config.init_from, smoke_config.num_steps = str(tmp_path / "parent"), 2
    grown = train.train_and_evaluate(smoke_config, tmp_path / "grown").state  # a branch may add a D
    assert set(grown.d_params) == set(grown.d_opt) == {"wave", "acf"}
    for a, b in zip(leaves((grown.g_params, grown.d_params["wave"], grown.d_opt["wave"])),
                    leaves((parent.g_params, parent.d_params["wave"], parent.d_opt["wave"]))):
        np.testing.assert_array_equal(a, b)
    assert int(grown.d_opt["acf"][0].count) == 0  # the new D starts fresh
    smoke_config.discriminators, smoke_config.init_from = "acf", str(tmp_path / "grown")
    with pytest.raises(ValueError, match="drops discriminator.*wave"):
        train.train_and_evaluate(smoke_config, tmp_path / "bad")
    smoke_config.discriminators = "wave"
    for spec, match in [(str(tmp_path / "nothing"), "not a training run"),
                        (str(tmp_path / "parent") + ":3", r"no checkpoint 3 .*have \[2\]"),
                        (str(tmp_path / "parent") + ":best", "no best checkpoint")]:
        smoke_config.init_from = spec
        with pytest.raises((FileNotFoundError, ValueError), match=match):
            train.train_and_evaluate(smoke_config, tmp_path / "bad")


def test_nan_stops_training_with_the_last_good_checkpoint_intact(smoke_config, tmp_path, monkeypatch):
    smoke_config.num_steps, smoke_config.checkpoint_every = 2, 2
    good = train.train_and_evaluate(smoke_config, tmp_path)
    smoke_config.num_steps = 4
    monkeypatch.setattr(train, "RESUMABLE", train.RESUMABLE + ("optim.d_lr",))  # a resume may not change it
    smoke_config.optim.d_lr = float("inf")  # the next update makes D's parameters non-finite
    with pytest.raises(FloatingPointError, match=r"step 3.*last good checkpoint \(step 2\) is intact"):
        train.train_and_evaluate(smoke_config, tmp_path)
    manager = ckpt.manager(tmp_path, 3)
    assert manager.latest_step() == 2
    restored, _ = ckpt.restore(manager, good.state)
    assert all(np.isfinite(x).all() for x in leaves(restored))
    for a, b in zip(leaves(good.state), leaves(restored)):
        np.testing.assert_array_equal(a, b)


def test_divergence_rule_thresholds_losses_within_the_window_and_nan_always(smoke_config):
    smoke_config.divergence.threshold, smoke_config.divergence.window = 100.0, 5000
    calm = {"d_total": -99.0, "g_loss": 50.0, "params_finite": 1.0}
    assert train.divergence_reason(10, calm, smoke_config) is None
    assert "d_total=-101" in train.divergence_reason(10, {**calm, "d_total": -101.0}, smoke_config)
    assert "g_loss" in train.divergence_reason(5000, {**calm, "g_loss": 1e3}, smoke_config)
    assert train.divergence_reason(5001, {**calm, "g_loss": 1e3}, smoke_config) is None  # after the window
    assert "non-finite" in train.divergence_reason(9999, {**calm, "gp": float("nan")}, smoke_config)
    assert "non-finite" in train.divergence_reason(9999, {**calm, "params_finite": 0.0}, smoke_config)
    smoke_config.divergence.threshold = 0.0  # off: only non-finite values count
    assert train.divergence_reason(10, {**calm, "d_total": 1e9}, smoke_config) is None


def test_a_diverged_run_stops_and_records_its_step(smoke_config, tmp_path):
    smoke_config.num_steps, smoke_config.checkpoint_every = 6, 2
    smoke_config.divergence.threshold = 1e-9  # any loss at all exceeds it ...
    smoke_config.divergence.window = 3  # ... but only the first 3 steps are watched
    with pytest.raises(train.Diverged, match="diverged at step 1") as info:
        train.train_and_evaluate(smoke_config, tmp_path)
    assert info.value.step == 1
    record = json.loads((tmp_path / "divergence.json").read_text())
    assert record["step"] == 1 and "within the first 3 steps" in record["reason"]
    assert record["last_checkpoint"] is None


def test_replay_buffer_keeps_the_stored_fakes_and_gives_them_back_for_their_class():
    buffer = {"audio": jnp.zeros((2, 3, 4)), "filled": jnp.zeros((2, 3), bool)}
    fake = jnp.arange(1.0, 13.0).reshape(3, 4)
    # clip 2 has clip 0's class and slot but is not kept: it must not overwrite clip 0
    buffer = train.store_fakes(buffer, fake, jnp.array([1, 0, 1]), jnp.array([True, True, False]), jnp.array([2, 2, 2]))
    np.testing.assert_array_equal(buffer["filled"], [[False, False, True], [False, False, True]])
    np.testing.assert_array_equal(buffer["audio"][1, 2], fake[0])
    np.testing.assert_array_equal(buffer["audio"][0, 2], fake[1])
    new = -jnp.ones((3, 4))
    out = train.replay_fakes(new, jnp.array([0, 1, 1]), buffer, jnp.array([True, True, True]), jnp.array([2, 2, 0]))
    np.testing.assert_array_equal(out, jnp.stack([fake[1], fake[0], new[2]]))  # class 1's slot 0 is empty
    out = train.replay_fakes(new, jnp.array([0, 1, 1]), buffer, jnp.array([False, False, False]), jnp.array([2, 2, 0]))
    np.testing.assert_array_equal(out, new)


def test_replayed_fakes_reach_d_once_the_buffer_holds_some(smoke_config):
    plain = train.Run(smoke_config)
    smoke_config.replay, smoke_config.replay_write = 1.0, 1.0
    replayed = train.Run(smoke_config)
    assert replayed.state.replay["audio"].shape == (2, smoke_config.replay_slots, smoke_config.model.length)
    plain.step(), replayed.step()  # an empty buffer replays nothing: the same step
    for a, b in zip(leaves((plain.state.g_params, plain.state.d_params)),
                    leaves((replayed.state.g_params, replayed.state.d_params))):
        np.testing.assert_array_equal(a, b)
    audio, filled = np.asarray(replayed.state.replay["audio"]), np.asarray(replayed.state.replay["filled"])
    assert 0 < filled.sum() <= smoke_config.batch_size
    assert np.all(np.abs(audio[filled]).max(axis=1) > 0) and not audio[~filled].any()
    plain.step(), replayed.step()  # now D's fakes are step 1's
    assert any(not np.array_equal(a, b) for a, b in zip(leaves(plain.state.d_params), leaves(replayed.state.d_params)))


def test_bad_config_values_are_rejected_before_compiling(smoke_config):
    smoke_config.batch_size = 0
    with pytest.raises(ValueError, match="batch_size=0"):
        train.Run(smoke_config)
    smoke_config.batch_size, smoke_config.loss = 4, "wgan"
    with pytest.raises(ValueError, match="known: wgan_gp"):
        train.Run(smoke_config)
    smoke_config.loss, smoke_config.conditioning, smoke_config.eval_every = "wgan_gp", "none", 5
    with pytest.raises(ValueError, match="best_metric=fid"):
        train.Run(smoke_config)
    smoke_config.conditioning, smoke_config.replay = "acgan", 1.5
    with pytest.raises(ValueError, match=r"replay=1.5 must be in \[0, 1\]"):
        train.Run(smoke_config)


TWO_DEVICES = textwrap.dedent("""
    import jax, numpy as np
    assert len(jax.devices()) == 2, jax.devices()
    from experiments import quickstart
    from wavegan_jax import train
    c = quickstart.get_config("classic,smoke")
    c.data.prepared = {prepared!r}
    c.replay, c.replay_write, c.n_critic = 1.0, 1.0, 2  # two D updates: two slices of each batch
    out = []
    for devices in (jax.devices()[:1], jax.devices()):
        run = train.Run(c, devices=devices)
        run.step(); run.step()
        assert run.state.g_params["params"]["up0"]["kernel"].sharding.mesh.size == len(devices)
        out.append([np.array(x, copy=True).astype(np.float64) for x in jax.tree.leaves(run.state)])
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(*out))
    print("max abs difference", worst)
    assert worst < 1e-5, worst
""")


@pytest.mark.heavy
def test_two_device_step_equals_one_device_step(prepared):
    """With the replay buffer on, which each device fills with every device's fakes: its first step
    replays nothing, the plain step (``test_replayed_fakes_reach_d_once_the_buffer_holds_some``), so
    the two steps cover both (one subprocess instead of two: 80 s less of the suite)."""
    r = subprocess.run([sys.executable, "-c", TWO_DEVICES.format(prepared=str(prepared))], cwd=REPO,
                       env=subprocess_env(devices=2), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "max abs difference" in r.stdout


def _steps(config, n):
    run = train.Run(config)
    for _ in range(n):
        run.step()
    return run


@pytest.mark.heavy
@pytest.mark.parametrize("share", [False, True])
def test_vmapped_seeds_equal_separate_runs(smoke_config, share):
    """num_seeds=3 trains seeds 5, 6, 7 in one vmapped step; member i equals the run of seed
    5 + i alone (with shared data, only member 0 can: the others see seed 5's batches)."""
    smoke_config.seed = 5
    smoke_config.num_seeds, smoke_config.seeds_share_data = 3, share
    vm = _steps(smoke_config, 3)
    assert vm.state.step.shape == (3,) and vm.step_count == 3
    for i, seed in enumerate((5, 6, 7)):
        alone_config = smoke_config.copy_and_resolve_references()
        alone_config.num_seeds, alone_config.seed = 1, seed
        alone = _steps(alone_config, 3)
        diffs = [float(np.max(np.abs(a - b))) for a, b in zip(leaves(vm.member(i)), leaves(alone.state))]
        if share and i > 0:
            assert max(diffs) > 1e-3, "a member with seed 5's data cannot equal the run of its own seed"
        else:
            assert max(diffs) < 1e-4, f"member {i} differs from seed {seed} alone by {max(diffs)}"
    g = [leaves(vm.member(i).g_params)[0] for i in range(3)]
    assert not np.allclose(g[0], g[1]) and not np.allclose(g[1], g[2])


def test_vmapped_run_writes_each_seed_apart_and_loads_a_member(smoke_config, tmp_path):
    from wavegan_jax import sampling

    smoke_config.num_seeds, smoke_config.num_steps = 2, 2
    run = train.train_and_evaluate(smoke_config, tmp_path)
    for s in (0, 1):
        assert (tmp_path / f"seed_{s}" / "samples" / "step_000002" / "one_000.wav").exists()
        rows = [json.loads(x) for x in (tmp_path / f"seed_{s}" / "scalars.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows if r["prefix"] == "train"] == [1, 2]
    loss = lambda s: json.loads((tmp_path / f"seed_{s}" / "scalars.jsonl").read_text().splitlines()[-1])["d_total"]
    assert loss(0) != loss(1)
    member = sampling.load_run(tmp_path, "latest", member=1)
    for a, b in zip(leaves(member.state), leaves(run.member(1))):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="trained 2 seed"):
        sampling.load_run(tmp_path, "latest", member=2)


def test_evaluation_can_be_judged_by_the_classifier_of_other_speakers(smoke_config, tmp_path):
    from wavegan_jax import classifier, data

    judge = tmp_path / "judge"  # one speaker's clips only
    data.prepare("fsdd", data.BUNDLED, judge, words="zero,one", speakers="george", sample_rate=8000, length=4096)
    smoke_config.classifier.prepared, smoke_config.eval_every = str(judge), 3
    with pytest.raises(FileNotFoundError, match=r"no classifier in .*judge \(config.classifier.prepared\)"):
        train.train_and_evaluate(smoke_config, tmp_path / "run")
    judge_config = smoke_config.copy_and_resolve_references()
    judge_config.data.prepared = str(judge)
    classifier.train_classifier(judge_config)
    run = train.train_and_evaluate(smoke_config, tmp_path / "run")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3]  # eval_every 3 and the last step: one evaluation
    assert 0 < rows[0]["train_seconds"]  # the training wall time, evaluation excluded
    used = train.Evaluator(run, [tmp_path / "run"]).ref.clf.params
    for a, b in zip(leaves(used), leaves(classifier.load(judge).params)):
        np.testing.assert_array_equal(a, b)


def test_drift_penalty_adds_eps_times_the_mean_squared_real_logit(smoke_config):
    smoke_config.n_critic = 1  # the metrics are the last critic update's: the first, before any update
    plain = {k: float(v) for k, v in train.Run(smoke_config).step().items()}
    smoke_config.drift_penalty = 0.5
    pinned = {k: float(v) for k, v in train.Run(smoke_config).step().items()}
    # same seed, same init and batch: D's metrics are taken before the update, so only the term differs
    assert "drift" not in plain and pinned["drift"] > 0
    assert pinned["d_total"] == pytest.approx(plain["d_total"] + 0.5 * pinned["drift"], rel=1e-4, abs=1e-6)
    assert pinned["wasserstein"] == pytest.approx(plain["wasserstein"], rel=1e-4, abs=1e-6)


def test_per_speaker_classes_pair_word_and_speaker_and_samples_take_speakers_in_turn(smoke_config):
    smoke_config.data.per_speaker = True
    run = train.Run(smoke_config)
    s = len(run.speakers)
    assert run.speakers == ["george", "jackson", "nicolas", "theo", "yweweler"] and run.num_classes == 2 * s
    words = data.load_split(smoke_config.data.prepared, "train")[1]
    who, _ = data.load_speakers(smoke_config.data.prepared, "train")
    labels = run.batches[0].labels
    assert np.array_equal(labels // s, words) and np.array_equal(labels % s, who)
    assert np.asarray(run.class_ids([1, 0], 6)).tolist() == [5, 6, 7, 8, 9, 5, 0, 1, 2, 3, 4, 0]
    assert np.allclose(run.word_weights(1), [0] * 5 + [0.2] * 5)
    assert np.asarray(run.class_ids([1, 0], 2, speaker="theo")).tolist() == [8, 8, 3, 3]
    assert np.allclose(run.word_weights(1, "jackson"), np.eye(10)[6])
    with pytest.raises(ValueError, match="unknown speaker 'bob'; this model knows: george, jackson"):
        run.class_ids([0], 2, speaker="bob")
    metrics = {k: float(v) for k, v in run.step().items()}
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    clips = sampling.generate(run, ["one"], 3, seed=0)
    assert clips["one"].shape == (3, smoke_config.model.length) and np.isfinite(clips["one"]).all()
    # the speakers' classes of one word give different clips from the same noise
    z = jnp.zeros((2, smoke_config.model.latent_dim))
    a = run.generate(run.state.ema_params, z, jnp.asarray([5, 6]))
    assert not np.allclose(a[0], a[1])
    theo = sampling.generate(run, ["one"], 2, seed=0, speaker="theo")["one"]  # class 8 from word one's noise
    assert np.allclose(theo, run.generate(run.state.ema_params, sampling.word_noise(run, [1], 2, 0)[0],
                                          jnp.asarray([8, 8])), atol=1e-5)
    smoke_config.conditioning = "none"
    with pytest.raises(ValueError, match="data.per_speaker needs conditioning on labels"):
        train.Run(smoke_config)
