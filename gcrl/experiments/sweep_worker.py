"""One run of a sweep, in whichever process runs it: the sweep's own, a fresh child process
(`python -m gcrl.experiments.sweep_worker JOB`), or a Ray task.

A job is plain JSON (the run's config.json text, its directory, the dataset directory, whether to
resume), so it crosses process and machine boundaries without pickling gcrl's classes. run_one never
raises for a failed run: it returns the error, and the traceback goes to the run's train.log."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path

LOG = "train.log"


def result(status: str, seconds: float = 0.0, error: str | None = None, step: int | None = None, overall: float | None = None) -> dict:
    return {"status": status, "seconds": seconds, "error": error, "step": step, "overall": overall}


def describe(err: BaseException) -> str:
    from gcrl.errors import GcrlError

    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return text if isinstance(err, GcrlError) else f"{type(err).__name__}: {text}".rstrip(": ")


def _log_failure(log_path: Path, what: str) -> None:
    with open(log_path, "a") as log:  # also in-process and in a child: the terminal may be long gone
        log.write(f"\n--- {datetime.now():%Y-%m-%d %H:%M:%S} {what}:\n{traceback.format_exc()}")


def run_one(job: dict, capture: bool = False) -> dict:
    """Train (or resume) one run. capture: send its printed output to RUN_DIR/train.log (a Ray task,
    whose output would otherwise stream into the driver's terminal)."""
    start = time.perf_counter()
    run_dir = Path(job["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / LOG
    with contextlib.ExitStack() as stack:
        if capture:
            log = stack.enter_context(open(log_path, "a", buffering=1))
            stack.enter_context(contextlib.redirect_stdout(log))
            stack.enter_context(contextlib.redirect_stderr(log))
        from gcrl.errors import DivergenceError

        try:
            from gcrl.config import from_json
            from gcrl.tracking import WandbOptions
            from gcrl.train import train

            train_cfg, agent_cfg = from_json(job["config"])
            summary = train(train_cfg, agent_cfg, run_dir=run_dir, dataset_dir=job.get("dataset_dir"), resume=job["resume"], progress=job.get("progress", False),
                            wandb=WandbOptions.from_json(job.get("wandb")))  # fmt: skip
        except KeyboardInterrupt:
            return result("interrupted", time.perf_counter() - start, "interrupted before its first checkpoint of this attempt")
        except DivergenceError as err:  # its last finite checkpoint stays; a rerun of the sweep resumes from it
            _log_failure(log_path, "diverged")
            return result("diverged", time.perf_counter() - start, describe(err))
        except Exception as err:
            _log_failure(log_path, "failed")
            return result("failed", time.perf_counter() - start, describe(err))
    seconds = time.perf_counter() - start
    overall = (summary.get("eval") or {}).get("overall")
    return result("done" if summary["finished"] else "interrupted", seconds, step=summary["step"], overall=overall)


def main(argv: list[str]) -> int:
    """Child-process entry: argv = [JOB_JSON]; the result goes to job['result_path'] (written atomically)."""
    from gcrl.stopping import sigterm_as_interrupt

    job = json.loads(argv[0])
    with sigterm_as_interrupt():  # the sweep forwards a SIGTERM it gets: save and stop, as on Ctrl-C
        outcome = run_one(job)
    from gcrl.data.files import atomic_path

    with atomic_path(Path(job["result_path"])) as tmp:
        tmp.write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
