"""The generator's knobs: one frozen dataclass; every field is a CLI flag and a Hydra `data.synthetic` key.

Style knobs left at None (`palette`, `illumination`, `background`, `num_cameras`, `image_size`) take the
value of the chosen `domain` preset (domains.py), so `SyntheticConfig(domain="b")` is a whole second look
and `SyntheticConfig(domain="b", num_cameras=4)` changes one thing of it. `resolved()` fills them in; the
generator only ever works on a resolved config.
"""

from dataclasses import dataclass, field, fields, replace

from reid_lightning.data.generator.domains import BACKGROUNDS, DOMAINS, ILLUMINATIONS, OCCLUDERS, PALETTES
from reid_lightning.registry import close_matches_hint

MAX_CAMERAS = 9  # Market's names hold one camera digit: c1..c9


def knob(default, help: str, *, type: type | None = None, choices: tuple[str, ...] | None = None, since: int = 2):
    """A config field with its CLI help; `since` = the generator version that added it (see writer.py)."""
    return field(default=default, metadata={"help": help, "type": type, "choices": choices, "since": since})


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the generator (each one is also a CLI flag, e.g. --num-train-ids)."""

    num_train_ids: int = knob(100, "identities in bounding_box_train")
    num_test_ids: int = knob(100, "identities in query and bounding_box_test")
    num_cameras: int | None = knob(None, "cameras (2..9); None: the domain's", type=int)
    cameras_per_id: tuple[int, int] = knob((2, 4), "min, max cameras an identity appears in")
    train_images_per_camera: tuple[int, int] = knob((3, 6), "min, max images per (train id, camera)")
    query_images_per_camera: int = knob(1, "query images per (test id, camera)")
    gallery_images_per_camera: tuple[int, int] = knob((2, 5), "min, max gallery images per (test id, camera)")
    num_distractors: int = knob(100, "pid 0 images in the gallery (empty scenes, passers-by)")
    num_junk: int = knob(50, "pid -1 images in the gallery (badly cut boxes, dropped by the parser)")
    image_size: tuple[int, int] | None = knob(None, "H W in pixels; None: the domain's", type=int)
    misalignment: float = knob(0.5, "0 = centred people, 1 = strong detector jitter of scale and shift")
    part_drop_prob: float = knob(0.03, "per part and image: the saved map loses the part (segmenter miss)")
    part_erode_prob: float = knob(0.1, "per part and image: the saved map's part is eroded at its border")
    part_mislabel_prob: float = knob(0.03, "per part and image: the saved map gives the part a wrong label")
    seed: int = knob(0, "the same seed gives byte-identical files")
    domain: str = knob(
        "a", "style preset: a (Market-like street) | b (bright indoor mall)", choices=tuple(DOMAINS), since=3
    )
    palette: str | None = knob(None, "clothing colours; None: the domain's", type=str, choices=tuple(PALETTES), since=3)
    illumination: str | None = knob(
        None,
        "light level, contrast and colour cast; None: the domain's",
        type=str,
        choices=tuple(ILLUMINATIONS),
        since=3,
    )
    background: str | None = knob(
        None, "scene colours and textures; None: the domain's", type=str, choices=tuple(BACKGROUNDS), since=3
    )
    occlusion: float = knob(0.0, "share of query and gallery person images with an occluder in front", since=3)
    occluder: str = knob("both", "what occludes: box | pedestrian | both (half each)", choices=OCCLUDERS, since=3)

    def __post_init__(self) -> None:  # Hydra / JSON hand over lists: keep tuples (hashable, comparable)
        for f in fields(self):
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))

    @classmethod
    def from_options(cls, **knobs) -> "SyntheticConfig":
        """Build from config options (data.options); an unknown knob is an error naming the close ones."""
        known = [f.name for f in fields(cls)]
        for name in knobs:
            if name not in known:
                hint = close_matches_hint(name, known)
                raise ValueError(f"SyntheticConfig has no knob {name!r}; known knobs: {', '.join(known)}{hint}")
        return cls(**knobs)

    def resolved(self) -> "SyntheticConfig":
        """This config with every None style knob replaced by its domain's value."""
        if self.domain not in DOMAINS:
            raise ValueError(f"SyntheticConfig: domain={self.domain!r} is unknown; choose one of {sorted(DOMAINS)}")
        preset = DOMAINS[self.domain]
        return replace(self, **{name: value for name, value in preset.items() if getattr(self, name) is None})

    def validate(self) -> None:
        """Raise ValueError naming the knob, its value and the allowed range."""
        config = self.resolved()

        def bad(what: str) -> ValueError:
            return ValueError(f"SyntheticConfig: {what}")

        if not 2 <= config.num_cameras <= MAX_CAMERAS:
            raise bad(f"num_cameras={config.num_cameras}, Market-style names allow 2..{MAX_CAMERAS} cameras")
        lo, hi = config.cameras_per_id
        if not 2 <= lo <= hi <= config.num_cameras:
            raise bad(
                f"cameras_per_id={config.cameras_per_id} must satisfy 2 <= min <= max <= num_cameras "
                f"({config.num_cameras}): each identity must be seen by two cameras at least"
            )
        for name in ("train_images_per_camera", "gallery_images_per_camera"):
            lo, hi = getattr(config, name)
            if not 1 <= lo <= hi:
                raise bad(f"{name}={(lo, hi)} must satisfy 1 <= min <= max")
        if config.num_train_ids < 1 or config.num_test_ids < 1 or config.num_train_ids + config.num_test_ids > 9999:
            raise bad("need 1 <= num_train_ids, num_test_ids and a total of at most 9999 (4-digit pids)")
        if min(config.query_images_per_camera, config.num_distractors, config.num_junk) < 0:
            raise bad("image counts must be >= 0")
        if config.image_size[0] < 32 or config.image_size[1] < 16:
            raise bad(f"image_size={config.image_size} is too small, use at least (32, 16)")
        for name in ("misalignment", "part_drop_prob", "part_erode_prob", "part_mislabel_prob", "occlusion"):
            if not 0.0 <= getattr(config, name) <= 1.0:
                raise bad(f"{name}={getattr(config, name)} must be in [0, 1]")
        for name, known in (
            ("palette", PALETTES),
            ("illumination", ILLUMINATIONS),
            ("background", BACKGROUNDS),
            ("occluder", OCCLUDERS),
        ):
            if getattr(config, name) not in known:
                raise bad(f"{name}={getattr(config, name)!r} is unknown; choose one of {sorted(known)}")


DEFAULT_CONFIG = SyntheticConfig()  # the default set (data=synthetic)
