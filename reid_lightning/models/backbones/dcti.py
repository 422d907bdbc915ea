"""DCTI of Truong, Nguyen and Tran, "Lightweight deep convolutional network for tiny object
recognition" (ICPRAM 2018), adapted as the thesis did for re-ID (chapter 4.1.1).

The paper's network for 32x32 CIFAR images has five phases of 3x3 convolutions (all with ReLU),
each followed by 2x2 max pooling, then global average pooling and a fully connected classifier:

    phase 1   2 x conv 64,  max pool      (B, 64,  H/2,  W/2)
    phase 2   2 x conv 128, max pool      (B, 128, H/4,  W/4)
    phase 3   3 x conv 256, max pool      (B, 256, H/8,  W/8)
    phase 4   2 x conv 512, max pool      (B, 512, H/16, W/16)
    phase 5   1 x conv 512                (B, 512, H/16, W/16)  -> global average pooling (head)

Its convolution weights alone are 7,632,576 parameters (the paper's "7.63M"). The paper puts BN and
dropout after every convolution. The thesis keeps the 128x64 input, removes dropout and replaces the
classifier by a 751-way one, reporting 8,022,447 parameters / 2,056,823,023 multiply-adds (Table
4.3, Torchreid's counting). Those two numbers pin down its layout exactly, and `norm="phase"` (the
default) rebuilds it:

* convolutions keep PyTorch's default bias (+2,688 parameters);
* ReLU is applied functionally after every convolution (Torchreid's counter does not see it);
* one BN per phase, after the max pooling of phases 1-4 (+1,920 parameters); none after phase 5;
* global average pooling as a module and the 751-way linear classifier (512*751 + 751 parameters)
  complete the thesis's count; here they live in the head and the classifier.

`norm="conv"` is the paper's layout instead: bias-free convolutions, each followed by BN and ReLU.
`dropout=True` restores the paper's dropout inside the phases (drop 0.3, 0.3, 0.4, 0.4 after every
convolution and pooling of phases 1-4; the paper's 0.5 before its classifier belongs to the head).
`last_stride=1` skips the phase-4 pooling, doubling the output resolution (PCB-style).
"""

import torch
import torch.nn.functional as F
from torch import nn

from reid_lightning.models.backbones.backbone_registry import BACKBONES

PHASES = ((64, 64), (128, 128), (256, 256, 256), (512, 512), (512,))  # output channels of each conv
DROP = (0.3, 0.3, 0.4, 0.4, 0.0)  # the paper's dropout per phase (1 - keep probability)


class ConvReLU(nn.Module):
    """3x3 conv (+ BN when `norm`) + functional ReLU (+ dropout)."""

    def __init__(self, in_channels: int, out_channels: int, norm: bool, dropout: float):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not norm)
        self.bn = nn.BatchNorm2d(out_channels) if norm else nn.Identity()
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(F.relu(self.bn(self.conv(x)), inplace=True))


@BACKBONES.register("dcti")
class DCTI(nn.Module):
    """DCTI feature extractor: (B, 3, H, W) -> (B, 512, H/16, W/16) (H/8, W/8 with last_stride=1)."""

    classifier_prefixes = ("fc.", "classifier.")

    def __init__(self, norm: str = "phase", dropout: bool = False, last_stride: int | None = None):
        super().__init__()
        if norm not in ("phase", "conv"):
            raise ValueError(f"dcti norm must be 'phase' (the thesis's layout) or 'conv' (the paper's), got {norm!r}")
        if last_stride not in (None, 1, 2):
            raise ValueError(f"dcti last_stride must be 1 or 2, got {last_stride}")
        phases, in_channels = [], 3
        for i, widths in enumerate(PHASES):
            drop = DROP[i] if dropout else 0.0
            layers: list[nn.Module] = []
            for width in widths:
                layers.append(ConvReLU(in_channels, width, norm=(norm == "conv"), dropout=drop))
                in_channels = width
            if i < 4:
                pooled = not (i == 3 and last_stride == 1)
                layers.append(nn.MaxPool2d(2) if pooled else nn.Identity())
                layers.append(nn.BatchNorm2d(width) if norm == "phase" else nn.Identity())
                layers.append(nn.Dropout(drop) if drop else nn.Identity())
            phases.append(nn.Sequential(*layers))
        self.phases = nn.Sequential(*phases)
        self.num_features = in_channels
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.phases(images)  # (B, 512, H/16, W/16)
