"""OmegaConf resolvers our configs use; registered by the entry points before Hydra composes.

`${ensure_dir:path}` creates the folder and returns its path: the Optuna study's SQLite file must
live in an existing folder before the first trial runs. `${div:a,b}` divides, so a size in pixels
can follow the input size (the Gaussian masks' sigma is a sixteenth of the image height).
"""

from pathlib import Path

from omegaconf import OmegaConf


def ensure_dir(path: str) -> str:
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


def div(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator)


def register() -> None:
    for name, function in (("ensure_dir", ensure_dir), ("div", div)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)
