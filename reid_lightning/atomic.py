"""Atomic file writes: a file is either its old complete version or its new complete version, never a torso.

A run's records (result.json, complexity.json) and checkpoints are read back by the next run (skip a
finished sweep job, resume from the newest checkpoint). A plain write truncates the file first, so a full
disk or a kill -9 in the middle leaves a 0-byte result.json or a truncated last.ckpt. Here the content goes
to a temporary file in the same folder (same file system, so the rename below is atomic), is flushed and
fsync'ed, and only then `os.replace`s the target; the folder is fsync'ed so the rename itself survives a
crash. On any error the temporary file is removed and the old target stays as it was.
"""

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call `write(file)` on a temporary file beside `path`, then atomically put it in place of `path`.

    Raises OSError naming `path` (e.g. "No space left on device") with the old file untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600 files: give the usual permissions
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as err:  # also KeyboardInterrupt: never leave the temporary file behind
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        cause = _os_error(err)  # torch.save reports a failed write as a RuntimeError caused by the OSError
        if cause is not None:
            raise OSError(
                cause.errno,
                f"cannot write {path}: {cause.strerror or cause}; the previous version of "
                "the file (if any) is kept. Free disk space (or choose another "
                "paths.log_dir) and rerun: a run resumes from its newest readable "
                "checkpoint",
            ) from err
        raise
    _fsync_folder(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda file: file.write(text.encode()))


def _os_error(err: BaseException | None) -> OSError | None:
    """The OSError among `err` and its causes (a chain of at most a few links)."""
    seen = 0
    while err is not None and seen < 8:
        if isinstance(err, OSError):
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX: a directory entry is data of the directory)."""
    with contextlib.suppress(OSError):  # some file systems (and Windows) cannot open a folder
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
