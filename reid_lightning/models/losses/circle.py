"""Pair-based circle loss (Sun et al., CVPR 2020), on the cosine similarities within a P x K batch.

For an anchor with positive similarities s_p and negative similarities s_n (cosines of L2-normalised
embeddings), margin m and scale gamma:

    a_p = max(0, 1 + m - s_p),  a_n = max(0, s_n + m)          (weights, no gradient through them)
    loss = log(1 + sum_n exp(gamma a_n (s_n - m)) * sum_p exp(-gamma a_p (s_p - 1 + m)))

so each similarity is pushed by how far it is from its optimum (s_p -> 1 + m, s_n -> -m); for one pair
the decision boundary a_n (s_n - m) = a_p (s_p - 1 + m) is the circle s_n^2 + (s_p - 1)^2 = 2 m^2.
Defaults m = 0.25, gamma = 128 are fast-reid's (MODEL.LOSSES.CIRCLE). Anchors without a positive add
log(1 + 0) = 0, as in fast-reid (masked logits at a large negative value, not -inf: no NaN gradients).
"""

import torch
import torch.nn.functional as F
from torch import nn

from reid_lightning.models.losses.registry import LOSSES

MASKED = -1e9  # logit of a pair that is not a positive (resp. negative) of the anchor: exp() is 0


def circle_loss_from_similarities(
    similarity: torch.Tensor, labels: torch.Tensor, margin: float, gamma: float
) -> torch.Tensor:
    """The loss of a (B, B) cosine-similarity matrix; the diagonal (an image with itself) is left out."""
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    alpha_p = (1 + margin - similarity.detach()).clamp(min=0)
    alpha_n = (similarity.detach() + margin).clamp(min=0)
    logit_p = (-gamma * alpha_p * (similarity - (1 - margin))).masked_fill(~positive, MASKED)  # (B, B)
    logit_n = (gamma * alpha_n * (similarity - margin)).masked_fill(same, MASKED)  # (B, B)
    return F.softplus(torch.logsumexp(logit_p, dim=1) + torch.logsumexp(logit_n, dim=1)).mean()


@LOSSES.register("circle")
class PairwiseCircleLoss(nn.Module):
    def __init__(self, margin: float, gamma: float):
        super().__init__()
        if not 0 <= margin < 1 or gamma <= 0:
            raise ValueError(
                f"loss.terms.circle needs 0 <= margin < 1 and gamma > 0, got margin={margin}, "
                f"gamma={gamma} (fast-reid: 0.25, 128)"
            )
        self.margin, self.gamma = margin, gamma

    def forward(self, embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = F.normalize(embedding.float(), dim=1)
        return circle_loss_from_similarities(x @ x.T, labels, self.margin, self.gamma)
