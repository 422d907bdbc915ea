"""The partition contract, its registry and `create_partition`; the strategies live beside this module.

Every partition is a `Partition`: `forward(feature_map, part_maps=None) -> (B, P, C)` (the contract, and
all export needs), and `outputs(...)` -> `PartitionOutput` with a visibility score per part (B, P) beside the
features, for the visibility-aware distance (metrics/visibility.py). Two class facts say where part maps
are needed: `requires_part_maps` (by the forward pass: evaluation and inference too) and
`requires_part_maps_for_training` (by the training step); the data module loads maps for the training
split when the latter holds, for query and gallery only when the former does.
"""

from typing import NamedTuple

import torch
from torch import nn

from reid_lightning.data.part_maps import NUM_PART_LABELS
from reid_lightning.registry import Registry

PARTITIONS = Registry("partition")


class PartitionOutput(NamedTuple):
    """What one pass of a partition gives; `forward` returns `features` alone."""

    features: torch.Tensor  # (B, P, C) part features
    visibility: torch.Tensor  # (B, P) in [0, 1]
    masks: torch.Tensor | None = None  # (B, P, h, w) the masks pooled with (mask partitions)
    logits: torch.Tensor | None = None  # (B, L, h, w) predicted part logits (predicted_mask)


class Partition(nn.Module):
    """The partition contract and its defaults: no part maps needed, every part visible, no extra loss."""

    requires_part_maps = False  # the forward pass needs part maps (so evaluation and inference do)
    requires_part_maps_for_training = False  # the training step needs them (supervision or forward)

    def outputs(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None = None) -> PartitionOutput:
        features = self(feature_map, part_maps)  # (B, P, C)
        return PartitionOutput(features, features.new_ones(features.shape[:2]))

    def training_loss(self, output: PartitionOutput, part_maps: torch.Tensor | None) -> torch.Tensor | None:
        """An extra loss of the training step, already weighted (None: the identity loss alone)."""
        return None


def mask_visibility(masks: torch.Tensor, visible_cells: float) -> torch.Tensor:
    """(B, P, h, w) masks -> (B, P) visibility: each part's mass in feature cells / visible_cells, capped at 1."""
    return (masks.float().sum(dim=(2, 3)) / visible_cells).clamp(max=1.0)


def is_tracing() -> bool:
    """True while torch.jit.trace or torch.export / torch.onnx.export records the model: value checks that
    read tensors into Python would freeze into the graph (trace) or stop the export, so they are skipped."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def check_choice(partition: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"partition={partition} got {key}={value!r}; choose one of {', '.join(allowed)}")


def create_partition(
    name: str, num_part_labels: int = NUM_PART_LABELS, in_channels: int | None = None, **kwargs
) -> Partition:
    """Build a partition by config name. What the config does not hold is passed to the partitions that take
    it: `num_part_labels` (labels in the part maps) and `in_channels` (the backbone's feature channels).

    Returns a `Partition`: `num_parts`, `requires_part_maps`, `requires_part_maps_for_training`,
    `forward(feature_map (B,C,h,w), part_maps (B,H,W) int64 | None) -> (B,P,C)` and `outputs(...)`.
    """
    provided = {"num_part_labels": num_part_labels, "in_channels": in_channels}
    PARTITIONS.check_options(name, kwargs, ignored=tuple(provided))
    options = PARTITIONS.options(name)
    if "in_channels" in options and in_channels is None:
        raise ValueError(
            f"partition={name} works on the feature map's channels: pass in_channels (the backbone's num_features)"
        )
    kwargs.update({key: value for key, value in provided.items() if key in options and value is not None})
    return PARTITIONS.build(name, **kwargs)
