"""Export a trained model to ONNX and TorchScript, fp32 or fp16, with its input contract inside the file.

Both formats hold the EmbeddingModel (images [+ part maps] -> embedding) with a dynamic batch dimension
and the input size fixed to the checkpoint's. ONNX is written by PyTorch's current exporter
(`torch.onnx.export(dynamo=True)`: torch.export, then onnxscript's translation; the `deploy` extra installs
onnx, onnxscript and onnxruntime), at opset 18 by default (17 at least). TorchScript is traced. The
contract (colour order, size, mean/std, resize filter, input and output names and types) is written into
ONNX `metadata_props` and TorchScript's extra file `reid_lightning_contract.json`, and read back by
`read_contract`. After writing, each file is run (ONNX Runtime, torch.jit.load) on a fresh batch of
another size and compared with the PyTorch module (`check`), so a broken export is caught at once.
`int8` (ONNX only) is the fp32 ONNX model statically quantised by ONNX Runtime and calibrated on training
crops (quantize.py); it is checked on crops held out of the calibration, and its contract records the
quantisation.

For BoxMOT (`boxmot=True`, the default; deploy/boxmot.py says what BoxMOT 25 feeds): every file of a
single-input head gets BoxMOT's sidecar `<file>.metadata.json` with the checkpoint's input size, and a
checkpoint trained with other mean/std than ImageNet's has the difference folded into the graph (the
file's contract then says ImageNet mean/std, which is what it expects). `boxmot=False` writes no sidecar
and keeps the checkpoint's mean/std in the graph, with a warning when BoxMOT would feed it wrong inputs.
"""

import copy
import json
import re
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reid_lightning.deploy.boxmot import (
    BOXMOT_MEAN,
    BOXMOT_STD,
    NormalizationAdapter,
    normalization_differs,
    write_sidecar,
)
from reid_lightning.deploy.embedding_model import EmbeddingModel
from reid_lightning.deploy.preprocessing import Preprocessing
from reid_lightning.version import __version__

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript"}  # BoxMOT picks its backend by these suffixes
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}
QUANTIZED = ("int8",)  # ONNX Runtime static quantisation of the fp32 ONNX model (quantize.py)
MIN_OPSET, DEFAULT_OPSET = 17, 18
TORCHSCRIPT_CONTRACT = "reid_lightning_contract.json"
EXAMPLE_BATCH, CHECK_BATCH = 2, 3  # traced with 2 images, checked with 3: the batch must really be dynamic


class ExportError(RuntimeError):
    """A model that cannot be written in the asked format."""


@dataclass
class Exported:
    path: Path
    format: str
    dtype: str
    max_abs_diff: float | None  # against the PyTorch fp32 module on a fresh batch; None when not checked
    min_cosine: float | None  # the same comparison as cosine similarity (what fp16 costs a tracker)
    sidecar: Path | None = None  # BoxMOT's <file>.metadata.json, when written


def contract(net: EmbeddingModel, preprocessing: Preprocessing, dtype: str, model_config: dict) -> dict[str, str]:
    """Everything a user of the exported file must know, as text key/values."""
    part_maps = (
        f"uint8 (batch, {preprocessing.height}, {preprocessing.width}): one body-part label map per "
        f"image, labels 0..{net.num_part_labels - 1}, resized to the input size by nearest neighbour"
        if net.requires_part_maps
        else "none"
    )
    return {
        **preprocessing.metadata(),
        "input_names": "images, part_maps" if net.requires_part_maps else "images",
        "input_images": f"{dtype_name(dtype)} (batch, 3, {preprocessing.height}, {preprocessing.width})",
        "input_part_maps": part_maps,
        "output_embedding": f"{dtype_name(dtype)} (batch, {net.embedding_dim})",
        "embedding_l2_normalized": str(net.normalize).lower(),
        "embedding_flip_averaged": str(net.flip).lower(),
        "compare_with": "cosine similarity of L2-normalised embeddings",
        "batch": "dynamic",
        "producer": f"reid-lightning {__version__}",
        "model_config": json.dumps(
            {k: model_config.get(k) for k in ("backbone", "partition", "classifier", "neck_dim", "num_part_labels")}
        ),
    }


def dtype_name(dtype: str) -> str:
    return str(DTYPES[dtype]).removeprefix("torch.")  # fp16 -> float16


def example_inputs(
    net: EmbeddingModel, preprocessing: Preprocessing, batch: int, dtype: str, device: torch.device, seed: int = 0
) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, *preprocessing.size, generator=generator).to(device, DTYPES[dtype])
    if not net.requires_part_maps:
        return (images,)
    maps = torch.randint(0, net.num_part_labels, (batch, *preprocessing.size), generator=generator, dtype=torch.uint8)
    return images, maps.to(device)


def export_onnx(
    net: nn.Module, path: Path, inputs: tuple, metadata: dict[str, str], opset: int = DEFAULT_OPSET
) -> None:
    names = ["images", "part_maps"][: len(inputs)]
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and progress chatter
        program = torch.onnx.export(
            net,
            inputs,
            input_names=names,
            output_names=["embedding"],
            dynamo=True,
            dynamic_shapes=tuple({0: batch} for _ in inputs),
            opset_version=opset,
            verbose=False,
        )
    program.model.metadata_props.update(metadata)
    program.save(str(path))


def export_torchscript(net: nn.Module, path: Path, inputs: tuple, metadata: dict[str, str]) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # input checks fold into constants
        traced = torch.jit.trace(net, inputs, check_trace=False)
    torch.jit.save(traced, str(path), _extra_files={TORCHSCRIPT_CONTRACT: json.dumps(metadata)})


def read_contract(path: str | Path) -> dict[str, str]:
    """The contract stored in an exported .onnx or .torchscript file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exported model {path} does not exist")
    if path.suffix == ".onnx":
        import onnx

        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    files = {TORCHSCRIPT_CONTRACT: ""}
    torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    return json.loads(files[TORCHSCRIPT_CONTRACT]) if files[TORCHSCRIPT_CONTRACT] else {}


def run_exported(path: Path, inputs: tuple) -> np.ndarray:
    """Outputs of an exported file on `inputs` (ONNX Runtime on CPU, or the TorchScript module)."""
    if path.suffix == ".onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {i.name: x.cpu().numpy() for i, x in zip(session.get_inputs(), inputs, strict=True)}
        return session.run(None, feeds)[0]
    module = torch.jit.load(str(path), map_location=inputs[0].device)
    with torch.no_grad(), torch.jit.optimized_execution(False):  # one call: skip the profiling runs' fusions
        return module(*inputs).cpu().numpy()


def export_model(
    checkpoint,
    out: str | Path,
    formats: tuple[str, ...] = ("onnx", "torchscript"),
    dtypes: tuple[str, ...] = ("fp32",),
    opset: int = DEFAULT_OPSET,
    normalize: bool = False,
    flip: bool = False,
    device: str | torch.device = "cpu",
    check: bool = True,
    preprocessing: Preprocessing | None = None,
    calibration: list | None = None,
    calibration_source: str = "training crops",
    boxmot: bool = True,
) -> list[Exported]:
    """Write `<out>[_fp16|_int8].onnx|.torchscript` for every asked format and dtype; `checkpoint` is a train.py
    checkpoint path or a ReIDModule (then pass `preprocessing`, or its hparams give it). int8 (ONNX only)
    needs `calibration`: preprocessed training crops (quantize.calibration_inputs), a few held out to check.
    `boxmot`: fold the checkpoint's mean/std into ImageNet's and write BoxMOT's sidecar beside each
    single-input file."""
    unknown = [f for f in formats if f not in FORMATS] + [d for d in dtypes if d not in DTYPES and d not in QUANTIZED]
    if unknown:
        raise ValueError(
            f"unknown export format or dtype {unknown[0]!r}; formats: {', '.join(FORMATS)}, "
            f"dtypes: {', '.join((*DTYPES, *QUANTIZED))}"
        )
    if "int8" in dtypes and "onnx" not in formats:
        raise ValueError("int8 is an ONNX Runtime quantisation: add onnx to the formats (--format onnx)")
    if "int8" in dtypes and not calibration:
        raise ValueError(
            "int8 needs calibration crops: pass a folder of training images (reid-export "
            "--calibration <folder>), or calibration=quantize.calibration_inputs(...)"
        )
    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} is too old; use {MIN_OPSET} or newer (default {DEFAULT_OPSET})")
    device = torch.device(device)
    out = Path(out).with_suffix("") if Path(out).suffix in FORMATS.values() else Path(out)
    require_writable(out.parent)  # before the model is loaded and traced (tens of seconds)
    if isinstance(checkpoint, nn.Module):
        model, preprocessing = checkpoint, preprocessing or Preprocessing.from_hparams(dict(checkpoint.hparams))
    else:
        from reid_lightning.deploy.trained_model import load_model

        model, stored = load_model(checkpoint)
        preprocessing = preprocessing or stored
    model_config = dict(model.hparams)
    source = None if isinstance(checkpoint, nn.Module) else str(checkpoint)  # named in BoxMOT's sidecar
    reference = EmbeddingModel(model.eval(), flip=flip, normalize=normalize).to(device).eval()
    reference, preprocessing, folded = fold_for_boxmot(reference, preprocessing, boxmot)
    reference = reference.to(device)
    written = []
    for dtype in (d for d in dtypes if d in DTYPES):
        net = reference if dtype == "fp32" else copy.deepcopy(reference).to(DTYPES[dtype])
        metadata = contract(net, preprocessing, dtype, model_config)
        if folded:
            metadata["input_normalization_folded"] = folded
        inputs = example_inputs(net, preprocessing, EXAMPLE_BATCH, dtype, device)
        for fmt in formats:
            path = out.parent / f"{out.name}{'' if dtype == 'fp32' else '_' + dtype}{FORMATS[fmt]}"
            try:
                if fmt == "onnx":
                    export_onnx(net, path, inputs, metadata, opset)
                else:
                    export_torchscript(net, path, inputs, metadata)
            except Exception as err:
                raise ExportError(
                    f"cannot export backbone={model_config['backbone'].get('name')} with partition="
                    f"{model_config['partition'].get('name')} to {fmt} ({dtype}): {root_cause(err)}. Try the "
                    "other format (--format), fp32, or the FeatureExtractor in PyTorch"
                ) from err
            diff, cosine = parity(path, reference, net, preprocessing, dtype, device) if check else (None, None)
            sidecar = None
            if boxmot and not net.requires_part_maps:
                sidecar = write_sidecar(path, preprocessing, fmt, dtype, model_config.get("num_classes", 0), source)
            written.append(Exported(path, fmt, dtype, diff, cosine, sidecar))
    if "int8" in dtypes:
        fp32 = next((w.path for w in written if w.format == "onnx" and w.dtype == "fp32"), None)
        int8 = export_int8(
            reference, out, preprocessing, model_config, opset, calibration, calibration_source, check, device, fp32
        )
        if boxmot and not reference.requires_part_maps:
            int8 = replace(
                int8,
                sidecar=write_sidecar(
                    int8.path, preprocessing, "onnx", "int8", model_config.get("num_classes", 0), source
                ),
            )
        written.append(int8)
    return written


def require_writable(folder: Path) -> None:
    """Create `folder` if needed and write a probe file there; OSError naming the folder and the fix if it fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".reid-export-probe-"):
            pass
    except OSError as err:
        raise OSError(
            err.errno,
            f"cannot write to {folder}: {err.strerror or err}; choose an output path in a writable folder (-o/--out)",
        ) from err


def export_int8(
    reference: EmbeddingModel,
    out: Path,
    preprocessing: Preprocessing,
    model_config: dict,
    opset: int,
    calibration: list,
    source: str,
    check: bool,
    device: torch.device,
    fp32_path: Path | None = None,
) -> Exported:
    """`<out>_int8.onnx`: the fp32 ONNX model (`fp32_path` when just written, else exported anew) quantised
    (quantize.py) on `calibration` less CHECK_BATCH crops held out, then checked against PyTorch fp32 on those
    (random inputs when there are too few crops)."""
    import tempfile

    from reid_lightning.deploy.quantize import quantization_contract, quantize_onnx

    held_out = calibration[-CHECK_BATCH:] if len(calibration) > CHECK_BATCH else None
    used = calibration[:-CHECK_BATCH] if held_out else calibration
    path = out.parent / f"{out.name}_int8.onnx"
    metadata = {**contract(reference, preprocessing, "fp32", model_config), **quantization_contract(len(used), source)}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = fp32_path
            if fp32 is None:
                fp32 = Path(tmp) / "fp32.onnx"
                export_onnx(
                    reference, fp32, example_inputs(reference, preprocessing, EXAMPLE_BATCH, "fp32", device), {}, opset
                )
            quantize_onnx(fp32, path, used, metadata)
    except Exception as err:
        raise ExportError(
            f"cannot quantise backbone={model_config['backbone'].get('name')} with partition="
            f"{model_config['partition'].get('name')} to int8: {root_cause(err)}. Export fp32 or "
            "fp16 instead"
        ) from err
    if not check:
        return Exported(path, "onnx", "int8", None, None)
    inputs = None if held_out is None else tuple(torch.cat(x).to(device) for x in zip(*held_out, strict=True))
    diff, cosine = parity(path, reference, reference, preprocessing, "fp32", device, inputs)
    return Exported(path, "onnx", "int8", diff, cosine)


def fold_for_boxmot(
    net: EmbeddingModel, preprocessing: Preprocessing, boxmot: bool
) -> tuple[nn.Module, Preprocessing, str]:
    """(network, contract preprocessing, what was folded): with `boxmot` and a checkpoint whose mean/std are
    not ImageNet's, the network takes ImageNet-normalised images (as BoxMOT feeds) and maps them inside."""
    if not normalization_differs(preprocessing):
        return net, preprocessing, ""
    ours = f"mean {list(preprocessing.mean)}, std {list(preprocessing.std)}"
    if not boxmot:
        warnings.warn(
            f"the checkpoint normalises with {ours}; BoxMOT always feeds ImageNet mean/std "
            f"({list(BOXMOT_MEAN)}, {list(BOXMOT_STD)}), so these files give it wrong features. Export "
            "with BoxMOT folding (the default; drop --no-boxmot) to fold the difference into the graph",
            stacklevel=3,
        )
        return net, preprocessing, ""
    folded = Preprocessing(
        preprocessing.height, preprocessing.width, tuple(BOXMOT_MEAN), tuple(BOXMOT_STD), preprocessing.interpolation
    )
    return NormalizationAdapter(net, preprocessing).eval(), folded, f"the checkpoint's {ours}, inside the graph"


def root_cause(err: BaseException) -> str:
    """`Type: first line` of the innermost cause: the exporter wraps the real reason in generic steps."""
    while err.__cause__ is not None:
        err = err.__cause__
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0][:300]}" if lines else type(err).__name__


def parity(
    path: Path,
    reference: EmbeddingModel,
    net: EmbeddingModel,
    preprocessing: Preprocessing,
    dtype: str,
    device: torch.device,
    inputs: tuple | None = None,
) -> tuple[float, float]:
    """(max |exported - PyTorch fp32|, min cosine similarity of the two) on `inputs`, by default a fresh
    random batch of CHECK_BATCH."""
    if inputs is None:
        inputs = example_inputs(net, preprocessing, CHECK_BATCH, dtype, device, seed=1)
    with torch.no_grad():
        expected = reference(inputs[0].float(), *inputs[1:]).cpu().numpy()  # (B, D)
    got = run_exported(path, inputs).astype(np.float32)
    cosine = (got * expected).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    return float(np.abs(got - expected).max()), float(cosine.min())
