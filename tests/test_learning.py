"""CI notices a model that stops learning: a short train.py run must rank far better than an untrained one.

The run (LEARNING_RUN): a small synthetic set (32 train ids, 24 test ids with 71 queries, people centred,
64x32 images), OSNet x0.25 with one global feature, the default loss (label-smoothed cross-entropy),
sampler, augmentation and Adam, lr 3e-3 with one warm-up epoch, 12 epochs, then the test protocol on query
vs gallery. Measured with these overrides on this repository's 2-core machine (shared with other jobs):

    seed        0      1      2      0 (this test, 2 threads) | optimizer.lr=0 (nothing learnt), seed 0
    Rank-1      0.239  0.310  0.310  0.127                    | 0.070
    mAP         0.200  0.259  0.222  0.167                    | 0.081

Runs are not bit-reproducible across thread counts, and with 71 queries Rank-1 moves by 0.014 a query:
the same seed gave 0.239 and 0.127. Thresholds: Rank-1 >= 0.10 (chance ~0.04, untrained 0.070, lowest
trained 0.127) and mAP >= 0.12 (untrained 0.081, lowest trained 0.167).

An untrained network already ranks above chance (colour statistics survive random convolutions), so
the thresholds sit between the untrained and the trained runs, with margin on both sides: a change that
breaks the loss, the labels, the sampler or the optimiser lands near the untrained figures and fails.
40-45 CPU-seconds per run (one torch thread; 2.5-6 minutes of wall time on the busy machine, about a minute
idle): marked slow.
"""

import json

import pytest

from tests.conftest import run_entry_point

LEARNING_RUN = [
    "data=synthetic_tiny",
    "data.options.num_train_ids=32",
    "data.options.num_test_ids=24",
    "+data.options.misalignment=0.0",
    "+data.options.image_size=[64,32]",
    "data.height=64",
    "data.width=32",
    "data.val_split=null",
    "backbone.width=0.25",
    "head=global_shared",
    "optimizer.lr=3e-3",
    "scheduler.warmup_epochs=1",
    "trainer.max_epochs=12",
    "seed=0",
    "callbacks.ranked_list=null",
    "callbacks.part_masks=null",
]
MIN_RANK1 = 0.10  # trained runs 0.127-0.310, untrained 0.070
MIN_MAP = 0.12  # trained runs 0.167-0.259, untrained 0.081


@pytest.mark.slow
def test_a_short_training_ranks_well_above_an_untrained_model(tmp_path):
    run_entry_point(
        "train.py", *LEARNING_RUN, f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"
    )
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    metrics = json.loads((run_dir / "result.json").read_text())["metrics"]
    assert metrics["rank1"] >= MIN_RANK1 and metrics["mAP"] >= MIN_MAP, metrics
