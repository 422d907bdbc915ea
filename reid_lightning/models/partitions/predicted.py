"""Predicted body-part masks: a light layer on the feature map predicts each cell's part, so no part map
is needed at evaluation (the idea of BPBReID's learned part attention, applied to the thesis's
mask pooling).

- A pixel classifier (a 1x1 convolution, optionally after a 3x3 convolution + BN + ReLU) turns the feature
  map (B, C, h, w) into logits over background + parts (B, L, h, w); a softmax over the L labels gives
  each cell's probabilities. They are the masks: pooled exactly as the given masks are
  (`pooling=mean`: sum(mask * f) / (h * w), the thesis; `weighted`: / sum(mask)), background as a part
  or not (`include_background`), optionally smoothed by a Gaussian over the feature grid (`sigma`, in
  feature cells: the predictions live on that grid).
- Training supervises the classifier with the part maps, resized to the feature map, through a pixel-wise
  cross-entropy (`mask_loss`): `targets=soft` compares with the share of each cell every label covers
  (area-resized one-hot maps, optionally Gaussian-smoothed first at image resolution, `target_sigma` in
  image pixels, as gaussian_mask smooths), `targets=nearest` with the label at each cell's nearest pixel.
  The LightningModule adds it to the identity loss times `loss_weight`.
- Visibility (B, P) in [0, 1]: a part's probability mass on the feature grid (the expected number of
  cells it covers, before smoothing), divided by `visible_cells` and capped at 1 (`mask_visibility`, as
  for given masks). With the default 1.0 a
  part whose predicted mass adds up to at least one feature cell is fully visible, an occluded part
  (its cells predicted as background or as the occluder's parts) falls towards 0. The evaluator
  thresholds it (see metrics/visibility.py). (BPBReID uses the part's maximum probability instead; the
  mass ignores a lone confident cell.)

Part maps: `requires_part_maps = False` (the forward pass and so evaluation and export need the image
alone), `requires_part_maps_for_training = True` (the data module loads them for the training split).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from reid_lightning.data.part_maps import NUM_PART_LABELS
from reid_lightning.models.partitions.base import PARTITIONS, Partition, PartitionOutput, mask_visibility
from reid_lightning.models.partitions.masks import GaussianMasks, blur_matrix, pool_masked


class _MaskTargets(GaussianMasks):
    """The given part maps as soft targets on the feature grid: one mask per label, background included."""

    registry_name = "predicted_mask"  # names this partition in the part maps' error messages


@PARTITIONS.register("predicted_mask")
class PredictedMasks(Partition):
    """Part masks predicted from the feature map; see the module docstring."""

    requires_part_maps = False  # evaluation, inference and export: the image alone
    requires_part_maps_for_training = True  # the training step supervises the masks with the part maps

    def __init__(
        self,
        in_channels: int,
        num_part_labels: int = NUM_PART_LABELS,
        include_background: bool = True,
        hidden_channels: int = 0,
        pooling: str = "mean",
        sigma: float = 0.0,
        targets: str = "soft",
        target_sigma: float = 0.0,
        loss_weight: float = 1.0,
        visible_cells: float = 1.0,
        eps: float = 1e-6,
    ):
        super().__init__()
        _check(pooling in ("mean", "weighted"), "pooling", pooling, "choose mean or weighted")
        _check(targets in ("soft", "nearest"), "targets", targets, "choose soft or nearest")
        _check(
            num_part_labels >= 2, "num_part_labels", num_part_labels, "use 2 or more (background + at least one part)"
        )
        _check(in_channels >= 1, "in_channels", in_channels, "pass the backbone's num_features")
        _check(hidden_channels >= 0, "hidden_channels", hidden_channels, "use 0 (a 1x1 layer only) or more")
        _check(sigma >= 0, "sigma", sigma, "use sigma >= 0 feature cells (0 = no smoothing)")
        _check(target_sigma >= 0, "target_sigma", target_sigma, "use target_sigma >= 0 image pixels")
        _check(
            targets == "soft" or target_sigma == 0,
            "target_sigma",
            target_sigma,
            "smoothed targets are soft: set targets=soft, or target_sigma=0",
        )
        _check(loss_weight >= 0, "loss_weight", loss_weight, "use a weight >= 0 (0 = unsupervised masks)")
        _check(visible_cells > 0, "visible_cells", visible_cells, "use a positive number of feature cells")
        self.num_part_labels, self.include_background = num_part_labels, include_background
        self.pooling, self.targets, self.loss_weight = pooling, targets, float(loss_weight)
        self.sigma, self.radius = float(sigma), math.ceil(3 * sigma)  # blur half-width: 3 sigma
        self.visible_cells, self.eps = float(visible_cells), eps
        self.first_label = 0 if include_background else 1  # the label of part 0
        self.num_parts = num_part_labels - self.first_label
        layers: list[nn.Module] = []
        if hidden_channels:
            layers += [
                nn.Conv2d(in_channels, hidden_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(hidden_channels),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(hidden_channels or in_channels, num_part_labels, 1))
        self.classifier = nn.Sequential(*layers)
        nn.init.normal_(layers[-1].weight, std=1e-3)  # start from near-uniform probabilities
        nn.init.zeros_(layers[-1].bias)
        self.target_masks = _MaskTargets(
            sigma=target_sigma, num_part_labels=num_part_labels, include_background=True, interpolation="area"
        )

    def outputs(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None = None) -> PartitionOutput:
        """Feature map (B, C, h, w) -> part features, visibility, the masks pooled with, logits; `part_maps`
        is accepted for the partition contract and ignored (they only teach the classifier, `mask_loss`)."""
        _, _, h, w = feature_map.shape
        logits = self.classifier(feature_map)  # (B, L, h, w)
        probabilities = logits.float().softmax(dim=1)[:, self.first_label :]  # (B, P, h, w)
        visibility = mask_visibility(probabilities, self.visible_cells)  # (B, P) from the unsmoothed mass
        masks = probabilities
        if self.sigma > 0:
            rows = blur_matrix(h, self.sigma, self.radius, feature_map.device)  # (h, h)
            cols = blur_matrix(w, self.sigma, self.radius, feature_map.device)  # (w, w)
            masks = rows @ (masks @ cols.T)  # (B, P, h, w)
        masks = masks.type_as(feature_map)  # type_as, not .to(dtype): a trace then follows the input dtype
        features = pool_masked(feature_map, masks, self.pooling, self.eps)  # (B, P, C)
        return PartitionOutput(features, visibility, masks, logits)

    def forward(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, h, w) -> (B, P, C), from the feature map alone."""
        return self.outputs(feature_map).features

    def training_loss(self, output: PartitionOutput, part_maps: torch.Tensor | None) -> torch.Tensor | None:
        """loss_weight * the mask loss of this pass (None when the weight is 0: masks learnt from identity)."""
        if self.loss_weight == 0:
            return None
        return self.loss_weight * self.mask_loss(output.logits, part_maps)

    def masks(self, part_maps: torch.Tensor, feature_hw: tuple[int, int]) -> torch.Tensor:
        """The given masks of the parts, for comparison: (B, H, W) labels -> (B, P, h, w) shares of each cell."""
        return self.target_masks.masks(part_maps, feature_hw)[:, self.first_label :]

    def target(self, part_maps: torch.Tensor, feature_hw: tuple[int, int]) -> torch.Tensor:
        """Label maps (B, H, W) -> targets on the feature grid: (B, L, h, w) shares (soft) or (B, h, w) labels."""
        if self.targets == "soft":
            return self.target_masks.masks(part_maps, feature_hw)  # (B, L, h, w), each cell sums to 1
        one_hot = self.target_masks.one_hot(part_maps)  # (B, L, H, W), checks the labels
        return F.interpolate(one_hot, size=feature_hw, mode="nearest").argmax(dim=1)  # (B, h, w)

    def mask_loss(self, logits: torch.Tensor, part_maps: torch.Tensor | None) -> torch.Tensor:
        """Pixel-wise cross-entropy of the logits (B, L, h, w) against the part maps (B, H, W), mean over
        cells and images (unweighted: the caller multiplies by `loss_weight`)."""
        if part_maps is None:
            raise ValueError(
                "partition=predicted_mask learns its masks from part maps during training, but the "
                "training batch has none ('part_map' missing); build the data module with "
                "part maps for training (requires_part_maps_for_training), or set "
                "partition.loss_weight=0 to train the masks from the identity loss alone"
            )
        if len(part_maps) != len(logits):
            raise ValueError(f"partition=predicted_mask: {len(part_maps)} part maps for a batch of {len(logits)}")
        target = self.target(part_maps.to(logits.device, non_blocking=True), tuple(logits.shape[-2:]))
        log_probabilities = logits.float().log_softmax(dim=1)  # (B, L, h, w)
        if self.targets == "soft":
            return -(target * log_probabilities).sum(dim=1).mean()
        return F.nll_loss(log_probabilities, target)


def _check(ok: bool, key: str, value, fix: str) -> None:
    if not ok:
        raise ValueError(f"partition=predicted_mask got {key}={value!r}; {fix}")
