"""A segmenter's mistakes, simulated on the saved part maps only (the images stay as drawn).

The thesis's part maps come from a segmenter (CDCL) that misses parts, erodes their borders and
confuses neighbours; the Gaussian-mask head exists to survive that. Here each part present in an exact
map is dropped, eroded or mislabelled (as a usual confusion, MISLABEL_AS) with configurable probabilities.
"""

import numpy as np
from scipy.ndimage import binary_erosion

MISLABEL_AS = np.array([0, 2, 3, 4, 3, 6, 5], dtype=np.uint8)  # part -> the part a segmenter confuses it with


def degrade_part_map(
    parts: np.ndarray, rng: np.random.Generator, drop: float, erode: float, mislabel: float
) -> np.ndarray:
    """Mimic a segmenter: each present part is dropped, eroded or mislabelled with the given probabilities."""
    out = parts.copy()
    for part in range(1, len(MISLABEL_AS)):
        mask = parts == part
        if not mask.any():
            continue
        u = rng.random()
        if u < drop:
            out[mask] = 0
        elif u < drop + erode:
            out[mask & ~binary_erosion(mask, iterations=int(rng.integers(1, 3)))] = 0
        elif u < drop + erode + mislabel:
            out[mask] = MISLABEL_AS[part]
    return out
