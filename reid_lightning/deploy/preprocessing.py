"""The input contract of a trained model: size, mean/std, resize filter, colour order and layout.

A model only gives the features it was evaluated with when its users feed images exactly as the suite's
evaluation did: RGB, resized to the checkpoint's size by torchvision's antialiased resize on uint8, scaled
to [0, 1], normalised by the training mean/std, NCHW. Checkpoints store the settings (the `preprocessing`
hyper-parameter, see data/transforms.py); older ones stored only `image_size`, for which the suite's
defaults (ImageNet mean/std, bilinear) are what evaluation used. The FeatureExtractor applies this
contract with the suite's own eval transform; exported files carry it as metadata (`metadata`).
"""

import json
from dataclasses import asdict, dataclass

from torchvision.transforms import v2

from reid_lightning.data.market_layout import MARKET_IMAGE_SIZE
from reid_lightning.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PREPROCESSING_FIELDS,
    TransformConfig,
    build_transform,
    interpolation_mode,
)


@dataclass(frozen=True)
class Preprocessing:
    height: int
    width: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"

    def __post_init__(self):
        if self.height < 1 or self.width < 1:
            raise ValueError(f"input size must be positive, got {self.height}x{self.width} (height x width)")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 values (R, G, B), std > 0; got mean={self.mean}, std={self.std}")
        interpolation_mode(self.interpolation)  # fails with the known names

    @classmethod
    def from_hparams(cls, hparams: dict) -> "Preprocessing":
        """From a checkpoint's hyper-parameters: `preprocessing` when stored, else `image_size` + defaults."""
        stored = hparams.get("preprocessing")
        if stored:
            return cls(
                **{k: tuple(v) if k in ("mean", "std") else v for k, v in stored.items() if k in PREPROCESSING_FIELDS}
            )
        height, width = hparams.get("image_size", MARKET_IMAGE_SIZE)
        return cls(int(height), int(width))

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width

    def transform(self) -> v2.Compose:
        """The suite's eval transform with these settings: uint8 (3,H,W) [+ map] -> float (3,h,w) [+ map]."""
        return build_transform(TransformConfig(**asdict(self)), train=False)

    def metadata(self) -> dict[str, str]:
        """The contract as text key/values, for ONNX metadata_props and TorchScript extra files."""
        return {
            "input_color": "RGB",
            "input_layout": "NCHW",
            "input_height": str(self.height),
            "input_width": str(self.width),
            "input_scale": "1/255",
            "input_mean": json.dumps(list(self.mean)),
            "input_std": json.dumps(list(self.std)),
            "resize_interpolation": self.interpolation,
            "resize_antialias": "true",
        }

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> "Preprocessing":
        return cls(
            int(metadata["input_height"]),
            int(metadata["input_width"]),
            tuple(json.loads(metadata["input_mean"])),
            tuple(json.loads(metadata["input_std"])),
            metadata["resize_interpolation"],
        )

    def describe(self) -> str:
        mean = ", ".join(f"{v:.3f}" for v in self.mean)
        std = ", ".join(f"{v:.3f}" for v in self.std)
        return (
            f"RGB, resized to {self.height}x{self.width} (height x width, {self.interpolation}, antialiased), "
            f"scaled to [0, 1], normalised by mean ({mean}) and std ({std}), NCHW float"
        )
