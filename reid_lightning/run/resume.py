"""Which checkpoint a run resumes from (`resume=auto`): the newest one of its folder that can be read.

A run folder holds `checkpoints/last.ckpt` (the end of the last finished epoch), `checkpoints/interrupted.ckpt`
(the state at a SIGTERM, Ctrl-C or requeue, mid-epoch), the best epoch `checkpoints/epoch_NNN.ckpt` and
Lightning's SLURM `hpc_ckpt_N.ckpt`. Newest by modification time wins, but a file that cannot be read
(cut short by a full disk or a kill before writes were atomic, or damaged since) is skipped with a log
line naming it, so a run falls back to an older complete epoch instead of failing or starting over.
"""

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)

CHECKPOINT_FOLDER = "checkpoints"


def checkpoint_candidates(run_dir: Path) -> list[Path]:
    """Every checkpoint a run folder may resume from, newest first."""
    run_dir = Path(run_dir)
    found = [*(run_dir / CHECKPOINT_FOLDER).glob("*.ckpt"), *run_dir.glob("hpc_ckpt_*.ckpt")]
    return sorted((p for p in found if p.is_file()), key=lambda p: p.stat().st_mtime, reverse=True)


def unreadable_reason(path: Path) -> str | None:
    """None when `path` is a complete Lightning checkpoint, else why not (memory-mapped: tensors are not read)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as err:  # truncated zip, 0 bytes, not a torch file, unpickling errors
        return f"{type(err).__name__}: {err}"
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        return "not a Lightning checkpoint (no state_dict)"
    return None


def newest_readable_checkpoint(run_dir: Path) -> Path | None:
    """The newest readable checkpoint of `run_dir` (None when there is none); logs each unreadable one skipped."""
    for path in checkpoint_candidates(run_dir):
        reason = unreadable_reason(path)
        if reason is None:
            return path
        log.warning("Skipping unreadable checkpoint %s (%s); trying the next newest", path, reason)
    return None
