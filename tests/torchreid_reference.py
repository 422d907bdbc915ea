"""Deterministic stand-ins for Torchreid weights files, shared by tests/test_torchreid_weights.py and the script
that wrote their fixture (scripts/make_torchreid_fixture.py, run with Torchreid's own model code).

No weights can be downloaded here, so a "Torchreid file" is a state dict in Torchreid's key layout (names and
shapes from tests/fixtures/torchreid_layouts.json) filled with values from a closed-form hash of the key's
position: the same numbers on every machine and torch version, no random generator involved. Feeding the
same synthetic images through Torchreid's network gave the fixture's reference outputs.
"""

import math

import torch

FIXTURE_NAME = "torchreid_layouts.json.gz"
IMAGE_SIZE = (128, 64)  # the thesis's input size; every backbone keeps >= 2x1 output positions
PROJECTION_DIM = 8  # the reference output is the feature map projected onto 8 fixed directions


def hash_uniform(count: int, salt: int) -> torch.Tensor:
    """`count` pseudo-random numbers in [0, 1) from the classic sine hash; float64."""
    index = torch.arange(count, dtype=torch.float64)
    value = torch.sin(index * 12.9898 + salt * 78.233 + 0.5) * 43758.5453
    return value - torch.floor(value)


def synthetic_tensor(key: str, shape: list[int], salt: int) -> torch.Tensor:
    """A plausible value for parameter/buffer `key` of `shape` (float32; the BN counter is int64 zero)."""
    if key.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    u = hash_uniform(math.prod(shape), salt).reshape(shape)
    if key.endswith("running_var"):
        value = 0.5 + u
    elif key.endswith("running_mean") or key.endswith("bias"):
        value = 0.2 * (u - 0.5)
    elif len(shape) == 1:  # a norm layer's scale
        value = 0.8 + 0.4 * u
    else:  # conv / linear weight: uniform with variance 1 / fan_in, so that activations stay moderate
        fan_in = math.prod(shape[1:])
        value = (2 * u - 1) * math.sqrt(3 / fan_in)
    return value.float()


def synthetic_state(keys_and_shapes: list[tuple[str, list[int]]]) -> dict[str, torch.Tensor]:
    """A state dict with these keys (in this order) and shapes; values depend on the position only."""
    return {key: synthetic_tensor(key, shape, salt) for salt, (key, shape) in enumerate(keys_and_shapes)}


def synthetic_images(batch: int = 2) -> torch.Tensor:
    """(batch, 3, H, W) normalised-looking images in [-2, 2]."""
    h, w = IMAGE_SIZE
    return (4 * hash_uniform(batch * 3 * h * w, salt=7) - 2).float().reshape(batch, 3, h, w)


def project(feature_map: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, 8, h, w): the map seen along 8 fixed directions of channel space, so that a small
    reference still depends on every channel at every position."""
    channels = feature_map.shape[1]
    directions = (2 * hash_uniform(channels * PROJECTION_DIM, salt=11) - 1).float().reshape(channels, -1)
    return torch.einsum("bchw,ck->bkhw", feature_map.double(), directions.double()).float()
