"""Identities: what stays the same across a person's images (clothes, hair, build, bag).

Identity = appearance, as in re-ID: clothing colours and a pattern (stripes, checks, logo, two-tone
sleeves), sleeve and trouser length, shoes, hair, skin, body proportions, an optional bag. Identities come
in look-alike pairs (2k drawn fresh, 2k+1 a copy with one or two visible changes), so a model has to look
at the whole body. Clothing colours come from the domain's palette (domains.py).
"""

from dataclasses import dataclass, replace

import numpy as np

from reid_lightning.data.generator.config import SyntheticConfig
from reid_lightning.data.generator.domains import PALETTES, Palette

SKINS = np.array([[0.96, 0.80, 0.68], [0.87, 0.68, 0.52], [0.70, 0.50, 0.36], [0.45, 0.30, 0.20]])
HAIRS = np.array([[0.05, 0.04, 0.04], [0.20, 0.12, 0.07], [0.42, 0.28, 0.14], [0.78, 0.66, 0.40], [0.55, 0.55, 0.55]])
PATTERNS = ("solid", "hstripes", "vstripes", "checks", "twotone", "logo")
BAGS = ("none", "backpack", "shoulder")


def _colour(rng: np.random.Generator, palette: Palette, unlike: np.ndarray | None = None) -> np.ndarray:
    """A clothing colour; with `unlike`, one clearly different from it."""
    while True:
        colour = palette.colours[rng.choice(len(palette.colours), p=palette.probabilities)]
        colour = np.clip(colour + rng.uniform(-0.05, 0.05, 3), 0, 1)
        if unlike is None or np.abs(colour - unlike).sum() > 0.4:
            return colour


@dataclass(frozen=True)
class Identity:
    """What stays the same across a person's images: clothes (RGB 0..1), hair, build, bag."""

    skin: np.ndarray
    hair: np.ndarray
    long_hair: bool
    upper: np.ndarray
    upper2: np.ndarray
    pattern: str
    stripe_freq: float  # stripes per body height
    long_sleeves: bool
    lower: np.ndarray
    long_trousers: bool
    shoes: np.ndarray
    bag: str
    bag_colour: np.ndarray
    bag_on_left: bool
    height: float  # fraction of the box height at zero misalignment
    width: float  # body width factor
    legs: float  # leg length as fraction of height


def sample_identity(rng: np.random.Generator, palette: Palette = PALETTES["market"]) -> Identity:
    """A fresh person."""
    upper = _colour(rng, palette)
    return Identity(
        skin=SKINS[rng.integers(len(SKINS))] * rng.uniform(0.95, 1.05),
        hair=HAIRS[rng.integers(len(HAIRS))],
        long_hair=bool(rng.random() < 0.3),
        upper=upper,
        upper2=_colour(rng, palette, unlike=upper),
        pattern=PATTERNS[rng.choice(len(PATTERNS), p=[0.4, 0.15, 0.1, 0.1, 0.12, 0.13])],
        stripe_freq=float(rng.uniform(6, 12)),
        long_sleeves=bool(rng.random() < 0.5),
        lower=_colour(rng, palette),
        long_trousers=bool(rng.random() < 0.75),
        shoes=_colour(rng, palette),
        bag=BAGS[rng.choice(3, p=[0.5, 0.3, 0.2])],
        bag_colour=_colour(rng, palette),
        bag_on_left=bool(rng.random() < 0.5),
        height=float(rng.uniform(0.9, 1.0)),
        width=float(rng.uniform(0.85, 1.2)),
        legs=float(rng.uniform(0.46, 0.52)),
    )


def vary_identity(rng: np.random.Generator, base: Identity, palette: Palette = PALETTES["market"]) -> Identity:
    """A look-alike of `base`: same upper colour, skin and most clothes; one or two visible changes."""
    other_hair = [h for h in HAIRS if not np.array_equal(h, base.hair)]
    changes = [
        lambda: {"lower": _colour(rng, palette, unlike=base.lower)},
        lambda: {
            "pattern": rng.choice([p for p in PATTERNS if p != base.pattern]),
            "upper2": _colour(rng, palette, unlike=base.upper),
        },
        lambda: {"shoes": _colour(rng, palette, unlike=base.shoes)},
        lambda: {"bag": rng.choice([b for b in BAGS if b != base.bag]), "bag_colour": _colour(rng, palette)},
        lambda: {"hair": other_hair[rng.integers(len(other_hair))], "long_hair": not base.long_hair},
        lambda: {"long_sleeves": not base.long_sleeves},
        lambda: {"long_trousers": not base.long_trousers},
        lambda: {"width": float(np.clip(base.width + rng.choice([-1, 1]) * 0.25, 0.8, 1.3))},
    ]
    twin = base
    for index in rng.choice(len(changes), size=rng.integers(1, 3), replace=False):
        twin = replace(twin, **changes[index]())
    return replace(twin, pattern=str(twin.pattern), bag=str(twin.bag))  # numpy str_ -> str


def make_identities(config: SyntheticConfig) -> list[Identity]:
    """Identities in look-alike pairs: 2k is drawn fresh, 2k+1 copies it with one or two changes."""
    palette = PALETTES[config.resolved().palette]
    identities = []
    for i in range(config.num_train_ids + config.num_test_ids):
        base = sample_identity(np.random.default_rng([config.seed, 4, i // 2]), palette)
        twin_rng = np.random.default_rng([config.seed, 5, i // 2])
        identities.append(base if i % 2 == 0 else vary_identity(twin_rng, base, palette))
    return identities
