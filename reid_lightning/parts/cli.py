"""`reid-parts`: make, import and look at part maps from the command line (no Hydra).

    reid-parts generate --root data/market1501 --workers 2
    reid-parts import-maps --src cdcl_out/ --root data/market1501 --scheme ppp7
    reid-parts import-keypoints --format layumi-mat --src market1501_14point_query.mat \\
        --root data/market1501 --split query
    reid-parts import-keypoints --format openpose-csv --src market-annotation-test.csv --root data/market1501
    reid-parts show --root data/market1501 --split query --out query_parts.png

Also `python -m reid_lightning.parts ...`. Maps go to `<root>/part_maps/<split>/<stem>.png` unless --out.
"""

import argparse
import json
import os

from reid_lightning.parts.layout import SPLITS


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, help="Market-format dataset root (as data.root)")
    parser.add_argument("--out", default=None, help="part-map folder (default: <root>/part_maps)")
    parser.add_argument("--overwrite", action="store_true", help="replace maps that already exist")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reid-parts", description="Body-part maps (7 Pascal-Person-Part labels) for a re-ID dataset."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="run the offline pose model on every image (parts extra)")
    _common(gen)
    gen.add_argument("--split", nargs="*", choices=SPLITS, default=None, help="split folders (default: all)")
    gen.add_argument(
        "--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="worker processes (default: cores - 1)"
    )
    gen.add_argument("--upscale", type=float, default=2.0, help="resize factor before the pose model")
    gen.add_argument("--pad", type=float, default=0.25, help="border around the crop, fraction of its height")
    gen.add_argument("--min-visibility", type=float, default=0.3, help="landmarks below count as missing")
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")

    maps = commands.add_parser("import-maps", help="import label maps of another segmenter (CDCL, LIP/CIHP)")
    _common(maps)
    maps.add_argument("--src", required=True, help="folder of <split>/<stem>.png or <stem>.png label maps")
    maps.add_argument(
        "--scheme",
        choices=("ppp7", "lip20"),
        default="ppp7",
        help="ppp7: 7 Pascal-Person-Part labels (CDCL); lip20: LIP / CIHP 20-label parsing",
    )
    maps.add_argument("--split", nargs="*", choices=SPLITS, default=None, help="split folders (default: all)")
    maps.add_argument("--resize", action="store_true", help="resize maps of another size (nearest neighbour)")

    keys = commands.add_parser("import-keypoints", help="rasterise a keypoint file into part maps")
    _common(keys)
    keys.add_argument("--format", required=True, choices=("layumi-mat", "openpose-csv"), dest="fmt")
    keys.add_argument("--src", required=True, help="the .mat or .csv file")
    keys.add_argument(
        "--split",
        choices=SPLITS,
        default=None,
        help="split the file belongs to (required for layumi-mat; csv default: all)",
    )

    show = commands.add_parser("show", help="write a PNG grid of images with their maps overlaid")
    show.add_argument("--root", required=True, help="Market-format dataset root")
    show.add_argument("--maps", default=None, help="part-map folder (default: <root>/part_maps)")
    show.add_argument("--split", nargs="*", choices=SPLITS, default=None, help="split folders (default: all)")
    show.add_argument("--out", default="part_maps.png", help="output PNG (default: %(default)s)")
    show.add_argument("--max-images", type=int, default=48)
    show.add_argument("--columns", type=int, default=12)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "generate":
        from reid_lightning.parts.generate import generate_part_maps
        from reid_lightning.parts.pose import PoseConfig

        config = PoseConfig(upscale=args.upscale, pad=args.pad, min_visibility=args.min_visibility)
        summary = generate_part_maps(
            args.root,
            out=args.out,
            splits=args.split,
            workers=args.workers,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            config=config,
        )
        print(summary.text())
        print(json.dumps({k: v for k, v in summary.to_dict().items() if k != "failures"}))
    elif args.command == "import-maps":
        from reid_lightning.parts.import_maps import import_label_maps

        print(
            import_label_maps(
                args.src,
                args.root,
                scheme=args.scheme,
                out=args.out,
                splits=args.split,
                overwrite=args.overwrite,
                resize=args.resize,
            ).text()
        )
    elif args.command == "import-keypoints":
        from reid_lightning.parts.import_keypoints import import_keypoints

        print(
            import_keypoints(
                args.fmt, args.src, args.root, split=args.split, out=args.out, overwrite=args.overwrite
            ).text()
        )
    else:
        from reid_lightning.parts.show import show_part_maps

        print(
            show_part_maps(
                args.root,
                args.out,
                part_root=args.maps,
                splits=args.split,
                max_images=args.max_images,
                columns=args.columns,
            )
        )


if __name__ == "__main__":
    main()
