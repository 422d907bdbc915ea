"""reid-lightning: a PyTorch Lightning + Hydra experiment suite for person re-identification."""

__version__ = "0.1.0"
