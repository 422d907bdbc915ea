"""Knowledge distillation: a student of any backbone trained against a frozen teacher of any backbone.

Four terms, each with its own weight (conf/distill; 0 switches a term off), added to the student's own
losses in its training step:

* logit     KL(teacher || student) of the identity posteriors softened at temperature T, times T^2 so
            its gradients keep their scale as T changes (Hinton et al. 2015). Needs the same identities
            (the teacher trained on the same data); per-part logits (B, P, K) are averaged over parts.
* embedding the student's retrieval embedding (after its BNNeck, as evaluation ranks it) matched to the
            teacher's: mean over the batch of |n(W s) - n(t)|^2 = 2 - 2 cos, with n() the L2 norm and W a
            learned projection to the teacher's width when the widths differ (identity otherwise).
            Normalised, so the teacher's feature scale does not set the loss's scale.
* relation  the batch's cosine-similarity matrix of the student's embeddings matched to the teacher's:
            mean over the B x B entries of (S_s - S_t)^2 (relational KD, Park et al. 2019). Width-free.
* part      mask heads: each part feature (B, P, D) matched to the teacher's same part, like `embedding`
            per part (one projection shared by the parts), averaged over parts; needs the same P.

The teacher's features are computed on the fly, one no-grad teacher pass per training batch, not
precomputed once: training views are augmented afresh every epoch (random flip, padding and crop,
random erasing, the batch augmentation on the device), so a stored feature of an image would describe
another view than the one the student sees, and matching the same view is what carries the teacher's
knowledge. The cost is one forward of the teacher per batch (no backward).

The teacher is kept out of the student's state dict and parameters (it is held in a tuple, not as a
submodule): checkpoints stay the student's (plus the small projections, `distiller.*`), the optimiser
never sees the teacher, and it stays in eval mode. It is moved to the batch's device on first use.
"""

import torch
import torch.nn.functional as F
from torch import nn


def logit_distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """T^2 * KL(softmax(t/T) || softmax(s/T)), mean over the batch; (B, K) or per-part (B, P, K) logits."""
    student_logits, teacher_logits = _as_posterior_logits(student_logits), _as_posterior_logits(teacher_logits)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"logit distillation needs the teacher's identities: student logits "
            f"{tuple(student_logits.shape)}, teacher {tuple(teacher_logits.shape)}; train the teacher "
            "on the same data or set distill.logit_weight=0"
        )
    log_student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    return F.kl_div(log_student, log_teacher, log_target=True, reduction="batchmean") * temperature**2


def _as_posterior_logits(logits: torch.Tensor) -> torch.Tensor:
    return logits.mean(dim=1) if logits.dim() == 3 else logits  # (B, P, K) -> (B, K)


def embedding_distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean over rows of |n(student) - n(teacher)|^2 (= 2 - 2 cos); both (N, D)."""
    return (F.normalize(student.float(), dim=1) - F.normalize(teacher.float(), dim=1)).pow(2).sum(1).mean()


def similarity_matrix(embeddings: torch.Tensor) -> torch.Tensor:
    """(B, D) -> (B, B) cosine similarities."""
    normalized = F.normalize(embeddings.float(), dim=1)
    return normalized @ normalized.T


def relational_distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean over the B x B entries of (S_student - S_teacher)^2, S the cosine-similarity matrix."""
    return (similarity_matrix(student) - similarity_matrix(teacher)).pow(2).mean()


class Distiller(nn.Module):
    """The distillation terms of one training batch, against a frozen teacher.

    teacher: a module whose forward(images, part_maps) returns a dict with `logits` and `parts` (B, P, D)
    (a ReIDModule); its retrieval embedding is its `classifier.normalized(parts)` flattened when it has a
    classifier. student_parts / student_part_dim: the student's P and D (its embedding is P*D wide).
    teacher_image_size: (H, W) the teacher was trained at; batches of another size are resized for it.
    """

    def __init__(
        self,
        teacher: nn.Module,
        student_parts: int,
        student_part_dim: int,
        *,
        temperature: float,
        logit_weight: float,
        embedding_weight: float,
        relation_weight: float,
        part_weight: float,
        teacher_parts: int,
        teacher_part_dim: int,
        teacher_image_size: tuple[int, int] | None = None,
    ):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"distill.temperature must be > 0, got {temperature}")
        weights = {
            "logit": logit_weight,
            "embedding": embedding_weight,
            "relation": relation_weight,
            "part": part_weight,
        }
        if min(weights.values()) < 0 or not any(weights.values()):
            raise ValueError(f"distill weights must be >= 0 with one > 0, got {weights}; set distill.<term>_weight")
        if part_weight and (student_parts != teacher_parts or student_parts < 2):
            raise ValueError(
                f"part distillation matches each part to the teacher's same part: the student has "
                f"{student_parts} parts, the teacher {teacher_parts}; use the teacher's partition "
                "or set distill.part_weight=0"
            )
        self.weights, self.temperature = weights, temperature
        self.teacher_image_size = tuple(teacher_image_size) if teacher_image_size else None
        self._teacher = (teacher.eval().requires_grad_(False),)  # a tuple: not a submodule (see the docstring)
        student_dim, teacher_dim = student_parts * student_part_dim, teacher_parts * teacher_part_dim
        self.projection = _projection(student_dim, teacher_dim) if embedding_weight else nn.Identity()
        self.part_projection = _projection(student_part_dim, teacher_part_dim) if part_weight else nn.Identity()

    @property
    def teacher(self) -> nn.Module:
        return self._teacher[0]

    @torch.no_grad()
    def teacher_outputs(self, images: torch.Tensor, part_maps: torch.Tensor | None) -> dict:
        """The teacher's logits, parts (B, P, D) and retrieval embedding (B, P*D) of this batch."""
        teacher = self.teacher.to(images.device).eval()
        if self.teacher_image_size and tuple(images.shape[-2:]) != self.teacher_image_size:
            images = F.interpolate(images, size=self.teacher_image_size, mode="bilinear", align_corners=False)
            if part_maps is not None:
                part_maps = F.interpolate(part_maps[:, None].float(), size=self.teacher_image_size, mode="nearest")[
                    :, 0
                ].to(part_maps.dtype)
        out = teacher(images, part_maps)
        parts = out["parts"]  # (B, P, D)
        classifier = getattr(teacher, "classifier", None)
        normalized = classifier.normalized(parts) if classifier is not None else parts
        return {"logits": out["logits"], "parts": parts, "embedding": normalized.flatten(1)}

    def forward(
        self,
        student_logits: torch.Tensor,
        student_parts: torch.Tensor,
        student_embedding: torch.Tensor,
        images: torch.Tensor,
        part_maps: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Weighted terms of the switched-on losses and their sum `total` (what the training step adds)."""
        teacher = self.teacher_outputs(images, part_maps)
        terms = {}
        if self.weights["logit"]:
            terms["logit"] = logit_distillation_loss(student_logits, teacher["logits"], self.temperature)
        if self.weights["embedding"]:
            terms["embedding"] = embedding_distillation_loss(self.projection(student_embedding), teacher["embedding"])
        if self.weights["relation"]:
            terms["relation"] = relational_distillation_loss(student_embedding, teacher["embedding"])
        if self.weights["part"]:
            projected = self.part_projection(student_parts)  # (B, P, D_teacher)
            terms["part"] = embedding_distillation_loss(projected.flatten(0, 1), teacher["parts"].flatten(0, 1))
        weighted = {k: self.weights[k] * v for k, v in terms.items()}
        return {**weighted, "total": sum(weighted.values())}


def _projection(in_features: int, out_features: int) -> nn.Module:
    """The learned map of student features to the teacher's width; identity when the widths agree."""
    return nn.Identity() if in_features == out_features else nn.Linear(in_features, out_features, bias=False)


def without_distiller(state_dict: dict) -> dict:
    """A student's state dict without the distillation projections (training-only `distiller.*` keys)."""
    return {k: v for k, v in state_dict.items() if not k.startswith("distiller.")}


def build_distiller(
    student: nn.Module,
    teacher: nn.Module,
    temperature: float,
    logit_weight: float,
    embedding_weight: float,
    relation_weight: float,
    part_weight: float,
) -> Distiller:
    """The Distiller of a student ReIDModule and a teacher ReIDModule (the distill config's terms)."""
    teacher_classes = getattr(teacher.classifier, "num_classes", None)
    student_classes = getattr(student.classifier, "num_classes", None)
    if logit_weight and teacher_classes != student_classes:
        raise ValueError(
            f"distill.logit_weight={logit_weight} needs the teacher's identities: the teacher "
            f"classifies {teacher_classes}, the student {student_classes}; distil from a teacher "
            "trained on the same data or set distill.logit_weight=0"
        )
    return Distiller(
        teacher,
        student.partition.num_parts,
        student.feature_dim,
        temperature=temperature,
        logit_weight=logit_weight,
        embedding_weight=embedding_weight,
        relation_weight=relation_weight,
        part_weight=part_weight,
        teacher_parts=teacher.partition.num_parts,
        teacher_part_dim=teacher.feature_dim,
        teacher_image_size=tuple(teacher.hparams.image_size),
    )
