"""The thesis's first study on data where the truth is known, over seeds: part heads with and without part
maps at test time, and the visibility-aware distance.

Trains global pooling, stripes + individual classifiers, Gaussian masks + shared classifier (part maps at
test time), predicted masks + shared classifier (part maps for training only), and the same predicted
masks ranked by the parts visible in both images, on a synthetic set with strong detector misalignment
(stripes no longer line up with body parts), degraded part maps (parts dropped, eroded, mislabelled like a
real segmenter's) and occluders (a box or another pedestrian) in front of 30% of the query and gallery
images, their part maps saying what is hidden. Same backbone and epochs for every row, `--seeds` seeds
each, as one Hydra multirun; then prints the Table-3.2-style table folded over the seeds (mean ± sample
std, n) and paired differences (by seed, 95% t interval) of the predicted-mask rows against each other and
against Gaussian masks.

    python bench/partition_study.py                      # the full study: 5 rows x 3 seeds x 10 epochs
    python bench/partition_study.py --epochs 3 --seeds 0,1 +data.options.num_train_ids=40   # reduced
Extra arguments go to every training run as Hydra overrides (generator knobs: `+data.options.<knob>=`).
Rerunning with the same --out resumes: finished runs are skipped.
"""

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reid_lightning.reporting.tables import collect, comparison_report, markdown_table, problems_report  # noqa: E402

ROWS = (
    "global_shared",
    "stripes_individual",
    "gaussian_mask_shared",
    "predicted_mask_shared",
    "predicted_mask_shared_visibility",
)
HARD_DATA = {
    "misalignment": 1.0,
    "part_drop_prob": 0.15,
    "part_erode_prob": 0.3,
    "part_mislabel_prob": 0.1,
    "occlusion": 0.3,
}  # occlusion: share of query and gallery images with an occluder in front
COMPARISONS = (
    ("head=predicted_mask_shared_visibility", "head=predicted_mask_shared"),
    ("head=predicted_mask_shared", "head=gaussian_mask_shared"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs per run (same for every row)")
    parser.add_argument("--backbone", default="osnet", help="backbone shared by every row")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds; every row runs each")
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench" / "partition_study", help="sweep folder")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run (key=value)")
    args = parser.parse_args()
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        f"head={','.join(ROWS)}",
        f"seed={args.seeds}",
        f"backbone={args.backbone}",
        "data=synthetic",
        f"data.root={ROOT / 'data' / 'synthetic_study'}",
        *(f"+data.options.{key}={value}" for key, value in HARD_DATA.items()),
        "data.val_split=null",
        f"trainer.max_epochs={args.epochs}",
        "callbacks.part_masks=null",
        "callbacks.ranked_list=null",
        f"hydra.sweep.dir={args.out}",
        *args.overrides,
    ]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    results = collect(args.out)
    described = ", ".join(f"{key} {value}" for key, value in HARD_DATA.items())
    print(
        f"\nPartition study: {args.backbone}, {args.epochs} epochs, seeds {args.seeds}, synthetic set with "
        f"{described}{', ' + ' '.join(args.overrides) if args.overrides else ''}\n"
    )
    print(markdown_table(results, "3.2"))
    for first, second in COMPARISONS:
        try:
            print("\n" + comparison_report(results, first, second, layout="3.2"))
        except ValueError as err:  # e.g. a row without finished runs
            print(f"\n{first} - {second}: no comparison ({err})")
    report = problems_report(results)
    if report:
        print("\n" + report)


if __name__ == "__main__":
    main()
