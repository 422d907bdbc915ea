"""Validation split: hold out part of the training set as a retrieval query/gallery pair.

Two modes, the thesis's closed-set check and an open-set split like Market's own test (see
`split_validation`). Held-out samples keep their file and camera; pids are relabelled with the train set.
"""

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from reid_lightning.data.market_layout import NUM_CAMERAS  # open-set default: one query per camera
from reid_lightning.data.samples import Sample, relabel


class ValidationSplit(NamedTuple):
    """Train images minus the held-out ones, and the held-out ones as a retrieval query/gallery pair.

    All three lists come from the train folder (TRAIN_FOLDER, for part maps). Unpacks as
    `train, query, gallery = split_validation(...)`.
    """

    train: list[Sample]
    query: list[Sample]
    gallery: list[Sample]


def split_validation(
    train: list[Sample],
    num_val_ids: int | None = None,
    num_query_per_id: int | None = None,
    num_gallery_per_id: int = 1,
    seed: int = 0,
) -> ValidationSplit:
    """Hold out part of the training set for validation; the remaining train pids are relabelled 0..N-1.

    The thesis (section 3.2) trained on 12,185 images and validated on 751: one image of each of the
    751 train identities, the identities staying in training (a closed-set check, as in the common
    `prepare.py` recipe of Market-1501 baselines). Two modes:

    - `num_val_ids=None` (thesis-like, closed set): for every identity seen by enough cameras,
      `num_query_per_id` (default 1) query images from distinct random cameras and
      `num_gallery_per_id` gallery images from its other cameras, so each query keeps a
      cross-camera match under the Market protocol; at least one image per identity stays in
      train, so val samples carry the identity's train label. `num_gallery_per_id=0` gives exactly
      the thesis split on Market (751 held-out images as query, empty gallery: use it for
      classification accuracy).
    - `num_val_ids=K` (open set, like Market's own test): K random identities seen by >= 2 cameras
      leave training entirely; each gives one query image in each of `num_query_per_id` random
      cameras (default and at most: all its cameras but one, close to Market's one query per
      camera) and all its other images to the gallery. Val samples keep the pids they had in
      `train` (never used as class labels).
    """
    if num_query_per_id is None:
        num_query_per_id = 1 if num_val_ids is None else NUM_CAMERAS
    if num_query_per_id < 1 or num_gallery_per_id < 0:
        raise ValueError(
            f"split_validation needs num_query_per_id >= 1 and num_gallery_per_id >= 0, "
            f"got {num_query_per_id} and {num_gallery_per_id}"
        )
    rng = np.random.default_rng(seed)
    by_pid: dict[int, list[Sample]] = {}
    for s in sorted(train, key=_by_name):
        by_pid.setdefault(s.pid, []).append(s)

    def pick_queries(images: list[Sample], num: int) -> list[Sample]:
        cameras = rng.permutation(sorted({s.camid for s in images}))[:num].tolist()
        return [images[rng.choice([i for i, s in enumerate(images) if s.camid == cam])] for cam in sorted(cameras)]

    held_query, held_gallery = [], []
    if num_val_ids is not None:
        eligible = [pid for pid in sorted(by_pid) if len({s.camid for s in by_pid[pid]}) >= 2]
        if not 0 < num_val_ids < len(by_pid) or num_val_ids > len(eligible):
            raise ValueError(
                f"split_validation: num_val_ids={num_val_ids}, but the train set has "
                f"{len(by_pid)} identities ({len(eligible)} seen by >= 2 cameras); "
                f"choose 1..{len(eligible)} and leave at least one identity to train on"
            )
        for pid in sorted(rng.choice(eligible, num_val_ids, replace=False).tolist()):
            images = by_pid.pop(pid)
            query = pick_queries(images, min(num_query_per_id, len({s.camid for s in images}) - 1))
            held_query += query
            held_gallery += [s for s in images if s not in query]
    else:
        for pid in sorted(by_pid):
            images = by_pid[pid]
            if len({s.camid for s in images}) < num_query_per_id + (num_gallery_per_id > 0):
                continue
            query = pick_queries(images, num_query_per_id)
            query_cams = {s.camid for s in query}
            others = [s for s in images if s.camid not in query_cams]
            if len(others) < num_gallery_per_id or len(images) - len(query) - num_gallery_per_id < 1:
                continue
            held_query += query
            held_gallery += [others[i] for i in sorted(rng.permutation(len(others))[:num_gallery_per_id])]
    held = {s.path for s in held_query + held_gallery}
    kept = [s for s in train if s.path not in held]
    remaining, _ = relabel(kept)
    if num_val_ids is None:  # val identities are still trained on: give them their new label
        label_of = {old.pid: new.pid for old, new in zip(kept, remaining, strict=True)}
        held_query = [replace(s, pid=label_of[s.pid]) for s in held_query]
        held_gallery = [replace(s, pid=label_of[s.pid]) for s in held_gallery]
    return ValidationSplit(remaining, sorted(held_query, key=_by_name), sorted(held_gallery, key=_by_name))


def _by_name(sample: Sample) -> str:
    return sample.path.name
