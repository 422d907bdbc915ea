"""Backbone throughput on this CPU: training and inference images/second per backbone and input size.

Each backbone is completed as the thesis trained it (global average pooling, OSNet's 512-d fc, a
751-way classifier) and timed on random images: an SGD training step (forward, cross-entropy,
backward, update) and an eval-mode inference forward, a few warm-up iterations first. Torchreid's own
training loop on this machine is the reference (images/s, batch 32).

    python bench/backbones.py                          # all backbones, 128x64 and 256x128
    python bench/backbones.py --backbones osnet --sizes 128x64 --nchw   # without channels_last weights
"""

import argparse
import statistics
import time

import torch
from torch import nn

from reid_lightning.analysis.complexity import ThesisNetwork
from reid_lightning.models.backbones import create_backbone, list_backbones
from reid_lightning.models.neck import PartNeck

TORCHREID_TRAIN = {("osnet", "256x128"): 14.2, ("osnet", "128x64"): 57.7, ("mobilenetv2", "128x64"): 137.7}


def network(name: str, channels_last: bool = True) -> nn.Module:
    backbone = create_backbone(name, channels_last=channels_last)
    neck = PartNeck(backbone.num_features, 512) if name == "osnet" else None
    return ThesisNetwork(backbone, neck=neck, num_classes=751)


def images_per_second(step, batch_size: int, warmup: int, min_iters: int, min_seconds: float, repeats: int) -> float:
    """Median throughput of `repeats` timed windows: one window is at the mercy of the OS scheduler."""
    for _ in range(warmup):
        step()
    rates = []
    for _ in range(repeats):
        iters, start = 0, time.perf_counter()
        while iters < min_iters or time.perf_counter() - start < min_seconds:
            step()
            iters += 1
        rates.append(iters * batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def bench(name: str, size: tuple[int, int], args: argparse.Namespace) -> tuple[float, float]:
    torch.manual_seed(0)
    model = network(name, channels_last=not args.nchw)
    images = torch.randn(args.batch_size, 3, *size)  # NCHW, as the data loader delivers them
    targets = torch.randint(0, 751, (args.batch_size,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def train_step():
        loss = nn.functional.cross_entropy(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.inference_mode()
    def eval_step():
        model(images)

    model.train()
    train = images_per_second(train_step, args.batch_size, args.warmup, args.iters, args.seconds, args.repeats)
    model.eval()
    infer = images_per_second(eval_step, args.batch_size, args.warmup, args.iters, args.seconds, args.repeats)
    return train, infer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=list_backbones())
    parser.add_argument("--sizes", nargs="+", default=["128x64", "256x128"], help="HxW input sizes")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    parser.add_argument("--iters", type=int, default=3, help="at least this many timed iterations ...")
    parser.add_argument("--seconds", type=float, default=3.0, help="... and at least this long, per window")
    parser.add_argument("--repeats", type=int, default=3, help="timed windows; the median is printed")
    parser.add_argument("--nchw", action="store_true", help="backbone.channels_last=false (NCHW weights)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
        f"{'NCHW weights' if args.nchw else 'channels_last weights'}"
    )
    print(f"{'backbone':<12} {'size':>8} {'train img/s':>12} {'eval img/s':>11} {'Torchreid train':>16} {'ratio':>6}")
    for name in args.backbones:
        for size_text in args.sizes:
            size = tuple(int(v) for v in size_text.lower().split("x"))
            train, infer = bench(name, size, args)
            ref = TORCHREID_TRAIN.get((name, size_text))
            ref_text = f"{ref:16.1f} {train / ref:6.2f}" if ref else f"{'-':>16} {'-':>6}"
            print(f"{name:<12} {size_text:>8} {train:12.1f} {infer:11.1f} {ref_text}", flush=True)


if __name__ == "__main__":
    main()
