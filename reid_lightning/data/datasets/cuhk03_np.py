"""CUHK03-NP (the new protocol of Zhong et al., CVPR 2017) on disk -> Splits.

The released Market-style copy: `cuhk03-np/{detected, labeled}/{bounding_box_train, query,
bounding_box_test}/`, one variant chosen by `variant` (detected boxes from a DPM detector, or boxes
drawn by hand). data.root may be the `cuhk03-np` folder, its parent, or the variant folder itself.
Images are PNGs named `PPPP_cC_N.png`: person id 1..1467, camera 1 or 2 (each identity is seen by one
camera pair), running image number (e.g. `0003_c1_22.png`). After parsing:

    detected  train 7,365 images / 767 ids, query 1,400 / 700, gallery 5,332 / 700
    labeled   train 7,368 images / 767 ids, query 1,400 / 700, gallery 5,328 / 700

(one query image per identity and camera; train ids relabelled 0..766).

Torchreid and fast-reid do not read this copy: their `cuhk03` rebuilds the split from `cuhk-03.mat` and
the `cuhk03_new_protocol_config_*.mat` files, naming images `<pair>_<pid>_<view>_<n>.png`. That layout is
not read here (its names fail with the naming error); the Market-style release is read with the same
whole-name rule as Market-1501 (market_style.py says why it is stricter than a prefix search).
"""

import re
from pathlib import Path

from reid_lightning.data.datasets.base import DATASETS
from reid_lightning.data.datasets.market_style import NameFormat, find_tree, load_market_style
from reid_lightning.data.samples import Splits

RELEASE_FOLDER = "cuhk03-np"
VARIANTS = ("detected", "labeled")


def name_format(variant: str) -> NameFormat:
    return NameFormat(
        title=f"CUHK03-NP ({variant})",
        pattern=re.compile(r"(?P<pid>\d+)_c(?P<camid>\d)_\d+\.(png|jpg)", re.IGNORECASE),
        example="PPPP_cC_N.png (e.g. 0003_c1_22.png)",
        num_cameras=2,
        camera_prefix="c",
        extensions=(".png", ".jpg"),
        how_to_fix="Unpack CUHK03-NP (the Market-style release of the new protocol) and set "
        "data.root=/path/to/cuhk03-np (or the environment variable CUHK03_NP_ROOT, or conf/local/).",
    )


@DATASETS.register("cuhk03_np")
def load_cuhk03_np(root: str | Path, variant: str = "detected") -> Splits:
    """CUHK03-NP under `root`; `variant` is `detected` (the usual benchmark) or `labeled`."""
    if variant not in VARIANTS:
        raise ValueError(f"data.options.variant={variant!r} is unknown for cuhk03_np; use one of {', '.join(VARIANTS)}")
    fmt = name_format(variant)
    root = Path(root).expanduser()
    if root.name in VARIANTS and root.name != variant:
        raise ValueError(
            f"data.root={root} is the CUHK03-NP {root.name} folder but data.options.variant={variant}; "
            f"set data.options.variant={root.name} or point data.root at its parent"
        )
    tree = find_tree(root, fmt, (f"{RELEASE_FOLDER}/{variant}", variant))
    return load_market_style(tree, fmt, "cuhk03_np")
