"""The suite's version, read from the installed package's metadata (its one home is pyproject.toml)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reid-lightning")
except PackageNotFoundError:  # a source tree that was never installed (pip install -e .)
    __version__ = "0+unknown"
