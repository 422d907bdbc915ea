"""How much a network costs: parameters and multiply-adds, in two conventions.

* `count_macs` is the primary measure: torch's maintained `FlopCounterMode` counts the conv/linear
  (matmul) work of one forward pass. `macs` are multiply-accumulates, `flops = 2 * macs`.
* `count_thesis_complexity` reproduces the convention of the thesis's Table 4.3, which is Torchreid's
  `compute_model_complexity(..., only_conv_linear=False)`: forward hooks on the basic layers, in eval
  mode, adding per executed call
      conv       (prod(kernel) * in_channels [+1 bias]) * out.numel() / groups
      linear     (in_features [+1 bias]) * out.numel()
      batch/instance/group/layer norm   2 * out.numel() (+2 * out.numel() when affine)
      ReLU, ReLU6   out.numel();  LeakyReLU  3 * out.numel()
      max pool   (prod(kernel) - 1) * out.numel();  avg pool  prod(kernel) * out.numel()
      adaptive pools: the same with kernel = ceil(in_size / out_size)
  Functional ops (F.relu, F.avg_pool2d, additions, sigmoid) count nothing, and "parameters" are the
  parameters of every executed layer call, so a layer called k times counts k times (OSNet's shared
  aggregation gate: 4 calls per block). The thesis calls the multiply-adds "flops".

`python -m reid_lightning.analysis.complexity` prints Table 4.3 next to our networks at 128x64, and with
`--latency` their measured cost beside the counted one (analysis/latency.py: ONNX Runtime ms/image at
batch 1 and images/s at batch 32, one thread and all threads, the machine printed). What each
thesis number covers, found by reproducing it (`THESIS_TABLE_4_3`):
  ResNet-50    backbone + pooling module + 751-way classifier (a torchvision-style fc)   exact
  DCTI         the thesis's layout (models/backbones/dcti.py) + pooling + 751-way classifier   exact
  NASNet       backbone only (Torchreid pools functionally, runs no classifier at test time)   exact
  OSNet        backbone + pooling + 512-d fc (our PartNeck), no classifier; its 2,193,616
               "parameters" count the shared gate 4 times per block (2,169,508 distinct)   exact
  MobileNetV2  Torchreid's has a 1x1 expansion conv in its t=1 block and functional ReLU6; timm's
               (ours) has no such conv and ReLU6 modules: 2,223,872 / 54,265,344 at 128x64
Unlike Torchreid we match layers by isinstance and hook composite layers too, so timm's BatchNormAct2d
(BN with its activation as a child) is counted like a BN followed by its activation.
"""

import argparse
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from reid_lightning.data.market_layout import MARKET_IMAGE_SIZE


def count_parameters(module: nn.Module) -> int:
    """Number of distinct parameters (shared tensors once)."""
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, inputs: tuple) -> dict[str, int]:
    """Conv/linear work of one eval-mode forward `model(*inputs)`: dict(macs, flops), flops = 2 * macs."""
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(*inputs)
    finally:
        model.train(was_training)
    flops = int(counter.get_total_flops())
    return {"macs": flops // 2, "flops": flops}


def _kernel_numel(kernel_size) -> int:
    return math.prod(kernel_size) if isinstance(kernel_size, tuple) else kernel_size**2


def _adaptive_kernel_numel(module: nn.Module, x: torch.Tensor) -> int:
    in_size = x.shape[2:]
    out_size = module.output_size
    out_size = out_size if isinstance(out_size, tuple) else (out_size,) * len(in_size)
    return math.prod(math.ceil(i / (o or i)) for i, o in zip(in_size, out_size, strict=True))


def thesis_layer_macs(module: nn.Module, x: torch.Tensor | None, y: torch.Tensor) -> int | None:
    """Multiply-adds of one call of a basic layer under Torchreid's rules; None for uncounted layers."""
    if not isinstance(y, torch.Tensor):
        return None
    n = y.numel()
    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = math.prod(module.kernel_size) * module.in_channels + (module.bias is not None)
        return per_output * n // module.groups
    if isinstance(module, nn.Linear):
        return (module.in_features + (module.bias is not None)) * n
    if isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm)):
        return (4 if module.affine else 2) * n
    if isinstance(module, nn.LayerNorm):
        return (4 if module.elementwise_affine else 2) * n
    if isinstance(module, (nn.ReLU, nn.ReLU6)):
        return n
    if isinstance(module, nn.LeakyReLU):
        return 3 * n
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        return (_kernel_numel(module.kernel_size) - 1) * n
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        return _kernel_numel(module.kernel_size) * n
    if isinstance(module, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        return (_adaptive_kernel_numel(module, x) - 1) * n
    if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
        return _adaptive_kernel_numel(module, x) * n
    return None


@dataclass
class ThesisComplexity:
    params: int  # parameters of every executed layer call (Torchreid's convention)
    macs: int  # multiply-adds over every executed layer (the thesis's "flops")


@torch.no_grad()
def count_thesis_complexity(model: nn.Module, inputs: tuple) -> ThesisComplexity:
    """Parameters and multiply-adds of one eval-mode forward, as Torchreid (and the thesis) counts them."""
    totals = ThesisComplexity(params=0, macs=0)

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        macs = thesis_layer_macs(module, args[0] if args else None, output)
        if macs is not None or not any(True for _ in module.children()):  # counted layers and all leaves
            totals.macs += macs or 0
            totals.params += sum(p.numel() for p in module.parameters(recurse=False))

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    model.eval()
    try:
        model(*inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return totals


def count_thesis_macs(model: nn.Module, inputs: tuple) -> int:
    """Multiply-adds over every executed layer (the thesis's Table 4.3 "flops")."""
    return count_thesis_complexity(model, inputs).macs


class ThesisNetwork(nn.Module):
    """A backbone completed the way Table 4.3 counted it: global average pooling (a module, or
    functional as in Torchreid's NASNet), OSNet's 512-d fc (our PartNeck) and/or a 751-way classifier."""

    def __init__(
        self,
        backbone: nn.Module,
        pool_module: bool = True,
        neck: nn.Module | None = None,
        num_classes: int | None = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1) if pool_module else None
        self.neck = neck
        dim = getattr(neck, "out_features", backbone.num_features)
        self.classifier = nn.Linear(dim, num_classes) if num_classes else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.backbone(images)  # (B, C, h, w)
        x = (self.pool(x) if self.pool is not None else nn.functional.adaptive_avg_pool2d(x, 1)).flatten(1)
        if self.neck is not None:
            x = self.neck(x[:, None]).flatten(1)  # the neck works on parts (B, P=1, C)
        return self.classifier(x) if self.classifier is not None else x


@dataclass(frozen=True)
class ThesisRow:
    label: str
    backbone: str
    params: int  # Table 4.3
    macs: int  # Table 4.3 "flops"
    pool_module: bool
    neck: bool
    classifier: bool
    note: str


THESIS_TABLE_4_3 = (
    ThesisRow(
        "ResNet-50",
        "resnet50",
        25_046_831,
        677_931_759,
        True,
        False,
        True,
        "incl. 751-way classifier (torchvision-style fc)",
    ),
    ThesisRow(
        "DCTI",
        "dcti",
        8_022_447,
        2_056_823_023,
        True,
        False,
        True,
        "thesis layout (docstring), incl. 751-way classifier",
    ),
    ThesisRow(
        "NASNet", "nasnet", 4_232_978, 99_959_103, False, False, False, "no classifier; functional global pooling"
    ),
    ThesisRow(
        "MobileNetV2",
        "mobilenetv2",
        2_224_960,
        55_627_776,
        True,
        False,
        False,
        "timm's: no t=1 expansion conv (-1,088), ReLU6 counted",
    ),
    ThesisRow(
        "OSNet",
        "osnet",
        2_193_616,
        255_199_776,
        True,
        True,
        False,
        "incl. 512-d fc (PartNeck); shared gate counted per call",
    ),
)


def thesis_network(row: ThesisRow, num_classes: int = 751) -> ThesisNetwork:
    """The network of one Table 4.3 row, built from our registry."""
    from reid_lightning.models.backbones import create_backbone
    from reid_lightning.models.neck import PartNeck

    backbone = create_backbone(row.backbone)
    neck = PartNeck(backbone.num_features, 512) if row.neck else None
    return ThesisNetwork(backbone, row.pool_module, neck, num_classes if row.classifier else None)


def table_4_3(
    height: int = MARKET_IMAGE_SIZE[0],
    width: int = MARKET_IMAGE_SIZE[1],
    latency_repeats: int = 0,
    latency_warmup: int = 2,
) -> list[dict]:
    """Our counts of the Table 4.3 networks at height x width next to the thesis's; with latency_repeats > 0
    also their measured latency (analysis/latency.py's keys, `machine` included)."""
    rows = []
    inputs = (torch.zeros(1, 3, height, width),)
    for row in THESIS_TABLE_4_3:
        net = thesis_network(row)
        thesis = count_thesis_complexity(net, inputs)
        rows.append(
            {
                "model": row.label,
                "params": thesis.params,
                "params_thesis": row.params,
                "macs_thesis_convention": thesis.macs,
                "macs_thesis": row.macs,
                "params_distinct": count_parameters(net),
                **count_macs(net, inputs),
                "note": row.note,
            }
        )
        if latency_repeats:
            from reid_lightning.analysis.latency import measure_network

            rows[-1].update(measure_network(net, (torch.zeros(2, 3, height, width),), latency_repeats, latency_warmup))
    return rows


LATENCY_COLUMNS = {
    "ms/img b1 1thr": "ms_per_image_b1_1t",
    "ms/img b1 all": "ms_per_image_b1_all",
    "img/s b32 1thr": "images_per_s_b32_1t",
    "img/s b32 all": "images_per_s_b32_all",
}


def latency_cell(row: dict, key: str) -> str:
    if key not in row:
        return "-"
    return f"{row[key]:.2f}" if key.startswith("ms_") else f"{row[key]:,.0f}"


def main(argv: list[str] | None = None) -> None:
    """Print Table 4.3 (parameters and multiply-adds of the five backbones) next to the thesis."""
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--size", default="128x64", help="input HxW (the thesis: 128x64)")
    parser.add_argument(
        "--latency",
        action="store_true",
        help="also measure ONNX Runtime latency on this CPU (and GPU images/s with CUDA); takes ~30 s per network",
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per latency figure (median kept)")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.lower().split("x"))
    torch.set_num_threads(1)
    table = Table(title=f"Table 4.3 at {height}x{width}: ours (Torchreid's counting) vs the thesis")
    for column in (
        "model",
        "params",
        "thesis",
        "diff",
        "MACs (every layer)",
        "thesis",
        "diff",
        "params distinct",
        "MACs conv/linear",
        "FLOPs conv/linear",
        *(LATENCY_COLUMNS if args.latency else ()),
        "variant counted",
    ):
        table.add_column(column, justify="left" if column in ("model", "variant counted") else "right")
    rows = table_4_3(height, width, latency_repeats=args.repeats if args.latency else 0)
    for r in rows:
        measured = [latency_cell(r, key) for key in LATENCY_COLUMNS.values()] if args.latency else []
        table.add_row(
            r["model"],
            f"{r['params']:,}",
            f"{r['params_thesis']:,}",
            f"{r['params'] - r['params_thesis']:+,}",
            f"{r['macs_thesis_convention']:,}",
            f"{r['macs_thesis']:,}",
            f"{r['macs_thesis_convention'] - r['macs_thesis']:+,}",
            f"{r['params_distinct']:,}",
            f"{r['macs']:,}",
            f"{r['flops']:,}",
            *measured,
            r["note"],
        )
    Console(width=240).print(table)
    if args.latency:
        print(f"latency: ONNX Runtime (CPU), median of {args.repeats} calls after warm-up, on {rows[0]['machine']}")
    print(
        "params / MACs (every layer): Torchreid's compute_model_complexity(only_conv_linear=False) rules, "
        "the thesis's convention. MACs/FLOPs conv/linear: torch.utils.flop_counter (FLOPs = 2 x MACs)."
    )


if __name__ == "__main__":
    main()
