import csv
import json

import pytest

from test_cli import cli
from wavegan_jax import sweep


def test_grid_text_becomes_every_combination_in_order():
    grid = sweep.parse_grid("lr=1e-4,3e-4  n_critic=1,5")
    assert grid == {"lr": ["1e-4", "3e-4"], "n_critic": ["1", "5"]}
    assert [c.name for c in sweep.cells(grid)] == [
        "lr=1e-4,n_critic=1", "lr=1e-4,n_critic=5", "lr=3e-4,n_critic=1", "lr=3e-4,n_critic=5"]
    for bad in ("lr", "lr=", "lr=1e-4,", "lr=1 lr=2"):
        with pytest.raises(ValueError, match="KEY=V1,V2|twice"):
            sweep.parse_grid(bad)


def test_cell_config_sets_aliases_types_seed_and_steps(smoke_config):
    cell = sweep.cells(sweep.parse_grid("lr=3e-4 batch_size=8 gp_lambda=1 loss=hinge"))[0]
    c = sweep.cell_config(smoke_config, cell, seed=7, steps=11)
    assert (c.optim.g_lr, c.optim.d_lr, c.batch_size, c.gp_lambda, c.loss) == (3e-4, 3e-4, 8, 1.0, "hinge")
    assert isinstance(c.batch_size, int) and isinstance(c.gp_lambda, float)
    assert (c.seed, c.num_steps) == (7, 11) and smoke_config.seed == 0  # the base is not touched
    with pytest.raises(ValueError, match="unknown config field 'batchsize'.*batch_size"):
        sweep.cell_config(smoke_config, sweep.cells({"batchsize": ["8"]})[0], 0, None)
    with pytest.raises(ValueError, match="whole number"):
        sweep.cell_config(smoke_config, sweep.cells({"batch_size": ["8.5"]})[0], 0, None)


@pytest.mark.heavy
def test_sweep_runs_every_cell_records_divergence_and_skips_finished_runs(smoke_config, tmp_path):
    smoke_config.num_steps, smoke_config.divergence.window = 2, 5000
    grid = sweep.parse_grid("divergence.threshold=0,1e-9")  # the second diverges at step 1
    rows = sweep.sweep(smoke_config, grid, [0, 1], tmp_path)
    assert [(r["cell"], r["seed"], r["status"], r["diverged_at"]) for r in rows] == [
        ("divergence.threshold=0", 0, "finished", None), ("divergence.threshold=0", 1, "finished", None),
        ("divergence.threshold=1e-9", 0, "diverged", 1), ("divergence.threshold=1e-9", 1, "diverged", 1)]
    with open(tmp_path / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4 and table[3]["diverged_at"] == "1" and table[0]["steps"] == "2"
    md = (tmp_path / "results.md").read_text().splitlines()
    assert md[2].startswith("| 0 | 2 | 0 | 2 |") and md[3].startswith("| 1e-9 | 2 | 2 | 1 |")
    assert (tmp_path / "plots" / "divergence.threshold=0.png").stat().st_size > 1000
    # Seeds differ: the two finished runs end with different losses.
    assert rows[0]["d_total"] != rows[1]["d_total"]
    # A second sweep trains nothing: every run has its result.json.
    stamp = (tmp_path / "divergence.threshold=0" / "seed_0" / "result.json").stat().st_mtime_ns
    again = sweep.sweep(smoke_config, grid, [0, 1], tmp_path)
    assert again == rows
    assert (tmp_path / "divergence.threshold=0" / "seed_0" / "result.json").stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "divergence.threshold=1e-9" / "seed_1" / "divergence.json").read_text())["step"] == 1
    # --vmap: each cell's two seeds train as one num_seeds=2 run, with the same results.
    vm = sweep.sweep(smoke_config, grid, [0, 1], tmp_path / "vmap", vmap=True)
    assert [(r["status"], r["diverged_at"]) for r in vm] == [(r["status"], r["diverged_at"]) for r in rows]
    for a, b in zip(vm[:2], rows[:2]):  # the finished runs (diverged ones logged no losses)
        assert a["d_total"] == pytest.approx(b["d_total"], rel=1e-3, abs=1e-4)
    assert vm[2]["d_total"] is None and rows[2]["d_total"] is None
    assert (tmp_path / "vmap" / "divergence.threshold=0" / "checkpoints").is_dir()  # one run per cell
    with pytest.raises(ValueError, match="consecutive seeds"):
        sweep.sweep(smoke_config, grid, [0, 2], tmp_path / "vmap", vmap=True)


def test_sweep_dry_run_lists_the_runs_and_rejects_bad_keys(tmp_path):
    r = cli("sweep", "--config=experiments/quickstart.py:classic,smoke", "--grid", "lr=1e-4,1e-5 batch_size=4,8",
            "--seeds", "0,1", f"--workdir={tmp_path}", "--dry-run")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "lr=1e-4,batch_size=4/seed_0" and lines[-1] == f"8 runs in {tmp_path}"
    assert not any(tmp_path.iterdir())
    r = cli("sweep", "--config=experiments/quickstart.py:classic,smoke", "--grid", "lr=1e-4 batchsize=4",
            f"--workdir={tmp_path}", "--dry-run")
    assert r.returncode == 2 and "unknown config field 'batchsize'" in r.stderr


def test_divergence_table_pools_the_base_runs_and_floors_each_run(tmp_path):
    from experiments import divergence_table

    def run(folder, seed, diverged_at, losses):
        f = tmp_path / folder / f"seed_{seed}"
        f.mkdir(parents=True)
        status = "diverged" if diverged_at else "finished"
        (f / "result.json").write_text(json.dumps({"status": status, "steps": diverged_at or 5000,
                                                   "diverged_at": diverged_at, "reason": ""}))
        (f / "scalars.jsonl").write_text("\n".join(json.dumps({"prefix": "train", "step": 100 * (i + 1),
                                                               "d_total": d, "g_loss": g, "wasserstein": d / 10})
                                                   for i, (d, g) in enumerate(losses)))

    run("concat-base/n_critic=1", 0, 1234, [(-2.0, 1.0), (-150.0, 3.0)])
    run("concat-base/n_critic=1", 1, None, [(-0.5, 7.5)])
    run("concat-lr/lr=1e-5", 0, None, [(0.1, 0.2)])
    rows = {tuple(c.strip() for c in line.split("|")[1:4]): [c.strip() for c in line.split("|")[4:-1]]
            for line in divergence_table.table(tmp_path).splitlines()[2:]}
    # the base runs appear under every factor's base value; 1234 floors to 1000: (1000 + 5000) / 2
    for factor, value, original in (("lr", "1e-4 (base)", "0.2k"), ("batch_size", "64 (base)", "0.4k"),
                                    ("gp_lambda", "10 (base)", "0k")):
        # |loss| first above 10 at step 200 (seed 0) and never (seed 1: 5000)
        assert rows[("concat", factor, value)] == [original, "2", "1", "3.0k", "3117", "150", "2600", "1", "15"]
    assert rows[("concat", "lr", "1e-5")] == ["4.5k", "1", "0", "5.0k", "5000", "0.2", "5000", "0", "0.01"]
    assert rows[("concat", "batch_size", "8")][1:3] == ["0", ""]
    assert rows[("unconditional", "n_critic", "5")][:2] == ["0k", "0"]
    short = divergence_table.table(tmp_path, skip_empty=True).splitlines()[2:]
    assert len(short) == 4 and not any("not run" in line for line in short)  # the 3 base rows and lr 1e-5
    run("concat-drift_penalty/drift_penalty=1e-3", 0, None, [(0.3, 0.4)])  # a setting the original did not try
    last = divergence_table.table(tmp_path).splitlines()[-1]
    assert [c.strip() for c in last.split("|")[1:-1]] == ["concat", "drift_penalty", "1e-3", "not tried", "1", "0",
                                                          "5.0k", "5000", "0.4", "5000", "0", "0.03"]
    divergence_table.main([str(tmp_path), "--runs-json", str(tmp_path / "runs.json")])
    records = {(r["setting"], r["seed"]): r for r in json.loads((tmp_path / "runs.json").read_text())}
    assert len(records) == 4
    assert records[("concat-base/n_critic=1", "seed_0")] == {
        "setting": "concat-base/n_critic=1", "seed": "seed_0", "status": "diverged", "steps": 1234,
        "diverged_at": 1234, "max_abs_loss": 150.0, "first_above_10": 200, "max_abs_gap": 15.0}
    # --previous pools an earlier --runs-json (folders gone) with the runs found now: same table,
    # and a run found under the root replaces the record of the same setting and seed
    later = tmp_path / "later"
    later.mkdir()
    whole = divergence_table.table(tmp_path)
    pooled = divergence_table.collect(later, json.loads((tmp_path / "runs.json").read_text()))
    assert divergence_table.table(pooled) == whole
    f = later / "concat-lr" / "lr=1e-5" / "seed_0"
    f.mkdir(parents=True)
    (f / "result.json").write_text(json.dumps({"status": "diverged", "steps": 300, "diverged_at": 300}))
    divergence_table.main([str(later), "--previous", str(tmp_path / "runs.json"), "--runs-json", str(later / "r.json")])
    merged = {(r["setting"], r["seed"]): r for r in json.loads((later / "r.json").read_text())}
    assert len(merged) == 4 and merged[("concat-lr/lr=1e-5", "seed_0")]["diverged_at"] == 300
    # a results/ file wraps the records with a device note; --previous reads that form too
    records = json.loads((tmp_path / "runs.json").read_text())
    (tmp_path / "wrapped.json").write_text(json.dumps({"device": "cpu", "runs": records}))
    divergence_table.main([str(later), "--previous", str(tmp_path / "wrapped.json"),
                           "--runs-json", str(later / "w.json")])
    assert json.loads((later / "w.json").read_text()) == json.loads((later / "r.json").read_text())
