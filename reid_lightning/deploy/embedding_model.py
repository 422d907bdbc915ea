"""The inference network of a trained model as a plain nn.Module: images [+ part maps] -> embedding.

Exported files (ONNX, TorchScript) and the FeatureExtractor run this module, so all three give the same
numbers. It holds the model's own backbone, part head and classifier (for its BNNeck) and runs the
model's own embedding path, `ReIDModule.embed`, not a copy of it; the Lightning module itself stays
outside because tracing and exporting need a plain module. Whether a second input (part maps) exists is
the partition's answer (`requires_part_maps`), so a head that predicts its masks needs images only.
"""

import torch
import torch.nn.functional as F
from torch import nn


class EmbeddingModel(nn.Module):
    """forward(images (B,3,H,W) float normalised[, part_maps (B,H,W) uint8]) -> embedding (B, P*D)."""

    def __init__(self, model: nn.Module, flip: bool = False, normalize: bool = False):
        super().__init__()
        self.backbone, self.head, self.classifier = model.backbone, model.head, model.classifier
        self.eval_cfg = {"flip": flip}  # read by ReIDModule.embed
        self.flip, self.normalize = flip, normalize
        self.requires_part_maps = bool(getattr(model.head.partition, "requires_part_maps", False))
        self.embedding_dim = model.feature_dim * model.head.partition.num_parts
        self._embed = type(model).embed  # the model's own embedding path, run on this module's parts

    def forward(self, images: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        embedding = self._embed(self, images, part_maps)  # (B, P*D)
        return F.normalize(embedding, dim=1) if self.normalize else embedding
