"""OmegaConf resolvers our configs use; registered by the entry points before Hydra composes.

`${ensure_dir:path}` creates the folder and returns its path: the Optuna study's SQLite file must
live in an existing folder before the first trial runs.
"""

from pathlib import Path

from omegaconf import OmegaConf


def ensure_dir(path: str) -> str:
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


def register() -> None:
    if not OmegaConf.has_resolver("ensure_dir"):
        OmegaConf.register_new_resolver("ensure_dir", ensure_dir)
