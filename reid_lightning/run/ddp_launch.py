"""Make Lightning's DDP child processes re-run *this Hydra job*, not the whole sweep.

With `strategy=ddp` and no external launcher (srun, torchrun), Lightning starts ranks 1..N-1 by
re-running the script with `sys.argv` plus `hydra.run.dir=<HydraConfig run dir>`. In a Hydra
multirun sys.argv is the sweep (`-m backbone=a,b`), so each child would launch the whole sweep
again, in the wrong folder: the known "multirun + ddp runs twice" bug. While the trainer runs we
point sys.argv at this job's own overrides (single-run mode) and the run dir at this job's folder,
so every rank works on the same job in the same folder.
"""

import os
import sys
from contextlib import contextmanager

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict


def lightning_will_launch_children(strategy: str | None, devices, num_nodes: int) -> bool:
    """True when Lightning itself will start the other ranks (no SLURM tasks, no torchrun)."""
    many = (devices not in (None, 1, "1") and devices != [0]) or num_nodes > 1
    external = "LOCAL_RANK" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) > 1
    return bool(strategy) and "ddp" in str(strategy) and "spawn" not in str(strategy) and many and not external


@contextmanager
def single_job_argv():
    """Inside a Hydra multirun job: sys.argv = this job's overrides in run mode, run dir = the job folder."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        yield
        return
    hydra_cfg = HydraConfig.get()
    saved_argv, saved_dir = list(sys.argv), hydra_cfg.run.dir
    job_dir = hydra_cfg.runtime.output_dir
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task, "hydra.mode=RUN"]
    with open_dict(hydra_cfg):
        hydra_cfg.run.dir = job_dir
    try:
        yield
    finally:
        sys.argv = saved_argv
        with open_dict(hydra_cfg):
            hydra_cfg.run.dir = saved_dir
