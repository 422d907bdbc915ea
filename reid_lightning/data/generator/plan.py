"""The file plan: every image of the dataset, in a fixed order, with its Market-1501 name.

Train identities come first, then test identities (one query per camera they appear in, several gallery
images), then gallery distractors (pid 0: empty scenes, passers-by cut by the box edge) and junk
(pid -1: badly cut boxes of test identities). Names follow `PPPP_cCsS_FFFFFF_BB.jpg` with frame numbers
increasing per camera, so every name is unique; cameras run c1..c<num_cameras> (at most c9).
"""

from dataclasses import dataclass

import numpy as np

from reid_lightning.data.generator.config import SyntheticConfig
from reid_lightning.data.market_layout import GALLERY_FOLDER, QUERY_FOLDER, TRAIN_FOLDER


@dataclass(frozen=True)
class Job:
    """One file to write: folder, Market name, identity index (-1: none) and camera (0-based)."""

    folder: str
    name: str
    identity: int
    camid: int
    kind: str  # person | distractor | junk

    @property
    def occludable(self) -> bool:
        """Query and gallery images of test identities may be occluded; train, junk and distractors never."""
        return self.kind == "person" and self.folder in (QUERY_FOLDER, GALLERY_FOLDER)


def plan(config: SyntheticConfig) -> list[Job]:
    """Every file of the dataset, in a fixed order, with Market-1501 names."""
    config = config.resolved()
    rng = np.random.default_rng([config.seed, 0])
    n_train, total = config.num_train_ids, config.num_train_ids + config.num_test_ids
    pids = rng.choice(np.arange(1, max(1501, total) + 1), size=total, replace=False)
    pids = np.concatenate([np.sort(pids[:n_train]), np.sort(pids[n_train:])])

    def cameras() -> np.ndarray:
        lo, hi = config.cameras_per_id
        return np.sort(rng.choice(config.num_cameras, int(rng.integers(lo, hi + 1)), replace=False))

    def count(bounds: tuple[int, int]) -> int:
        return int(rng.integers(bounds[0], bounds[1] + 1))

    raw = []  # (folder, pid, identity, camid, kind)
    for i in range(n_train):
        for c in cameras():
            raw += [(TRAIN_FOLDER, pids[i], i, c, "person")] * count(config.train_images_per_camera)
    for i in range(n_train, total):
        for c in cameras():
            raw += [(QUERY_FOLDER, pids[i], i, c, "person")] * config.query_images_per_camera
            raw += [(GALLERY_FOLDER, pids[i], i, c, "person")] * count(config.gallery_images_per_camera)
    raw += [
        (GALLERY_FOLDER, 0, -1, rng.integers(config.num_cameras), "distractor") for _ in range(config.num_distractors)
    ]
    raw += [
        (GALLERY_FOLDER, -1, int(rng.integers(n_train, total)), rng.integers(config.num_cameras), "junk")
        for _ in range(config.num_junk)
    ]
    frame = np.zeros(config.num_cameras, np.int64)
    jobs = []
    for folder, pid, identity, camid, kind in raw:
        frame[camid] += rng.integers(20, 400)  # strictly increasing per camera: names are unique
        sequence = 1 + min(5, int(frame[camid]) // 40000)
        pid_text = "-1" if pid == -1 else f"{int(pid):04d}"
        name = f"{pid_text}_c{camid + 1}s{sequence}_{int(frame[camid]):06d}_{int(rng.integers(0, 8)):02d}.jpg"
        jobs.append(Job(folder, name, int(identity), int(camid), kind))
    return jobs
