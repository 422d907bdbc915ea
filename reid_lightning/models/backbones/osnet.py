"""OSNet: the omni-scale network of Zhou et al., "Omni-Scale Feature Learning for Person
Re-Identification" (ICCV 2019), written for this suite (timm has none).

Layout of OSNet x1.0 (channels scale with `width`: x0.75 -> 48/192/288/384, x0.5, x0.25):

    conv1   7x7 conv s2, 64 + BN + ReLU, 3x3 max pool s2             (B, 64, H/4, W/4)
    conv2   2 OSBlocks 64 -> 256, transition 1x1 conv + 2x2 avg pool  (B, 256, H/8, W/8)
    conv3   2 OSBlocks 256 -> 384, transition                         (B, 384, H/16, W/16)
    conv4   2 OSBlocks 384 -> 512                                     (B, 512, H/16, W/16)
    conv5   1x1 conv 512 + BN + ReLU                                  (B, 512, H/16, W/16)

The paper then pools globally and applies a 512-d fully connected layer (Linear + BN + ReLU).
Here that layer lives in the head as `reid_lightning.models.neck.PartNeck`, shared by every part,
so `OSNet()` ends at conv5 and returns the feature map; `OSNet()` plus `PartNeck(512, 512)` is the
paper's network without classifier: 2,169,508 distinct parameters. The thesis's (and Torchreid's)
2,193,616 counts parameters per layer call, and the shared gate runs 4 times per block: the six
blocks' gates hold 8,036 parameters, counted 3 extra times, +24,108 (both numbers and the
255,199,776 multiply-adds at 128x64 are reproduced in tests/test_complexity.py). conv5 has no
stride, so OSNet has no last-stride option. Torchreid's OSNet weights files (ImageNet and model zoo, every
width) load through `backbone.pretrained`; torchreid_layout.py maps their key names onto ours.

An OSBlock is a residual bottleneck (reduction 4) whose middle runs T=4 streams of 1, 2, 3 and 4
stacked LightConv3x3 (1x1 linear conv, depthwise 3x3 conv, BN, ReLU), i.e. receptive fields 3, 5, 7
and 9; one unified aggregation gate (a channel gate shared by the streams) weights each stream before
they are summed. The residual ReLU is functional, as in the reference implementation, so hook-based
complexity counters see the same layers as Torchreid's.
"""

import torch
import torch.nn.functional as F
from torch import nn

from reid_lightning.models.backbones.backbone_registry import BACKBONES


def conv_bn(
    in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1, relu: bool = True
) -> nn.Sequential:
    """Conv (no bias) + BN (+ ReLU): OSNet's ConvLayer, Conv1x1 and Conv1x1Linear."""
    layers = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class LightConv3x3(nn.Sequential):
    """1x1 linear conv, then depthwise 3x3 conv, BN, ReLU: a cheap 3x3 convolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, groups=out_channels, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ChannelGate(nn.Sequential):
    """Per-channel weights in (0, 1) from the globally pooled input: GAP, fc /16, ReLU, fc, sigmoid."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )


class OSBlock(nn.Module):
    """Omni-scale residual bottleneck: 4 streams of 1..4 LightConv3x3, fused by a shared gate."""

    def __init__(self, in_channels: int, out_channels: int, reduction: int = 4, num_streams: int = 4):
        super().__init__()
        mid = out_channels // reduction
        self.reduce = conv_bn(in_channels, mid)
        self.streams = nn.ModuleList(  # stream t: t stacked LightConv3x3, receptive field 2t + 1
            nn.Sequential(*[LightConv3x3(mid, mid) for _ in range(t)]) for t in range(1, num_streams + 1)
        )
        self.gate = ChannelGate(mid)
        self.expand = conv_bn(mid, out_channels, relu=False)
        needs_projection = in_channels != out_channels
        self.shortcut = conv_bn(in_channels, out_channels, relu=False) if needs_projection else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)  # (B, mid, h, w)
        fused = 0
        for stream in self.streams:
            s = stream(y)
            fused = fused + s * self.gate(s)  # gate (B, mid, 1, 1) shared by the streams
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.expand(fused) + identity)


def os_stage(in_channels: int, out_channels: int, num_blocks: int, transition: bool) -> nn.Sequential:
    """`num_blocks` OSBlocks, then (optionally) a 1x1 conv and 2x2 average pooling halving h and w."""
    layers = [OSBlock(in_channels if i == 0 else out_channels, out_channels) for i in range(num_blocks)]
    if transition:
        layers += [conv_bn(out_channels, out_channels), nn.AvgPool2d(2, stride=2)]
    return nn.Sequential(*layers)


@BACKBONES.register("osnet")
class OSNet(nn.Module):
    """OSNet feature extractor: (B, 3, H, W) -> (B, 512*width, H/16, W/16)."""

    classifier_prefixes = ("fc.", "classifier.")  # keys of a Torchreid checkpoint that belong to the head
    paper_neck_dim = 512  # the paper's fc after pooling; in our model it is the head's neck (neck_dim: paper)

    def __init__(self, width: float = 1.0, last_stride: int | None = None):
        super().__init__()
        if last_stride not in (None, 2):
            raise ValueError(
                "osnet has no last-stride option (conv5 has no stride; its last down-sampling "
                f"is the conv3 transition), got last_stride={last_stride}; leave it null"
            )
        if width <= 0:
            raise ValueError(f"osnet width must be positive (1.0, 0.75, 0.5, 0.25), got {width}")
        c = [round(base * width) for base in (64, 256, 384, 512)]
        self.conv1 = conv_bn(3, c[0], kernel_size=7, stride=2)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = os_stage(c[0], c[1], 2, transition=True)
        self.conv3 = os_stage(c[1], c[2], 2, transition=True)
        self.conv4 = os_stage(c[2], c[3], 2, transition=False)
        self.conv5 = conv_bn(c[3], c[3])
        self.num_features = c[3]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Torchreid's from-scratch initialisation: Kaiming (fan out) convs, unit BN. Its fc and classifier
        (N(0, 0.01), zero bias) live in the head: `head_init: torchreid` (experiment=osnet_torchreid sets it)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(images))  # (B, 64, H/4, W/4)
        x = self.conv3(self.conv2(x))  # (B, 384, H/16, W/16)
        return self.conv5(self.conv4(x))  # (B, 512, H/16, W/16)
