"""The inference network of a trained model as a plain nn.Module: images [+ part maps] -> embedding.

Exported files (ONNX, TorchScript) and the FeatureExtractor run this module, so all three give the same
numbers. It holds the model's own backbone, part head and classifier (for its BNNeck) and runs the
suite's one embedding path, `models.module.retrieval_embedding`, which evaluation runs too; the Lightning
module stays outside because tracing and exporting need a plain module. Whether a second input (part
maps) exists is the partition's answer (`requires_part_maps`), so a head that predicts its own masks
exports with images only.
"""

import torch
import torch.nn.functional as F
from torch import nn

from reid_lightning.models.module import retrieval_embedding


class EmbeddingModel(nn.Module):
    """forward(images (B,3,H,W) float normalised[, part_maps (B,H,W) uint8]) -> embedding (B, P*D).

    flip: average the embeddings of image and mirror image; normalize: L2-normalise the embedding.
    """

    def __init__(self, model: nn.Module, flip: bool = False, normalize: bool = False):
        super().__init__()
        self.backbone, self.head, self.classifier = model.backbone, model.head, model.classifier
        self.flip, self.normalize = flip, normalize
        partition = model.head.partition
        self.requires_part_maps = bool(getattr(partition, "requires_part_maps", False))
        self.num_part_labels = int(getattr(partition, "num_part_labels", 0))
        self.embedding_dim = model.feature_dim * partition.num_parts

    def forward(self, images: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        embedding = retrieval_embedding(self.backbone, self.head, self.classifier, images, part_maps, self.flip)
        return F.normalize(embedding, dim=1) if self.normalize else embedding  # (B, P*D)
