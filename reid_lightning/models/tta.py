"""Test-time augmentation of the model's embedding: flip averaging.

The retrieval embedding of an image becomes the mean of the embeddings of the image and of its mirror
image (and so do other per-image outputs, such as part visibility, when `features_fn` returns a tuple).
Inputs aligned with the image (part maps (B, H, W)) are mirrored with it, so a part mask still covers the
same body part in the flipped image.
"""

import torch


def flip_average(
    features_fn, images: torch.Tensor, *aligned: torch.Tensor | None
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Mean of `features_fn(images, *aligned)` and of the same on the mirrored inputs; None passes through.
    A tuple of tensors from `features_fn` gives the tuple of their means."""
    mirrored = [None if x is None else x.flip(-1) for x in aligned]
    plain, flipped = features_fn(images, *aligned), features_fn(images.flip(-1), *mirrored)
    if isinstance(plain, tuple):
        return tuple((a + b) / 2 for a, b in zip(plain, flipped, strict=True))
    return (plain + flipped) / 2
