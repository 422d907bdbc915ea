"""NASNet-A mobile (4 @ 1056) of Zoph et al., "Learning Transferable Architectures for Scalable Image
Recognition" (CVPR 2018), written for this suite (timm only has the large variant).

The network is a stem (3x3 conv s2 + two reduction-like stem cells) and three stacks of 4 cells
(1 "first" + 3 normal cells) separated by two reduction cells; with penultimate filters 1056 the
base width is f = 1056 / 24 = 44 and the stacks output 6f, 12f and 24f = 1056 channels:

    conv0     3x3 s2 valid, 32 + BN                       (B, 32,   H/2,  W/2)   (127 -> 63 at H=128)
    stem0     reduction cell, 4 * f/4 = 44 channels       (B, 44,   H/4,  W/4)
    stem1     reduction cell, 4 * f/2 = 88 channels       (B, 88,   H/8,  W/8)
    cells 0-3    normal, 6f = 264                         (B, 264,  H/8,  W/8)
    reduction 0  8f = 352                                 (B, 352,  H/16, W/16)
    cells 6-9    normal, 12f = 528                        (B, 528,  H/16, W/16)
    reduction 1  16f = 704                                (B, 704,  H/32, W/32)
    cells 12-15  normal, 24f = 1056, then ReLU            (B, 1056, H/32, W/32)

Every cell takes the two previous cell outputs (current, previous), projects each with ReLU-1x1 conv-BN
("first" cells reduce the higher-resolution previous input with a factorized reduction instead), and
concatenates the sums of five pairs of operations. Separable branches are ReLU, depthwise-separable
conv, BN, ReLU, depthwise-separable conv, BN. Strided ops in stem1 and the reduction cells pad one
pixel on the top-left and crop it afterwards ("shifted"), TensorFlow's SAME padding as ported by
Cadene's pretrainedmodels and Torchreid. Layer for layer this is Torchreid's `nasnetamobile`, so the
complexity counters see the same layers: 4,232,978 parameters without classifier, 99,959,103
multiply-adds at 128x64 in the thesis's convention (the final global pooling is left to the head).
The last reduction is wired into the cell structure, so there is no last-stride option. Torchreid's and
Cadene's `nasnetamobile` weights file loads through `backbone.pretrained` (torchreid_layout.py maps its keys).
"""

import torch
from torch import nn

from reid_lightning.models.backbones.backbone_registry import BACKBONES

BN_EPS = 1e-3  # the TensorFlow original's epsilon


def shifted(x: torch.Tensor, op: nn.Module) -> torch.Tensor:
    """Pad one zero row/column on the top-left, apply `op`, crop the first row/column again."""
    return op(nn.functional.pad(x, (1, 0, 1, 0)))[:, :, 1:, 1:]


class SeparableConv(nn.Sequential):
    """Depthwise k x k conv (with stride) followed by a pointwise 1x1 conv, no biases."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__(
            nn.Conv2d(in_channels, in_channels, kernel_size, stride, kernel_size // 2, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
        )


class SeparableBranch(nn.Module):
    """ReLU, separable conv (strided), BN, ReLU, separable conv, BN.

    `widen_first`: the first separable conv already maps to `out_channels` (stem0's branches on the raw
    stem); otherwise it keeps `in_channels`. `shift`: the first separable conv is `shifted`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        widen_first: bool = False,
        shift: bool = False,
    ):
        super().__init__()
        mid = out_channels if widen_first else in_channels
        self.shift = shift
        self.relu1 = nn.ReLU()
        self.sep1 = SeparableConv(in_channels, mid, kernel_size, stride)
        self.bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.relu2 = nn.ReLU()
        self.sep2 = SeparableConv(mid, out_channels, kernel_size, 1)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(x)
        x = shifted(x, self.sep1) if self.shift else self.sep1(x)
        return self.bn2(self.sep2(self.relu2(self.bn1(x))))


class Pool(nn.Module):
    """3x3 max or average pooling (average excludes padding), optionally `shifted`."""

    def __init__(self, kind: str, stride: int, shift: bool = False):
        super().__init__()
        self.shift = shift
        self.pool = nn.MaxPool2d(3, stride, 1) if kind == "max" else nn.AvgPool2d(3, stride, 1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shifted(x, self.pool) if self.shift else self.pool(x)


def relu_conv_bn(in_channels: int, out_channels: int) -> nn.Sequential:
    """The 1x1 projection of a cell input: ReLU, 1x1 conv, BN."""
    return nn.Sequential(
        nn.ReLU(), nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels, eps=BN_EPS)
    )


class FactorizedReduction(nn.Module):
    """Halve h and w of a previous-cell input without losing pixels: ReLU, then two strided 1x1
    paths (the second shifted by one pixel), each to out/2 channels, concatenated, BN."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.relu = nn.ReLU()
        self.pool1 = nn.AvgPool2d(1, stride=2, count_include_pad=False)
        self.conv1 = nn.Conv2d(in_channels, out_channels // 2, 1, bias=False)
        self.pool2 = nn.AvgPool2d(1, stride=2, count_include_pad=False)
        self.conv2 = nn.Conv2d(in_channels, out_channels // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        path1 = self.conv1(self.pool1(x))
        path2 = self.conv2(self.pool2(nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]))
        return self.bn(torch.cat([path1, path2], 1))


class ReductionCell(nn.Module):
    """Halves the resolution; output 4 * channels.

    `current` is projected by `project_current`, `previous` by `project_previous` (stem0 uses the raw
    stem as `previous`, with branches that widen it themselves). Five combinations:
    c0 = sep5(cur) + sep7(prev), c1 = max(cur) + sep7(prev), c2 = avg(cur) + sep5(prev),
    c3 = avg_s1(c0) + c1, c4 = sep3_s1(c0) + max(cur); output cat[c1, c2, c3, c4].
    """

    def __init__(
        self, project_current: nn.Module, project_previous: nn.Module, prev_channels: int, channels: int, shift: bool
    ):
        super().__init__()
        widen = prev_channels != channels
        prev_shift = shift and not widen
        self.project_current = project_current
        self.project_previous = project_previous
        self.c0_cur = SeparableBranch(channels, channels, 5, 2, shift=shift)
        self.c0_prev = SeparableBranch(prev_channels, channels, 7, 2, widen_first=widen, shift=prev_shift)
        self.c1_cur = Pool("max", 2, shift)
        self.c1_prev = SeparableBranch(prev_channels, channels, 7, 2, widen_first=widen, shift=prev_shift)
        self.c2_cur = Pool("avg", 2, shift)
        self.c2_prev = SeparableBranch(prev_channels, channels, 5, 2, widen_first=widen, shift=prev_shift)
        self.c3_c0 = Pool("avg", 1)
        self.c4_c0 = SeparableBranch(channels, channels, 3, 1, shift=shift)
        self.c4_cur = Pool("max", 2, shift)

    def forward(self, current: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        cur, prev = self.project_current(current), self.project_previous(previous)
        c0 = self.c0_cur(cur) + self.c0_prev(prev)
        c1 = self.c1_cur(cur) + self.c1_prev(prev)
        c2 = self.c2_cur(cur) + self.c2_prev(prev)
        c3 = self.c3_c0(c0) + c1
        c4 = self.c4_c0(c0) + self.c4_cur(cur)
        return torch.cat([c1, c2, c3, c4], 1)  # (B, 4 * channels, h/2, w/2)


class NormalCell(nn.Module):
    """Keeps the resolution; output 6 * channels. `reduce_previous`: the previous input has twice the
    resolution (first cell after a reduction) and goes through a factorized reduction to `channels`.

    c0 = sep5(cur) + sep3(prev), c1 = sep5(prev) + sep3(prev), c2 = avg(cur) + prev,
    c3 = avg(prev) + avg(prev), c4 = sep3(cur) + cur; output cat[prev, c0, c1, c2, c3, c4].
    """

    def __init__(self, prev_channels: int, cur_channels: int, channels: int, reduce_previous: bool):
        super().__init__()
        self.project_previous = (
            FactorizedReduction(prev_channels, channels) if reduce_previous else relu_conv_bn(prev_channels, channels)
        )
        self.project_current = relu_conv_bn(cur_channels, channels)
        self.c0_cur = SeparableBranch(channels, channels, 5, 1)
        self.c0_prev = SeparableBranch(channels, channels, 3, 1)
        self.c1_prev_a = SeparableBranch(channels, channels, 5, 1)
        self.c1_prev_b = SeparableBranch(channels, channels, 3, 1)
        self.c2_cur = Pool("avg", 1)
        self.c3_prev_a = Pool("avg", 1)
        self.c3_prev_b = Pool("avg", 1)
        self.c4_cur = SeparableBranch(channels, channels, 3, 1)

    def forward(self, current: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        cur, prev = self.project_current(current), self.project_previous(previous)
        c0 = self.c0_cur(cur) + self.c0_prev(prev)
        c1 = self.c1_prev_a(prev) + self.c1_prev_b(prev)
        c2 = self.c2_cur(cur) + prev
        c3 = self.c3_prev_a(prev) + self.c3_prev_b(prev)
        c4 = self.c4_cur(cur) + cur
        return torch.cat([prev, c0, c1, c2, c3, c4], 1)  # (B, 6 * channels, h, w)


@BACKBONES.register("nasnet")
class NASNetAMobile(nn.Module):
    """NASNet-A mobile feature extractor: (B, 3, H, W) -> (B, 1056, ~H/32, ~W/32)."""

    classifier_prefixes = ("classifier.", "last_linear.")  # Torchreid / Cadene checkpoints

    def __init__(
        self,
        stem_filters: int = 32,
        penultimate_filters: int = 1056,
        cells_per_stack: int = 4,
        last_stride: int | None = None,
    ):
        super().__init__()
        if last_stride not in (None, 2):
            raise ValueError(
                "nasnet has no last-stride option (its last reduction is wired into the "
                f"cells), got last_stride={last_stride}; leave it null"
            )
        if penultimate_filters % 24:
            raise ValueError(f"nasnet penultimate_filters must be a multiple of 24, got {penultimate_filters}")
        f = penultimate_filters // 24
        self.conv0 = nn.Sequential(
            nn.Conv2d(3, stem_filters, 3, stride=2, bias=False), nn.BatchNorm2d(stem_filters, eps=BN_EPS)
        )
        self.stem0 = ReductionCell(relu_conv_bn(stem_filters, f // 4), nn.Identity(), stem_filters, f // 4, shift=False)
        self.stem1 = ReductionCell(
            relu_conv_bn(f, f // 2), FactorizedReduction(stem_filters, f // 2), f // 2, f // 2, shift=True
        )
        cells: list[nn.Module] = []
        prev, cur = f, 2 * f  # channels of stem0 and stem1 outputs
        for stack, width in enumerate((f, 2 * f, 4 * f)):
            if stack > 0:
                cells.append(
                    ReductionCell(relu_conv_bn(cur, width), relu_conv_bn(prev, width), width, width, shift=True)
                )
                prev, cur = cur, 4 * width
            for i in range(cells_per_stack):
                cells.append(NormalCell(prev, cur, width, reduce_previous=(i == 0)))
                prev, cur = cur, 6 * width
        self.cells = nn.ModuleList(cells)
        self.relu = nn.ReLU()
        self.num_features = cur
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Torchreid's from-scratch initialisation: Kaiming (fan out) convs, unit BN."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x0 = self.conv0(images)  # (B, 32, H/2, W/2)
        s0 = self.stem0(x0, x0)  # (B, f, H/4, W/4)
        previous, current = s0, self.stem1(s0, x0)  # (B, 2f, H/8, W/8)
        for cell in self.cells:
            previous, current = current, cell(current, previous)
        return self.relu(current)  # (B, 24f, H/32, W/32)
