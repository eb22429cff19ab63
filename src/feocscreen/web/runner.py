"""Run one screening in a child process, so that the time limit is real and a crash stays contained.

A thread cannot be stopped, so a per-request time limit enforced around a
thread only stops the *waiting*; the work would go on eating a core. Each
upload is therefore screened in its own process (forked from a forkserver that
has already imported pandas and the pipeline, so a run starts in milliseconds)
and killed when the limit passes or the client goes away. The child calls the
same public API as the CLI — ``feocscreen.api.screen`` and
``feocscreen.report.excel.write_report`` — and writes ``result.json`` and
``report.xlsx`` into the report directory it was given; only a small status
message travels back over the pipe.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread

from ..models import ScreenConfig

# Imported once in the forkserver so each forked run starts with the pipeline loaded: the API
# and every module it imports lazily (measured: a bad file answered in 0.6 s without them).
PRELOAD: list[str] = [
    "feocscreen.api",
    "feocscreen.validate",
    "feocscreen.rmi",
    "feocscreen.match",
    "feocscreen.watchlist",
    "feocscreen.report.excel",
    "feocscreen.web.runner",
    "python_calamine",
    "openpyxl",
]

Status = Literal["ok", "input-error", "internal-error", "timeout"]


@dataclass(frozen=True)
class ScreeningOutcome:
    """How a run ended: the result is on disk (ok), or why it is not."""

    status: Status
    message: str = ""
    issues: list[dict[str, Any]] = field(default_factory=list)
    error_type: str = ""
    details: str = ""  # traceback of an internal error: logged by the server, never sent
    gate: dict[str, Any] | None = None  # the --fail-on decision, when fail_on was given


def write_outputs(config: ScreenConfig, out_dir: Path) -> dict[str, Any] | None:
    """Screen through the public API, write the JSON result and the Excel report into out_dir.

    Returns the gate decision (``GateOutcome.to_dict``) when ``config.fail_on`` is set.
    """
    from ..api import screen
    from ..report.excel import write_report

    result = screen(config)
    data = result.data
    (out_dir / "result.json").write_text(
        json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    write_report(data, out_dir / "report.xlsx")
    return result.gate.to_dict() if result.gate is not None and config.fail_on else None


def _child_main(
    conn: multiprocessing.connection.Connection, config: ScreenConfig, out_dir: str, workdir: str
) -> None:
    from ..errors import FeocscreenError

    try:
        # Inputs are named relative to the upload directory, so the result and the Audit sheet
        # record "inputs/suppliers.xlsx", not the server's temporary path.
        os.chdir(workdir)
        gate = write_outputs(config, Path(out_dir))
        conn.send(("ok", "", [], gate))
    except FeocscreenError as exc:
        issues = [issue.to_dict() for issue in exc.issues]
        conn.send(("input-error", exc.message, issues, type(exc).__name__))
    except BaseException as exc:  # a bug: reported as such, traceback kept server-side
        conn.send(("internal-error", f"{type(exc).__name__}: {exc}", [], traceback.format_exc()))
    finally:
        conn.close()


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def warm_up() -> None:
    """Start the forkserver (and its imports) now rather than on the first upload."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        _context()
        forkserver.ensure_running()


async def run_screening(
    config: ScreenConfig, workdir: Path, out_dir: Path, time_limit: float
) -> ScreeningOutcome:
    """Screen in a child process working in ``workdir`` (config paths are relative to it).

    The child is killed after ``time_limit`` seconds or when this task is cancelled.
    """
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_child_main, args=(sender, config, str(out_dir), str(workdir)), daemon=True
    )
    process.start()
    sender.close()
    try:
        with anyio.move_on_after(time_limit) as scope:
            await anyio.wait_readable(receiver.fileno())
        if scope.cancelled_caught:
            return ScreeningOutcome(
                "timeout",
                f"Screening took longer than the {time_limit:g} s limit and was stopped. "
                "Split the workbook, or start the server with a longer --time-limit.",
            )
        try:
            status, message, issues, extra = receiver.recv()
        except EOFError:
            process.join(timeout=5)
            return ScreeningOutcome(
                "internal-error",
                f"The screening process ended without an answer (exit code {process.exitcode}).",
            )
        if status == "internal-error":
            return ScreeningOutcome(status, message, details=extra)
        if status == "ok":
            return ScreeningOutcome(status, gate=extra)
        return ScreeningOutcome(status, message, issues, error_type=extra)
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        with anyio.CancelScope(shield=True):  # reap the child even when the request was cancelled
            await anyio.to_thread.run_sync(process.join, 5.0)
