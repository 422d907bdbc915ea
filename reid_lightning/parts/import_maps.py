"""Import label maps made by other segmenters into the part-map layout the data module reads.

Two source schemes: `ppp7`, maps already in the 7-part Pascal-Person-Part scheme (CDCL's output, the
thesis's segmenter), copied as they are; and `lip20`, LIP / CIHP human parsing with 20 labels,
grouped into the 7 parts by data.part_maps.LIP_20_TO_PPP_7 (its comment explains the grouping).
The source folder holds `<split>/<image stem>.png` or, flat, `<image stem>.png`; maps are label
indices (mode L, P or I PNGs), not colour renderings. A map of another size than its image is an
error unless `resize` (nearest neighbour) is asked for. Images without a source map are counted and
listed; `reid-parts generate` fills them in afterwards (it skips existing maps).
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from reid_lightning.data.part_maps import LIP_20_TO_PPP_7, PASCAL_PERSON_PART_7, LabelGrouping, part_map_path
from reid_lightning.parts.layout import dataset_images, default_out, image_size, write_map

LABEL_SCHEMES: dict[str, LabelGrouping] = {"ppp7": PASCAL_PERSON_PART_7, "lip20": LIP_20_TO_PPP_7}


@dataclass
class ImportSummary:
    """What an import did: maps written, already there, images without a source, fallbacks."""

    out: str
    images: int = 0
    written: int = 0
    skipped_existing: int = 0
    missing: list[str] = field(default_factory=list)
    fallback_box: int = 0  # keypoint imports: images whose keypoints were unusable

    def text(self) -> str:
        lines = [
            f"part maps in {self.out}: {self.images} images, {self.written} written, "
            f"{self.skipped_existing} already there, {len(self.missing)} without a source"
            + (f", {self.fallback_box} unusable poses split by height" if self.fallback_box else "")
        ]
        if self.missing:
            lines.append(f"  e.g. {', '.join(self.missing[:3])}; fill them with `reid-parts generate`")
        return "\n".join(lines)


def read_label_png(path: Path) -> np.ndarray:
    """A label map as integers (H, W); a grey RGB(A) image is accepted, a colour rendering is not."""
    with Image.open(path) as img:
        labels = np.asarray(img)
        mode = img.mode
    if mode in ("RGB", "RGBA"):
        if not (labels[..., 0] == labels[..., 1]).all() or not (labels[..., 0] == labels[..., 2]).all():
            raise ValueError(
                f"label map {path} is a colour rendering (mode {mode}); export the label "
                "indices as a single-channel (mode L or P) PNG"
            )
        labels = labels[..., 0]
    if labels.ndim != 2:
        raise ValueError(f"label map {path} has shape {labels.shape}; expected (H, W) label indices")
    return labels


def _find_source(src: Path, split: str, stem: str) -> Path | None:
    for candidate in (src / split / f"{stem}.png", src / f"{stem}.png"):
        if candidate.is_file():
            return candidate
    return None


def import_label_maps(
    src: str | Path,
    root: str | Path,
    scheme: str = "ppp7",
    out: str | Path | None = None,
    splits: list[str] | None = None,
    overwrite: bool = False,
    resize: bool = False,
) -> ImportSummary:
    """Write `<out>/<split>/<stem>.png` (out defaults to `<root>/part_maps`) from the maps in `src`."""
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"label map folder {src} does not exist; pass --src the segmenter's output folder")
    if scheme not in LABEL_SCHEMES:
        raise ValueError(f"unknown label scheme {scheme!r}; choose from {', '.join(LABEL_SCHEMES)}")
    grouping = LABEL_SCHEMES[scheme]
    out = Path(out) if out is not None else default_out(root)
    images = dataset_images(root, splits)
    summary = ImportSummary(str(out), images=len(images))
    for split, image in images:
        source = _find_source(src, split, image.stem)
        if source is None:
            summary.missing.append(image.name)
            continue
        target = part_map_path(out, split, image)
        if target.is_file() and not overwrite:
            summary.skipped_existing += 1
            continue
        labels = read_label_png(source)
        size = image_size(image)
        if labels.shape != size:
            if not resize:
                raise ValueError(
                    f"label map {source} has size {labels.shape} (H, W) but its image {image} "
                    f"is {size}; pass --resize to resize maps (nearest neighbour)"
                )
            labels = np.asarray(Image.fromarray(labels.astype(np.int32)).resize(size[::-1], Image.NEAREST))
        if labels.min() < 0 or labels.max() >= grouping.num_source_labels:
            raise ValueError(
                f"label map {source} holds label {int(labels.max())}, but scheme {scheme!r} "
                f"has labels 0..{grouping.num_source_labels - 1}; choose the scheme of your "
                "segmenter"
            )
        write_map(target, grouping(labels.astype(np.int64)))
        summary.written += 1
    if len(summary.missing) == len(images):
        raise FileNotFoundError(
            f"no label map in {src} matches an image under {root}: expected "
            f"<src>/<split>/<image stem>.png or <src>/<image stem>.png, e.g. "
            f"{src / images[0][0] / (images[0][1].stem + '.png')}"
        )
    return summary
