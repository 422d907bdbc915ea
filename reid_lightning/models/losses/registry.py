"""The metric-loss family's registry: each loss registers itself where it is defined (losses/<name>.py)."""

from reid_lightning.registry import Registry

LOSSES = Registry("loss", config_key="loss.terms")
