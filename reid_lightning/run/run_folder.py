"""A run folder has one writer at a time, and a run that is refused leaves the folder as it was.

- Lock: train.py holds an exclusive `flock` on `<run>/.lock` for its whole life (rank zero; DDP ranks and
  SLURM tasks of the same run write nothing of their own there). A second training pointed at the same folder
  (the same `hydra.run.dir`, a requeued job while the old one still runs) is refused at once, naming the
  process holding it, instead of interleaving checkpoints and records. The lock dies with its process, so
  a killed run never leaves the folder locked.
- `.hydra/`: Hydra itself would write `.hydra/config.yaml`, `hydra.yaml` and `overrides.yaml` into the
  folder before any of our code runs, so even a refused rerun (other overrides for a finished run, a busy
  folder, a bad value) replaced the overrides the refusal tells the user to read. conf/hydra/default.yaml
  sets `hydra.output_subdir: null` and the run writes the same three files itself (`save_hydra_files`)
  once it is accepted: the config is valid, the folder is ours, the checkpoint to resume matches.
- `Refused`: what a refusal raises. train.py then writes no record over an existing one (a fresh folder
  gets its `failed` record and `.hydra/` as for any failure, so sweep tables list it).
"""

import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from reid_lightning.atomic import atomic_write_text

LOCK_NAME = ".lock"
HYDRA_FOLDER = ".hydra"  # Hydra's default hydra.output_subdir


class Refused(RuntimeError):
    """The run cannot start as asked; nothing of its folder was changed."""


class RunFolderBusy(Refused):
    """Another process is writing this run folder."""


@contextmanager
def hold_run_folder(run_dir: str | Path):
    """Hold `<run_dir>/.lock` (exclusive, not waiting) while inside; RunFolderBusy when another process holds it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_NAME, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise RunFolderBusy(
                f"run folder {run_dir} is in use by {holder}: one run writes a folder at a time. "
                "Wait for it to end (or stop it: its checkpoint lets a rerun resume), or run in "
                "another folder (hydra.run.dir=...)"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        lock.flush()
        yield  # the lock is released when the file closes, also if the process dies


def save_hydra_files(cfg: DictConfig) -> Path | None:
    """Write `<run>/.hydra/{config,hydra,overrides}.yaml` as Hydra would (None outside a Hydra job)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    folder = Path(hydra_cfg.runtime.output_dir) / (hydra_cfg.output_subdir or HYDRA_FOLDER)
    atomic_write_text(folder / "config.yaml", OmegaConf.to_yaml(cfg))
    atomic_write_text(folder / "hydra.yaml", OmegaConf.to_yaml(HydraConfig.instance().cfg))
    atomic_write_text(folder / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.overrides.task))
    return folder
