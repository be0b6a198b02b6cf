"""Command line: ``wavegan_jax COMMAND ...`` or ``python -m wavegan_jax COMMAND ...``."""
from __future__ import annotations

import argparse
import json
import logging
import sys

USAGE = """usage: wavegan_jax COMMAND [options]

commands:
  prepare   recordings -> NumPy shards (train/valid/test) plus manifest.json
  train     train (or resume) a WaveGAN from an experiment config
  train-classifier
            train the word classifier used for evaluation, saved next to the prepared data
  generate  write clips of chosen words (or an interpolation) from a trained run
  evaluate  score a run's clips, or any folder of word clips, against the real data
  report    write a self-contained report.html (audio, spectrograms, metrics, curves)
  sweep     train every cell of a hyperparameter grid x seeds; results.csv, results.md, plots

Run `wavegan_jax COMMAND --help` for the options and an example.
"""

PREPARE_EXAMPLE = """example:
  wavegan_jax prepare --source fsdd --path ../shared/data/fsdd --words zero,one \\
      --sample-rate 8000 --length 4096 --out data/prepared/fsdd_zero_one
  wavegan_jax prepare --download speech_commands --words sc09 --sample-rate 16000 \\
      --length 16384 --out data/prepared/sc09
"""

TRAIN_HELP = """usage: wavegan_jax train --config=EXPERIMENT.py[:smoke] --workdir=DIR [--config.FIELD=VALUE ...]
                         [--coordinator=HOST:PORT --num_processes=N --process_id=I | --distributed]

Train the experiment in EXPERIMENT.py (a file with get_config(), see experiments/) in DIR.
The same DIR resumes from its latest checkpoint. Shards are prepared first when
config.data.prepared is missing. Every field of experiments/base.py can be overridden;
a mistyped field is an error. Several processes (hosts) train one model when each is started
with --coordinator (process 0's HOST:PORT), --num_processes and its own --process_id, or with
--distributed where JAX finds the cluster itself (Cloud TPU VMs, Slurm); batch_size is global.

example:
  wavegan_jax train --config=experiments/quickstart.py --workdir=runs/quickstart
  wavegan_jax train --config=experiments/fsdd.py --workdir=runs/fsdd --config.batch_size=32
  wavegan_jax train --config=experiments/sc09.py --workdir=/shared/runs/sc09 \\
      --coordinator=10.0.0.2:12355 --num_processes=2 --process_id=0     # and =1 on the other host
"""


def _at_least(lo: int):
    """argparse type: an integer >= lo."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value} must be >= {lo}")
        return value
    return parse


def _truncation(text: str) -> float:
    """argparse type: a noise bound >= 0 (0 = off)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0 (0 = off)")
    return value


TRUNCATION_HELP = ("draw the noise from a normal truncated to [-T, T] (the truncation trick: more typical, "
                   "less varied clips); 0 = the plain normal (default: %(default)s)")


def _one_line(e: BaseException) -> str:
    """An exception's message on one line (ml_collections quotes and wraps its KeyErrors)."""
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    if "Traceback (most recent call last)" in text:  # absl wraps errors of the config file in their traceback
        text = text.strip().splitlines()[-1]
    return " ".join(text.replace("\\n", " ").replace("\\'", "").strip("'\"").split())


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("absl", "jax._src", "orbax"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def prepare_main(argv: list[str]) -> int:
    from wavegan_jax import data, download

    p = argparse.ArgumentParser(prog="wavegan_jax prepare", epilog=PREPARE_EXAMPLE,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Turn recordings into fixed-length float32 NumPy shards.")
    p.add_argument("--source", choices=data.SOURCES, help="layout of --path (set by --download)")
    p.add_argument("--path", help="folder with the recordings")
    p.add_argument("--download", choices=sorted(download.ARCHIVES),
                   help="fetch this dataset into --cache first (checksum-verified)")
    p.add_argument("--archive", help="with --download: a local archive or another URL to use instead")
    p.add_argument("--sha256", help="with --download: the archive's expected SHA-256")
    p.add_argument("--cache", default="data/cache", help="download cache (default: %(default)s)")
    p.add_argument("--words", default="", help="comma-separated words or a preset (sc09); default all")
    p.add_argument("--sample-rate", type=_at_least(1000), default=16000, help="Hz (default: %(default)s)")
    p.add_argument("--length", type=int, default=16384, help="samples per clip, a length the model supports: "
                                                             "1024, 2048, 4096, 8192 or 16384 (default: %(default)s)")
    p.add_argument("--speakers", default="", help="fsdd/speech_commands: a,b = only these speakers; "
                                                  "-a,-b = all but these (default: all)")
    p.add_argument("--seed", type=int, default=0, help="split seed for --source folder")
    p.add_argument("--out", required=True, help="output folder for the shards and manifest.json")
    p.add_argument("--force", action="store_true", help="rewrite even when up to date")
    p.add_argument("--keep-degenerate", action="store_true",
                   help="keep silent, constant, clipped, click-like or too short clips (listed in the manifest) "
                        "instead of skipping them")
    a = p.parse_args(argv)
    source, path = a.source, a.path
    if a.download:
        source, path = download.download(a.download, a.cache, archive=a.archive, sha256=a.sha256)
    elif not (a.source and a.path):
        p.error("give --source and --path, or --download")
    from wavegan_jax import models

    m = data.prepare(source, path, a.out, words=a.words, speakers=a.speakers, sample_rate=a.sample_rate,
                     length=a.length, seed=a.seed, force=a.force, keep_degenerate=a.keep_degenerate,
                     check_length=models.check_length)
    if m.get("up_to_date"):
        print(f"{a.out} is up to date; nothing to do")
    summary = {s: sum(c.values()) for s, c in m["counts"].items()}
    if m.get("empty_words"):
        print(f"wavegan_jax prepare: warning: no usable clips of {', '.join(m['empty_words'])} "
              f"(see 'skipped' in {a.out}/manifest.json)", file=sys.stderr)
    print(json.dumps({"out": a.out, "words": m["words"], "clips": summary,
                      "skipped": len(m["skipped"]), "kept_degenerate": len(m.get("kept_degenerate", []))}))
    return 0


def _config_flags(prog: str, argv: list[str], help_text: str, workdir: bool, extra=None):
    """Parse ``--config=FILE.py[:variant]`` (locked), optionally ``--workdir`` and the flags that
    ``extra(flags)`` defines; None on error."""
    from absl import flags
    from ml_collections import config_flags

    config_flags.DEFINE_config_file("config", None, "experiment file", lock_config=True)
    if extra is not None:
        extra(flags)
    required = ["config"]
    if workdir:
        flags.DEFINE_string("workdir", None, "run folder (resumes from its checkpoints)")
        required.append("workdir")
        _distributed_flags(flags)
    flags.mark_flags_as_required(required)
    from pathlib import Path

    for arg in argv:  # absl reports a missing file as a config object that fails later
        if arg.startswith("--config=") and not Path(arg[9:].split(":")[0]).is_file():
            print(f"{prog}: error: config file {arg[9:].split(':')[0]} not found "
                  f"(give e.g. --config=experiments/quickstart.py)", file=sys.stderr)
            return None
    try:
        flags.FLAGS([prog] + argv)
        flags.FLAGS.config  # noqa: B018 (loads the file: a bad variant or field fails here)
    except (AttributeError, KeyError) as e:  # ml_collections: a mistyped --config.FIELD
        print(f"{prog}: error: no such config field: {_one_line(e)}", file=sys.stderr)
        return None
    except (flags.Error, ValueError, TypeError, OSError) as e:
        print(f"{prog}: error: {_one_line(e)} (see {prog} --help)", file=sys.stderr)
        return None
    if workdir:
        _init_distributed(flags.FLAGS)
    return flags.FLAGS


def _distributed_flags(flags) -> None:
    import os

    env = os.environ.get
    flags.DEFINE_bool("distributed", env("WAVEGAN_DISTRIBUTED", "") == "1",
                      "call jax.distributed.initialize() with the cluster found automatically "
                      "(Cloud TPU VMs, Slurm, Open MPI); env WAVEGAN_DISTRIBUTED=1")
    flags.DEFINE_string("coordinator", env("WAVEGAN_COORDINATOR"),
                        "HOST:PORT of process 0, for several processes; env WAVEGAN_COORDINATOR")
    flags.DEFINE_integer("num_processes", int(env("WAVEGAN_NUM_PROCESSES", "1")),
                         "processes in all (with --coordinator); env WAVEGAN_NUM_PROCESSES")
    flags.DEFINE_integer("process_id", int(env("WAVEGAN_PROCESS_ID", "0")),
                         "this process, 0 .. num_processes-1 (with --coordinator); env WAVEGAN_PROCESS_ID")


def _init_distributed(FLAGS) -> None:
    """Join the processes of a multi-host run before JAX touches a device."""
    import jax

    if FLAGS.coordinator:
        if not 0 <= FLAGS.process_id < FLAGS.num_processes:
            raise ValueError(f"--process_id={FLAGS.process_id} must be in 0 .. {FLAGS.num_processes - 1}")
        jax.distributed.initialize(coordinator_address=FLAGS.coordinator, num_processes=FLAGS.num_processes,
                                   process_id=FLAGS.process_id)
    elif FLAGS.distributed:
        jax.distributed.initialize()
    else:
        return
    logging.getLogger(__name__).info("process %d of %d; %d local and %d global devices", jax.process_index(),
                                     jax.process_count(), jax.local_device_count(), jax.device_count())


def train_classifier_main(argv: list[str]) -> int:
    if any(x in ("-h", "--help", "-help") for x in argv):
        print(CLASSIFIER_HELP)
        return 0
    FLAGS = _config_flags("wavegan_jax train-classifier", argv, CLASSIFIER_HELP, workdir=False)
    if FLAGS is None:
        return 2
    from wavegan_jax import classifier, train

    train.prepare_data(FLAGS.config)
    info = classifier.train_classifier(FLAGS.config)
    print(json.dumps({k: info[k] for k in ("words", "test_clips", "test_accuracy", "test_accuracy_per_word",
                                           "train_seconds")}))
    return 0


def train_main(argv: list[str]) -> int:
    if any(x in ("-h", "--help", "-help") for x in argv):
        print(TRAIN_HELP)
        return 0
    FLAGS = _config_flags("wavegan_jax train", argv, TRAIN_HELP, workdir=True)
    if FLAGS is None:
        return 2
    import jax

    from wavegan_jax import train

    train.check_config(FLAGS.config, jax.device_count())  # a bad value: one line, before the config dump
    logging.getLogger(__name__).info("config:\n%s", FLAGS.config)
    try:
        train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except FloatingPointError as e:
        print(f"wavegan_jax train: error: {e}", file=sys.stderr)
        return 1
    return 0


SWEEP_HELP = """usage: wavegan_jax sweep --config=EXPERIMENT.py --grid 'KEY=V1,V2 ...' --workdir=DIR
                         [--seeds 0,1,2] [--steps N] [--vmap] [--dry-run] [--config.FIELD=VALUE ...]

Train every cell of the grid for every seed, one after another (a finished run is skipped, a
killed one resumes), then write DIR/results.csv (a row per run), DIR/results.md (a row per
cell, seeds pooled: diverged runs, iterations before divergence, metrics mean +- std) and
DIR/plots/CELL.png. --vmap trains a cell's (consecutive) seeds together in one vmapped step
(config.num_seeds). Grid keys: lr (both players), g_lr, d_lr, d, length, or any config field
(batch_size, gp_lambda, n_critic, loss, conditioning, optim.b1, divergence.threshold, ...).

example:
  wavegan_jax sweep --config=experiments/divergence.py --grid 'lr=1e-4,1e-5 n_critic=1,5' \\
      --seeds 0,1,2 --steps 5000 --workdir runs/divergence
  wavegan_jax sweep --config=experiments/quickstart.py --grid 'batch_size=32,64' --dry-run --workdir runs/x
"""


def sweep_main(argv: list[str]) -> int:
    if any(x in ("-h", "--help", "-help") for x in argv):
        print(SWEEP_HELP)
        return 0

    def extra(flags):
        flags.DEFINE_string("grid", "", "space-separated KEY=V1,V2 entries")
        flags.DEFINE_string("seeds", "0", "comma-separated seeds")
        flags.DEFINE_integer("steps", None, "generator steps per run (default: the config's num_steps)", lower_bound=1)
        flags.DEFINE_bool("dry_run", False, "list the runs and exit")
        flags.DEFINE_bool("vmap", False, "train each cell's seeds together, vmapped (config.num_seeds)")

    FLAGS = _config_flags("wavegan_jax sweep", [a.replace("--dry-run", "--dry_run") for a in argv],
                          SWEEP_HELP, workdir=True, extra=extra)
    if FLAGS is None:
        return 2
    from pathlib import Path

    from wavegan_jax import sweep

    grid = sweep.parse_grid(FLAGS.grid)
    try:
        seeds = [int(s) for s in FLAGS.seeds.split(",")]
    except ValueError:
        raise ValueError(f"--seeds {FLAGS.seeds!r}: give comma-separated integers, e.g. 0,1,2") from None
    todo = [(c, s) for c in sweep.cells(grid) for s in seeds]
    for cell, seed in todo:  # builds every config first: a bad key or value fails before training
        sweep.cell_config(FLAGS.config, cell, seed, FLAGS.steps)
    if FLAGS.dry_run:
        for cell, seed in todo:
            done = (Path(FLAGS.workdir) / cell.name / f"seed_{seed}" / "result.json").exists()
            print(f"{cell.name}/seed_{seed}{'  (finished)' if done else ''}")
        print(f"{len(todo)} runs in {FLAGS.workdir}")
        return 0
    sweep.sweep(FLAGS.config, grid, seeds, FLAGS.workdir, FLAGS.steps, vmap=FLAGS.vmap)
    print((Path(FLAGS.workdir) / "results.md").read_text(), end="")
    return 0


GENERATE_EXAMPLE = """example:
  wavegan_jax generate --workdir runs/quickstart --word one --num 8 --seed 3 --out samples/
  wavegan_jax generate --workdir runs/quickstart --all-words --num 4 --checkpoint best
  wavegan_jax generate --workdir runs/quickstart --interpolate zero,one --steps 8
  wavegan_jax generate --workdir runs/speakers --all-words --num 4 --speaker theo  (a data.per_speaker run)
"""


def generate_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="wavegan_jax generate", epilog=GENERATE_EXAMPLE,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Write WORD_NNN.wav clips from a trained run's EMA generator.")
    p.add_argument("--workdir", required=True, help="a training run folder")
    p.add_argument("--word", help="comma-separated words")
    p.add_argument("--all-words", action="store_true", help="every word the model knows")
    p.add_argument("--interpolate", metavar="A,B", help="one z, class weights from word A to word B "
                   "(unconditional models: z between two random points; give any two names)")
    p.add_argument("--steps", type=_at_least(2), default=8, help="clips of an interpolation (default: %(default)s)")
    p.add_argument("--num", type=_at_least(1), default=8, help="clips per word (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="noise seed; the same seed gives the same files")
    p.add_argument("--checkpoint", default="latest", help="best, latest or a step number")
    p.add_argument("--member", type=_at_least(0), default=0,
                   help="for a run of num_seeds > 1: which seed (0 = its first) (default: %(default)s)")
    p.add_argument("--truncation", type=_truncation, default=0.0, metavar="T", help=TRUNCATION_HELP)
    p.add_argument("--speaker", help="a run trained with data.per_speaker: every clip in this speaker's "
                   "voice (default: its speakers in turn; an interpolation: their mean)")
    p.add_argument("--out", help="output folder (default: WORKDIR/generated)")
    a = p.parse_args(argv)
    from pathlib import Path

    from wavegan_jax import monitoring, sampling

    out = Path(a.out or Path(a.workdir) / "generated")
    run = sampling.load_run(a.workdir, a.checkpoint, a.member)
    if a.interpolate:
        pair = a.interpolate.split(",")
        if len(pair) != 2:
            p.error("--interpolate takes two words: A,B")
        audio = sampling.interpolate(run, pair if run.num_classes else None, a.steps, a.seed, a.speaker)
        groups = {f"{pair[0]}_to_{pair[1]}": audio}
    else:
        words = run.words if a.all_words else a.word.split(",") if a.word else None
        groups = sampling.generate(run, words, a.num, a.seed, truncation=a.truncation, speaker=a.speaker)
    paths = monitoring.write_wavs(out, groups, run.config.data.sample_rate)
    print(f"wrote {len(paths)} clips of step {run.step_count} to {out}: {paths[0].name} .. {paths[-1].name}")
    return 0


EVALUATE_EXAMPLE = """example:
  wavegan_jax evaluate --workdir runs/quickstart --checkpoint best
  wavegan_jax evaluate --workdir runs/quickstart --classifier data/prepared/fsdd_digits_8k_4096
  wavegan_jax evaluate --folder runs/quickstart/generated --data data/prepared/fsdd_zero_one_8k_4096
"""


def evaluate_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="wavegan_jax evaluate", epilog=EVALUATE_EXAMPLE,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Score clips with the project's classifier (which has a 'not a word' "
                                            "class) and classifier-free speech measures, next to the real test split.")
    p.add_argument("--workdir", help="a training run: generate --num clips per word and score them")
    p.add_argument("--checkpoint", default="latest", help="best, latest or a step number")
    p.add_argument("--member", type=_at_least(0), default=0,
                   help="for a run of num_seeds > 1: which seed (0 = its first) (default: %(default)s)")
    p.add_argument("--generator", default="ema,raw",
                   help="ema, raw (the trained parameters) or both: ema,raw (default: %(default)s)")
    p.add_argument("--num", type=_at_least(1), default=100, help="clips per word for --workdir (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="noise seed; the run's own seed gives the clips its "
                                                       "training-time evaluation scored")
    p.add_argument("--truncation", type=_truncation, default=0.0, metavar="T", help=TRUNCATION_HELP)
    p.add_argument("--folder", help="score WORD/*.wav or WORD_N.wav files in this folder instead")
    p.add_argument("--data", help="with --folder: the prepared data (and its classifier) to score against")
    p.add_argument("--classifier", help="judge with the classifier of this prepared folder instead: other "
                                        "speakers, or more words (a zero/one run judged by ten digits); default: "
                                        "the run's config.classifier.prepared, else its own data's")
    p.add_argument("--json", help="where to write the results (default: WORKDIR or FOLDER/evaluation.json)")
    a = p.parse_args(argv)
    if bool(a.workdir) == bool(a.folder) or (a.folder and not a.data):
        p.error("give --workdir RUN, or --folder DIR with --data PREPARED")
    generators = a.generator.split(",")
    if not set(generators) <= {"ema", "raw"}:
        p.error(f"--generator {a.generator}: give ema, raw or ema,raw")
    import time
    from pathlib import Path

    from wavegan_jax import data, evaluate, sampling

    t0 = time.perf_counter()
    rows, skipped = {}, []
    if a.workdir:
        run = sampling.load_run(a.workdir, a.checkpoint, a.member)
        if not run.num_classes:
            p.error("an unconditional model has no intended words to score; use a conditional run")
        words = run.words
        ref = evaluate.reference(run.config, judge=a.classifier)
        for g in generators:
            name = f"{a.workdir} ({a.checkpoint} = step {run.step_count}, {g}" + (
                f", truncation {a.truncation:g})" if a.truncation else ")")
            rows[name] = evaluate.score_run(run, ref, a.num, a.seed, generator=g, truncation=a.truncation)
    else:
        m = data.read_manifest(a.data)
        if m is None:
            raise FileNotFoundError(f"{a.data} has no manifest.json: run `wavegan_jax prepare` first")
        words = m["words"]
        audio, intended, skipped = evaluate.load_folder(a.folder, words, m["sample_rate"], m["length"])
        ref = evaluate.Reference.build(a.data, judge=a.classifier)
        rows[a.folder] = evaluate.score(ref, audio, intended, seed=a.seed)
    rows["real test split"] = evaluate.score_real_test(ref)
    judge = a.classifier or (run.config.classifier.prepared if a.workdir else "") or (
        run.config.data.prepared if a.workdir else a.data)
    print(f"judge: the classifier of {judge} ({', '.join(ref.clf.classes)})")
    print(evaluate.table(rows, words))
    out = Path(a.json or Path(a.workdir or a.folder) / "evaluation.json")
    out.write_text(json.dumps(evaluate.json_safe(
        {"judge": str(judge), "classes": ref.clf.classes, "rows": rows, "skipped": skipped,
         "seconds": round(time.perf_counter() - t0, 1)}), indent=1, allow_nan=False))
    print(f"wrote {out} ({len(skipped)} files skipped) in {time.perf_counter() - t0:.1f} s")
    return 0


def report_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="wavegan_jax report", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Write WORKDIR/report.html: generated and real clips per word "
                                            "(audio and spectrograms), the metric table, training curves.",
                                epilog="example:\n  wavegan_jax report --workdir runs/quickstart\n")
    p.add_argument("--workdir", required=True)
    p.add_argument("--checkpoint", default="latest", help="best, latest or a step number")
    p.add_argument("--member", type=_at_least(0), default=0,
                   help="for a run of num_seeds > 1: which seed (0 = its first) (default: %(default)s)")
    p.add_argument("--per-word", type=_at_least(1), default=4, help="clips per word (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output file (default: WORKDIR/report.html)")
    a = p.parse_args(argv)
    from wavegan_jax import report

    path = report.build(a.workdir, checkpoint=a.checkpoint, per_word=a.per_word, seed=a.seed, out=a.out,
                        member=a.member)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


CLASSIFIER_HELP = """usage: wavegan_jax train-classifier --config=EXPERIMENT.py [--config.classifier.FIELD=VALUE ...]

Train the word classifier on the train split of the experiment's prepared data (prepared first
if missing) and save it in PREPARED/classifier/; prints the test-split accuracy.

example:
  wavegan_jax train-classifier --config=experiments/fsdd.py
"""

COMMANDS = {"prepare": prepare_main, "train": train_main, "train-classifier": train_classifier_main,
            "generate": generate_main, "evaluate": evaluate_main, "report": report_main,
            "sweep": sweep_main}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if argv else 2)
    if argv[0] not in COMMANDS:
        print(f"unknown command {argv[0]!r}; known: {', '.join(COMMANDS)}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    _logging()
    try:
        sys.exit(COMMANDS[argv[0]](argv[1:]))
    except (ValueError, OSError) as e:  # bad values, missing or unwritable files, a full disk
        print(f"wavegan_jax {argv[0]}: error: {_one_line(e)}", file=sys.stderr)
        sys.exit(2)
