"""Local multi-process DDP on the CPU (gloo): two ranks, one run folder, exact metrics.

`trainer=ddp trainer.accelerator=cpu trainer.devices=2` is what a user tests on a laptop before a
cluster. Both ranks must train the same job in the same folder, leave one set of checkpoints and
logs, and the test metrics (each sample counted once despite the sampler's padding) must equal a
single-process evaluation of the saved checkpoint. The random-sampler case trains the predicted-mask head
(part maps for training only) and ranks with the visibility-aware distance, gathered from both ranks.
"""

import json

import pytest

from tests.conftest import run_entry_point


@pytest.mark.slow
@pytest.mark.parametrize(
    "sampler, head", [("random", ["head=predicted_mask_shared_visibility"]), ("identity", [])]
)  # identity: our P x K sampler, Lightning's off
def test_two_rank_cpu_ddp_matches_single_process_evaluation(tmp_path, sampler, head):
    paths = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    evaluation = ["evaluation.visibility=true"] if head else []
    proc = run_entry_point(
        "train.py",
        "data=synthetic_tiny",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.max_epochs=1",
        "trainer.check_val_every_n_epoch=1",
        f"data.sampler={sampler}",
        "callbacks.part_masks=null",
        *head,
        *paths,
    )
    log = proc.stdout + proc.stderr
    assert "GLOBAL_RANK: 0" in log and "GLOBAL_RANK: 1" in log  # both ranks ran
    runs = list((tmp_path / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 1  # one run folder, shared by both ranks
    run_dir = runs[0]
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert "last.ckpt" in checkpoints and len(checkpoints) == 2  # best + last, written once
    events = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))  # events.out.tfevents.<t>.<host>.<pid>.<n>
    assert events and len({p.name.split(".")[5] for p in events}) == 1  # one set of logs: written by rank 0 only
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "finished"
    assert (run_dir / "ranked_lists.png").is_file()  # drawn on rank zero from both ranks' samples

    run_entry_point("eval.py", "data=synthetic_tiny", f"ckpt_path={record['best_checkpoint']}", *evaluation, *paths)
    (eval_dir,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    single = json.loads((eval_dir / "result.json").read_text())["metrics"]
    for key in ("rank1", "rank5", "rank10", "mAP", "mINP"):
        assert single[key] == pytest.approx(record["metrics"][key], abs=1e-6), key
