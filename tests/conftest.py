"""Shared fixtures: the project root, and a runner for the entry points in a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_test_process():
    """Keep torch from fighting over the machine's cores in the test process."""
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Thousands of small ops (NASNet, OSNet): one thread is as fast, and robust on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_entry_point(
    script: str, *overrides: str, cwd: Path = ROOT, timeout: int = 900, check: bool = True
) -> subprocess.CompletedProcess:
    """Run `python <script> <overrides>` as a user would; return the finished process (stdout+stderr).
    train.py runs skip the measured latency (an ONNX export per run) unless the test sets the callbacks group,
    the complexity callback or a debug preset (which skips it, or has no callbacks): test_latency.py and one
    run of test_train_e2e.py check it, the other tests need not pay for it."""
    own = ("callbacks=", "callbacks.complexity", "debug=")
    if Path(script).name == "train.py" and not any(o.lstrip("+~").startswith(own) for o in overrides):
        overrides = (*overrides, "callbacks.complexity.latency=false")
    env = {**os.environ, "HYDRA_FULL_ERROR": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / script), *overrides],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{script} {' '.join(overrides)} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def data_config(**changes):
    """The default run's data settings (conf/data/synthetic.yaml, its one home), with `changes`: what a test
    builds a data module from without composing a whole run."""
    from omegaconf import OmegaConf

    from reid_lightning.data.datamodule import DataConfig

    cfg = OmegaConf.create(
        {
            "paths": {"data_dir": str(ROOT / "data")},
            "seed": 0,
            "data": OmegaConf.load(ROOT / "conf" / "data" / "synthetic.yaml"),
        }
    )
    data = OmegaConf.to_container(cfg.data, resolve=True)
    for key in ("sources", "targets"):  # run-level choices (run/build.py), not DataConfig's
        data.pop(key)
    return DataConfig(**{**data, **changes})


@pytest.fixture
def tmpfs(tmp_path):
    """A factory of small file systems (tmpfs of `size`, e.g. "1m"), like a disk about to be full; needs root.
    Unmounted at the end of the test."""
    mounts = []

    def mount(size: str = "1m", name: str = "disk") -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root")
        folder = tmp_path / name
        folder.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]).returncode != 0:
            pytest.skip("cannot mount a tmpfs here")
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        subprocess.run(["umount", "-l", str(folder)])


@pytest.fixture
def small_disk(tmpfs):
    """A 1 MiB file system (tmpfs)."""
    return tmpfs("1m")
