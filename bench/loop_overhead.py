"""What the data path costs the training loop: the bare step vs the Lightning loop with each data path.

Three figures in one run, on the default model (OSNet + Gaussian masks, conf/train.yaml) and the default
synthetic set, as images/second of training:

1. bare step: `training_step` + backward + optimizer step on one batch that stays on the device (no loader,
   no Lightning loop): the ceiling;
2. loop, decode cache: `Trainer.fit` with `data.cache=true` (memory-mapped uint8 batches, augmentation on
   the device);
3. loop, per-file path: `Trainer.fit` with `data.cache=false` (decode + per-sample transforms in
   `data.num_workers` loader workers).

Loops are timed from the start of batch `--warmup` to the end of training (epoch boundaries included,
validation off); each ratio is against the bare step. On CUDA (when present) the same three figures are
taken in bf16 with channels-last memory, and then the epoch time of a Market-sized synthetic set (751
training identities, ~13k images) at 256x128 with the decode cache.

    python bench/loop_overhead.py                       # CPU: the default run's settings (about 5 minutes)
    python bench/loop_overhead.py --epochs 1 --workers 0
"""

import argparse
import logging
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from reid_lightning.run.build import build_datamodule, build_model
from reid_lightning.run.resolvers import register

ROOT = Path(__file__).resolve().parents[1]


def config(overrides: list[str]) -> DictConfig:
    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=overrides)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Throughput(pl.Callback):
    """Images/s of the training batches from batch `warmup` on, to the end of training."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.images, self.seconds = warmup, None, 0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup and self.start is None:
            synchronize(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.start is not None:
            self.images += len(batch["image"])

    def on_train_end(self, trainer, pl_module) -> None:
        synchronize(pl_module.device)
        self.seconds = time.perf_counter() - self.start

    @property
    def rate(self) -> float:
        return self.images / self.seconds


def bare_step(cfg: DictConfig, device: torch.device, precision: str, steps: int, warmup: int) -> float:
    """Images/s of training_step + backward + step on one resident batch."""
    data = build_datamodule(cfg, load_part_maps=True)
    model = prepared(build_model(cfg, data), device)
    batch = next(iter(data.train_dataloader()))
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    if data.cfg.cache:
        batch = data.on_after_batch_transfer(batch, 0)  # float, normalised, as the loop's batches
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")
    for i in range(warmup + steps):
        if i == warmup:
            synchronize(device)
            start = time.perf_counter()
        with autocast:
            loss = model.training_step(batch, i)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    synchronize(device)
    return steps * len(batch["image"]) / (time.perf_counter() - start)


def prepared(model: pl.LightningModule, device: torch.device) -> pl.LightningModule:
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def loop(cfg: DictConfig, device: torch.device, precision: str, epochs: int, warmup: int) -> tuple[float, float]:
    """Images/s of Trainer.fit over `epochs` epochs, and the mean seconds per epoch."""
    data = build_datamodule(cfg, load_part_maps=True)
    data.train_dataloader()  # builds the decode cache (once) before any clock runs
    model = prepared(build_model(cfg, data), device)
    timer = Throughput(warmup)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator=device.type,
        devices=1,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=data)
    return timer.rate, (time.perf_counter() - start) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each timed loop")
    parser.add_argument("--warmup", type=int, default=5, help="batches left out of every timing")
    parser.add_argument("--steps", type=int, default=20, help="timed bare steps")
    parser.add_argument("--workers", type=int, default=None, help="loader workers (default: the config's)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. data.batch_size=64")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    precision = "bf16-mixed" if cuda else "32-true"
    overrides = list(args.overrides) + ([f"data.num_workers={args.workers}"] if args.workers is not None else [])
    cfg = config(overrides)
    print(
        f"device {device} ({torch.cuda.get_device_name() if cuda else f'{torch.get_num_threads()} threads'}), "
        f"precision {precision}{', channels-last' if cuda else ''}; {cfg.backbone.name} + {cfg.partition.name}, "
        f"batch {cfg.data.batch_size}, {cfg.data.height}x{cfg.data.width}, {cfg.data.num_workers} workers"
    )
    measure(cfg, device, precision, args)
    if cuda:
        market = config(
            overrides
            + [
                "data.height=256",
                "data.width=128",
                "data.root=${paths.data_dir}/synthetic_751",
                "data.options={num_train_ids: 751, num_test_ids: 20, num_distractors: 0}",
                "data.val_split=null",
            ]
        )
        data = build_datamodule(market, load_part_maps=True)
        rate, epoch = loop(market, device, precision, 2, args.warmup)
        print(
            f"Market-sized synthetic set at 256x128 ({len(data.training.train)} images, {data.num_classes} ids), "
            f"decode cache: {rate:.0f} img/s, {epoch:.1f} s per epoch (12,936 images: {12936 / rate:.1f} s)"
        )


def measure(cfg: DictConfig, device: torch.device, precision: str, args) -> dict:
    with open_dict(cfg):
        cfg.data.cache = True
    figures = {"bare step (resident batch)": bare_step(cfg, device, precision, args.steps, args.warmup)}
    figures["loop, decode cache"] = loop(cfg, device, precision, args.epochs, args.warmup)[0]
    with open_dict(cfg):
        cfg.data.cache = False
    figures["loop, per-file path"] = loop(cfg, device, precision, args.epochs, args.warmup)[0]
    bare = figures["bare step (resident batch)"]
    print(f"{'':<28} {'img/s':>8} {'of bare':>8}")
    for name, rate in figures.items():
        print(f"{name:<28} {rate:>8.1f} {rate / bare:>8.1%}")
    return figures


if __name__ == "__main__":
    main()
