"""Body-part label maps: load and validate them, and group a segmenter's labels into our parts.

A part map is a single-channel uint8 PNG with the size of its image, stored at
`<part_root>/<split>/<image stem>.png` (`part_map_path`: the one home of that layout), where split is the
image's folder relative to its dataset root (e.g. `bounding_box_train`). The thesis's segmenter (CDCL)
speaks the Pascal-Person-Part scheme of 7 labels (PART_NAMES_7); other segmenters (LIP / CIHP human
parsers, 20 labels) are mapped onto it by a LabelGrouping, a 256-entry lookup table, so the part scheme
is configuration.
Errors are raised early and name the file, the value found and the fix, because a wrong map
silently trains a wrong model.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from reid_lightning.data.samples import Sample

PART_NAMES_7 = ("background", "head", "torso", "upper_arms", "forearms", "upper_legs", "lower_legs")
NUM_PART_LABELS = len(PART_NAMES_7)  # labels of a Pascal-Person-Part map: the suite's default scheme
# One colour per label of the 7-part scheme (index = label), for every picture of part maps.
PART_COLOURS = np.array(
    [(0, 0, 0), (230, 40, 40), (40, 120, 240), (250, 210, 0), (255, 120, 0), (40, 200, 60), (180, 60, 230)],
    dtype=np.uint8,
)  # (7, 3)
_GENERATE_HINT = (
    "generate them with `reid-parts generate --root ...` or point data.part_maps=... at a "
    "folder holding <split>/<image stem>.png"
)
_UNMAPPED = 255


def load_part_map(
    path: str | Path, image_size: tuple[int, int], num_part_labels: int, image_path: str | Path | None = None
) -> np.ndarray:
    """Read one label map as uint8 (H, W) and check its size and label range."""
    path = Path(path)
    of_image = f" of image {image_path}" if image_path is not None else ""
    if not path.is_file():
        raise FileNotFoundError(f"part map {path}{of_image} does not exist; {_GENERATE_HINT}")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("L", "P", "I", "I;16"):
                raise ValueError(
                    f"part map {path} is a {img.mode} image; expected a single-channel label "
                    "PNG (mode L) with one integer label per pixel, not a colour rendering"
                )
            labels = np.asarray(img)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"part map {path} is not a readable PNG ({err}); delete and regenerate it") from err
    if labels.shape != tuple(image_size):
        raise ValueError(
            f"part map {path} has size {labels.shape} (H, W), expected {tuple(image_size)} "
            f"like its image{of_image}; regenerate the part maps for these images"
        )
    found = int(labels.max()) if labels.size else 0
    if found >= num_part_labels or labels.min() < 0:
        raise ValueError(
            f"part map {path} holds label {found}, allowed 0..{num_part_labels - 1} "
            f"(num_part_labels={num_part_labels}); set the right label grouping or num_part_labels"
        )
    return labels.astype(np.uint8, copy=False)


PART_MAP_FOLDER = "part_maps"  # default home of a dataset's part maps: <dataset root>/part_maps


def default_part_root(dataset_root: str | Path) -> Path:
    """Where part maps live when no folder is given: `<dataset root>/part_maps`; for a dataset given as a file
    (a CSV manifest as data.root), `<the file's folder>/part_maps`."""
    root = Path(dataset_root)
    return (root.parent if root.is_file() else root) / PART_MAP_FOLDER


def part_map_path(part_root: str | Path, split: str | Path, image: Sample | Path) -> Path:
    """Where the part map of an image lives: `<part_root>/<split>/<image stem>.png`."""
    path = image.path if isinstance(image, Sample) else Path(image)
    return Path(part_root) / split / f"{path.stem}.png"


def part_map_paths(samples: Sequence[Sample], image_root: str | Path, part_root: str | Path) -> list[Path]:
    """The part map of every sample, its split being its image's folder relative to `image_root`."""
    return [part_map_path(part_root, s.path.parent.relative_to(image_root), s) for s in samples]


def check_part_maps(samples: Sequence[Sample], part_root: str | Path, split: str) -> list[Path]:
    """Check every sample of one split folder has a part map before training starts; returns their paths."""
    return require_part_maps([part_map_path(part_root, split, s) for s in samples], Path(part_root) / split)


def require_part_maps(paths: Sequence[Path], where: str | Path) -> list[Path]:
    """`paths` if every file exists, else one FileNotFoundError counting the missing ones, with examples."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        examples = ", ".join(str(p) for p in missing[:3])
        raise FileNotFoundError(
            f"{len(missing)} of {len(paths)} part maps are missing in {where} (e.g. {examples}); {_GENERATE_HINT}"
        )
    return list(paths)


@dataclass(frozen=True)
class LabelGrouping:
    """Source labels -> part index through a lookup table (`lookup[source] = part`, 255 = unmapped)."""

    names: tuple[str, ...]
    lookup: np.ndarray  # (256,) uint8
    num_source_labels: int

    @classmethod
    def from_groups(cls, groups: Mapping[str, Sequence[int]], num_source_labels: int) -> "LabelGrouping":
        """Part index = position in `groups` (a group named `background` is moved to index 0).

        Every source label 0..num_source_labels-1 must belong to exactly one group; a group may be
        empty (a part the source segmenter cannot see, its mask stays empty).
        """
        names = list(groups)
        if "background" in names:
            names.remove("background")
            names.insert(0, "background")
        lookup = np.full(256, _UNMAPPED, dtype=np.uint8)
        for part, name in enumerate(names):
            for label in groups[name]:
                label = int(label)
                if not 0 <= label < num_source_labels:
                    raise ValueError(
                        f"label grouping: group {name!r} lists source label {label}, "
                        f"but the source has labels 0..{num_source_labels - 1}"
                    )
                if lookup[label] != _UNMAPPED:
                    raise ValueError(
                        f"label grouping: source label {label} is in both {names[lookup[label]]!r} and {name!r}"
                    )
                lookup[label] = part
        unassigned = [i for i in range(num_source_labels) if lookup[i] == _UNMAPPED]
        if unassigned:
            raise ValueError(
                f"label grouping: source labels {unassigned} belong to no group; add them to one (e.g. background)"
            )
        return cls(tuple(names), lookup, num_source_labels)

    @property
    def num_parts(self) -> int:
        return len(self.names)

    def __call__(self, labels: np.ndarray) -> np.ndarray:
        """Apply to a source label map (H, W) -> part map (H, W) uint8."""
        low, high = (int(labels.min()), int(labels.max())) if labels.size else (0, 0)
        if low < 0 or high >= self.num_source_labels:  # a negative label would wrap around the lookup table
            raise ValueError(
                f"label map holds source label {low if low < 0 else high}, but this grouping knows "
                f"labels 0..{self.num_source_labels - 1}; choose the grouping of your segmenter"
            )
        return self.lookup[labels]


# The thesis's CDCL output is already in the 7-part scheme.
PASCAL_PERSON_PART_7 = LabelGrouping.from_groups({name: [i] for i, name in enumerate(PART_NAMES_7)}, NUM_PART_LABELS)

# LIP / CIHP human parsing (20 labels): 0 Background, 1 Hat, 2 Hair, 3 Glove, 4 Sunglasses,
# 5 UpperClothes, 6 Dress, 7 Coat, 8 Socks, 9 Pants, 10 Jumpsuits, 11 Scarf, 12 Skirt, 13 Face,
# 14 Left-arm, 15 Right-arm, 16 Left-leg, 17 Right-leg, 18 Left-shoe, 19 Right-shoe.
# LIP labels garments, not limbs: sleeves belong to UpperClothes/Coat and its "arm" and "leg" labels
# are exposed skin. Exposed arm skin is mostly forearm and hand (short sleeves end above the elbow),
# so arms and gloves -> forearms, and upper_arms stays empty (sleeves fall in the torso). Leg garments
# (pants, skirt) cover the thighs first -> upper_legs; exposed legs, socks and shoes are mostly below
# the knee -> lower_legs. A table cannot split long trousers at the knee: that needs geometry
# (e.g. a pose model's knee keypoints), which is the part-map generator's job, not this lookup.
LIP_20_TO_PPP_7 = LabelGrouping.from_groups(
    {
        "background": [0],
        "head": [1, 2, 4, 13],
        "torso": [5, 6, 7, 10, 11],
        "upper_arms": [],
        "forearms": [3, 14, 15],
        "upper_legs": [9, 12],
        "lower_legs": [8, 16, 17, 18, 19],
    },
    20,
)

LABEL_GROUPINGS = {"pascal_person_part_7": PASCAL_PERSON_PART_7, "lip_20_to_ppp_7": LIP_20_TO_PPP_7}
