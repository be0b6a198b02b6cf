import importlib
import json
import subprocess
import sys

import pytest

from conftest import REPO


def cli(*args, timeout=600, cwd=REPO, env=None):
    return subprocess.run([sys.executable, "-m", "wavegan_jax", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_help_gives_a_real_example():
    assert "prepare" in cli("--help").stdout
    assert "example:" in cli("prepare", "--help").stdout
    out = cli("train", "--help").stdout
    assert "--config=experiments/quickstart.py" in out


def test_mistyped_config_field_is_an_error(tmp_path):
    r = cli("train", "--config=experiments/quickstart.py:smoke", f"--workdir={tmp_path}", "--config.batchsize=8")
    assert r.returncode != 0 and "batchsize" in r.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_unknown_command_lists_the_known_ones():
    r = cli("fly")
    assert r.returncode == 2 and "known: prepare, train" in r.stderr


def test_prepare_command_then_no_op(tmp_path):
    args = ("prepare", "--source", "fsdd", "--path", "wavegan_jax/bundled/fsdd_zero_one", "--words", "one",
            "--sample-rate", "8000", "--length", "4096", "--out", str(tmp_path))
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.splitlines()[-1])["clips"] == {"train": 225, "valid": 0, "test": 25}
    second = cli(*args)
    assert "up to date; nothing to do" in second.stdout
    bad = cli(*args[:-6], "--words", "eleven", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "this source has: zero, one" in bad.stderr


@pytest.mark.heavy
def test_train_command_end_to_end(prepared, tmp_path):
    r = cli("train", "--config=experiments/quickstart.py:smoke", f"--workdir={tmp_path}",
            f"--config.data.prepared={prepared}")
    assert r.returncode == 0, r.stderr[-3000:]
    wavs = sorted(p.name for p in (tmp_path / "samples" / "step_000003").glob("*.wav"))
    assert wavs == ["one_000.wav", "zero_000.wav"]
    assert list(tmp_path.glob("events.out.tfevents.*"))


@pytest.mark.parametrize("name", ["quickstart", "study_zero_one", "sc09", "fsdd"])
def test_every_experiment_loads_and_shrinks(name):
    mod = importlib.import_module(f"experiments.{name}")
    full, smoke = mod.get_config(), mod.get_config("smoke")
    assert mod.__doc__ and "wavegan_jax train --config=experiments/" in mod.__doc__
    assert smoke.num_steps < full.num_steps and smoke.model.length == full.model.length


@pytest.mark.parametrize("name,arg", [("quick_zero_one", "concat,nonsaturating,study"),
                                      ("heldout_zero_one", "acgan,wgan_gp"),
                                      ("fsdd_digits", "projection,hinge"),
                                      ("downsized_zero_one", "sample_in_channel,nonsaturating")])
def test_study_cells_are_valid_configs(name, arg):
    from wavegan_jax import train
    mod = importlib.import_module(f"experiments.study.{name}")
    c = mod.get_config(arg)
    train.check_config(c, num_devices=1)
    assert (c.conditioning, c.loss) == tuple(arg.split(",")[:2])
    assert f"experiments/study/{name}.py:" in mod.__doc__  # the launch command is documented
    if name == "fsdd_digits":
        from wavegan_jax import data
        assert len(data.parse_words(c.data.words)) == 10 and c.classifier.prepared == ""
    if name == "downsized_zero_one":  # the original study's model size
        assert (c.model.length, c.data.sample_rate, c.model.d) == (4096, 4096, 32)


def test_study_summary_reads_one_run_per_seed_and_vmapped_seeds(tmp_path):
    from experiments.study import summarize

    def run(folder, steps, accuracy):
        folder.mkdir(parents=True)
        rows = [{"step": s, "accuracy": accuracy, "accuracy/zero": accuracy + 0.1, "accuracy/one": accuracy - 0.3,
                 "fid": 10.0 * s} for s in steps]
        (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))

    run(tmp_path / "acgan-wgan_gp-s0", [250, 500], 0.6)
    run(tmp_path / "acgan-wgan_gp-s1", [250, 500], 0.8)
    run(tmp_path / "acgan-wgan_gp-s2", [250], 0.9)  # unfinished: left out
    run(tmp_path / "concat-wgan_gp" / "seed_0", [250, 500], 0.5)  # one vmapped run, 2 seeds
    run(tmp_path / "concat-wgan_gp" / "seed_1", [250, 500], 0.7)
    cells = summarize.load(tmp_path, final_step=500)
    assert sorted(cells) == ["acgan-wgan_gp", "concat-wgan_gp"]
    assert [len(cells[c]) for c in sorted(cells)] == [2, 2]
    lines = summarize.table(cells).splitlines()
    assert lines[2].startswith("| acgan-wgan_gp | 2 | 0.7 ± 0.1 |") and "5e+03 ± 0" in lines[2]
    assert lines[3].startswith("| concat-wgan_gp | 2 | 0.6 ± 0.1 |")
    assert lines[2].endswith("| zero; zero, one |") and lines[3].endswith("| zero; zero |")
