"""What a network costs when it runs: measured latency and throughput, beside the counted cost.

Multiply-adds mislead about speed (OSNet counts 4.7x MobileNetV2's MACs at 128x64 yet runs about 2.8x
slower on a CPU, and the ratio changes again under another runtime), so the suite also measures:

* CPU, ONNX Runtime (what a deployed model runs): the model is exported to ONNX by the suite's own
  exporter (deploy/export.py) and timed at batch 1 (`ms_per_image_b1_*`, milliseconds per image) and
  at batch 32 (`images_per_s_b32_*`), each with one intra-op thread (`_1t`) and with all the machine's
  cores (`_all`).
* GPU, eager PyTorch (when CUDA is present): images/s at batch 32 in fp16 and bf16 (autocast).

Every figure is the median of `repeats` timed calls after `warmup` untimed ones; `machine()` records
where it was measured (CPU model, cores, versions, GPU), since a figure without its machine is
meaningless. Timing is wall clock (`time.perf_counter`) around a complete call, inputs already in
memory. `measure_onnx_file` times an already exported file (fp32 or int8), so exported variants of one
model compare on the same footing.

    python -m reid_lightning.analysis.latency <run>/checkpoints/last.ckpt --repeats 20
"""

import argparse
import copy
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

BATCH_LARGE = 32  # the throughput batch: a tracker embedding the crops of a busy frame


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else platform.processor())."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> dict:
    """Where figures were measured: CPU model, cores usable by this process, library versions, GPU."""
    import onnxruntime

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": int(cores or 1),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def median_seconds(call, warmup: int, repeats: int) -> float:
    """Median wall-clock seconds of `call()` over `repeats` calls, after `warmup` untimed calls."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def onnx_feeds(session, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of `batch` for every input of an ONNX Runtime session (float images, integer maps)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in session.get_inputs():
        shape = [batch if not isinstance(d, int) else d for d in spec.shape]
        if "float16" in spec.type:
            feeds[spec.name] = rng.standard_normal(shape).astype(np.float16)
        elif "float" in spec.type:
            feeds[spec.name] = rng.standard_normal(shape).astype(np.float32)
        else:  # part maps: label 0 everywhere is a valid map of any scheme
            feeds[spec.name] = np.zeros(shape, dtype=np.uint8)
    return feeds


def measure_onnx_file(path: str | Path, repeats: int, warmup: int) -> dict:
    """CPU figures of an exported .onnx file under ONNX Runtime: ms/image at batch 1 and images/s at batch
    32, with one thread (`_1t`) and with all cores (`_all`)."""
    import onnxruntime

    result = {}
    cores = machine()["cores"]
    for suffix, threads in (("1t", 1), ("all", cores)):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # no per-session warnings in the run's log
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for batch in (1, BATCH_LARGE):
            feeds = onnx_feeds(session, batch)
            seconds = median_seconds(lambda s=session, f=feeds: s.run(None, f), warmup, repeats)
            if batch == 1:
                result[f"ms_per_image_b1_{suffix}"] = 1000.0 * seconds
            else:
                result[f"images_per_s_b{batch}_{suffix}"] = batch / seconds
    return result


@torch.no_grad()
def measure_gpu(net: nn.Module, inputs: tuple, repeats: int, warmup: int) -> dict:
    """Images/s at batch 32 on the first CUDA device, eager PyTorch under fp16 and bf16 autocast; {} without CUDA.
    A GPU without bf16 (before Ampere) gets no bf16 figure: autocast would quietly run fp32 under its name."""
    if not torch.cuda.is_available():
        return {}
    device = torch.device("cuda")
    net = net.to(device).eval()
    batch = [
        x[:1].expand(BATCH_LARGE, *x.shape[1:]).contiguous().to(device) if isinstance(x, torch.Tensor) else x
        for x in inputs
    ]
    result = {}
    dtypes = [("fp16", torch.float16)] + ([("bf16", torch.bfloat16)] if torch.cuda.is_bf16_supported() else [])
    for name, dtype in dtypes:

        def call(d=dtype):
            with torch.autocast("cuda", dtype=d):
                net(*batch)
            torch.cuda.synchronize()

        result[f"gpu_images_per_s_b{BATCH_LARGE}_{name}"] = BATCH_LARGE / median_seconds(call, warmup, repeats)
    return result


def inference_copy(model: nn.Module) -> nn.Module:
    """A CPU copy of what inference runs of a ReIDModule (backbone, head, classifier), in eval mode:
    measuring never moves or switches the module being trained, and nothing of the trainer is copied."""
    shell = nn.Module()
    for name in ("backbone", "head", "classifier"):
        setattr(shell, name, copy.deepcopy(getattr(model, name)).cpu())
    shell.feature_dim = model.feature_dim
    return shell.eval()


def measure_network(net: nn.Module, inputs: tuple, repeats: int, warmup: int, gpu: bool = True) -> dict:
    """Latency of a plain inference module on example `inputs` (batch >= 2; the batch is dynamic in the file):
    exported to a temporary fp32 ONNX file by the suite's exporter and timed on the CPU (`measure_onnx_file`),
    plus GPU figures when CUDA is present and `gpu`; `machine` records where. A network the exporter cannot
    write gives `latency_error` instead of the CPU figures."""
    from reid_lightning.deploy.export import export_onnx, root_cause

    result: dict = {"latency_repeats": repeats, "latency_warmup": warmup}
    net = net.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        try:
            export_onnx(net, path, inputs, {})
            result.update(measure_onnx_file(path, repeats, warmup))
        except Exception as err:  # noqa: BLE001 - any export or ONNX Runtime failure is recorded, the run goes on
            result["latency_error"] = f"ONNX export or ONNX Runtime timing failed: {root_cause(err)}"
    if gpu:
        result.update(measure_gpu(net, inputs, repeats, warmup))
    return {**result, "machine": machine()}


def measure_model(model: nn.Module, repeats: int, warmup: int, gpu: bool = True) -> dict:
    """`measure_network` of a ReIDModule's inference network (deploy's EmbeddingModel: images [+ part maps]
    -> embedding, what exported files and the FeatureExtractor run) at the model's input size."""
    from reid_lightning.deploy.embedding_model import EmbeddingModel

    net = EmbeddingModel(inference_copy(model))
    height, width = model.hparams.image_size
    inputs = (torch.zeros(2, 3, height, width),)
    if net.requires_part_maps:
        inputs += (torch.zeros(2, height, width, dtype=torch.uint8),)
    return measure_network(net, inputs, repeats, warmup, gpu)


def main(argv: list[str] | None = None) -> None:
    """Measure the latency of a train.py checkpoint or an exported .onnx file; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model", help="a train.py checkpoint (.ckpt) or an exported .onnx file")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per figure (the median is kept)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    args = parser.parse_args(argv)
    if args.model.endswith(".onnx"):
        result = {**measure_onnx_file(args.model, args.repeats, args.warmup), "machine": machine()}
    else:
        from reid_lightning.deploy.trained_model import load_model

        model, _ = load_model(args.model)
        result = measure_model(model, args.repeats, args.warmup)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
