"""Checkpoint the training state when a run is stopped from outside: SIGTERM, Ctrl-C, a SLURM requeue.

Lightning turns SIGTERM into a `SIGTERMException` raised at the next batch boundary (Ctrl-C into a
KeyboardInterrupt, submitit's time-limit requeue into a SystemExit) and calls every callback's
`on_exception` before the run unwinds. This callback then saves the full training state to
`<dirpath>/interrupted.ckpt` (mid-epoch, so no finished step is lost), which `resume=auto` picks when it
is the newest readable checkpoint (run/resume.py). train.py records the run as interrupted and exits
non-zero. A run that later finishes removes the stale file.
"""

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities.rank_zero import rank_zero_info

INTERRUPTED_NAME = "interrupted.ckpt"  # the file a rerun resumes from (run/resume.py lists it with the others)

STOPS = (SystemExit, KeyboardInterrupt)  # SIGTERMException is a SystemExit


class InterruptionCheckpoint(pl.Callback):
    def __init__(self, dirpath: str | Path):
        super().__init__()
        self.path = Path(dirpath) / INTERRUPTED_NAME

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, STOPS) or trainer.state.fn != TrainerFn.FITTING:
            return  # failures are not resumed; a stop during testing has its training already saved
        if trainer.fast_dev_run or trainer.sanity_checking or trainer.global_step == 0:
            return  # nothing trained yet: resuming would gain nothing
        trainer.save_checkpoint(self.path)
        rank_zero_info(
            f"{type(exception).__name__} at epoch {trainer.current_epoch}, step {trainer.global_step}: "
            f"saved the training state to {self.path}"
        )

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self.path.unlink(missing_ok=True)  # training finished: the interrupted state is history
