"""Writing a synthetic set: Market-format image folders, exact part maps, a manifest; generated on first use.

`generate(root, config)` writes `bounding_box_train/`, `query/`, `bounding_box_test/` (Market-1501's layout
and names), `part_maps/<split>/<stem>.png` (7-class label maps, with a segmenter's mistakes simulated),
`occlusions.csv` when some images are occluded, a README and `synthetic_manifest.json` (the config, the
counts, the generator version). Every image has its own random streams, keyed by (seed, stream, index), so
the same config gives byte-identical files, and turning a knob on (e.g. occlusion) changes only the
images it touches. `ensure_synthetic` reuses a set whose manifest matches, and regenerates otherwise.
"""

import csv
import functools
import json
import shutil
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
from PIL import Image

from reid_lightning.data.generator.cameras import sample_camera, sample_shot
from reid_lightning.data.generator.config import DEFAULT_CONFIG, SyntheticConfig
from reid_lightning.data.generator.domains import BACKGROUNDS, ILLUMINATIONS, PALETTES
from reid_lightning.data.generator.identities import make_identities, sample_identity
from reid_lightning.data.generator.occlusion import pick_occluder, sample_occluder
from reid_lightning.data.generator.plan import plan
from reid_lightning.data.generator.render import render
from reid_lightning.data.generator.segmenter import degrade_part_map
from reid_lightning.data.market_layout import GALLERY_FOLDER, QUERY_FOLDER, TRAIN_FOLDER
from reid_lightning.data.part_maps import PART_MAP_FOLDER, part_map_path

MANIFEST = "synthetic_manifest.json"
OCCLUSIONS = "occlusions.csv"  # image (relative to the root), occluder kind; written when occlusion > 0
GENERATOR_VERSION = 2  # bump when the drawing changes, so ensure_synthetic regenerates old sets
JPEG_QUALITY = 90
SPLIT_FOLDERS = (TRAIN_FOLDER, QUERY_FOLDER, GALLERY_FOLDER)
# Random streams of one set: np.random.default_rng([seed, STREAM, index]).
STREAM_PLAN, STREAM_IMAGE, STREAM_SEGMENTER, STREAM_CAMERA, STREAM_OCCLUDER = 0, 1, 2, 3, 6  # 4, 5: identities


def manifest_config(config: SyntheticConfig) -> dict:
    """The resolved config as the manifest records it (tuples as lists, as read back from disk).

    Knobs added after generator version 2 (domain style, occlusion) are recorded only where they differ
    from the default, so sets written before they existed still match and the default set is unchanged.
    """
    resolved, default = asdict(config.resolved()), asdict(DEFAULT_CONFIG.resolved())
    recorded = {
        f.name for f in fields(SyntheticConfig) if f.metadata["since"] <= 2 or resolved[f.name] != default[f.name]
    }
    return json.loads(json.dumps({name: value for name, value in resolved.items() if name in recorded}))


def _write_manifest(root: Path, config: SyntheticConfig, complete: bool, counts: dict[str, int]) -> None:
    manifest = {
        "synthetic": True,
        "generator": __package__,
        "version": GENERATOR_VERSION,
        "complete": complete,
        "config": manifest_config(config),
        "counts": counts,
        "note": "Synthetic pedestrians in the Market-1501 layout, NOT the real Market-1501.",
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def generate(root: str | Path, config: SyntheticConfig = DEFAULT_CONFIG) -> dict[str, int]:
    """Write the whole dataset under `root`; returns the number of files per folder."""
    config.validate()
    config = config.resolved()
    root = Path(root)
    size = tuple(config.image_size)
    palette = PALETTES[config.palette]
    cameras = [
        sample_camera(
            np.random.default_rng([config.seed, STREAM_CAMERA, c]),
            c,
            size,
            BACKGROUNDS[config.background],
            ILLUMINATIONS[config.illumination],
        )
        for c in range(config.num_cameras)
    ]
    identities = make_identities(config)
    jobs = plan(config)
    for folder in SPLIT_FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / PART_MAP_FOLDER / folder).mkdir(parents=True, exist_ok=True)
    _write_manifest(root, config, complete=False, counts={})
    occluded = []  # (image path relative to root, occluder kind)
    for index, job in enumerate(jobs):
        rng = np.random.default_rng([config.seed, STREAM_IMAGE, index])
        camera = cameras[job.camid]
        if job.kind == "distractor":
            ident = sample_identity(rng, palette) if rng.random() < 0.5 else None
        else:
            ident = identities[job.identity]
        shot = sample_shot(rng, ident, camera, size, config.misalignment, job.kind) if ident else None
        occlude = None
        if job.occludable and config.occlusion > 0:
            occluder_rng = np.random.default_rng([config.seed, STREAM_OCCLUDER, index])
            if kind := pick_occluder(occluder_rng, config.occlusion, config.occluder):
                occlude = functools.partial(sample_occluder, occluder_rng, kind, shot, camera, size, palette)
                occluded.append((f"{job.folder}/{job.name}", kind))
        image, parts = render(ident, shot, camera, size, rng, occlude)
        Image.fromarray(image).save(root / job.folder / job.name, quality=JPEG_QUALITY)
        parts = degrade_part_map(
            parts,
            np.random.default_rng([config.seed, STREAM_SEGMENTER, index]),
            config.part_drop_prob,
            config.part_erode_prob,
            config.part_mislabel_prob,
        )
        Image.fromarray(parts).save(part_map_path(root / PART_MAP_FOLDER, job.folder, Path(job.name)))
    if occluded:
        with open(root / OCCLUSIONS, "w", newline="") as file:
            csv.writer(file).writerows([("image", "occluder"), *occluded])
    counts = {f: sum(j.folder == f for j in jobs) for f in SPLIT_FOLDERS}
    (root / "README.txt").write_text(
        "SYNTHETIC data: procedurally drawn pedestrians in the Market-1501 layout, made by\n"
        f"`python -m {__package__}`. Not the real Market-1501. Config and counts: {MANIFEST}.\n"
        f"Part maps (7 classes, Pascal-Person-Part scheme) are in {PART_MAP_FOLDER}/<split>/<stem>.png.\n"
        + (f"Occluded images and their occluder: {OCCLUSIONS}.\n" if occluded else "")
    )
    _write_manifest(root, config, complete=True, counts=counts)
    return counts


def holds_set(root: str | Path, config: SyntheticConfig) -> bool:
    """True when `root` holds a complete set of this generator version made with `config` (reused as it is)."""
    manifest_path = Path(root).expanduser() / MANIFEST
    if not manifest_path.is_file():
        return False
    manifest = json.loads(manifest_path.read_text())
    return bool(
        manifest.get("complete")
        and manifest.get("version") == GENERATOR_VERSION
        and manifest.get("config") == manifest_config(config)
    )


def ensure_synthetic(root: str | Path, config: SyntheticConfig = DEFAULT_CONFIG) -> Path:
    """Generate on first use, reuse if the manifest matches `config`, regenerate our own folder otherwise.

    A non-empty folder without our manifest is never written to (it may be user data). Call this from
    one process only (e.g. LightningDataModule.prepare_data).
    """
    root = Path(root).expanduser()
    manifest_path = root / MANIFEST
    if manifest_path.is_file():
        if holds_set(root, config):
            return root
        for name in (*SPLIT_FOLDERS, PART_MAP_FOLDER):  # only what we wrote
            shutil.rmtree(root / name, ignore_errors=True)
        (root / OCCLUSIONS).unlink(missing_ok=True)
    elif root.exists() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} is not empty and has no {MANIFEST}, so it is not a synthetic set made by {__package__}; "
            "refusing to write into it. Point data.root at an empty or new folder for synthetic data, "
            "or use data=market1501 if it holds the real dataset."
        )
    generate(root, config)
    return root
