"""Inference throughput of an exported model on this CPU: PyTorch eager vs ONNX Runtime vs TorchScript.

For OSNet x1.0 (with its paper's 512-d fc) and MobileNetV2, global pooling, at 256x128 (BoxMOT's input
size): the embedding model (reid_lightning.deploy.EmbeddingModel, random init) runs eagerly in PyTorch,
and is exported by `export_model` to ONNX (run by ONNX Runtime's CPU provider) and TorchScript (torch.jit
.load); all three are timed in the same run on the same random batch, with the same number of threads,
at batch 1 and 32. Figures are images/second (median of timed windows) and the ratio to eager.

    python bench/inference.py                      # both backbones, batch 1 and 32 (a few minutes)
    python bench/inference.py --backbones osnet --batch-sizes 32 --threads 1
"""

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from reid_lightning.deploy.embedding_model import EmbeddingModel
from reid_lightning.deploy.export import export_model
from reid_lightning.deploy.preprocessing import Preprocessing
from reid_lightning.models.module import ReIDModule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backbones import images_per_second  # noqa: E402  (the timing loop of bench/backbones.py)

NECK = {"osnet": 512}  # OSNet's paper fc; MobileNetV2 pools its 1280 channels directly


def build(name: str, size: tuple[int, int]) -> ReIDModule:
    torch.manual_seed(0)
    return ReIDModule(
        backbone={"name": name},
        partition={"name": "global"},
        classifier={"name": "shared"},
        optimizer={"name": "adam", "lr": 1e-3},
        scheduler={"name": "none"},
        num_classes=751,
        image_size=size,
        neck_dim=NECK.get(name),
    ).eval()


def runners(model: ReIDModule, size: tuple[int, int], folder: Path, threads: int) -> dict:
    """name -> function(images) for eager PyTorch, ONNX Runtime and TorchScript."""
    import onnxruntime

    written = {w.format: w.path for w in export_model(model, folder / "model", preprocessing=Preprocessing(*size))}
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(written["onnx"]), options, providers=["CPUExecutionProvider"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        scripted = torch.jit.load(str(written["torchscript"]))
    eager = EmbeddingModel(model).eval()
    return {
        "eager": lambda x: eager(x),
        "onnxruntime": lambda x: session.run(None, {"images": x.numpy()}),
        "torchscript": lambda x: scripted(x),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=["osnet", "mobilenetv2"])
    parser.add_argument("--size", default="256x128", help="HxW input size")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--threads", type=int, default=None, help="threads for all three (default: torch's)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    parser.add_argument("--iters", type=int, default=3, help="at least this many timed calls ...")
    parser.add_argument("--seconds", type=float, default=3.0, help="... and at least this long, per window")
    parser.add_argument("--repeats", type=int, default=3, help="timed windows; the median is printed")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    print(f"torch {torch.__version__}, {threads} threads, input {args.size}, images/s (ratio to eager)")
    print(f"{'backbone':<12} {'batch':>5} {'eager':>9} {'onnxruntime':>19} {'torchscript':>19}")
    for name in args.backbones:
        with tempfile.TemporaryDirectory() as folder:
            run = runners(build(name, size), size, Path(folder), threads)
            for batch in args.batch_sizes:
                images = torch.randn(batch, 3, *size)
                rates = {}
                for engine, forward in run.items():
                    with torch.inference_mode():
                        rates[engine] = images_per_second(
                            lambda f=forward, x=images: f(x), batch, args.warmup, args.iters, args.seconds, args.repeats
                        )
                eager = rates["eager"]
                cells = " ".join(f"{rates[e]:10.1f} ({rates[e] / eager:4.2f}x)" for e in ("onnxruntime", "torchscript"))
                print(f"{name:<12} {batch:>5} {eager:9.1f} {cells}", flush=True)


if __name__ == "__main__":
    main()
