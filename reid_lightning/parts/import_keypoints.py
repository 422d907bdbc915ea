"""Import keypoint files that exist for Market-1501 and rasterise them into part maps.

Two formats, drawn by the generator's rasteriser (rasterize.py) without a person mask:

- `layumi-mat`: the 14-point keypoints of layumi/market1501_body_point (skeleton.LSP_14 order).
  Assumed layout: a MATLAB .mat file (v7.3 = HDF5, read with h5py; older versions with scipy)
  holding one numeric variable `pp` of MATLAB size 28 x N (h5py sees it transposed, N x 28):
  column i is the i-th image of ONE split folder in sorted file-name order, its first 14 values the
  x, the last 14 the y of the points, in MATLAB's 1-based pixel coordinates; a point at 0 or below,
  or not finite, is missing. Which split a file belongs to is not stored in it, so it is given
  (market1501_14point_query.mat -> query, ..._gallery.mat -> bounding_box_test), and the number of
  rows must equal the number of images there.
- `openpose-csv`: OpenPose 18-point (COCO order, skeleton.OPENPOSE_18) CSVs as published with
  pose-transfer work for Market-1501: a header `name:keypoints_y:keypoints_x`, then lines
  `0002_c1s1_000451_03.jpg: [y0, ..., y17]: [x0, ..., x17]` with 0-based pixel coordinates and -1 for
  a missing point. Images are matched by file name across the chosen splits.

Images whose keypoints are unusable (no shoulders, hips or head) get the height-split fallback and
are counted; images absent from a CSV are listed and left for `reid-parts generate`.
"""

import json
from pathlib import Path

import numpy as np

from reid_lightning.data.part_maps import part_map_path
from reid_lightning.parts.import_maps import ImportSummary
from reid_lightning.parts.layout import (
    check_splits,
    dataset_images,
    default_out,
    image_size,
    split_images,
    write_map,
)
from reid_lightning.parts.pose import INSTALL_HINT
from reid_lightning.parts.rasterize import BodyShape, rasterize, split_by_height
from reid_lightning.parts.skeleton import LSP_14, OPENPOSE_18, to_skeleton

FORMATS = ("layumi-mat", "openpose-csv")
LAYUMI_VARIABLE = "pp"


def _read_mat_variable(path: Path) -> np.ndarray:
    """The `pp` array as MATLAB sees it (rows x columns), from a v7.3 (HDF5) or older .mat file."""
    try:
        import h5py
    except ImportError as err:
        raise ImportError(f"reading {path} needs h5py; {INSTALL_HINT}") from err
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as mat:
            if LAYUMI_VARIABLE not in mat:
                found = ", ".join(mat.keys())
                raise ValueError(
                    f"{path} has no variable {LAYUMI_VARIABLE!r} (found {found}); "
                    "is it a market1501_14point_*.mat file?"
                )
            return np.asarray(mat[LAYUMI_VARIABLE][()], dtype=np.float64).T  # HDF5 stores MATLAB's transpose
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except ValueError as err:
        raise ValueError(f"{path} is not a MATLAB .mat file ({err})") from err
    if LAYUMI_VARIABLE not in mat:
        found = ", ".join(k for k in mat if not k.startswith("__"))
        raise ValueError(
            f"{path} has no variable {LAYUMI_VARIABLE!r} (found {found}); is it a market1501_14point_*.mat file?"
        )
    return np.asarray(mat[LAYUMI_VARIABLE], dtype=np.float64)


def read_layumi_mat(path: str | Path) -> np.ndarray:
    """14-point keypoints (N, 14, 2) in continuous pixel coordinates (NaN = missing), one row per image."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"keypoint file {path} does not exist")
    pp = _read_mat_variable(path)  # (28, N) as in MATLAB
    if pp.ndim != 2 or pp.shape[0] != 2 * len(LSP_14):
        raise ValueError(
            f"{path}: variable {LAYUMI_VARIABLE!r} has MATLAB size {pp.shape}, expected "
            f"{2 * len(LSP_14)} x N (x1..x14, y1..y14 per image)"
        )
    points = np.stack([pp[:14].T, pp[14:].T], axis=2)  # (N, 14, 2)
    missing = ~np.isfinite(points).all(axis=2) | (points <= 0).any(axis=2)
    points = points - 0.5  # MATLAB pixel k (1-based) is centred at k - 0.5 in continuous coordinates
    points[missing] = np.nan
    return points


def read_openpose_csv(path: str | Path) -> dict[str, np.ndarray]:
    """File name -> 18-point keypoints (18, 2) in continuous pixel coordinates (NaN = missing)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"keypoint file {path} does not exist")
    table = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or (number == 1 and line.replace(" ", "").startswith("name:")):
            continue
        fields = line.split(":")
        try:
            if len(fields) != 3:
                raise ValueError(f"{len(fields)} fields")
            ys, xs = json.loads(fields[1]), json.loads(fields[2])
            if len(ys) != len(OPENPOSE_18) or len(xs) != len(OPENPOSE_18):
                raise ValueError(f"{len(ys)} y and {len(xs)} x values")
        except ValueError as err:
            raise ValueError(f"{path} line {number} is not `name: [18 y]: [18 x]` ({err}): {line[:80]!r}") from err
        points = np.stack([np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)], axis=1)
        missing = (points < 0).any(axis=1)
        points = points + 0.5  # 0-based pixel index -> pixel centre
        points[missing] = np.nan
        table[fields[0].strip()] = points
    return table


def import_keypoints(
    fmt: str,
    src: str | Path,
    root: str | Path,
    split: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    shape: BodyShape | None = None,
) -> ImportSummary:
    """Rasterise a keypoint file into `<out>/<split>/<stem>.png` (out defaults to `<root>/part_maps`)."""
    shape = shape or BodyShape()
    out = Path(out) if out is not None else default_out(root)
    if fmt == "layumi-mat":
        if split is None:
            raise ValueError(
                "layumi-mat files hold one split in file-name order; pass --split "
                "(market1501_14point_query.mat -> query, ..._gallery.mat -> bounding_box_test)"
            )
        (split,) = check_splits([split])
        images = split_images(root, split)
        points = read_layumi_mat(src)
        if len(points) != len(images):
            raise ValueError(
                f"{src} has keypoints of {len(points)} images but split {split} has "
                f"{len(images)}; "
                "rows follow the sorted file names of one split folder: pass the split the file "
                "was made for (query, bounding_box_test, ...)"
            )
        pairs = [(split, image, to_skeleton(p, LSP_14)) for image, p in zip(images, points, strict=True)]
    elif fmt == "openpose-csv":
        table = read_openpose_csv(src)
        pairs = [
            (s, image, to_skeleton(table[image.name], OPENPOSE_18) if image.name in table else None)
            for s, image in dataset_images(root, [split] if split else None)
        ]
        if all(joints is None for _, _, joints in pairs):
            raise ValueError(f"no image under {root} is named in {src}; is it the keypoint file of this dataset?")
    else:
        raise ValueError(f"unknown keypoint format {fmt!r}; choose from {', '.join(FORMATS)}")
    summary = ImportSummary(str(out), images=len(pairs))
    for split_name, image, joints in pairs:
        if joints is None:
            summary.missing.append(image.name)
            continue
        target = part_map_path(out, split_name, image)
        if target.is_file() and not overwrite:
            summary.skipped_existing += 1
            continue
        size = image_size(image)
        labels = rasterize(joints, size, shape=shape)
        if labels is None:
            labels = split_by_height(size)
            summary.fallback_box += 1
        write_map(target, labels)
        summary.written += 1
    return summary
