"""Complexity callback: once at fit start, count what the run's model costs and record it.

Parameters are split as the model is (backbone, head = partition + neck, classifier, total) and
multiply-adds are counted for one image at the configured input size, both with torch's
FlopCounterMode (`macs`, `flops` = 2 x macs: conv/linear work) and in the thesis's convention
(`macs_thesis`, `params_thesis`: every executed layer call, Torchreid's rules, see
reid_lightning.analysis.complexity). With `latency` on, measured cost joins the counted one
(reid_lightning.analysis.latency): the inference network exported to ONNX and timed under ONNX Runtime,
ms/image at batch 1 and images/s at batch 32 with one thread and all threads (and GPU images/s in
fp16/bf16 when CUDA is present), medians of `latency_repeats` calls, with the machine recorded
(`machine`, a dict). The dict goes to the loggers as `complexity/<key>` scalars and to
`<run folder>/complexity.json`, the run's record of it (the run's result.json and TensorBoard's hparams
row read it from there).

The LightningModule provides `backbone`, `head`, `classifier` and `example_input()` (the positional
arguments of its forward for one image).
"""

from pathlib import Path

import pytorch_lightning as pl
import torch

from reid_lightning.analysis.complexity import count_macs, count_parameters, count_thesis_complexity
from reid_lightning.analysis.latency import measure_model
from reid_lightning.reporting.run_records import write_complexity


def resize_inputs(inputs: tuple, size: tuple[int, int]) -> tuple:
    """Zeros like `inputs`, the last two dims of each image-like tensor (images, part maps) set to size."""
    return tuple(
        torch.zeros(*x.shape[:-2], *size, dtype=x.dtype, device=x.device)
        if isinstance(x, torch.Tensor) and x.ndim >= 3
        else x
        for x in inputs
    )


def measure(pl_module: pl.LightningModule, input_size: tuple[int, int] | None = None) -> dict:
    """The complexity dict of a model with backbone/head/classifier and example_input()."""
    inputs = pl_module.example_input()
    if input_size is not None:
        inputs = resize_inputs(inputs, tuple(input_size))
    height, width = inputs[0].shape[-2:]
    thesis = count_thesis_complexity(pl_module, inputs)
    training_only = getattr(pl_module, "distiller", None)  # distillation projections: not part of the model
    result = {
        "params_backbone": count_parameters(pl_module.backbone),
        "params_head": count_parameters(pl_module.head),
        "params_classifier": count_parameters(pl_module.classifier),
        "params_total": count_parameters(pl_module) - (count_parameters(training_only) if training_only else 0),
        **count_macs(pl_module, inputs),
        "macs_thesis": thesis.macs,
        "params_thesis": thesis.params,
        "input_size": f"{height}x{width}",
    }
    return result


class ComplexityCallback(pl.Callback):
    """Parameters and MACs at fit start (rank zero), and measured latency when `latency`: scalars and
    complexity.json. The keyword values' one home is conf/callbacks/default.yaml (`complexity`)."""

    def __init__(
        self,
        input_size: tuple[int, int] | list[int] | None = None,
        latency: bool = True,
        latency_repeats: int = 10,
        latency_warmup: int = 2,
    ):
        if input_size is not None and len(input_size) != 2:
            raise ValueError(f"ComplexityCallback input_size must be [height, width], got {input_size}")
        if latency and (latency_repeats < 1 or latency_warmup < 0):
            raise ValueError(
                f"callbacks.complexity: latency_repeats must be >= 1 and latency_warmup >= 0, got "
                f"{latency_repeats} and {latency_warmup}"
            )
        self.input_size = None if input_size is None else (int(input_size[0]), int(input_size[1]))
        self.latency, self.latency_repeats, self.latency_warmup = latency, latency_repeats, latency_warmup

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        out_dir = Path(trainer.default_root_dir)  # the run folder, beside result.json
        if not trainer.is_global_zero:
            return
        result = measure(pl_module, self.input_size)
        if self.latency:
            result.update(measure_model(pl_module, self.latency_repeats, self.latency_warmup))
        scalars = {f"complexity/{k}": float(v) for k, v in result.items() if isinstance(v, int | float)}
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=0)
        write_complexity(out_dir, result)
