"""AGW's weighted regularised triplet (Ye et al. 2021, mangye16/ReID-Survey WeightedRegularizedTriplet).

Instead of the single hardest pair, every positive and every negative of an anchor count, weighted by a
softmax over their distances: positives by exp(d), negatives by exp(-d), so far positives and close
negatives dominate without discarding the rest. With w_ij those weights (over the anchor's own
identity, the anchor itself included as in AGW's code, and over the other identities):

    d_p(i) = sum_j w_ij d_ij (j same id),   d_n(i) = sum_k w_ik d_ik (k other id)
    loss = mean_i log(1 + exp(d_p(i) - d_n(i)))            (soft margin: nothing to tune)

Differences from AGW's code: its normaliser Z has +1e-6 (for rows with no member, which are skipped
here instead); anchors without a negative in the batch are left out.
"""

import torch
import torch.nn.functional as F
from torch import nn

from reid_lightning.models.losses.registry import LOSSES
from reid_lightning.models.losses.triplet import euclidean


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Row softmax of `scores` over the entries where `mask` holds (0 elsewhere)."""
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=1).nan_to_num(0.0)  # (B, B)


@LOSSES.register("weighted_triplet")
class WeightedRegularizedTriplet(nn.Module):
    def forward(self, embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        dist = euclidean(embedding)  # (B, B)
        same = labels[:, None] == labels[None, :]  # (B, B), the diagonal included (AGW)
        valid = (~same).any(1)
        if not valid.any():
            return embedding.sum() * 0.0
        positive = (masked_softmax(dist, same) * dist).sum(1)  # (B,) softly the farthest positive
        negative = (masked_softmax(-dist, ~same) * dist).sum(1)  # (B,) softly the closest negative
        return F.softplus(positive - negative)[valid].mean()
