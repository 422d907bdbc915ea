"""int8 exports: an fp32 ONNX model statically quantised by ONNX Runtime, calibrated on real crops.

Static quantisation (`onnxruntime.quantization.quantize_static`) fixes every activation's int8 range
once, from the ranges the fp32 model shows on calibration inputs (MinMax), so inference needs no range
computation: the fast path of ONNX Runtime's CPU kernels. The file is written in QDQ format
(QuantizeLinear/DequantizeLinear pairs around each quantised operator, which ONNX Runtime fuses into
integer kernels) with per-channel int8 weights (one scale per output channel: a convolution's filters
differ in range by orders of magnitude, one scale per tensor would flatten the small ones to zero) and
uint8 activations (the U8S8 combination ONNX Runtime's x86 kernels are made for). Calibration inputs are
N training crops (person images, preprocessed with the checkpoint's eval contract): random inputs
would calibrate the ranges of noise, not of people. The model keeps float32 inputs and output.
"""

import random
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

CALIBRATION_BATCH = 8  # crops per calibration call: ranges are a max/min over all calls, the batch only bounds memory


def quantization_contract(count: int, source: str) -> dict[str, str]:
    """What the contract says about a quantised file (added to the fp32 contract's keys)."""
    return {
        "quantization": "int8 static (onnxruntime.quantization.quantize_static), QDQ format, per-channel int8 "
        "weights, uint8 activations, MinMax calibration",
        "quantization_calibration": f"{count} crops from {source}",
    }


def calibration_inputs(
    images: Sequence, preprocessing, count: int, part_maps: Sequence | None = None, seed: int = 0
) -> list[tuple[torch.Tensor, ...]]:
    """`count` crops drawn (seeded) from `images` (paths, PIL images or RGB arrays), each preprocessed by the
    contract's eval transform: a list of model inputs, (image (1,3,h,w) float[, part map (1,h,w) uint8])."""
    from reid_lightning.data.transforms import apply_joint
    from reid_lightning.deploy.inputs import iter_images

    if count < 1:
        raise ValueError(f"int8 calibration needs at least 1 crop, got count={count}")
    if not images:
        raise ValueError("int8 calibration got no images; pass a folder of training crops (--calibration)")
    chosen = sorted(random.Random(seed).sample(range(len(images)), min(count, len(images))))
    transform = preprocessing.transform()
    inputs = []
    for index, image in zip(chosen, iter_images([images[i] for i in chosen], bgr=False), strict=True):
        part_map = None if part_maps is None else torch.as_tensor(np.asarray(part_maps[index], dtype=np.uint8))
        image, part_map = apply_joint(transform, None, image, part_map)
        inputs.append((image[None],) if part_map is None else (image[None], part_map[None]))
    return inputs


class CropsReader:
    """onnxruntime's CalibrationDataReader over preprocessed crops: feeds of CALIBRATION_BATCH crops."""

    def __init__(self, inputs: Sequence[tuple[torch.Tensor, ...]], names: Sequence[str]):
        self.names = list(names)
        self.batches = [inputs[i : i + CALIBRATION_BATCH] for i in range(0, len(inputs), CALIBRATION_BATCH)]
        self._iterator: Iterator | None = None

    def _feeds(self) -> Iterator[dict[str, np.ndarray]]:
        for batch in self.batches:
            yield {name: torch.cat([item[k] for item in batch]).cpu().numpy() for k, name in enumerate(self.names)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._iterator is None:
            self._iterator = self._feeds()
        return next(self._iterator, None)

    def rewind(self) -> None:
        self._iterator = None


def quantize_onnx(
    fp32_path: Path, out_path: Path, inputs: Sequence[tuple[torch.Tensor, ...]], metadata: dict[str, str]
) -> None:
    """Write `out_path`: the int8 static quantisation of `fp32_path`, calibrated on `inputs`, with `metadata`."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    names = [i.name for i in onnx.load(str(fp32_path), load_external_data=False).graph.input]

    class Reader(CropsReader, CalibrationDataReader):
        pass

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)  # shapes + graph cleanup
        quantize_static(
            str(prepared),
            str(out_path),
            Reader(inputs, names),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibration_providers=["CPUExecutionProvider"],
        )
    model = onnx.load(str(out_path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(out_path))
