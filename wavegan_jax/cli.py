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

Run `wavegan_jax COMMAND --help` for the options and an example.
"""

PREPARE_EXAMPLE = """example:
  wavegan_jax prepare --source fsdd --path ../shared/data/fsdd --words zero,one \\
      --sample-rate 8000 --length 4096 --out data/prepared/fsdd_zero_one
  wavegan_jax prepare --download speech_commands --words sc09 --sample-rate 16000 \\
      --length 16384 --out data/prepared/sc09
"""

TRAIN_HELP = """usage: wavegan_jax train --config=EXPERIMENT.py[:smoke] --workdir=DIR [--config.FIELD=VALUE ...]

Train the experiment in EXPERIMENT.py (a file with get_config(), see experiments/) in DIR.
The same DIR resumes from its latest checkpoint. Shards are prepared first when
config.data.prepared is missing. Every field of experiments/base.py can be overridden;
a mistyped field is an error.

example:
  wavegan_jax train --config=experiments/quickstart.py --workdir=runs/quickstart
  wavegan_jax train --config=experiments/fsdd.py --workdir=runs/fsdd --config.batch_size=32
"""


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
    p.add_argument("--sample-rate", type=int, default=16000, help="Hz (default: %(default)s)")
    p.add_argument("--length", type=int, default=16384, help="samples per clip (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="split seed for --source folder")
    p.add_argument("--out", required=True, help="output folder for the shards and manifest.json")
    p.add_argument("--force", action="store_true", help="rewrite even when up to date")
    a = p.parse_args(argv)
    source, path = a.source, a.path
    if a.download:
        source, path = download.download(a.download, a.cache, archive=a.archive, sha256=a.sha256)
    elif not (a.source and a.path):
        p.error("give --source and --path, or --download")
    m = data.prepare(source, path, a.out, words=a.words, sample_rate=a.sample_rate,
                     length=a.length, seed=a.seed, force=a.force)
    if m.get("up_to_date"):
        print(f"{a.out} is up to date; nothing to do")
    summary = {s: sum(c.values()) for s, c in m["counts"].items()}
    print(json.dumps({"out": a.out, "words": m["words"], "clips": summary,
                      "skipped": len(m["skipped"])}))
    return 0


def train_main(argv: list[str]) -> int:
    if any(x in ("-h", "--help", "-help") for x in argv):
        print(TRAIN_HELP)
        return 0
    from absl import flags
    from ml_collections import config_flags

    config_flags.DEFINE_config_file("config", None, "experiment file", lock_config=True)
    flags.DEFINE_string("workdir", None, "run folder (resumes from its checkpoints)")
    flags.mark_flags_as_required(["config", "workdir"])
    try:
        FLAGS = flags.FLAGS
        FLAGS(["wavegan_jax train"] + argv)
    except flags.Error as e:
        print(f"wavegan_jax train: {e}\n\n{TRAIN_HELP}", file=sys.stderr)
        return 2
    from wavegan_jax import train

    logging.getLogger(__name__).info("config:\n%s", FLAGS.config)
    try:
        train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except FloatingPointError as e:
        print(f"wavegan_jax train: {e}", file=sys.stderr)
        return 1
    return 0


COMMANDS = {"prepare": prepare_main, "train": train_main}


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
    except (ValueError, FileNotFoundError) as e:
        print(f"wavegan_jax {argv[0]}: error: {e}", file=sys.stderr)
        sys.exit(2)
