"""Batch-hard triplet loss as a named term, with fast-reid's soft margin when margin is 0.

For every anchor of a P x K batch, the farthest image of its identity (d_ap) and the closest image of
another (d_an): max(0, d_ap - d_an + margin), or log(1 + exp(d_ap - d_an)) when margin == 0 (fast-reid
TripletLoss: "MARGIN: 0.0" means SoftMarginLoss; SBS uses it). Anchors without a positive or a negative
in the batch are left out. Distances are euclidean on the raw features (fast-reid NORM_FEAT: False).
"""

import torch
import torch.nn.functional as F
from torch import nn

from reid_lightning.models.losses.registry import LOSSES


def euclidean(x: torch.Tensor) -> torch.Tensor:
    """(B, D) -> (B, B) euclidean distances, with a gradient of 0 (not NaN) on the diagonal (as open-reid)."""
    x = x.float()
    squared = x.pow(2).sum(1)
    return (squared[:, None] + squared[None, :] - 2 * x @ x.T).clamp(min=1e-12).sqrt()  # (B, B)


@LOSSES.register("triplet")
class BatchHardTriplet(nn.Module):
    def __init__(self, margin: float):
        super().__init__()
        if margin < 0:
            raise ValueError(f"loss.terms.triplet.margin={margin}; use >= 0 (0 = soft margin, fast-reid's SBS)")
        self.margin = margin

    def forward(self, embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        dist = euclidean(embedding)  # (B, B)
        same = labels[:, None] == labels[None, :]
        positives = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        valid = positives.any(1) & (~same).any(1)  # (B,) anchors with a positive and a negative
        if not valid.any():
            return embedding.sum() * 0.0
        hardest_positive = dist.masked_fill(~positives, float("-inf")).amax(1)  # (B,)
        hardest_negative = dist.masked_fill(same, float("inf")).amin(1)  # (B,)
        gap = (hardest_positive - hardest_negative)[valid]
        return F.softplus(gap).mean() if self.margin == 0 else F.relu(gap + self.margin).mean()
