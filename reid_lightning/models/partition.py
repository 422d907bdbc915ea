"""Partitions: turn the backbone's feature map (B, C, h, w) into P part features (B, P, C).

Five strategies, picked by name with `create_partition` (the first four: thesis chapter 3, Table 3.2):

- `global`        global average pooling, one part (the ResNet-50 baseline).
- `stripes`       PCB-style horizontal stripes: N bands of rows, each average-pooled.
- `binary_mask`   one mask per body-part label of the segmenter's map, multiplied into the feature map
                  just before pooling (the thesis's "semantic partition, no Gaussian filtering").
- `gaussian_mask` the same masks smoothed by a Gaussian filter first, so parts the segmenter missed
                  (holes, a cheek instead of a head) still contribute features from around what it found.
- `predicted_mask` masks predicted from the feature map by a light layer that part maps supervise during
                  training only (predicted_masks.py): evaluation needs the image alone.

Every partition is a `Partition`: `forward(feature_map, part_maps=None) -> (B, P, C)` (the contract, and
all export needs), and `outputs(...)` -> `PartitionOutput` with a visibility score per part (B, P) beside the
features, for the visibility-aware distance (metrics/visibility.py). Two class facts say where part maps
are needed: `requires_part_maps` (by the forward pass: evaluation and inference too) and
`requires_part_maps_for_training` (by the training step); the data module loads maps for the training
split when the latter holds, for query and gallery only when the former does.

Part maps arrive as integer label maps at image resolution (B, H, W); everything from there on (one-hot,
smoothing, resizing to the feature map, pooling) happens here, batched, on the feature map's device.

Choices the thesis leaves open, made here:
- Smoothing is specified in IMAGE pixels (sigma, kernel_size) and done at image resolution, before the
  masks are resized to the feature map, as the thesis filtered the segmenter's output; one setting thus
  means the same blur whatever the backbone stride. Blur and resize both act on rows and columns
  separately, so the pipeline is one small matrix per axis (blur, then area/bilinear resize, applied to
  the identity) and the masks are rows @ one_hot @ cols^T: exact, batched, and far cheaper than
  convolving full-size masks with kernels of 6 sigma taps.
- The filter is a normalised Gaussian (weights sum to 1), as OpenCV/scipy apply it, and the result is not
  renormalised by default: inside a large part the mask stays 1, at its edge about 0.5, and it decays
  outside. `normalize=max` divides each mask by its maximum instead, so a small, weak detection still
  peaks at 1. Image borders are replicated, so a part touching the edge (feet, head) is not dimmed there.
- Pooling is the thesis's plain average over the map, sum(mask * f) / (h * w) (`pooling=mean`), so a
  small part gives a small feature; `pooling=weighted` divides by sum(mask) instead (a mask-weighted mean).
- Visibility of a mask partition is the part's mask mass on the feature grid, in cells, over
  `visible_cells` and capped at 1 (`mask_visibility`): a part that covers at least `visible_cells` cells
  counts as fully visible, one the map lacks (occluded, missed) as 0. Global and stripes see every part.
"""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

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


@PARTITIONS.register("global")
class GlobalPool(Partition):
    """Global average pooling: one part covering the whole map."""

    num_parts = 1

    def forward(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        return feature_map.mean(dim=(2, 3)).unsqueeze(1)  # (B, 1, C)


@PARTITIONS.register("stripes")
class HorizontalStripes(Partition):
    """PCB-style: `num_stripes` horizontal bands of the feature map, each average-pooled.

    When h is a multiple of num_stripes the bands are equal and disjoint. Otherwise adaptive average
    pooling to (num_stripes, 1) is used: band i covers rows floor(i*h/N) .. ceil((i+1)*h/N) - 1, so
    neighbouring bands share a row (and with h < N some rows are repeated).
    """

    def __init__(self, num_stripes: int = 6):
        super().__init__()
        if num_stripes < 1:
            raise ValueError(f"partition=stripes got num_stripes={num_stripes}; use 1 or more (PCB uses 6)")
        self.num_parts = num_stripes

    def forward(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(feature_map, (self.num_parts, 1))  # (B, C, N, 1)
        return pooled.squeeze(-1).transpose(1, 2)  # (B, N, C)


@PARTITIONS.register("binary_mask")
class BinaryMasks(Partition):
    """One binary mask per part label, resized to the feature map, multiplied in, then pooled."""

    requires_part_maps = True
    requires_part_maps_for_training = True
    sigma, radius = 0.0, 0  # no smoothing

    def __init__(self, num_labels: int = 7, include_background: bool = True, interpolation: str = "area",
                 pooling: str = "mean", normalize: str = "none", visible_cells: float = 1.0, eps: float = 1e-6):
        super().__init__()
        _check_choice(self.registry_name, "interpolation", interpolation, ("area", "bilinear"))
        _check_choice(self.registry_name, "pooling", pooling, ("mean", "weighted"))
        _check_choice(self.registry_name, "normalize", normalize, ("none", "max"))
        first = 0 if include_background else 1
        if num_labels - first < 1:
            raise ValueError(f"partition={self.registry_name} got num_labels={num_labels} with include_background="
                             f"{include_background}: no part is left; use num_labels >= 2")
        self.num_labels, self.include_background = num_labels, include_background
        if visible_cells <= 0:
            raise ValueError(f"partition={self.registry_name} got visible_cells={visible_cells}; use a positive "
                             "number of feature cells")
        self.interpolation, self.pooling, self.normalize, self.eps = interpolation, pooling, normalize, eps
        self.visible_cells = float(visible_cells)
        self.labels = tuple(range(first, num_labels))  # the label of each part, in part order
        self.num_parts = len(self.labels)

    def one_hot(self, part_maps: torch.Tensor | None) -> torch.Tensor:
        """Label map (B, H, W) int -> one float mask per part (B, P, H, W) at image resolution."""
        if part_maps is None:
            raise ValueError(f"partition={self.registry_name} needs part maps; the data module did not provide them "
                             "(no 'part_map' in the batch). Build it with load_part_maps=True "
                             "(model.requires_part_maps), or pick partition=global or partition=stripes")
        if part_maps.dim() != 3 or part_maps.is_floating_point():
            raise ValueError(f"partition={self.registry_name} expects part maps as integer labels (B, H, W), got "
                             f"{tuple(part_maps.shape)} {part_maps.dtype}")
        low, high = (0, 0) if is_tracing() else (int(v) for v in torch.aminmax(part_maps))
        if low < 0 or high >= self.num_labels:
            raise ValueError(f"partition={self.registry_name} takes labels 0..{self.num_labels - 1} (num_labels="
                             f"{self.num_labels}) but the part maps hold {low}..{high}; check "
                             "data.num_source_labels / data.part_groups")
        labels = torch.tensor(self.labels, device=part_maps.device).view(1, -1, 1, 1)
        return (part_maps.unsqueeze(1) == labels).float()  # (B, P, H, W)

    def masks(self, part_maps: torch.Tensor | None, feature_hw: tuple[int, int]) -> torch.Tensor:
        """The masks multiplied into the feature map: (B, H, W) labels -> (B, P, h, w) float.

        Smoothing (Gaussian only) and resizing both act on rows and columns separately, so the whole
        image-resolution pipeline is one matrix per axis: masks = A_rows @ one_hot @ A_cols^T.
        """
        masks = self.one_hot(part_maps)  # (B, P, H, W)
        (big_h, big_w), (h, w) = masks.shape[-2:], feature_hw
        rows = mask_operator(big_h, h, self.sigma, self.radius, self.interpolation, masks.device)  # (h, H)
        cols = mask_operator(big_w, w, self.sigma, self.radius, self.interpolation, masks.device)  # (w, W)
        masks = rows @ (masks @ cols.T)  # (B, P, h, w)
        if self.normalize == "max":
            masks = masks / masks.amax(dim=(2, 3), keepdim=True).clamp_min(self.eps)
        return masks

    def outputs(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None = None) -> PartitionOutput:
        b, _, h, w = feature_map.shape
        if part_maps is not None:
            part_maps = part_maps.to(feature_map.device, non_blocking=True)
        masks = self.masks(part_maps, (h, w)).type_as(feature_map)  # (B, P, h, w); traced: follows the input dtype
        if masks.shape[0] != b:
            raise ValueError(f"partition={self.registry_name}: {masks.shape[0]} part maps for a batch of {b} images")
        features = pool_masked(feature_map, masks, self.pooling, self.eps)  # (B, P, C)
        return PartitionOutput(features, mask_visibility(masks, self.visible_cells), masks)

    def forward(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        return self.outputs(feature_map, part_maps).features  # (B, P, C)


def pool_masked(feature_map: torch.Tensor, masks: torch.Tensor, pooling: str, eps: float) -> torch.Tensor:
    """(B, C, h, w) features, (B, P, h, w) masks -> (B, P, C): the thesis's sum(mask * f) / (h * w) (`mean`),
    or / sum(mask) (`weighted`)."""
    h, w = feature_map.shape[-2:]
    summed = torch.einsum("bphw,bchw->bpc", masks, feature_map)  # (B, P, C)
    if pooling == "mean":
        return summed / (h * w)
    return summed / (masks.sum(dim=(2, 3)).unsqueeze(-1) + eps)  # (B, P, C)


@PARTITIONS.register("gaussian_mask")
class GaussianMasks(BinaryMasks):
    """Binary part masks smoothed by a Gaussian filter (sigma, kernel_size in image pixels) before use."""


    def __init__(self, sigma: float = 8.0, kernel_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if sigma < 0:
            raise ValueError(f"partition={self.registry_name} got sigma={sigma}; use sigma >= 0 (0 = binary masks)")
        if kernel_size is not None and (kernel_size < 1 or kernel_size % 2 == 0):
            raise ValueError(f"partition={self.registry_name} got kernel_size={kernel_size}; use an odd size >= 1, "
                             "or null for 2*ceil(3*sigma)+1")
        self.sigma = float(sigma)
        # Half-width of the kernel in image pixels; by default 3 sigma (99.7% of the weight).
        self.radius = math.ceil(3 * self.sigma) if kernel_size is None else kernel_size // 2


def gaussian_kernel(sigma: float, radius: int, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian of 2*radius+1 taps; sigma == 0 or radius == 0 gives the identity [1]."""
    if sigma <= 0 or radius <= 0:
        return torch.ones(1, device=device)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def blur_matrix(size: int, sigma: float, radius: int, device=None) -> torch.Tensor:
    """(size, size) matrix of a 1-D Gaussian filter with replicated borders: row i weighs the inputs of i."""
    kernel = gaussian_kernel(sigma, radius, device)  # (k,)
    r = len(kernel) // 2
    offsets = torch.arange(-r, r + 1, device=device)
    sources = (torch.arange(size, device=device).unsqueeze(1) + offsets).clamp(0, size - 1)  # (size, k)
    return torch.zeros(size, size, device=device).scatter_add_(1, sources, kernel.expand(size, -1))


def resize_matrix(size_in: int, size_out: int, mode: str, device=None) -> torch.Tensor:
    """(size_out, size_in) matrix of F.interpolate along one axis (area or bilinear, align_corners=False)."""
    if size_in == size_out:
        return torch.eye(size_in, device=device)
    basis = torch.eye(size_in, device=device).view(1, size_in, size_in, 1)  # size_in unit signals
    align = False if mode == "bilinear" else None
    resized = F.interpolate(basis, size=(size_out, 1), mode=mode, align_corners=align)  # (1, in, out, 1)
    return resized[0, :, :, 0].T


def mask_operator(size_in: int, size_out: int, sigma: float, radius: int, mode: str,
                  device=None) -> torch.Tensor:
    """Blur at image resolution, then resize, along one axis: (size_out, size_in)."""
    return resize_matrix(size_in, size_out, mode, device) @ blur_matrix(size_in, sigma, radius, device)


def is_tracing() -> bool:
    """True while torch.jit.trace or torch.export / torch.onnx.export records the model: value checks that
    read tensors into Python would freeze into the graph (trace) or stop the export, so they are skipped."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def _check_choice(partition: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"partition={partition} got {key}={value!r}; choose one of {', '.join(allowed)}")


def create_partition(name: str, num_labels: int = 7, in_channels: int | None = None, **kwargs) -> Partition:
    """Build a partition by config name. What the config does not hold is passed to the partitions that take
    it: `num_labels` (labels in the part maps) and `in_channels` (the backbone's feature channels).

    Returns a `Partition`: `num_parts`, `requires_part_maps`, `requires_part_maps_for_training`,
    `forward(feature_map (B,C,h,w), part_maps (B,H,W) int64 | None) -> (B,P,C)` and `outputs(...)`.
    """
    provided = {"num_labels": num_labels, "in_channels": in_channels}
    PARTITIONS.check_options(name, kwargs, ignored=tuple(provided))
    options = PARTITIONS.options(name)
    if "in_channels" in options and in_channels is None:
        raise ValueError(f"partition={name} works on the feature map's channels: pass in_channels (the backbone's "
                         "num_features)")
    kwargs.update({key: value for key, value in provided.items() if key in options and value is not None})
    return PARTITIONS.build(name, **kwargs)


from reid_lightning.models import predicted_masks  # noqa: E402, F401  registers predicted_mask (it builds on the above)
