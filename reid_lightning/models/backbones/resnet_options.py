"""ResNet-50 options of the re-ID baselines, applied to timm's resnet50 in place, keeping its key layout.

- Non-local blocks (Wang et al. 2018) as AGW places them (mangye16/ReID-Survey resnet_nl.py, fast-reid's
  resnet with WITH_NL): after the last 2 of the 4 blocks of layer2 and the last 3 of the 6 blocks of
  layer3 (`non_layers=[0, 2, 3, 0]`). The block is their embedded-dot-product form: theta, phi, g are 1x1
  convolutions to `inter_channels`, attention f = theta^T phi / N over the N positions, z = x + BN(W y)
  with the BN's weight and bias starting at 0, so a new block starts as the identity and ImageNet weights
  keep their meaning. Both codes set inter_channels = reduc_ratio // reduc_ratio = 1 (the paper's intent is
  C/2); the published figures come from that code, so 1 is the default (`non_local_channels`).
  The blocks are inserted into timm's layer2/layer3 Sequentials under their own names
  ("layer2.non_local_2" after block "layer2.2"), so every timm key keeps its name and a timm ImageNet file
  loads; the blocks are listed in `fresh_modules` (weights.py does not ask the file for them).
- IBN-a (Pan et al. 2018, IBN-Net's resnet50_ibn_a; fast-reid WITH_IBN): the first BatchNorm of every
  bottleneck of layer1-layer3 becomes half InstanceNorm (affine), half BatchNorm over the channels;
  layer4 and the stem are unchanged. Keys follow IBN-Net's released file (`layer1.0.bn1.IN.weight`,
  `layer1.0.bn1.BN.running_mean`, ...), which loads as backbone.pretrained=<file>; timm's plain
  ResNet-50 weights do not fit it (half of every first BN would have to be invented), so pretrained=true
  is refused with ibn.
"""

from collections import OrderedDict

import torch
from torch import nn

NON_LOCAL_STAGES = {"layer2": 2, "layer3": 3}  # AGW's non_layers [0, 2, 3, 0]: blocks after the last n of a stage
IBN_STAGES = ("layer1", "layer2", "layer3")  # IBN-a: layer4 keeps BatchNorm
IBN_HALF = 0.5  # IBN-a's ratio: the first half of the channels is instance-normalised


class NonLocal(nn.Module):
    """Embedded dot-product non-local block: (B, C, h, w) -> (B, C, h, w), x + BN(W(attention(x) g(x)))."""

    def __init__(self, channels: int, inter_channels: int):
        super().__init__()
        self.inter_channels = inter_channels
        self.g = nn.Conv2d(channels, inter_channels, kernel_size=1)
        self.theta = nn.Conv2d(channels, inter_channels, kernel_size=1)
        self.phi = nn.Conv2d(channels, inter_channels, kernel_size=1)
        self.W = nn.Sequential(nn.Conv2d(inter_channels, channels, kernel_size=1), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.W[1].weight)  # the block starts as the identity
        nn.init.zeros_(self.W[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        g = self.g(x).flatten(2).transpose(1, 2)  # (B, N, C')
        theta = self.theta(x).flatten(2).transpose(1, 2)  # (B, N, C')
        phi = self.phi(x).flatten(2)  # (B, C', N)
        attention = theta @ phi / phi.shape[-1]  # (B, N, N), dot products / N
        y = (attention @ g).transpose(1, 2).reshape(b, self.inter_channels, h, w)  # (B, C', h, w)
        return x + self.W(y)


class IBN(nn.Module):
    """IBN-a normalisation: InstanceNorm (affine) on the first half of the channels, BatchNorm on the rest."""

    def __init__(self, channels: int):
        super().__init__()
        self.half = int(channels * IBN_HALF)
        self.IN = nn.InstanceNorm2d(self.half, affine=True)  # noqa: N815  IBN-Net's key names
        self.BN = nn.BatchNorm2d(channels - self.half)  # noqa: N815

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = torch.split(x, [self.half, x.shape[1] - self.half], dim=1)
        return torch.cat([self.IN(first.contiguous()), self.BN(second.contiguous())], dim=1)


def add_non_local(model: nn.Module, inter_channels: int) -> list[str]:
    """Insert AGW's non-local blocks into a timm ResNet in place; returns their module names."""
    added = []
    for stage, count in NON_LOCAL_STAGES.items():
        blocks = list(getattr(model, stage).named_children())  # [("0", block), ...]
        after = {name for name, _ in blocks[-count:]}
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for name, block in blocks:
            layers[name] = block
            if name in after:
                channels = block.conv3.out_channels if hasattr(block, "conv3") else block.conv2.out_channels
                layers[f"non_local_{name}"] = NonLocal(channels, inter_channels)
                added.append(f"{stage}.non_local_{name}")
        setattr(model, stage, nn.Sequential(layers))
    return added


def add_ibn_a(model: nn.Module) -> None:
    """Replace bn1 of every block of layer1-layer3 of a timm ResNet by IBN-a's half-IN, half-BN."""
    for stage in IBN_STAGES:
        for block in getattr(model, stage):
            block.bn1 = IBN(block.bn1.num_features)
