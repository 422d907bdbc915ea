"""Checkpoints written atomically: a full disk or a kill -9 never leaves a truncated `.ckpt` behind.

Lightning's TorchCheckpointIO writes through an fsspec transaction whose temporary file lives in the
system temp folder; when that is another file system than the run folder (a node's /tmp against a shared
log disk), the final move is a copy into the target, which a full disk or a kill cuts short. Here local
checkpoints go through `reid_lightning.atomic.atomic_write` (temporary file in the checkpoint's own
folder, fsync, rename); remote paths (s3://, ...) keep Lightning's own write. build_trainer installs it.
"""

from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.utilities.cloud_io import _is_local_file_protocol
from lightning_fabric.utilities.types import _PATH

from reid_lightning.atomic import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local_file_protocol(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_write(path, lambda file: torch.save(checkpoint, file))
