"""The LightningModule: backbone -> partition -> (neck) -> classifier, trained with cross-entropy.

The same forward pass gives the part features (B, P, D); flattened they are the retrieval embedding
(B, P*D) that validation and test rank with the Market-1501 protocol. Every piece is built by name
from plain config dicts, so a checkpoint carries everything needed to rebuild the model.
"""

import pytorch_lightning as pl
import torch
from torch import nn

from reid_lightning.metrics import RetrievalMetric
from reid_lightning.models.backbones import create_backbone
from reid_lightning.models.classifier import create_classifier
from reid_lightning.models.neck import PartNeck
from reid_lightning.models.optimization import build_optimizer, build_scheduler
from reid_lightning.models.partition import create_partition
from reid_lightning.models.triplet import batch_hard_triplet_loss
from reid_lightning.models.tta import flip_average

# Defaults of the loss and evaluation options: those of conf/loss/cross_entropy.yaml and
# conf/evaluation/default.yaml, so a module built in Python behaves like the default run.
LOSS_DEFAULTS = {"label_smoothing": 0.1, "triplet_weight": 0.0, "triplet_margin": 0.3}
EVALUATION_DEFAULTS = {"metric": "euclidean", "normalize": False, "flip": False, "rerank": False,
                       "memory_budget_bytes": 1 << 30}


class PartHead(nn.Module):
    """Feature map (B,C,h,w) [+ part maps] -> part features (B,P,D): partition, then the optional neck."""

    def __init__(self, partition: nn.Module, neck: nn.Module | None):
        super().__init__()
        self.partition = partition
        self.neck = neck if neck is not None else nn.Identity()

    def forward(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None) -> torch.Tensor:
        return self.neck(self.partition(feature_map, part_maps))  # (B, P, D)


def retrieval_embedding(backbone: nn.Module, head: PartHead, classifier: nn.Module, images: torch.Tensor,
                        part_maps: torch.Tensor | None = None, flip: bool = False) -> torch.Tensor:
    """Retrieval embedding (B, P*D): backbone, part head, then the classifier's BNNeck when it has one
    (identity otherwise, as modern recipes rank the normalised features); with `flip`, the mean of image
    and mirror image. The one embedding path: evaluation (ReIDModule.embed) and the deployed model
    (reid_lightning.deploy.EmbeddingModel, hence the extractor and exported files) both run it.
    """

    def parts_of(x: torch.Tensor, maps: torch.Tensor | None) -> torch.Tensor:
        return classifier.normalized(head(backbone(x), maps)).flatten(1)  # (B, P*D)

    if flip:
        return flip_average(parts_of, images, part_maps)
    return parts_of(images, part_maps)


class ReIDModule(pl.LightningModule):
    """`preprocessing`: the eval transform's settings (data.transforms.eval_preprocessing), stored so that
    users of a checkpoint feed images as evaluation did (reid_lightning.deploy); None in old checkpoints."""

    def __init__(self, backbone: dict, partition: dict, classifier: dict, optimizer: dict, scheduler: dict,
                 num_classes: int, image_size: tuple[int, int] = (128, 64), num_part_labels: int = 7,
                 neck_dim: int | None = None, loss: dict | None = None, evaluation: dict | None = None,
                 preprocessing: dict | None = None):
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.backbone = create_backbone(**backbone)
        part = create_partition(**partition, num_labels=num_part_labels)
        channels = self.backbone.num_features
        neck = PartNeck(channels, neck_dim) if neck_dim else None
        self.head = PartHead(part, neck)
        self.feature_dim = neck_dim or channels
        self.classifier = create_classifier(**classifier, in_features=self.feature_dim,
                                            num_parts=part.num_parts, num_classes=num_classes)
        self.loss_cfg = {**LOSS_DEFAULTS, **(loss or {})}
        self.eval_cfg = {**EVALUATION_DEFAULTS, **(evaluation or {})}
        metric_kwargs = {k: self.eval_cfg[k] for k in ("metric", "normalize", "rerank", "memory_budget_bytes")}
        self.val_metric = RetrievalMetric(**metric_kwargs)
        self.test_metric = RetrievalMetric(**metric_kwargs)
        self.example_input_array = self.example_input(1)  # lets Lightning's model summary count FLOPs and sizes

    @property
    def partition(self) -> nn.Module:
        return self.head.partition

    @property
    def requires_part_maps(self) -> bool:
        return bool(getattr(self.partition, "requires_part_maps", False))

    def example_input(self, batch_size: int = 1) -> tuple:
        """Inputs of `forward` at the configured size (for the complexity callback)."""
        h, w = self.hparams.image_size
        images = torch.zeros(batch_size, 3, h, w, device=self.device)
        maps = torch.zeros(batch_size, h, w, dtype=torch.long, device=self.device) if self.requires_part_maps else None
        return images, maps

    def forward(self, images: torch.Tensor, part_maps: torch.Tensor | None = None) -> dict:
        feature_map = self.backbone(images)  # (B, C, h, w)
        parts = self.head(feature_map, part_maps)  # (B, P, D)
        return {"parts": parts, "embedding": parts.flatten(1), "logits": self.classifier(parts)}

    def embed(self, images: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        """Retrieval embedding (B, P*D) (`retrieval_embedding`), with flip averaging if evaluation.flip."""
        return retrieval_embedding(self.backbone, self.head, self.classifier, images, part_maps,
                                   flip=self.eval_cfg["flip"])

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self(batch["image"], batch.get("part_map"))
        targets = batch["pid"]
        ce = self.classifier.loss(out["logits"], targets, label_smoothing=self.loss_cfg["label_smoothing"])
        loss = ce
        if self.loss_cfg["triplet_weight"] > 0:
            triplet = batch_hard_triplet_loss(out["embedding"], targets, self.loss_cfg["triplet_margin"])
            loss = loss + self.loss_cfg["triplet_weight"] * triplet
            self.log("train/triplet", triplet, on_step=False, on_epoch=True)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss.item()} at epoch {self.current_epoch}, step "
                                     f"{self.global_step}; lower optimizer.lr or check the data")
        accuracy = (self.classifier.predict(out["logits"]) == targets).float().mean()
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(targets))
        self.log("train/ce", ce, on_step=False, on_epoch=True, batch_size=len(targets))
        self.log("train/acc", accuracy, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(targets))
        return loss

    def _update_metric(self, metric: RetrievalMetric, batch: dict) -> None:
        embedding = self.embed(batch["image"], batch.get("part_map"))
        metric.update(embedding, batch["pid"], batch["camid"], batch["is_query"], batch["index"])

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._update_metric(self.val_metric, batch)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._update_metric(self.test_metric, batch)

    def _log_metric(self, metric: RetrievalMetric, prefix: str) -> None:
        """Log every scalar of the metric as <prefix>/<key>; trainer.validate/test return them."""
        results = metric.compute()
        metric.reset()
        self.log_dict({f"{prefix}/{k}": v.double() for k, v in results.items()}, prog_bar=prefix == "val")

    def on_validation_epoch_end(self) -> None:
        self._log_metric(self.val_metric, "val")

    def on_test_epoch_end(self) -> None:
        self._log_metric(self.test_metric, "test")

    def configure_optimizers(self):
        optimizer = build_optimizer(self.parameters(), **self.hparams.optimizer)
        scheduler = build_scheduler(optimizer, **self.hparams.scheduler)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
