"""Center loss (Wen et al., ECCV 2016) as Bag of Tricks trains it (michuanhaohao/reid-strong-baseline).

One learnt centre per training identity; the loss is the mean squared euclidean distance of each
embedding to its identity's centre, (1/B) sum_i ||f_i - c_{y_i}||^2 (BoT's code: no 1/2 factor).

The centres get their own update, as in BoT: a plain SGD step (no momentum, no weight decay, no
schedule) with learning rate `lr` (BoT's CENTER_LR 0.5) on the gradient of the UNweighted loss; BoT
multiplies the centres' gradient by 1/CENTER_LOSS_WEIGHT before `optimizer_center.step()`. Here the
module leaves the centres out of the main optimiser and calls `own_step(weight)` before each optimiser
step: c <- c - lr * grad / weight, which is that step exactly, in the same training step.
"""

import torch
from torch import nn

from reid_lightning.models.losses.registry import LOSSES


@LOSSES.register("center")
class CenterLoss(nn.Module):
    owns_step = True  # the centres are not in the main optimiser: own_step updates them

    def __init__(self, feature_dim: int, num_classes: int, lr: float):
        super().__init__()
        if lr <= 0:
            raise ValueError(f"loss.terms.center.lr={lr}; use a positive learning rate (BoT's CENTER_LR: 0.5)")
        self.lr = lr
        self.centers = nn.Parameter(torch.randn(num_classes, feature_dim))  # BoT starts them at N(0, 1)

    def forward(self, embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if embedding.shape[1] != self.centers.shape[1]:
            raise ValueError(
                f"loss.terms.center was built for {self.centers.shape[1]}-d embeddings, got {embedding.shape[1]}-d"
            )
        squared = (embedding.float() - self.centers[labels]).pow(2).sum(1)  # (B,)
        return squared.clamp(1e-12, 1e12).mean()

    @torch.no_grad()
    def own_step(self, weight: float) -> None:
        """BoT's separate SGD step on the centres; `weight` is the loss weight their gradient carries."""
        if self.centers.grad is not None:
            self.centers.add_(self.centers.grad, alpha=-self.lr / weight)
            self.centers.grad = None
