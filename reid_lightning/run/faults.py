"""How a run ends when something goes wrong, so that nothing broken is ever recorded as finished.

- Interrupted (SIGTERM, Ctrl-C, a SLURM requeue): the callback InterruptionCheckpoint has saved the state;
  here the run is recorded as `interrupted`, with the checkpoint a rerun resumes from, and the process exits
  non-zero (128 + 15 = 143 for SIGTERM). In a local multirun the whole sweep stops there, loudly: a SIGTERM
  is meant for the process (a machine going down, a cluster preempting), not for one job; rerunning the
  same command into the same sweep folder skips finished jobs and resumes this one. With
  `hydra/launcher=slurm` every job is its own SLURM job, so the other jobs are not affected.
  A SIGTERM outside Lightning's loops (while the data is prepared or checked, the model built) is an
  interruption too (`sigterm_interrupts`): recorded the same way, with nothing to checkpoint yet.
- A result that is not a number (NaN metrics: no query with a match in the gallery) fails the run.
"""

import logging
import math
import signal
from contextlib import contextmanager
from pathlib import Path

from pytorch_lightning.utilities.exceptions import SIGTERMException

from reid_lightning.metrics.names import RESULT_METRICS, split_result_key
from reid_lightning.reporting.run_records import INTERRUPTED, write_record
from reid_lightning.run.resume import newest_readable_checkpoint

log = logging.getLogger(__name__)
SIGTERM_EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports for a process ended by SIGTERM


class BrokenResult(RuntimeError):
    """The run completed, but its test result is no result (NaN metrics)."""


def require_finite_results(outcome: dict) -> dict:
    """`outcome` if every reported test metric is a finite number, else BrokenResult naming the bad ones."""
    metrics = outcome.get("metrics") or {}
    bad = {k: v for k, v in metrics.items() if split_result_key(k)[1] in RESULT_METRICS and not math.isfinite(v)}
    if bad:
        found = ", ".join(f"{k}={v}" for k, v in bad.items())
        valid = {k: v for k, v in metrics.items() if split_result_key(k)[1] == "num_valid_queries"}
        raise BrokenResult(
            f"the test metrics are not numbers ({found}; queries with a match in the gallery: "
            f"{valid or '?'}): check that the query and gallery folders hold images of the same "
            "identities seen by different cameras"
        )
    return outcome


def describe_stop(stop: BaseException) -> str:
    if isinstance(stop, SIGTERMException):
        return "SIGTERM"
    if isinstance(stop, KeyboardInterrupt) or (isinstance(stop, SystemExit) and stop.code == 1):
        return "an interrupt (Ctrl-C) or exit(1)"
    return f"{type(stop).__name__}({getattr(stop, 'code', '')})"


def record_interruption(
    run_dir: Path, choices: dict, stop: BaseException, multirun: bool, write: bool = True
) -> SystemExit:
    """Record the run as interrupted (if `write`: rank zero); returns the SystemExit to raise (143 for SIGTERM)."""
    code = getattr(stop, "code", None)
    if isinstance(stop, SIGTERMException) or not isinstance(code, int) or code == 0:
        code = SIGTERM_EXIT_CODE if isinstance(stop, SIGTERMException) else 1
    if not write:
        return SystemExit(code)
    checkpoint = newest_readable_checkpoint(run_dir)
    how = describe_stop(stop)
    write_record(
        run_dir,
        INTERRUPTED,
        choices,
        error=f"interrupted by {how}",
        resume_from=str(checkpoint) if checkpoint else None,
    )
    resume = f"it resumes from {checkpoint}" if checkpoint else "no checkpoint yet: it starts over"
    log.error(
        "Run %s was interrupted by %s; %s when rerun with the same command%s",
        run_dir,
        how,
        resume,
        " (a sweep: the jobs after this one did not run; rerun with hydra.sweep.dir=<this sweep's folder>, "
        "finished jobs are skipped)"
        if multirun
        else "",
    )
    return SystemExit(code)


@contextmanager
def sigterm_interrupts():
    """While inside: SIGTERM raises Lightning's SIGTERMException, unless Lightning's own handler is installed.

    Inside fit/test, Lightning replaces this handler with its own (which still calls this one): there this one
    stays quiet and Lightning stops at the next batch boundary, after which InterruptionCheckpoint saves.
    """

    def handler(signum, frame):
        if signal.getsignal(signal.SIGTERM) is handler:  # not called through Lightning's handler
            raise SIGTERMException()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
