"""reid-lightning: a PyTorch Lightning + Hydra experiment suite for person re-identification."""

from reid_lightning.version import __version__

__all__ = ["FeatureExtractor", "__version__"]


def __getattr__(name: str):
    """`from reid_lightning import FeatureExtractor` without importing torch for every `import reid_lightning`."""
    if name == "FeatureExtractor":
        from reid_lightning.deploy.extractor import FeatureExtractor

        return FeatureExtractor
    raise AttributeError(f"module 'reid_lightning' has no attribute {name!r}")
