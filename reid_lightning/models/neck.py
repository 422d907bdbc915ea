"""Per-part embedding neck: one fully connected layer shared by every part feature.

OSNet's paper puts a 512-d fully connected layer (Linear + BatchNorm1d + ReLU) after global pooling.
With part heads that layer belongs to the head, not the backbone: we apply one such layer, shared by
all parts, to each part feature. Sharing keeps the parameter count independent of the number of
parts and makes the global-pool head of OSNet exactly the paper's network (2,193,616 parameters
without classifier).
"""

import torch
from torch import nn


class PartNeck(nn.Module):
    """Linear -> BatchNorm1d -> ReLU applied to every part feature, weights shared across parts."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.bn = nn.BatchNorm1d(out_features)
        self.act = nn.ReLU(inplace=True)
        self.out_features = out_features

    def forward(self, parts: torch.Tensor) -> torch.Tensor:
        b, p, c = parts.shape  # (B, P, C)
        x = self.fc(parts.reshape(b * p, c))  # (B*P, D)
        x = self.act(self.bn(x))
        return x.reshape(b, p, -1)  # (B, P, D)
