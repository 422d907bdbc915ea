"""The backbone family's registry: each architecture registers itself where it is defined."""

from reid_lightning.registry import Registry

BACKBONES = Registry("backbone", config_key="backbone.name")
