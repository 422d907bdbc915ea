"""What BoxMOT (25.x) needs beside an exported file, and what it feeds: its sidecar, and input folding.

BoxMOT's ReID runtime (`boxmot.reid.core.runtime.ReID`, read in boxmot 25.0.0: reid/core/crops.py,
preprocessing.py, registry.py, artifacts.py, backends/) crops every box from the BGR frame (rounded,
clipped), resizes it with OpenCV's bilinear filter (not antialiased) to its input size, converts it to
RGB, scales by 1/255 and normalises with ImageNet mean/std, whatever a file's own metadata says. The
input size comes from the sidecar `<file>.metadata.json` (`model_kwargs.img_size`) when there is one;
without it an ONNX file's static input size wins, and a TorchScript file is fed 256x128. `half=True`
casts the batch to float16; TorchScript modules are then `.half()`-ed, ONNX inputs are cast back to the
graph's own input type (so an fp32 ONNX file runs in fp32 on fp16-rounded inputs).

So an export bound for BoxMOT needs (1) the sidecar with its input size, and (2) the checkpoint's
mean/std in ImageNet's terms: `NormalizationAdapter` maps BoxMOT's normalised input to the checkpoint's
inside the graph (x * std_b / std_c + (mean_b - mean_c) / std_c, per channel), an identity when the
checkpoint was trained with ImageNet's statistics (the suite's default). The colour order needs no
folding: the suite's contract is RGB, as BoxMOT feeds. The resize filter cannot be folded: BoxMOT's is
not antialiased (on crops much larger than the input its features drift slightly from ours).
"""

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from reid_lightning.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from reid_lightning.deploy.preprocessing import Preprocessing

BOXMOT_MEAN, BOXMOT_STD = IMAGENET_MEAN, IMAGENET_STD  # boxmot/reid/backends/base_backend.py: mean_array, std_array
SIDECAR_SUFFIX = ".metadata.json"  # boxmot/reid/core/artifacts.py: artifact_metadata_path
SIDECAR_SCHEMA_VERSION = 1  # artifacts.py ARTIFACT_METADATA_SCHEMA_VERSION (and MODEL_KWARGS_SCHEMA_VERSION)


def sidecar_path(path: str | Path) -> Path:
    """`model.onnx` -> `model.onnx.metadata.json`, where BoxMOT looks for it."""
    path = Path(path)
    return path.with_suffix(path.suffix + SIDECAR_SUFFIX)


def write_sidecar(
    path: Path, preprocessing: Preprocessing, fmt: str, dtype: str, num_classes: int, source: str | None
) -> Path:
    """BoxMOT's artifact metadata for one exported file, in BoxMOT's schema (version 1): the input size it
    must feed (`model_kwargs.img_size`), the resize it must use (`preprocess: resize`), and the file's facts."""
    size = [preprocessing.height, preprocessing.width]
    source_path = Path(source) if source else None
    metadata = {
        "schema_version": SIDECAR_SCHEMA_VERSION,
        "source": str(source_path) if source_path else None,
        "source_sha256": _sha256(source_path) if source_path and source_path.is_file() else None,
        "model_name": None,  # not one of BoxMOT's architectures: it builds nothing for ONNX/TorchScript files
        "num_classes": int(num_classes),
        "preprocess": "resize",  # BoxMOT's plain resize to img_size (its other choice pads to keep the aspect)
        "model_kwargs_schema_version": SIDECAR_SCHEMA_VERSION,
        "model_kwargs": {"img_size": size},
        "img_size": size,
        "format": fmt,
        "input_name": "images",
        "output_names": ["embedding"],
        "input_shape": [1, 3, *size],
        "precision": "float16" if dtype == "fp16" else "float32",
        "dynamic_batch": True,
        "artifact_sha256": _sha256(path),
        "producer": "reid-lightning",
    }
    out = sidecar_path(path)
    out.write_text(json.dumps(metadata, indent=2, sort_keys=True))
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def normalization_differs(preprocessing: Preprocessing) -> bool:
    """Whether the checkpoint's mean/std differ from what BoxMOT applies (ImageNet's)."""
    return (tuple(preprocessing.mean), tuple(preprocessing.std)) != (tuple(BOXMOT_MEAN), tuple(BOXMOT_STD))


class NormalizationAdapter(nn.Module):
    """forward(images normalised with BoxMOT's mean/std) -> net(the same images normalised with the model's).

    The per-channel affine map is held in buffers, so `.half()` (BoxMOT's half=True) and the exported
    graphs carry it in the input's dtype.
    """

    def __init__(self, net: nn.Module, preprocessing: Preprocessing):
        super().__init__()
        self.net = net
        mean_in, std_in = torch.tensor(BOXMOT_MEAN), torch.tensor(BOXMOT_STD)
        mean_out, std_out = torch.tensor(preprocessing.mean), torch.tensor(preprocessing.std)
        self.register_buffer("scale", (std_in / std_out).view(1, 3, 1, 1))
        self.register_buffer("shift", ((mean_in - mean_out) / std_out).view(1, 3, 1, 1))
        for name in ("requires_part_maps", "num_part_labels", "embedding_dim", "normalize", "flip"):
            setattr(self, name, getattr(net, name))

    def forward(self, images: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(images * self.scale + self.shift, part_maps)
