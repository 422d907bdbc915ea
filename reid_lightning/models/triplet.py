"""Batch-hard triplet loss (Hermans et al. 2017), the metric loss of modern re-ID recipes.

For every anchor in a P x K batch: the farthest image of its own identity and the closest image of
another identity, hinge with a margin. Returns 0 when a batch holds no positive pair.
"""

import torch
import torch.nn.functional as F


def batch_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.3) -> torch.Tensor:
    dist = torch.cdist(embeddings, embeddings)  # (B, B) euclidean
    same = labels[:, None] == labels[None, :]  # (B, B)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positives = same & ~eye
    has_positive = positives.any(dim=1)
    if not has_positive.any():
        return embeddings.sum() * 0.0
    hardest_positive = dist.masked_fill(~positives, float("-inf")).amax(dim=1)  # (B,)
    hardest_negative = dist.masked_fill(same, float("inf")).amin(dim=1)  # (B,)
    losses = F.relu(hardest_positive - hardest_negative + margin)
    return losses[has_positive & torch.isfinite(hardest_negative)].mean()
