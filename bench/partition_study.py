"""The thesis's first study on data where the truth is known: five part heads, one budget.

Trains global pooling, stripes + individual, binary masks + individual, Gaussian masks + individual
and Gaussian masks + shared (thesis Table 3.2's rows) on a synthetic set with strong detector
misalignment (stripes no longer line up with body parts) and degraded part maps (parts dropped,
eroded, mislabelled like a real segmenter's), with the same backbone, seed and epochs, as one Hydra
multirun; then prints a Table-3.2-style table (R1 / R5 / R10 / mAP) from the run records.

    python bench/partition_study.py                 # ~15-25 minutes on 2 CPU cores
    python bench/partition_study.py --epochs 4      # quicker, noisier
Rerunning with the same --out resumes: finished rows are skipped.
"""

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reid_lightning.reporting.tables import collect, markdown_table, problems_report  # noqa: E402

ROWS = "global_shared,stripes_individual,binary_mask_individual,gaussian_mask_individual,gaussian_mask_shared"
HARD_DATA = {"misalignment": 1.0, "part_drop_prob": 0.15, "part_erode_prob": 0.3, "part_mislabel_prob": 0.1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs per row (same for every row)")
    parser.add_argument("--backbone", default="osnet", help="backbone shared by every row")
    parser.add_argument("--seed", type=int, default=0, help="seed shared by every row")
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench" / "partition_study", help="sweep folder")
    args = parser.parse_args()
    command = [sys.executable, str(ROOT / "train.py"), "-m", f"head={ROWS}", f"backbone={args.backbone}",
               "data=synthetic", f"data.root={ROOT / 'data' / 'synthetic_hard'}",
               *(f"+data.options.{key}={value}" for key, value in HARD_DATA.items()), "data.val_split=null",
               f"trainer.max_epochs={args.epochs}", f"seed={args.seed}",
               "callbacks.part_masks=null", "callbacks.ranked_list=null", f"hydra.sweep.dir={args.out}"]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    results = collect(args.out)
    print(f"\nPartition study: {args.backbone}, {args.epochs} epochs, seed {args.seed}, synthetic set with "
          "misalignment 1.0 and degraded part maps (drop 0.15, erode 0.3, mislabel 0.1)\n")
    print(markdown_table(results, "3.2"))
    report = problems_report(results)
    if report:
        print("\n" + report)


if __name__ == "__main__":
    main()
