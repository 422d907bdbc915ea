"""Cut the committed test fixture of real pedestrian crops from OpenCV's sample street video.

The part-map generator must be tested on real people, and Market-1501 may not be shipped. Debian's
`opencv-doc` package carries `vtest.avi` (a fixed camera over a campus crossing, people walking),
licensed with OpenCV (Apache-2.0 AND BSD-3-Clause, see tests/fixtures/pedestrians/NOTICE). This
script finds walking people with OpenCV's HOG people detector, keeps only confident, moving,
unoccluded detections (background subtraction rejects static false positives), links them into
rough tracks by box overlap (the track number becomes the "person id" of the file name; it is not
a verified identity), picks a few crops per track and writes them at Market-1501 size (128x64) and
naming (`PPPP_c1s1_FFFFFF_01.jpg`) into `<out>/bounding_box_train/`.

    apt-get install -y opencv-doc
    python scripts/make_pedestrian_fixture.py                # -> tests/fixtures/pedestrians
    python scripts/make_pedestrian_fixture.py --count 30 --out /tmp/crops

Needs OpenCV (`pip install reid-lightning[parts]` brings it with mediapipe). Deterministic for a
given video and OpenCV build.
"""

import argparse
import gzip
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "pedestrians"
CROP_HEIGHT, CROP_WIDTH = 128, 64
_KNOWN_PLACES = ("/usr/share/doc/opencv-doc/examples/data", "/usr/share/opencv4/samples/data")


@dataclass
class Detection:
    frame: int
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    score: float
    track: int = -1


def find_video(explicit: str | None) -> Path:
    """The path of vtest.avi: `explicit`, a known place, or what `dpkg -L opencv-doc` lists."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"video {path} does not exist; pass the path of vtest.avi(.gz)")
        return path
    candidates = [Path(d) / name for d in _KNOWN_PLACES for name in ("vtest.avi", "vtest.avi.gz")]
    try:
        listed = subprocess.run(["dpkg", "-L", "opencv-doc"], capture_output=True, text=True, check=False).stdout
        candidates += [Path(line) for line in listed.splitlines() if Path(line).name.startswith("vtest.avi")]
    except FileNotFoundError:  # no dpkg on this system
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "vtest.avi not found; install it with `apt-get install -y opencv-doc` or pass --video /path/to/vtest.avi"
    )


def read_frames(video: Path) -> list[np.ndarray]:
    """All frames (BGR) of the video; a .gz is unpacked to a temporary file first."""
    with tempfile.TemporaryDirectory() as tmp:
        if video.suffix == ".gz":
            plain = Path(tmp) / video.stem
            with gzip.open(video, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
            video = plain
        capture = cv2.VideoCapture(str(video))
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
    if not frames:
        raise ValueError(f"could not decode any frame of {video}; is OpenCV built with video support?")
    return frames


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection area over the area of `a`."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / float(a[2] * a[3])


def detect(
    frames: list[np.ndarray], stride: int, min_score: float, min_height: int, min_foreground: float
) -> list[Detection]:
    """HOG detections every `stride` frames that are confident, moving, inside the frame and alone."""
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    background = cv2.createBackgroundSubtractorMOG2(history=200, detectShadows=False)
    height, width = frames[0].shape[:2]
    kept = []
    for index, frame in enumerate(frames):
        foreground = background.apply(frame)  # (H, W) 0 or 255
        if index < 2 * stride or index % stride:
            continue
        # People here are ~60-120 px tall, below HOG's 128 px window: detect on a 2x frame.
        rects, scores = hog.detectMultiScale(
            cv2.resize(frame, None, fx=2, fy=2), winStride=(8, 8), padding=(16, 16), scale=1.05
        )
        boxes = [tuple(int(v) // 2 for v in r) for r in rects]
        for box, score in zip(boxes, np.ravel(scores), strict=True):
            x, y, w, h = box
            inside = x >= 0 and y >= 0 and x + w <= width and y + h <= height
            alone = all(overlap(box, other) < 0.05 for other in boxes if other is not box)
            moving = inside and (foreground[y : y + h, x : x + w] > 0).mean() >= min_foreground
            if score >= min_score and h >= min_height and alone and moving:
                kept.append(Detection(index, box, float(score)))
    return kept


def link_tracks(detections: list[Detection], max_gap: int) -> None:
    """Greedy tracks: a detection joins the track whose last box (at most `max_gap` frames earlier,
    HOG misses people now and then) it overlaps most; a track takes one detection per frame."""
    last: dict[int, Detection] = {}
    next_id = 1
    for det in sorted(detections, key=lambda d: (d.frame, -d.score)):
        best, best_overlap = None, 0.25
        for track, prev in last.items():
            if 0 < det.frame - prev.frame <= max_gap and overlap(det.box, prev.box) > best_overlap:
                best, best_overlap = track, overlap(det.box, prev.box)
        if best is None:
            best, next_id = next_id, next_id + 1
        det.track = best
        last[best] = det


def choose(detections: list[Detection], count: int, per_track: int, min_gap: int) -> list[Detection]:
    """The most confident detections, at most `per_track` per track, `min_gap` frames apart."""
    chosen: list[Detection] = []
    for det in sorted(detections, key=lambda d: -d.score):
        same = [c for c in chosen if c.track == det.track]
        if len(same) < per_track and all(abs(c.frame - det.frame) >= min_gap for c in same):
            chosen.append(det)
        if len(chosen) == count:
            break
    return sorted(chosen, key=lambda d: (d.track, d.frame))


def write_crops(frames: list[np.ndarray], chosen: list[Detection], out: Path) -> list[Path]:
    """Crop each box (HOG's 1:2 window, person plus margin), resize to 128x64, write Market-named JPEGs."""
    folder = out / "bounding_box_train"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    tracks = {t: i + 1 for i, t in enumerate(sorted({d.track for d in chosen}))}  # renumber 1..N
    paths = []
    for det in chosen:
        x, y, w, h = det.box
        crop = cv2.resize(
            frames[det.frame][y : y + h, x : x + w], (CROP_WIDTH, CROP_HEIGHT), interpolation=cv2.INTER_CUBIC
        )
        path = folder / f"{tracks[det.track]:04d}_c1s1_{det.frame:06d}_01.jpg"
        cv2.imwrite(str(path), crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", help="path of vtest.avi or vtest.avi.gz (default: found via opencv-doc)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixture root (default: %(default)s)")
    parser.add_argument("--count", type=int, default=24, help="number of crops")
    parser.add_argument("--per-track", type=int, default=2, help="most crops of one track")
    parser.add_argument("--stride", type=int, default=5, help="run the detector every N frames")
    parser.add_argument("--min-gap", type=int, default=40, help="frames between two crops of one track")
    parser.add_argument("--min-score", type=float, default=2.0, help="least HOG SVM score")
    parser.add_argument("--min-height", type=int, default=80, help="least box height in frame pixels")
    parser.add_argument(
        "--min-foreground",
        type=float,
        default=0.15,
        help="least fraction of moving pixels in the box (rejects static false positives)",
    )
    args = parser.parse_args(argv)
    video = find_video(args.video)
    frames = read_frames(video)
    detections = detect(frames, args.stride, args.min_score, args.min_height, args.min_foreground)
    link_tracks(detections, max_gap=3 * args.stride)
    chosen = choose(detections, args.count, args.per_track, args.min_gap)
    paths = write_crops(frames, chosen, args.out)
    size = sum(p.stat().st_size for p in paths)
    print(
        f"{video}: {len(frames)} frames, {len(detections)} kept detections in "
        f"{len({d.track for d in detections})} tracks -> {len(paths)} crops "
        f"({len({d.track for d in chosen})} tracks, {size / 1024:.0f} KiB) in "
        f"{args.out / 'bounding_box_train'}"
    )


if __name__ == "__main__":
    main()
