"""OmegaConf resolvers our configs use; registered by the entry points before Hydra composes.

`${launch_dir:}` is the directory the command was started from, the project root of `paths`. Unlike
`${hydra:runtime.cwd}` it resolves before Hydra's job config exists, which the sweeper needs: it
resolves `hydra.sweep.dir` (and the Optuna storage path) from `paths.log_dir` in the launching process.
`${ensure_dir:path}` creates the folder and returns its path: the Optuna study's SQLite file must
live in an existing folder before the first trial runs. `${div:a,b}` divides, so a size in pixels
can follow the input size (the Gaussian masks' sigma is a sixteenth of the image height).
`${scale_epochs:n,published,${trainer.max_epochs}}` is epoch n of a recipe published for `published` epochs,
scaled to this run's budget (the baseline presets' warm-up, milestones, delay and freeze: their published
values at their published budget, the same fractions of a shorter one, so a short comparison sweep runs the
whole schedule rather than its warm-up).
`${slurm_gpus:accelerator,devices}` is the GPUs a SLURM job asks for: the trainer's devices on GPU
runs, none on CPU runs (so one SLURM config serves both).
`${swept_dirname:${hydra.overrides.task}}` names a sweep job by what the sweep varies (e.g.
`backbone=nasnet`), leaving out the overrides every job shares (paths, epochs...).
"""

import json
import os
import sys
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf


def launch_dir() -> str:
    return os.getcwd()  # jobs keep the launch directory as cwd (hydra.job.chdir=false); so do DDP children


def ensure_dir(path: str) -> str:
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


def div(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator)


def scale_epochs(epochs: int, published_max: int, max_epochs: int) -> int:
    """`epochs` of a recipe published for `published_max` epochs, scaled to a run of `max_epochs` (rounded,
    at least 1 when epochs > 0): the recipe's own value at its own budget, the same fractions at a shorter one."""
    if int(epochs) <= 0:
        return 0
    return max(1, round(int(epochs) * int(max_epochs) / int(published_max)))


def slurm_gpus(accelerator: str, devices) -> int:
    return int(devices) if str(accelerator) in ("gpu", "cuda") else 0


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def swept_keys(argv: list[str], root) -> set[str]:
    """Keys swept on the command line (`backbone=a,b`, `lr=range(...)`) or by the sweeper's params."""
    params = OmegaConf.select(root, "hydra.sweeper.params", default=None) or {}
    keys = {_key(str(k)) for k in params}
    candidates = [a for a in argv if "=" in a and not a.startswith("-")]
    for override in OverridesParser.create().parse_overrides(candidates):
        if override.is_sweep_override():
            keys.add(override.get_key_element().lstrip("+~"))
    return keys


# The command line of the sweep, for jobs that do not run train.py (SLURM jobs run submitit's entry point
# and inherit the environment of the process that submitted them).
SWEEP_ARGV = "REID_LIGHTNING_SWEEP_ARGV"


def swept_dirname(task_overrides, _root_) -> str:
    """`k=v,...` of this job's swept overrides only; '/' becomes '_' so a value never nests folders."""
    argv = json.loads(os.environ[SWEEP_ARGV]) if SWEEP_ARGV in os.environ else sys.argv[1:]
    keys = swept_keys(argv, _root_)
    chosen = [str(o) for o in task_overrides if _key(str(o)) in keys]
    return ",".join(chosen).replace("/", "_") or "run"


def register() -> None:
    functions = (
        ("launch_dir", launch_dir),
        ("ensure_dir", ensure_dir),
        ("div", div),
        ("slurm_gpus", slurm_gpus),
        ("swept_dirname", swept_dirname),
        ("scale_epochs", scale_epochs),
    )
    for name, function in functions:
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)
