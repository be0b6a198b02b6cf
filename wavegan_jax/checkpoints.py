"""Checkpoints that are verified before use: orbax writes them, we seal and check them.

Orbax checks a checkpoint's structure but not its bytes: flipped bytes in a data file restore
without error. So every finished checkpoint folder gets a seal, ``SEAL`` (a JSON map of each
file's SHA-256), written after orbax commits it, and every restore checks the seal first. A
checkpoint whose seal fails (a changed, truncated or deleted file), or that orbax cannot read,
is *unusable*: restoring "the latest" falls back to the newest intact one and says so in one
line; ``train`` also moves the unusable newer ones to ``workdir/checkpoints_unusable/`` (kept
for inspection, out of orbax's way) before it continues. A checkpoint without a seal (written
before seals existed, or killed between orbax's commit and the seal) is restored unverified,
with a warning.

Layout::

    workdir/checkpoints/STEP/...        orbax's files, plus SEAL
    workdir/best/state/...              the best checkpoint (``save_best``), plus SEAL
    workdir/best/best.json              {"step", "metric", "value"}
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from wavegan_jax import data as data_lib

log = logging.getLogger(__name__)

SEAL = "wavegan_sha256.json"
UNUSABLE = "checkpoints_unusable"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says which and why."""


class _QuietReadOnly(logging.Filter):
    """Drop orbax's warnings that a read-only manager is read-only (generate, evaluate, report)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Given directory is read only", "CheckpointManagerOptions.read_only"))


logging.getLogger("absl").addFilter(_QuietReadOnly())


def manager(workdir: str | Path, keep: int, read_only: bool = False) -> ocp.CheckpointManager:
    """The run's rolling checkpoints in ``workdir/checkpoints`` (``read_only``: creates nothing)."""
    return ocp.CheckpointManager(
        (Path(workdir) / "checkpoints").absolute(),
        options=ocp.CheckpointManagerOptions(max_to_keep=None if read_only else keep, create=not read_only,
                                             read_only=read_only))


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): data_lib.sha256_file(p)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != SEAL}


def seal(folder: str | Path) -> None:
    """Write ``folder/SEAL`` for a finished checkpoint folder (process 0 only)."""
    folder = Path(folder)
    if jax.process_index() != 0:
        return
    text = json.dumps({"sha256": _digests(folder)}, indent=0)
    data_lib.atomic_write(folder / SEAL, lambda tmp: tmp.write_text(text))


def check(folder: str | Path) -> str | None:
    """Why the checkpoint in ``folder`` is corrupt, or None when its files match its seal (or it
    has no seal: see the module docstring)."""
    folder = Path(folder)
    try:
        sealed = json.loads((folder / SEAL).read_text())["sha256"]
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return f"its seal {SEAL} is unreadable"
    have = _digests(folder)
    missing = sorted(set(sealed) - set(have))
    if missing:
        return f"{len(missing)} file(s) missing, e.g. {missing[0]}"
    changed = sorted(k for k in sealed if have[k] != sealed[k])
    if changed:
        return f"{len(changed)} file(s) changed since it was written, e.g. {changed[0]}"
    return None


def written(state):
    """What a checkpoint of ``state`` holds: a dataclass state as a dict of its fields that are set
    (a field that is None, such as a switched-off replay buffer, is left out, so checkpoints
    written before that field existed still match); any other tree as it is."""
    if not dataclasses.is_dataclass(state):
        return state
    return {f.name: getattr(state, f.name) for f in dataclasses.fields(state) if getattr(state, f.name) is not None}


def abstract(state):
    """Shapes, dtypes and shardings of ``written(state)``: the restore target of a checkpoint."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), written(state))


def _like(restored, state):
    """A restored ``written(state)`` back in ``state``'s type."""
    return dataclasses.replace(state, **restored) if dataclasses.is_dataclass(state) else restored


def _one_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}"


def _restore_one(mngr: ocp.CheckpointManager, step: int, state):
    folder = Path(mngr.directory) / str(step)
    reason = check(folder)
    if reason is not None:
        return None, reason
    if not (folder / SEAL).exists():
        log.warning("checkpoint %d has no seal (written before seals, or stopped before sealing): "
                    "restoring it unverified", step)
    try:
        return _like(mngr.restore(step, args=ocp.args.StandardRestore(abstract(state))), state), None
    except Exception as e:  # tensorstore and orbax raise many types for a damaged file
        return None, f"orbax cannot read it ({_one_line(e)})"


def restore(mngr: ocp.CheckpointManager, state, step: int | None = None, move_unusable: Path | None = None):
    """``(restored state, step)`` of checkpoint ``step``, or of the newest intact one when
    ``step`` is None; ``(None, None)`` when there is no checkpoint.

    Raises CheckpointError when ``step`` is unusable or when no checkpoint is. With
    ``move_unusable`` (a folder), unusable checkpoints newer than the restored one are moved there.
    """
    steps = sorted(mngr.all_steps(), reverse=True) if step is None else [step]
    failed = []
    for s in steps:
        restored, reason = _restore_one(mngr, s, state)
        if restored is not None:
            if failed:
                log.warning("using checkpoint %d: the newer %s unusable (%s)", s,
                            ", ".join(str(f) for f, _ in failed) + (" is" if len(failed) == 1 else " are"),
                            "; ".join(f"{f}: {r}" for f, r in failed))
                if move_unusable is not None and jax.process_index() == 0:
                    for f, _ in failed:
                        move_unusable.mkdir(parents=True, exist_ok=True)
                        dest = move_unusable / str(f)
                        if dest.exists():
                            shutil.rmtree(dest)
                        shutil.move(str(Path(mngr.directory) / str(f)), dest)
                    mngr.reload()
            return restored, s
        failed.append((s, reason))
    if failed:
        where = Path(mngr.directory)
        raise CheckpointError(
            f"checkpoint {failed[0][0]} in {where} is unusable ({failed[0][1]})" if step is not None else
            f"none of the {len(failed)} checkpoints in {where} is usable (" +
            "; ".join(f"{f}: {r}" for f, r in failed[:3]) + "): move the folder away to start again")
    return None, None


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
    """Save ``state`` as checkpoint ``step`` and seal it once orbax has committed it."""
    mngr.save(step, args=ocp.args.StandardSave(written(state)))
    mngr.wait_until_finished()
    seal(Path(mngr.directory) / str(step))


def best_info(folder: str | Path) -> dict | None:
    f = Path(folder) / "best" / "best.json"
    return json.loads(f.read_text()) if f.exists() else None


def save_best(folder: str | Path, state, info: dict) -> None:
    """Keep ``state`` in folder/best (apart from the rolling checkpoints) with its metric."""
    best = (Path(folder) / "best").absolute()
    with ocp.StandardCheckpointer() as c:  # every process calls this; orbax coordinates them
        c.save(best / "state", written(state), force=True)
    seal(best / "state")
    if jax.process_index() == 0:
        data_lib.atomic_write(best / "best.json", lambda tmp: tmp.write_text(json.dumps(info)))


def restore_best(folder: str | Path, state):
    """The best checkpoint of ``folder`` restored like ``state``; None when there is none."""
    info = best_info(folder)
    if info is None:
        return None
    path = (Path(folder) / "best" / "state").absolute()
    reason = check(path)
    if reason is None:
        try:
            with ocp.StandardCheckpointer() as c:
                return _like(c.restore(path, abstract(state)), state)
        except Exception as e:
            reason = f"orbax cannot read it ({_one_line(e)})"
    raise CheckpointError(f"the best checkpoint (step {info.get('step')}) in {path} is unusable ({reason}); "
                          f"use --checkpoint latest")


def restore_named(workdir: str | Path, which: str, state, best_folder: str | Path | None = None):
    """``(state, step)`` of the run in ``workdir`` at checkpoint ``which``: "best" (kept in
    ``best_folder``, default ``workdir``), "latest" (the newest intact one) or a step number,
    restored like ``state``. A missing or unknown checkpoint raises a one-line error that says
    what there is."""
    workdir = Path(workdir)
    if which == "best":
        folder = Path(best_folder or workdir)
        restored = restore_best(folder, state)
        if restored is None:
            raise FileNotFoundError(f"{folder} has no best checkpoint (kept when a run evaluates while it "
                                    f"trains); give latest or a step number")
        return restored, best_info(folder).get("step")
    if which != "latest" and not which.isdigit():
        raise ValueError(f"checkpoint {which!r}: give best, latest or a step number")
    mngr = manager(workdir, 1, read_only=True)
    try:
        steps = sorted(mngr.all_steps())
        if not steps:
            raise FileNotFoundError(f"{workdir} has no checkpoint yet: train with "
                                    f"`wavegan_jax train --config=... --workdir={workdir}`")
        if which.isdigit() and int(which) not in steps:
            raise ValueError(f"no checkpoint {which} in {workdir}; have {steps} (or best, latest)")
        return restore(mngr, state, None if which == "latest" else int(which))
    finally:
        mngr.close()
