"""Training on several datasets at once: the union of their train sets, identities kept apart.

Each loader labels its train identities 0..N-1, so two datasets both have a label 0. The union shifts
every dataset's labels past those of the datasets before it (dataset 0 keeps 0..N0-1, dataset 1 gets
N0..N0+N1-1, ...): the same as relabelling over (dataset, pid), so no identity of one dataset is ever
merged with one of another. Every sample is tagged with its source's key (`Sample.dataset`), which
finds its part maps under that source's root. Optionally the sources are balanced: each is drawn
equally often, whatever its size (`source_weights`).
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from reid_lightning.data.samples import Sample


def union_of_train_sets(train_sets: Sequence[tuple[str, list[Sample]]]) -> tuple[list[Sample], int]:
    """[(source key, train samples labelled 0..N-1)] -> (every sample relabelled apart and tagged, labels)."""
    union, offset = [], 0
    for key, samples in train_sets:
        labels = sorted({s.pid for s in samples})
        if labels != list(range(len(labels))):
            raise ValueError(
                f"train labels of source {key} are not 0..{len(labels) - 1}; its loader must relabel "
                "train identities (samples.relabel)"
            )
        union += [replace(s, pid=s.pid + offset, dataset=key) for s in samples]
        offset += len(labels)
    return union, offset


def source_weights(samples: Sequence[Sample]) -> list[float]:
    """Per-sample weights that draw every source (Sample.dataset) equally often: 1 / (sources x its size)."""
    sizes = Counter(s.dataset for s in samples)
    return [1.0 / (len(sizes) * sizes[s.dataset]) for s in samples]
