"""The LightningModule: backbone -> partition -> (neck) -> classifier, trained with cross-entropy, plus the
optional metric losses of `loss.terms` (models/losses/) on the embedding before or after the BNNeck.

The same forward pass gives the part features (B, P, D); flattened they are the retrieval embedding
(B, P*D) that validation and test rank with the Market-1501 protocol, with each part's visibility (B, P)
beside it when `evaluation.visibility` is on. A partition may add a loss of its own to the training step
(the predicted-mask partition's mask loss, weighted by its `loss_weight`). Every piece is built by name
from plain config dicts, so a checkpoint carries everything needed to rebuild the model. Testing on
several datasets (the data module's `test_targets`, one test loader each) keeps one metric per target
and logs `test/<target>/<metric>`; a single unnamed test set logs `test/<metric>`.
"""

from dataclasses import asdict

import pytorch_lightning as pl
import torch
from torch import nn

from reid_lightning.data.part_maps import NUM_PART_LABELS
from reid_lightning.metrics import RetrievalMetric
from reid_lightning.models.backbones import create_backbone
from reid_lightning.models.classifier import create_classifier
from reid_lightning.models.distillation import without_distiller
from reid_lightning.models.head_init import init_head
from reid_lightning.models.losses import create_loss
from reid_lightning.models.neck import PartNeck
from reid_lightning.models.optimization import build_optimizer, build_scheduler
from reid_lightning.models.partitions import PartitionOutput, create_partition
from reid_lightning.models.settings import EvaluationSettings, LossSettings, from_options
from reid_lightning.models.triplet import batch_hard_triplet_loss
from reid_lightning.models.tta import flip_average


class PartHead(nn.Module):
    """Feature map (B,C,h,w) [+ part maps] -> part features (B,P,D): partition, then the optional neck."""

    def __init__(self, partition: nn.Module, neck: nn.Module | None):
        super().__init__()
        self.partition = partition
        self.neck = neck if neck is not None else nn.Identity()

    def forward(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None) -> torch.Tensor:
        return self.neck(self.partition(feature_map, part_maps))  # (B, P, D)

    def outputs(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None) -> PartitionOutput:
        """The partition's output, its features through the neck (B, P, D)."""
        out = self.partition.outputs(feature_map, part_maps)
        return out._replace(features=self.neck(out.features))


def retrieval_embedding(
    backbone: nn.Module,
    head: PartHead,
    classifier: nn.Module,
    images: torch.Tensor,
    part_maps: torch.Tensor | None = None,
    flip: bool = False,
    with_visibility: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Retrieval embedding (B, P*D): backbone, part head, then the classifier's BNNeck when it has one
    (identity otherwise, as modern recipes rank the normalised features); with `flip`, the mean of image
    and mirror image. The one embedding path: evaluation (ReIDModule.embed) and the deployed model
    (reid_lightning.deploy.EmbeddingModel, hence the extractor and exported files) both run it;
    `with_visibility` also returns each part's visibility (B, P) from the same pass.
    """

    def parts_of(x: torch.Tensor, maps: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        out = head.outputs(backbone(x), maps)
        return classifier.normalized(out.features).flatten(1), out.visibility  # (B, P*D), (B, P)

    embedding, visibility = flip_average(parts_of, images, part_maps) if flip else parts_of(images, part_maps)
    return (embedding, visibility) if with_visibility else embedding


class ReIDModule(pl.LightningModule):
    """`preprocessing`: the eval transform's settings (data.transforms.eval_preprocessing), stored so that
    users of a checkpoint feed images as evaluation did (reid_lightning.deploy); None in old checkpoints.
    `head_init`: how the neck's fc and the classifier start (models/head_init.py; top-level `head_init`)."""

    def __init__(
        self,
        backbone: dict,
        partition: dict,
        classifier: dict,
        optimizer: dict,
        scheduler: dict,
        num_classes: int,
        image_size: tuple[int, int],
        num_part_labels: int = NUM_PART_LABELS,
        neck_dim: int | None = 0,
        loss: dict | None = None,
        evaluation: dict | None = None,
        preprocessing: dict | None = None,
        head_init: str = "pytorch",
    ):
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.backbone = create_backbone(**backbone)
        channels = self.backbone.num_features
        part = create_partition(**partition, num_part_labels=num_part_labels, in_channels=channels)
        neck = PartNeck(channels, neck_dim) if neck_dim else None
        self.head = PartHead(part, neck)
        self.feature_dim = neck_dim or channels
        self.classifier = create_classifier(
            **classifier, in_features=self.feature_dim, num_parts=part.num_parts, num_classes=num_classes
        )
        init_head(head_init, self.head.neck, self.classifier)  # the fc layers: PyTorch's or Torchreid's start
        # the loss= and evaluation= groups; what a dict leaves out takes conf/loss, conf/evaluation's defaults
        loss_settings = from_options(LossSettings, loss, "loss")
        self.loss_cfg = asdict(loss_settings)
        terms = {name: dict(options or {}) for name, options in loss_settings.terms.items()}
        missing = [name for name, options in terms.items() if "weight" not in options]
        if missing:
            raise ValueError(
                f"loss.terms.{missing[0]} has no weight; give each term one, e.g. loss.terms.{missing[0]}.weight=1.0"
            )
        self.metric_weights = {name: float(options.pop("weight")) for name, options in terms.items()}
        self.metric_losses = nn.ModuleDict(
            {
                name: create_loss(name, part.num_parts * self.feature_dim, num_classes, **options)
                for name, options in terms.items()
            }
        )
        evaluation_settings = from_options(EvaluationSettings, evaluation, "evaluation")
        self.eval_cfg = asdict(evaluation_settings)
        self.metric_kwargs = evaluation_settings.metric_options()
        self.val_metric = RetrievalMetric(**self.metric_kwargs)
        self.test_metrics = nn.ModuleList([RetrievalMetric(**self.metric_kwargs)])  # one per test target
        self.test_names: list[str | None] = [None]  # their names in the logs (None: plain test/<metric>)
        self.example_input_array = self.example_input(1)  # lets Lightning's model summary count FLOPs and sizes
        self.distiller: nn.Module | None = None  # teacher losses (models/distillation.py), set by run/build.py

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
        out = self.head.outputs(feature_map, part_maps)
        parts = out.features  # (B, P, D)
        normalized = self.classifier.normalized(parts)  # (B, P, D) after the BNNeck (once: its running stats)
        return {
            "parts": parts,
            "embedding": parts.flatten(1),
            "logits": self.classifier.logits_of(normalized),
            "normalized": normalized,
            "visibility": out.visibility,
            "partition": out,
        }

    def embed(self, images: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        """Retrieval embedding (B, P*D) (`retrieval_embedding`), with flip averaging if evaluation.flip."""
        return self.embed_with_visibility(images, part_maps)[0]

    def embed_with_visibility(
        self, images: torch.Tensor, part_maps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`embed` and, from the same pass, each part's visibility (B, P) (with flip: the mean of both)."""
        return retrieval_embedding(
            self.backbone,
            self.head,
            self.classifier,
            images,
            part_maps,
            flip=self.eval_cfg["flip"],
            with_visibility=True,
        )

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        part_maps = batch.get("part_map")
        out = self(batch["image"], part_maps)
        targets = batch["pid"]
        ce = self.classifier.loss(out["logits"], targets, label_smoothing=self.loss_cfg["label_smoothing"])
        loss = ce
        embedding = out["embedding"]  # (B, P*D) the metric losses' feature: before the BNNeck, or after it
        if self.loss_cfg["metric_feature"] == "after":
            embedding = out["normalized"].flatten(1)
        if self.loss_cfg["triplet_weight"] > 0:
            triplet = batch_hard_triplet_loss(embedding, targets, self.loss_cfg["triplet_margin"])
            loss = loss + self.loss_cfg["triplet_weight"] * triplet
            self.log("train/triplet", triplet, on_step=False, on_epoch=True)
        for name, term in self.metric_losses.items():  # loss.terms: center, weighted_triplet, circle, ...
            value = term(embedding, targets)
            loss = loss + self.metric_weights[name] * value
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=len(targets))
        partition_loss = self.partition.training_loss(out["partition"], part_maps)  # weighted; None: none
        if partition_loss is not None:
            loss = loss + partition_loss
            self.log("train/partition_loss", partition_loss, on_step=False, on_epoch=True, batch_size=len(targets))
        if self.distiller is not None:  # knowledge distillation from a frozen teacher, on this batch's views
            embedding = self.classifier.normalized(out["parts"]).flatten(1)  # (B, P*D) as evaluation ranks it
            terms = self.distiller(out["logits"], out["parts"], embedding, batch["image"], part_maps)
            loss = loss + terms["total"]
            self.log_dict(
                {f"train/distill_{k}": v for k, v in terms.items()},
                on_step=False,
                on_epoch=True,
                batch_size=len(targets),
            )
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"training loss is {loss.item()} at epoch {self.current_epoch}, step "
                f"{self.global_step}; lower optimizer.lr or check the data"
            )
        accuracy = (self.classifier.predict(out["logits"]) == targets).float().mean()
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(targets))
        self.log("train/ce", ce, on_step=False, on_epoch=True, batch_size=len(targets))
        self.log("train/acc", accuracy, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(targets))
        return loss

    def _update_metric(self, metric: RetrievalMetric, batch: dict) -> None:
        embedding, visibility = self.embed_with_visibility(batch["image"], batch.get("part_map"))
        metric.update(
            embedding,
            batch["pid"],
            batch["camid"],
            batch["is_query"],
            batch["index"],
            visibility=visibility if metric.visibility else None,
        )

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._update_metric(self.val_metric, batch)

    @property
    def test_metric(self) -> RetrievalMetric:
        """The metric of the first (usually only) test set."""
        return self.test_metrics[0]

    def on_test_start(self) -> None:
        """One metric per test loader, named after the data module's targets."""
        loaders = self.trainer.test_dataloaders
        count = len(loaders) if isinstance(loaders, list | tuple) else 1
        names = getattr(self.trainer.datamodule, "test_targets", None)
        self.test_names = list(names) if names else ([None] if count == 1 else [f"set{i}" for i in range(count)])
        if len(self.test_names) != count:
            raise ValueError(
                f"the data module names {len(self.test_names)} test targets ({self.test_names}) but "
                f"gives {count} test loaders"
            )
        while len(self.test_metrics) < count:
            self.test_metrics.append(RetrievalMetric(**self.metric_kwargs).to(self.device))

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._update_metric(self.test_metrics[dataloader_idx], batch)

    def _log_metric(self, metric: RetrievalMetric, prefix: str) -> None:
        """Log every scalar of the metric as <prefix>/<key>; trainer.validate/test return them."""
        results = metric.compute()
        metric.reset()
        self.log_dict({f"{prefix}/{k}": v.double() for k, v in results.items()}, prog_bar=prefix == "val")

    def on_validation_epoch_end(self) -> None:
        self._log_metric(self.val_metric, "val")

    def on_test_epoch_end(self) -> None:
        for name, metric in zip(self.test_names, self.test_metrics, strict=False):
            self._log_metric(metric, "test" if name is None else f"test/{name}")

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """A distilled run's checkpoint also holds its projections (`distiller.*`): kept when resuming it,
        dropped when loading it as a plain model (eval.py, deploy)."""
        if self.distiller is None:
            checkpoint["state_dict"] = without_distiller(checkpoint["state_dict"])

    def on_before_optimizer_step(self, optimizer) -> None:
        """Losses that update their own parameters (center loss's SGD step on its centres) do it now."""
        for name, term in self.metric_losses.items():
            if getattr(term, "owns_step", False):
                term.own_step(self.metric_weights[name])

    def configure_optimizers(self):
        own = {
            id(p)
            for term in self.metric_losses.values()
            if getattr(term, "owns_step", False)
            for p in term.parameters()
        }
        optimizer = build_optimizer([p for p in self.parameters() if id(p) not in own], **self.hparams.optimizer)
        scheduler = build_scheduler(optimizer, **self.hparams.scheduler)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
