"""The sample record every dataset produces, and the splits a dataset parses into.

A `Sample` is one image: its file, its person id, its camera (0-based) and the name of the dataset it
comes from (so identities of several datasets never collide when they are trained on together). Train
pids are relabelled 0..N-1 by `relabel`; query and gallery keep their raw pids, which only need to
compare equal. `Splits` holds a dataset's three lists and where they live on disk.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path

JUNK_PID, DISTRACTOR_PID = -1, 0  # Market-style conventions: junk dropped everywhere, distractors kept in gallery


@dataclass(frozen=True)
class Sample:
    """One image: its file, its person id (relabelled for train, raw for eval), camera (0-based), dataset."""

    path: Path
    pid: int
    camid: int
    dataset: str = ""


@dataclass(frozen=True)
class Splits:
    """The train / query / gallery lists of one dataset, its root, and each split's folder under the root."""

    root: Path
    train: list[Sample]
    query: list[Sample]
    gallery: list[Sample]
    num_train_pids: int
    folder: dict[str, str] = field(
        default_factory=lambda: {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
    )
    name: str = ""  # the registered dataset name

    @property
    def train_dir(self) -> str:
        return self.folder["train"]

    @property
    def query_dir(self) -> str:
        return self.folder["query"]

    @property
    def gallery_dir(self) -> str:
        return self.folder["gallery"]

    def summary(self) -> str:
        """A small table: images, ids and cameras per split."""
        lines = [
            f"{self.name or 'dataset'} at {self.root}",
            f"  {'split':<8} {'folder':<19} {'images':>7} {'ids':>5} {'cams':>5}",
        ]
        for name in ("train", "query", "gallery"):
            samples = getattr(self, name)
            ids = len({s.pid for s in samples})
            cams = len({s.camid for s in samples})
            line = f"  {name:<8} {self.folder[name]:<19} {len(samples):>7} {ids:>5} {cams:>5}"
            distractors = sum(s.pid == DISTRACTOR_PID for s in samples) if name == "gallery" else 0
            if distractors:
                line += f"  (incl. {distractors} distractors, pid 0)"
            lines.append(line)
        return "\n".join(lines)


def relabel(samples: list[Sample]) -> tuple[list[Sample], int]:
    """Map raw pids to 0..N-1 in sorted raw-pid order; returns (samples, N)."""
    label_of = {pid: label for label, pid in enumerate(sorted({s.pid for s in samples}))}
    return [replace(s, pid=label_of[s.pid]) for s in samples], len(label_of)
