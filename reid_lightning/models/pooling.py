"""Spatial pooling of a feature map into a grid of cells, by name: `avg`, `max` and `gem`.

`gem` is generalized-mean pooling (Radenović et al. 2018) with a learnable exponent p, as AGW
(mangye16/ReID-Survey) and fast-reid's SBS (`GeneralizedMeanPoolingP`) pool the global feature:
(mean over the cell of clamp(x, eps)^p)^(1/p). p = 1 is average pooling, p -> inf max pooling; both
papers start from p = 3. Features are clamped at eps first so that the power of a non-negative
(post-ReLU) map stays defined and differentiable in p.

A pooling is an nn.Module `forward(feature_map (B, C, h, w), output_size (rows, cols)) -> (B, C, rows, cols)`,
adaptive as F.adaptive_avg_pool2d: the global head asks for (1, 1), the stripes head for (N, 1). The mask
heads do not use these: their pooling is the thesis's mask-weighted sum (partition.pool_masked), whose
magnitude carries the part's size; a power mean would change what that feature means.
"""

import torch
import torch.nn.functional as F
from torch import nn

from reid_lightning.registry import Registry

POOLINGS = Registry("pooling", config_key="partition.pooling")


@POOLINGS.register("avg")
class AvgPool(nn.Module):
    """Adaptive average pooling (the thesis's and BoT's global pooling)."""

    def forward(self, feature_map: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        if tuple(output_size) == (1, 1):  # the global mean, bit for bit as before pooling had options
            return feature_map.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        return F.adaptive_avg_pool2d(feature_map, output_size)  # (B, C, rows, cols)


@POOLINGS.register("max")
class MaxPool(nn.Module):
    """Adaptive max pooling."""

    def forward(self, feature_map: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        return F.adaptive_max_pool2d(feature_map, output_size)  # (B, C, rows, cols)


@POOLINGS.register("gem")
class GeMPool(nn.Module):
    """Generalized-mean pooling with one learnable exponent p shared by all channels (AGW / fast-reid)."""

    def __init__(self, gem_p: float, gem_eps: float):
        super().__init__()
        if gem_p <= 0 or gem_eps <= 0:
            raise ValueError(
                f"partition.pooling=gem needs gem_p > 0 and gem_eps > 0, got gem_p={gem_p}, "
                f"gem_eps={gem_eps} (AGW and fast-reid start from p=3, eps=1e-6)"
            )
        self.p = nn.Parameter(torch.tensor(float(gem_p)))
        self.eps = gem_eps

    def forward(self, feature_map: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        powered = feature_map.clamp(min=self.eps).pow(self.p)  # (B, C, h, w)
        return F.adaptive_avg_pool2d(powered, output_size).pow(1.0 / self.p)  # (B, C, rows, cols)


def create_pooling(name: str, gem_p: float, gem_eps: float) -> nn.Module:
    """Pooling `name`; gem_p (initial exponent) and gem_eps are used by `gem` only."""
    options = {"gem_p": gem_p, "gem_eps": gem_eps}
    return POOLINGS.build(name, **{k: v for k, v in options.items() if k in POOLINGS.options(name)})
