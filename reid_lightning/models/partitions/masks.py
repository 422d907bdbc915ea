"""Body-part mask partitions (thesis chapter 3, Table 3.2): `binary_mask` and `gaussian_mask`.

- `binary_mask`   one mask per body-part label of the segmenter's map, multiplied into the feature map
                  just before pooling (the thesis's "semantic partition, no Gaussian filtering").
- `gaussian_mask` the same masks smoothed by a Gaussian filter first, so parts the segmenter missed
                  (holes, a cheek instead of a head) still contribute features from around what it found.

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

import torch
import torch.nn.functional as F

from reid_lightning.data.part_maps import NUM_PART_LABELS
from reid_lightning.models.partitions.base import (
    PARTITIONS,
    Partition,
    PartitionOutput,
    check_choice,
    is_tracing,
    mask_visibility,
)


@PARTITIONS.register("binary_mask")
class BinaryMasks(Partition):
    """One binary mask per part label, resized to the feature map, multiplied in, then pooled."""

    requires_part_maps = True
    requires_part_maps_for_training = True
    sigma, radius = 0.0, 0  # no smoothing

    def __init__(
        self,
        num_part_labels: int = NUM_PART_LABELS,
        include_background: bool = True,
        interpolation: str = "area",
        pooling: str = "mean",
        normalize: str = "none",
        visible_cells: float = 1.0,
        eps: float = 1e-6,
    ):
        super().__init__()
        check_choice(self.registry_name, "interpolation", interpolation, ("area", "bilinear"))
        check_choice(self.registry_name, "pooling", pooling, ("mean", "weighted"))
        check_choice(self.registry_name, "normalize", normalize, ("none", "max"))
        first = 0 if include_background else 1
        if num_part_labels - first < 1:
            raise ValueError(
                f"partition={self.registry_name} got num_part_labels={num_part_labels} with "
                "include_background="
                f"{include_background}: no part is left; use num_part_labels >= 2"
            )
        self.num_part_labels, self.include_background = num_part_labels, include_background
        if visible_cells <= 0:
            raise ValueError(
                f"partition={self.registry_name} got visible_cells={visible_cells}; use a positive "
                "number of feature cells"
            )
        self.interpolation, self.pooling, self.normalize, self.eps = interpolation, pooling, normalize, eps
        self.visible_cells = float(visible_cells)
        self.labels = tuple(range(first, num_part_labels))  # the label of each part, in part order
        self.num_parts = len(self.labels)

    def one_hot(self, part_maps: torch.Tensor | None) -> torch.Tensor:
        """Label map (B, H, W) int -> one float mask per part (B, P, H, W) at image resolution."""
        if part_maps is None:
            raise ValueError(
                f"partition={self.registry_name} needs part maps; the data module did not provide them "
                "(no 'part_map' in the batch). Build it with load_part_maps=True "
                "(model.requires_part_maps), or pick partition=global or partition=stripes"
            )
        if part_maps.dim() != 3 or part_maps.is_floating_point():
            raise ValueError(
                f"partition={self.registry_name} expects part maps as integer labels (B, H, W), got "
                f"{tuple(part_maps.shape)} {part_maps.dtype}"
            )
        low, high = (0, 0) if is_tracing() else (int(v) for v in torch.aminmax(part_maps))
        if low < 0 or high >= self.num_part_labels:
            raise ValueError(
                f"partition={self.registry_name} takes labels 0..{self.num_part_labels - 1} "
                "(num_part_labels="
                f"{self.num_part_labels}) but the part maps hold {low}..{high}; check "
                "data.num_part_labels / data.part_groups"
            )
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
            raise ValueError(
                f"partition={self.registry_name} got kernel_size={kernel_size}; use an odd size >= 1, "
                "or null for 2*ceil(3*sigma)+1"
            )
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


def mask_operator(size_in: int, size_out: int, sigma: float, radius: int, mode: str, device=None) -> torch.Tensor:
    """Blur at image resolution, then resize, along one axis: (size_out, size_in)."""
    return resize_matrix(size_in, size_out, mode, device) @ blur_matrix(size_in, sigma, radius, device)
