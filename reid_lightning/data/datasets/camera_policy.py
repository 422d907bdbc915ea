"""What to do when a user's own data has no camera labels.

The Market-1501 protocol drops, for each query, the gallery images of the same identity AND the same
camera: matching a person across cameras is the task. Without camera labels that rule cannot be
applied. `missing_camids: error` (the default) refuses such data and says how to proceed;
`missing_camids: distinct` puts every query image in camera 0 and every gallery image in camera 1 (train
in camera 0), so nothing is dropped: same-camera matches (near-duplicate frames of one track) then
count as hits, and the scores come out optimistic. A warning says so on every load.
"""

import warnings

MISSING_CAMIDS = ("error", "distinct")
DISTINCT_CAMIDS = (0, 0, 1)  # (train, query, gallery) camera of every sample with missing_camids=distinct


def camids_for_unlabelled(policy: str, source: str) -> tuple[int, int, int]:
    """The (train, query, gallery) camid to give samples of `source` that have no camera label."""
    if policy not in MISSING_CAMIDS:
        raise ValueError(f"data.options.missing_camids={policy!r} is unknown; use one of {', '.join(MISSING_CAMIDS)}")
    if policy == "error":
        raise ValueError(
            f"{source} has no camera labels. The re-ID protocol needs them to drop same-camera matches. Add "
            "them (a camid group in data.options.pattern, or a camid column), or set "
            "data.options.missing_camids=distinct to give query and gallery distinct cameras "
            "(same-camera matches then count, so scores are optimistic)"
        )
    warnings.warn(
        f"{source} has no camera labels: missing_camids=distinct puts query in camera 0 and gallery "
        "in camera 1, so same-camera matches count as hits and scores are optimistic",
        stacklevel=3,
    )
    return DISTINCT_CAMIDS
