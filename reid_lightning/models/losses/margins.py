"""Margin-based softmax classifiers: the logits a classifier trains with, by name (`classifier.logits`).

    linear   plain W x (+ b): the thesis's and BoT's classifier
    cosface  s (cos t_y - m) for the target, s cos t_j otherwise (Wang et al. 2018; CosFace s=64, m=0.35)
    arcface  s cos(t_y + m) for the target, s cos t_j otherwise (Deng et al. 2019; ArcFace s=64, m=0.5)
    circle   fast-reid's CircleSoftmax (SBS: s=64, m=0.35): s a_p (cos t_y - (1 - m)) for the target and
             s a_n (cos t_j - m) otherwise, a_p = max(0, 1 + m - cos t_y), a_n = max(0, cos t_j + m)

where cos t_j is the cosine of the (L2-normalised) feature and class weight j. The classifier's forward
gives s cos t (what prediction ranks); `apply_margin` turns those into the training logits, given the
targets, inside the classifier's loss, so the module needs no targets in its forward pass.
"""

import torch
import torch.nn.functional as F

from reid_lightning.registry import Registry

MARGINS = Registry("margin softmax", config_key="classifier.logits")
ACOS_EPS = 1e-7  # acos is not differentiable at +-1: cosines are kept inside (-1, 1) by this much


@MARGINS.register("linear")
def linear(cosine: torch.Tensor, target: torch.Tensor, margin: float) -> torch.Tensor:
    raise AssertionError("linear logits take no margin")  # never called: the classifier skips it


@MARGINS.register("cosface")
def cosface(cosine: torch.Tensor, target: torch.Tensor, margin: float) -> torch.Tensor:
    return cosine - margin * target  # (N, K)


@MARGINS.register("arcface")
def arcface(cosine: torch.Tensor, target: torch.Tensor, margin: float) -> torch.Tensor:
    angle = cosine.clamp(-1 + ACOS_EPS, 1 - ACOS_EPS).acos()
    return torch.where(target.bool(), torch.cos(angle + margin), cosine)  # (N, K)


@MARGINS.register("circle")
def circle(cosine: torch.Tensor, target: torch.Tensor, margin: float) -> torch.Tensor:
    alpha_p = (1 + margin - cosine.detach()).clamp(min=0)
    alpha_n = (cosine.detach() + margin).clamp(min=0)
    return torch.where(target.bool(), alpha_p * (cosine - (1 - margin)), alpha_n * (cosine - margin))  # (N, K)


def cosine_logits(features: torch.Tensor, weight: torch.Tensor, scale: float) -> torch.Tensor:
    """s cos t: (N, C) features and (K, C) class weights, both L2-normalised -> (N, K)."""
    return scale * F.linear(F.normalize(features.float(), dim=-1), F.normalize(weight.float(), dim=-1))


def apply_margin(name: str, logits: torch.Tensor, targets: torch.Tensor, scale: float, margin: float) -> torch.Tensor:
    """Training logits (N, K) of margin softmax `name` from the scaled cosines s cos t (N, K)."""
    target = F.one_hot(targets, logits.shape[1]).to(logits.dtype)  # (N, K)
    return scale * MARGINS.get(name)(logits / scale, target, margin)
