"""FeatureExtractor: person images in, (N, D) float32 embeddings out, as the suite evaluated the model.

    from reid_lightning import FeatureExtractor
    extractor = FeatureExtractor("logs/train/runs/<time>/checkpoints/last.ckpt", device="cuda")
    features = extractor(["a.jpg", "b.jpg"])                  # (2, D), L2-normalised
    features = extractor((frame_bgr, boxes_xyxy), bgr=True)   # one row per box, as trackers crop

Images go through the suite's eval transform with the checkpoint's settings (preprocessing.py), on the
CPU like the suite's data loaders, so features equal what evaluation ranked; the network
(EmbeddingModel) runs on `device` in batches of `batch_size`. Heads with body-part masks need one part
map per image: (H, W) uint8 label arrays the size of each image, or part_maps="generate" to make them
with the suite's pose-based generator (`reid-parts`, the `parts` extra). An exported .onnx file (fp32, fp16
or int8, reid-export) stands in for the checkpoint: ONNX Runtime runs it on the CPU with the contract stored
in it (onnx_model.py).
"""

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reid_lightning.data.part_maps import NUM_PART_LABELS
from reid_lightning.data.transforms import apply_joint
from reid_lightning.deploy.embedding_model import EmbeddingModel
from reid_lightning.deploy.inputs import as_items, iter_images
from reid_lightning.deploy.preprocessing import Preprocessing

GENERATE = "generate"


class FeatureExtractor:
    """Embeddings of person images from a checkpoint of train.py (or a ReIDModule and its Preprocessing).

    device: "cpu", "cuda", "cuda:1", ... (None: CUDA when available); batch_size: images per forward pass;
    normalize: L2-normalise each embedding (compare by cosine / dot product); flip: average the embeddings
    of each image and its mirror image; output: "numpy" (float32 array) or "torch" (tensor on `device`).
    """

    def __init__(
        self,
        checkpoint: str | Path | nn.Module,
        device: str | torch.device | None = None,
        batch_size: int = 32,
        normalize: bool = True,
        flip: bool = False,
        output: str = "numpy",
        preprocessing: Preprocessing | None = None,
    ):
        if output not in ("numpy", "torch"):
            raise ValueError(f"output={output!r}; choose 'numpy' or 'torch'")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}; use 1 or more")
        if isinstance(checkpoint, str | Path) and Path(checkpoint).suffix == ".onnx":
            from reid_lightning.deploy.onnx_model import OnnxEmbeddingModel

            self.net = OnnxEmbeddingModel(checkpoint, flip=flip, normalize=normalize)
            self.device = torch.device("cpu")  # ONNX Runtime's CPU provider
            preprocessing = preprocessing or Preprocessing.from_metadata(self.net.contract)
        else:
            if isinstance(checkpoint, nn.Module):
                model = checkpoint
                preprocessing = preprocessing or Preprocessing.from_hparams(dict(model.hparams))
            else:
                from reid_lightning.deploy.trained_model import load_model

                model, stored = load_model(checkpoint)
                preprocessing = preprocessing or stored
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
            self.net = EmbeddingModel(model, flip=flip, normalize=normalize).to(self.device).eval()
        self.preprocessing, self.transform = preprocessing, preprocessing.transform()
        self.batch_size, self.output = batch_size, output
        self.num_part_labels = self.net.num_part_labels  # labels the mask head takes (0: no part maps)
        self._pose_model = None

    @property
    def requires_part_maps(self) -> bool:
        return self.net.requires_part_maps

    @property
    def embedding_dim(self) -> int:
        return self.net.embedding_dim

    def __call__(self, images, part_maps: Sequence | str | None = None, bgr: bool = False):
        """(N, D) float32 features of `images` (one input, or a list; a (frame, boxes) pair gives a row per box).

        bgr: numpy arrays (and frames) are BGR, as OpenCV reads them; files and PIL images are always RGB.
        part_maps: for mask heads, one (H, W) uint8 label map per image (per box for frames), or "generate".
        """
        batches = self._batches(iter_images(as_items(images), bgr), part_maps)
        with torch.inference_mode():
            chunks = [self.net(images, maps) for images, maps in batches]
        features = torch.cat(chunks) if chunks else torch.empty(0, self.embedding_dim, device=self.device)
        features = features.float()
        return features.cpu().numpy() if self.output == "numpy" else features

    def _batches(self, images: Iterator[torch.Tensor], part_maps) -> Iterator[tuple]:
        """Model inputs in batches: (images (B,3,h,w) float, part maps (B,h,w) uint8 or None) on the device."""
        maps = self._map_source(part_maps)
        batch_images, batch_maps, count = [], [], 0
        for image in images:
            part_map = None if maps is None else self._part_map(maps, count, image)
            count += 1
            image, part_map = apply_joint(self.transform, None, image, part_map)  # the suite's eval transform
            batch_images.append(image)
            batch_maps.append(part_map)
            if len(batch_images) == self.batch_size:
                yield self._to_device(batch_images, batch_maps)
                batch_images, batch_maps = [], []
        if isinstance(maps, list) and count != len(maps):
            raise ValueError(
                f"got {len(maps)} part maps for {count} images; pass one map per image "
                "(per box for (frame, boxes) inputs)"
            )
        if batch_images:
            yield self._to_device(batch_images, batch_maps)

    def _to_device(self, images: list, maps: list) -> tuple:
        batch = torch.stack(images).to(self.device)  # (B, 3, h, w)
        return batch, None if maps[0] is None else torch.stack(maps).to(self.device)  # (B, h, w)

    def _map_source(self, part_maps):
        if not self.requires_part_maps:
            if part_maps is not None:
                warnings.warn("this model's partition uses no part maps; part_maps is ignored", stacklevel=3)
            return None
        if part_maps is None:
            raise ValueError(
                "this model's partition masks body parts and needs one part map per image: pass "
                "part_maps=[(H, W) uint8 label arrays, the size of each image], or "
                "part_maps='generate' to make them with the reid-parts pose generator"
            )
        if isinstance(part_maps, str):
            if part_maps != GENERATE:
                raise ValueError(f"part_maps={part_maps!r}; pass a list of (H, W) uint8 arrays or '{GENERATE}'")
            if self.num_part_labels != NUM_PART_LABELS:
                raise ValueError(
                    f"this model was trained with {self.num_part_labels} part labels; the pose "
                    f"generator draws {NUM_PART_LABELS}. Pass part maps in the model's own scheme"
                )
            return GENERATE
        return list(part_maps)

    def _part_map(self, maps, index: int, image: torch.Tensor) -> torch.Tensor:
        """The part map of image `index` (uint8 (H, W), checked against the image), given or generated."""
        if isinstance(maps, str):  # GENERATE
            return torch.from_numpy(self._generate(image))
        if index >= len(maps):
            raise ValueError(
                f"got {len(maps)} part maps for more images (image {index} has none); pass one map "
                "per image (per box for (frame, boxes) inputs)"
            )
        labels = maps[index]
        labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        if labels.dtype.kind not in "ui":
            raise ValueError(f"part map {index} is a {labels.dtype} array; expected integer labels (uint8)")
        if labels.shape != tuple(image.shape[1:]):
            raise ValueError(
                f"part map {index} has shape {labels.shape}, its image {tuple(image.shape[1:])} "
                "(H, W); give each map the size of its image (or crop)"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_part_labels):
            raise ValueError(
                f"part map {index} holds labels {labels.min()}..{labels.max()}; this model takes "
                f"0..{self.num_part_labels - 1}"
            )
        return torch.from_numpy(labels.astype(np.uint8))

    def _generate(self, image: torch.Tensor) -> np.ndarray:
        from reid_lightning.parts import PoseModel, make_part_map  # mediapipe: only when asked

        if self._pose_model is None:
            self._pose_model = PoseModel()
        labels, _ = make_part_map(image.permute(1, 2, 0).numpy(), self._pose_model)  # (H, W) uint8
        return labels
