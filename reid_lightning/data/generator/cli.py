"""The `reid-synthetic` command: generate (or reuse) a synthetic set from flags, optionally save a preview.

    reid-synthetic --root data/synthetic [--num-train-ids 100 ...] [--preview grid.png]
    reid-synthetic --root data/synthetic_b --domain b --occlusion 0.3

Every SyntheticConfig knob is a flag (`num_train_ids` -> `--num-train-ids`; pairs take two values).
"""

import argparse
import json
import time
import typing
from dataclasses import Field, fields
from pathlib import Path

from reid_lightning.data.generator.config import SyntheticConfig
from reid_lightning.data.generator.domains import DOMAINS
from reid_lightning.data.generator.preview import save_preview
from reid_lightning.data.generator.writer import MANIFEST, ensure_synthetic


def _is_pair(knob: Field) -> bool:
    return isinstance(knob.default, tuple) or any(typing.get_origin(t) is tuple for t in typing.get_args(knob.type))


def _text(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _add_flag(parser: argparse.ArgumentParser, knob: Field) -> None:
    flag, default, meta = "--" + knob.name.replace("_", "-"), knob.default, knob.metadata
    if default is None:  # a style knob: each domain's value
        shown = ", ".join(f"{name}: {_text(preset[knob.name])}" for name, preset in DOMAINS.items())
    else:
        shown = _text(default)
    help_text = f"{meta['help']} (default: {shown})"
    if _is_pair(knob):
        value_type = meta["type"] or type(default[0])
        parser.add_argument(flag, type=value_type, nargs=2, default=default, metavar=("A", "B"), help=help_text)
    else:
        parser.add_argument(
            flag, type=meta["type"] or type(default), default=default, choices=meta["choices"], help=help_text
        )


def main(argv: list[str] | None = None) -> None:
    """Parse flags, generate or reuse the set, print its counts (and save a preview)."""
    parser = argparse.ArgumentParser(
        prog="reid-synthetic", description="Generate a synthetic Market-1501-format set + part maps."
    )
    parser.add_argument("--root", type=Path, required=True, help="output folder (reused if up to date)")
    parser.add_argument("--preview", type=Path, help="also save a grid of train images + part maps")
    for knob in fields(SyntheticConfig):
        _add_flag(parser, knob)
    args = parser.parse_args(argv)
    config = SyntheticConfig(**{knob.name: getattr(args, knob.name) for knob in fields(SyntheticConfig)})
    config.validate()
    start = time.perf_counter()
    root = ensure_synthetic(args.root, config)
    counts = json.loads((root / MANIFEST).read_text())["counts"]
    print(f"synthetic Market-1501 at {root} ({time.perf_counter() - start:.1f} s): {counts}")
    if args.preview:
        print(f"preview: {save_preview(root, args.preview)}")
