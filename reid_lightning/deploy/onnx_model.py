"""An exported .onnx file (fp32, fp16 or int8) run by ONNX Runtime behind the EmbeddingModel's interface.

The FeatureExtractor (and so reid-embed) takes such a file instead of a checkpoint: the input contract
stored in the file (export.py) gives the preprocessing, the part-map input and the embedding width, so the
file alone is enough where the model is deployed. ONNX Runtime runs it on the CPU. Flip averaging and L2
normalisation asked of the extractor are applied around the file unless the file already does them
(`embedding_flip_averaged`, `embedding_l2_normalized` in its contract).
"""

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from reid_lightning.models.tta import flip_average

NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class OnnxEmbeddingModel:
    """__call__(images (B,3,H,W) float[, part_maps (B,H,W) uint8]) -> embedding (B, D) float32 tensor."""

    def __init__(self, path: str | Path, flip: bool = False, normalize: bool = False, threads: int = 0):
        import onnxruntime

        from reid_lightning.deploy.export import read_contract

        self.path = Path(path)
        self.contract = read_contract(self.path)
        if "input_height" not in self.contract:
            raise ValueError(
                f"{self.path} holds no reid-lightning input contract (metadata); export it with "
                "reid-export, or use its checkpoint"
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default (all cores)
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        self.input_names = [i.name for i in inputs]
        self.image_type = NUMPY_TYPES.get(inputs[0].type, np.float32)
        self.requires_part_maps = len(inputs) > 1
        config = json.loads(self.contract.get("model_config", "{}"))
        self.num_part_labels = int(config.get("num_part_labels") or 0) if self.requires_part_maps else 0
        self.embedding_dim = int(self.session.get_outputs()[0].shape[1])
        self.flip = flip and self.contract.get("embedding_flip_averaged") != "true"
        self.normalize = normalize and self.contract.get("embedding_l2_normalized") != "true"

    def _run(self, images: torch.Tensor, part_maps: torch.Tensor | None) -> torch.Tensor:
        feeds = {self.input_names[0]: images.cpu().numpy().astype(self.image_type)}
        if self.requires_part_maps:
            feeds[self.input_names[1]] = part_maps.cpu().numpy().astype(np.uint8)
        return torch.from_numpy(self.session.run(None, feeds)[0].astype(np.float32))  # (B, D)

    def __call__(self, images: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        embedding = flip_average(self._run, images, part_maps) if self.flip else self._run(images, part_maps)
        return F.normalize(embedding, dim=1) if self.normalize else embedding
