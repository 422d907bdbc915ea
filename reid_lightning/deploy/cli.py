"""`reid-export` and `reid-embed`: a trained model out of the suite, from the command line (no Hydra).

    reid-export logs/train/runs/<time>/checkpoints/last.ckpt -o osnet_x1_0_market.onnx --dtype fp32 fp16
    reid-export <ckpt> --format onnx --dtype int8 --calibration data/market1501/bounding_box_train
    reid-embed logs/train/runs/<time>/checkpoints/last.ckpt crops/ -o crops.npz
    reid-embed osnet_x1_0_market_int8.onnx crops/ -o crops.npz          # an exported file, ONNX Runtime

reid-export writes ONNX and TorchScript files (dynamic batch), checks each against PyTorch on a fresh
batch and prints the input contract it stored in them; beside each file of a single-input head it writes
BoxMOT's sidecar `<file>.metadata.json` (deploy/boxmot.py). reid-embed turns every image below a folder into
one row of a features file (.npz: `features` and `paths`; .npy: the features) and writes the image
paths, one a line in row order, beside it (<out>.txt).
"""

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CHUNK = 1024  # images read (and part maps loaded) per call of the extractor: bounded memory for big folders


def _fail(prog: str, err: Exception) -> None:
    sys.exit(f"{prog}: error: {err}")


def export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reid-export",
        description="Checkpoint of train.py -> ONNX / TorchScript embedding model with its input contract in the file.",
    )
    parser.add_argument("checkpoint", help="a checkpoint written by train.py (<run>/checkpoints/last.ckpt)")
    parser.add_argument(
        "-o", "--out", default=None, help="output path without suffix (default: beside the checkpoint, same name)"
    )
    parser.add_argument("--format", nargs="+", default=["onnx", "torchscript"], choices=("onnx", "torchscript"))
    parser.add_argument(
        "--dtype",
        nargs="+",
        default=["fp32"],
        choices=("fp32", "fp16", "int8"),
        help="int8: ONNX Runtime static quantisation (ONNX only), calibrated on --calibration crops",
    )
    parser.add_argument("--calibration", default=None, help="int8: folder of training crops (searched recursively)")
    parser.add_argument(
        "--calibration-count",
        type=int,
        default=128,
        help="int8: crops drawn (seeded) from --calibration; 3 more are held out for the check",
    )
    parser.add_argument(
        "--calibration-part-maps",
        default=None,
        help="int8 of a mask head: folder of <image>.png label maps laid out like --calibration",
    )
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (17 or newer; default %(default)s)")
    parser.add_argument("--normalize", action="store_true", help="L2-normalise the embedding inside the model")
    parser.add_argument("--flip", action="store_true", help="average image and mirror image inside the model")
    parser.add_argument("--device", default="cpu", help="device to trace on (cuda for fp16 on GPU; default cpu)")
    parser.add_argument("--no-check", action="store_true", help="skip running each file against PyTorch")
    parser.add_argument(
        "--no-boxmot",
        action="store_true",
        help="write no BoxMOT sidecar (<file>.metadata.json) and keep the checkpoint's mean/std in "
        "the graph (default: fold them into ImageNet's, which BoxMOT always feeds)",
    )
    return parser


def export_main(argv: list[str] | None = None) -> None:
    args = export_parser().parse_args(argv)
    from reid_lightning.deploy.export import ExportError, export_model, read_contract
    from reid_lightning.deploy.preprocessing import Preprocessing

    out = args.out or str(Path(args.checkpoint).with_suffix(""))
    try:
        calibration = calibration_crops(args) if "int8" in args.dtype else None
        written = export_model(
            args.checkpoint,
            out,
            formats=tuple(args.format),
            dtypes=tuple(args.dtype),
            opset=args.opset,
            normalize=args.normalize,
            flip=args.flip,
            device=args.device,
            check=not args.no_check,
            calibration=calibration,
            calibration_source=str(args.calibration),
            boxmot=not args.no_boxmot,
        )
    except (ValueError, OSError, ExportError) as err:
        _fail("reid-export", err)
    metadata = read_contract(written[0].path)
    print(f"Input contract (stored in each file's metadata): {Preprocessing.from_metadata(metadata).describe()}")
    for key, value in metadata.items():
        print(f"  {key}: {value}")
    for item in written:
        check = (
            "not checked"
            if item.max_abs_diff is None
            else (f"vs PyTorch fp32: max |diff| {item.max_abs_diff:.2e}, min cosine {item.min_cosine:.6f}")
        )
        print(f"wrote {item.path} ({item.format}, {item.dtype}; {check})")
        if item.sidecar is not None:
            print(f"wrote {item.sidecar} (BoxMOT's sidecar: input size, resize)")


def calibration_crops(args) -> list:
    """reid-export's int8 calibration inputs: --calibration-count (+3 held out) crops of --calibration."""
    from reid_lightning.deploy.quantize import calibration_inputs
    from reid_lightning.deploy.trained_model import load_model

    if args.calibration is None:
        raise ValueError(
            "--dtype int8 needs --calibration <folder of training crops> (e.g. the dataset's "
            "bounding_box_train): static quantisation calibrates activation ranges on real images"
        )
    if "onnx" not in args.format:
        raise ValueError("--dtype int8 is an ONNX Runtime quantisation: add --format onnx")
    model, preprocessing = load_model(args.checkpoint)
    folder = Path(args.calibration)
    images = find_images(folder)
    images = sorted(random.Random(0).sample(images, min(args.calibration_count + 3, len(images))))  # seeded draw
    maps = None
    if model.requires_part_maps:
        if args.calibration_part_maps is None:
            raise ValueError(
                f"{args.checkpoint} has a body-part mask head: int8 calibration needs "
                "--calibration-part-maps <folder of label maps laid out like --calibration>"
            )
        maps = load_maps(Path(args.calibration_part_maps), folder, images, model.hparams.num_part_labels)
    return calibration_inputs(images, preprocessing, len(images), maps)


def embed_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reid-embed", description="A folder of person crops -> a features file and the list of image paths."
    )
    parser.add_argument(
        "checkpoint",
        help="a checkpoint written by train.py (<run>/checkpoints/last.ckpt), or a "
        ".onnx file written by reid-export (fp32, fp16 or int8; run by ONNX Runtime on the CPU)",
    )
    parser.add_argument("folder", help="folder of images (searched recursively: " + ", ".join(IMAGE_SUFFIXES) + ")")
    parser.add_argument(
        "-o",
        "--out",
        default="features.npz",
        help=".npz (features + paths) or .npy (features); the paths also go to <out>.txt (default %(default)s)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--no-normalize", action="store_true", help="keep raw embeddings (default: L2-normalised)")
    parser.add_argument("--flip", action="store_true", help="average each image's and its mirror's embedding")
    parser.add_argument(
        "--part-maps",
        default=None,
        help="mask heads: folder of <image path>.png label maps "
        "laid out like the images, or 'generate' (pose generator, parts extra)",
    )
    return parser


def find_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) below {folder}")
    return images


def load_maps(part_root: Path, folder: Path, images: list[Path], num_part_labels: int) -> list[np.ndarray]:
    """The label map of each image: <part_root>/<image folder relative to `folder`>/<image stem>.png."""
    from reid_lightning.data.images import upright_size
    from reid_lightning.data.part_maps import load_part_map, part_map_path

    maps = []
    for image in images:
        height, width = upright_size(image)  # the size read_image gives it (EXIF orientation applied)
        path = part_map_path(part_root, image.parent.relative_to(folder), image)
        maps.append(load_part_map(path, (height, width), num_part_labels, image_path=image))
    return maps


def embed_main(argv: list[str] | None = None) -> None:
    args = embed_parser().parse_args(argv)
    out = Path(args.out)
    if out.suffix not in (".npz", ".npy"):
        _fail("reid-embed", ValueError(f"--out {out} must end in .npz (features + paths) or .npy (features)"))
    from rich.progress import Progress

    from reid_lightning.deploy.extractor import FeatureExtractor

    folder = Path(args.folder)
    try:
        images = find_images(folder)
        extractor = FeatureExtractor(
            args.checkpoint,
            device=args.device,
            batch_size=args.batch_size,
            normalize=not args.no_normalize,
            flip=args.flip,
        )
        if extractor.requires_part_maps and args.part_maps is None:
            raise ValueError(
                f"{args.checkpoint} has a body-part mask head: pass --part-maps <folder of label "
                "maps laid out like the images> or --part-maps generate"
            )
        chunks = []
        with Progress(transient=True) as progress:
            task = progress.add_task("embedding", total=len(images))
            for start in range(0, len(images), CHUNK):
                paths = images[start : start + CHUNK]
                maps = None
                if extractor.requires_part_maps:
                    maps = (
                        args.part_maps
                        if args.part_maps == "generate"
                        else load_maps(Path(args.part_maps), folder, paths, extractor.num_part_labels)
                    )
                chunks.append(extractor(paths, part_maps=maps))
                progress.advance(task, len(paths))
    except (ValueError, FileNotFoundError, TypeError, RuntimeError) as err:
        _fail("reid-embed", err)
    features = np.concatenate(chunks)  # (N, D) float32
    names = [p.relative_to(folder).as_posix() for p in images]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        np.savez(out, features=features, paths=np.array(names))
    else:
        np.save(out, features)
    out.with_suffix(".txt").write_text("".join(f"{name}\n" for name in names))
    summary = {
        "features": str(out),
        "paths": str(out.with_suffix(".txt")),
        "images": len(names),
        "dim": int(features.shape[1]),
        "l2_normalized": not args.no_normalize,
    }
    print(json.dumps(summary))
