"""Identity classifiers on part features (B, P, C), the training signal of every part head.

- `shared`      one linear layer over the concatenated part features (B, P*C) -> logits (B, K); the
                thesis's best variant (Table 3.2, last row).
- `individual`  one linear layer per part -> logits (B, P, K); the loss is the mean over parts of their
                cross-entropies, and a prediction is a max vote: each part votes for its argmax class,
                the class with most votes wins; a tie goes to the tied class with the highest summed
                softmax probability over all parts, then (sums equal to the last bit) the lowest id.

Both train with plain linear logits or a margin softmax (`logits`: cosface, arcface, or fast-reid's
circle softmax, with `scale` and `margin`; losses/margins.py): then forward gives the scaled cosines
s cos t that prediction ranks, and `loss` applies the margin at the targets before the cross-entropy.
Both can put a BNNeck-style BatchNorm (Luo et al. 2019: no learnt shift, bias-free classifier) in front
of the linear layers (`bnneck`, off by default as in the thesis). Label smoothing is an argument of
`loss` so that one setting (conf/loss) drives it. The retrieval embedding is not made here: it is the
part features themselves, `parts.flatten(1)` (B, P*C).
"""

import torch
import torch.nn.functional as F
from torch import nn

from reid_lightning.models.losses.margins import MARGINS, apply_margin, cosine_logits
from reid_lightning.registry import Registry

CLASSIFIERS = Registry("classifier")


class PartClassifier(nn.Module):
    """What both classifiers share: input checks, the optional BNNeck, cross-entropy."""

    registry_name = "classifier"  # replaced by the registered name in subclasses

    def __init__(
        self,
        in_features: int,
        num_parts: int,
        num_classes: int,
        bnneck: bool = False,
        logits: str = "linear",
        scale: float = 64.0,
        margin: float = 0.35,
    ):
        super().__init__()
        if min(in_features, num_parts, num_classes) < 1:
            raise ValueError(
                f"classifier={self.registry_name} needs positive sizes, got in_features={in_features}, "
                f"num_parts={num_parts}, num_classes={num_classes}"
            )
        MARGINS.get(logits)  # an unknown name fails here with the known ones
        if logits != "linear" and scale <= 0:
            raise ValueError(
                f"classifier.scale={scale}; a margin softmax needs a positive scale (64 in CosFace, "
                "ArcFace and fast-reid's SBS)"
            )
        self.logits, self.scale, self.margin = logits, scale, margin
        self.in_features, self.num_parts, self.num_classes = in_features, num_parts, num_classes
        # BatchNorm over the P*C flattened features normalises every channel of every part separately.
        self.bnneck = nn.BatchNorm1d(num_parts * in_features) if bnneck else nn.Identity()
        self.has_bias = not bnneck and logits == "linear"  # BNNeck and cosine logits have no bias
        if bnneck:
            self.bnneck.bias.requires_grad_(False)  # BNNeck: scale only, no shift

    def normalized(self, parts: torch.Tensor) -> torch.Tensor:
        """(B, P, C) -> (B, P, C) after the BNNeck (unchanged without one)."""
        if parts.dim() != 3 or tuple(parts.shape[1:]) != (self.num_parts, self.in_features):
            raise ValueError(
                f"classifier={self.registry_name} was built for part features (B, {self.num_parts}, "
                f"{self.in_features}), got {tuple(parts.shape)}; num_parts / in_features must "
                "match the partition and the backbone (or neck) width"
            )
        return self.bnneck(parts.flatten(1)).view_as(parts)

    def linear(self, fc: nn.Linear, features: torch.Tensor) -> torch.Tensor:
        """Logits of one linear layer: W x (+ b), or the scaled cosines s cos t of a margin softmax."""
        return fc(features) if self.logits == "linear" else cosine_logits(features, fc.weight, self.scale)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """Cross-entropy (after the margin, for a margin softmax); for per-part logits (B, P, K) the mean over
        parts of the per-part losses."""
        if targets.numel() and int(targets.max()) >= self.num_classes:
            raise ValueError(
                f"classifier={self.registry_name} has {self.num_classes} classes but a target is "
                f"{int(targets.max())}; train identities must be relabelled 0..num_classes-1"
            )
        if logits.dim() == 3:  # (B, P, K): every part predicts the same identity
            targets = targets.repeat_interleave(logits.shape[1])
            logits = logits.flatten(0, 1)  # (B*P, K); mean over B*P = mean over parts of the part means
        if self.logits != "linear":
            logits = apply_margin(self.logits, logits, targets, self.scale, self.margin)
        return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)


@CLASSIFIERS.register("shared")
class SharedClassifier(PartClassifier):
    """One linear layer over the concatenated part features: (B, P, C) -> (B, K)."""

    def __init__(self, in_features: int, num_parts: int, num_classes: int, **options):
        super().__init__(in_features, num_parts, num_classes, **options)
        self.fc = nn.Linear(num_parts * in_features, num_classes, bias=self.has_bias)

    def forward(self, parts: torch.Tensor) -> torch.Tensor:
        return self.logits_of(self.normalized(parts))  # (B, K)

    def logits_of(self, normalized: torch.Tensor) -> torch.Tensor:
        """Logits of part features already through `normalized` (B, P, C) -> (B, K)."""
        return self.linear(self.fc, normalized.flatten(1))

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=1)  # (B,)


@CLASSIFIERS.register("individual")
class IndividualClassifier(PartClassifier):
    """One linear layer per part: (B, P, C) -> (B, P, K); predictions by max voting."""

    def __init__(self, in_features: int, num_parts: int, num_classes: int, **options):
        super().__init__(in_features, num_parts, num_classes, **options)
        self.fcs = nn.ModuleList(nn.Linear(in_features, num_classes, bias=self.has_bias) for _ in range(num_parts))

    def forward(self, parts: torch.Tensor) -> torch.Tensor:
        return self.logits_of(self.normalized(parts))  # (B, P, K)

    def logits_of(self, normalized: torch.Tensor) -> torch.Tensor:
        """Logits of part features already through `normalized` (B, P, C) -> (B, P, K)."""
        return torch.stack([self.linear(fc, normalized[:, i]) for i, fc in enumerate(self.fcs)], dim=1)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Max voting over parts (B, P, K) -> (B,); ties: highest summed probability, then lowest id."""
        votes = F.one_hot(logits.argmax(dim=2), self.num_classes).sum(dim=1)  # (B, K) votes per class
        probability = logits.float().softmax(dim=2).sum(dim=1)  # (B, K)
        tied = votes == votes.amax(dim=1, keepdim=True)  # (B, K) classes with the most votes
        return probability.masked_fill(~tied, -1.0).argmax(dim=1)  # argmax keeps the first (lowest) id


def create_classifier(name: str, in_features: int, num_parts: int, num_classes: int, **kwargs) -> PartClassifier:
    """Build a classifier by config name; kwargs: bnneck (bool), logits (linear | cosface | arcface | circle),
    scale, margin."""
    CLASSIFIERS.check_options(
        name,
        kwargs,
        ignored=("in_features", "num_parts", "num_classes"),
        hint=" (label smoothing is loss.label_smoothing)",
    )
    return CLASSIFIERS.build(name, in_features=in_features, num_parts=num_parts, num_classes=num_classes, **kwargs)
