"""Progress on stderr and per-stage timings for long screening runs.

A 1,048,575-row workbook takes tens of seconds to read and screen; the user
should see how far it has got. Pipeline modules announce their work with

    with progress.stage("reading", total=n_rows) as p:
        p.advance(k)

and the CLI decides, once, whether that is shown: a rich progress display on
stderr when stderr is a terminal, nothing when it is not (pipes, CI logs) or
with ``--quiet``. Timings are collected in every case, so ``--verbose`` can
print them and the Audit sheet can record them:

    with progress.collect() as timings:
        ...  # stages
    audit["stage_timings"] = timings.as_dicts()

Standard library and rich only, so that the CLI can import it cheaply. Safe to
call from worker threads (the Dask engine advances stages from its workers).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

# The pipeline's stages, in the order a run goes through them; other names are allowed.
READING = "reading"
VALIDATING = "validating"
MATCHING = "matching"
EVALUATING = "evaluating"
WRITING = "writing"
PIPELINE_STAGES: tuple[str, ...] = (READING, VALIDATING, MATCHING, EVALUATING, WRITING)

T = TypeVar("T")


@dataclass(frozen=True)
class StageTiming:
    """How long one stage took and how many units it handled."""

    stage: str
    seconds: float
    count: int
    unit: str
    depth: int = 0  # 0 for a top-level stage, 1 for a stage inside another, …

    @property
    def rate(self) -> float | None:
        """Units per second, or None when nothing was counted or no time passed."""
        if self.count <= 0 or self.seconds <= 0:
            return None
        return self.count / self.seconds

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the JSON audit block and the Audit sheet."""
        rate = self.rate
        return {
            "stage": self.stage,
            "seconds": round(self.seconds, 4),
            "count": self.count,
            "unit": self.unit,
            "per_second": None if rate is None else round(rate, 1),
            "depth": self.depth,
        }


@dataclass
class Timings:
    """The stage timings recorded while a ``collect()`` block was open, in completion order."""

    stages: list[StageTiming] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        """Every timing as a plain dict (stage, seconds, count, unit, per_second, depth)."""
        return [t.to_dict() for t in self.stages]

    def total_seconds(self) -> float:
        """Wall time of the top-level stages (nested stages are already inside them)."""
        return sum(t.seconds for t in self.stages if t.depth == 0)

    def __iter__(self) -> Iterator[StageTiming]:
        return iter(self.stages)

    def __len__(self) -> int:
        return len(self.stages)


class _CountColumn(ProgressColumn):
    """Done/total with the unit ("12,000/1,048,575 rows"); just the count when no total is
    known, and nothing for a stage that counts nothing (chain building, say)."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        done = int(task.completed)
        if not task.fields.get("counted", True):
            return Text("")
        if task.total:
            return Text(f"{done:,}/{int(task.total):,} {unit}", style="progress.download")
        if done:
            return Text(f"{done:,} {unit}", style="progress.download")
        return Text("")


class _RateColumn(ProgressColumn):
    """Units per second of a task, with its unit ("1.2M rows/s")."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("", style="progress.data.speed")
        unit = task.fields.get("unit", "")
        return Text(f"{_human(speed)} {unit}/s", style="progress.data.speed")


def _human(value: float) -> str:
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= threshold:
            return f"{value / threshold:.1f}{suffix}"
    return f"{value:.0f}"


class StageHandle:
    """What a running stage offers its caller: count work done, learn the total late."""

    def __init__(self, tracker: Tracker, name: str, total: int | None, unit: str, depth: int):
        self._tracker = tracker
        self.name = name
        self.total = total
        self.unit = unit
        self.depth = depth
        self.count = 0
        self._task_id: Any = None
        self._lock = threading.Lock()

    def advance(self, amount: int = 1) -> None:
        """Count ``amount`` more units done (rows read, suppliers evaluated, …)."""
        with self._lock:
            self.count += amount
        self._tracker._display_advance(self, amount)

    def set_total(self, total: int) -> None:
        """Set the total once it is known (e.g. rows of a sheet after opening it)."""
        self.total = total
        self._tracker._display_total(self, total)


class Tracker:
    """One run's progress display and timing record.

    ``show`` decides whether a display is drawn at all; ``None`` means "when the
    stream is a terminal". A tracker that does not show still records timings.
    """

    def __init__(
        self,
        *,
        quiet: bool = False,
        show: bool | None = None,
        stream: IO[str] | None = None,
        console: Console | None = None,
    ) -> None:
        if console is None:
            console = Console(
                file=stream if stream is not None else sys.stderr, stderr=stream is None
            )
        self.console = console
        self.show = False if quiet else (console.is_terminal if show is None else show)
        self._lock = threading.RLock()
        self._depth = 0
        self._display: Progress | None = None
        self._collectors: list[Timings] = []
        self.history = Timings()

    @contextmanager
    def stage(
        self, name: str, total: int | None = None, unit: str = "rows"
    ) -> Iterator[StageHandle]:
        """Time a stage and, when shown, draw its bar; nests inside other stages."""
        with self._lock:
            depth = self._depth
            self._depth += 1
            handle = StageHandle(self, name, total, unit, depth)
            if self.show:
                if self._display is None:
                    self._display = self._new_display()
                    self._display.start()
                label = ("  " * depth) + name
                handle._task_id = self._display.add_task(label, total=total, unit=unit)
        started = time.perf_counter()
        try:
            yield handle
        finally:
            elapsed = time.perf_counter() - started
            timing = StageTiming(name, elapsed, handle.count, unit, depth)
            with self._lock:
                self._depth -= 1
                self.history.stages.append(timing)
                for collector in self._collectors:
                    collector.stages.append(timing)
                if self._display is not None:
                    if handle._task_id is not None:
                        task_total = handle.total if handle.total is not None else handle.count
                        # a stage that counted nothing ends as a full bar, not an empty one
                        self._display.update(
                            handle._task_id,
                            total=task_total or 1,
                            completed=handle.count if task_total else 1,
                            counted=bool(task_total),
                        )
                        self._display.stop_task(handle._task_id)
                    if self._depth == 0:
                        self._display.stop()
                        self._display = None

    @contextmanager
    def collect(self) -> Iterator[Timings]:
        """Gather the timings of every stage that ends inside this block."""
        timings = Timings()
        with self._lock:
            self._collectors.append(timings)
        try:
            yield timings
        finally:
            with self._lock:
                self._collectors.remove(timings)

    def _new_display(self) -> Progress:
        return Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<14}"),
            BarColumn(bar_width=30),
            _CountColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            # Redrawing 10 times a second is plenty and keeps the display off the hot path.
            refresh_per_second=10,
        )

    def _display_advance(self, handle: StageHandle, amount: int) -> None:
        display = self._display
        if display is not None and handle._task_id is not None:
            display.advance(handle._task_id, amount)

    def _display_total(self, handle: StageHandle, total: int) -> None:
        display = self._display
        if display is not None and handle._task_id is not None:
            display.update(handle._task_id, total=total)


_current = Tracker(show=False)
_current_lock = threading.Lock()


def current() -> Tracker:
    """The tracker the pipeline reports to (silent until the CLI configures one)."""
    return _current


@contextmanager
def use(tracker: Tracker) -> Iterator[Tracker]:
    """Make ``tracker`` the current one for the duration of the block (the CLI's entry point)."""
    global _current
    with _current_lock:
        previous, _current = _current, tracker
    try:
        yield tracker
    finally:
        with _current_lock:
            _current = previous


def configured(*, quiet: bool = False, show: bool | None = None) -> Tracker:
    """A tracker for a CLI run: shown on a terminal stderr unless ``quiet``."""
    return Tracker(quiet=quiet, show=show)


@contextmanager
def stage(name: str, total: int | None = None, unit: str = "rows") -> Iterator[StageHandle]:
    """Time (and show, when enabled) one stage of the current run."""
    with _current.stage(name, total=total, unit=unit) as handle:
        yield handle


@contextmanager
def collect() -> Iterator[Timings]:
    """Collect the timings of the stages that end inside this block, on the current tracker."""
    with _current.collect() as timings:
        yield timings


def track(
    items: Iterable[T], name: str, total: int | None = None, unit: str = "rows", step: int = 1
) -> Iterator[T]:
    """Iterate ``items`` inside a stage, advancing it by ``step`` per item."""
    with stage(name, total=total, unit=unit) as handle:
        for item in items:
            yield item
            handle.advance(step)


def timings_table(timings: Iterable[StageTiming], title: str = "Stage timings") -> Table:
    """A rich table of timings for ``--verbose`` terminal summaries."""
    table = Table(title=title, title_justify="left")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("count", justify="right")
    table.add_column("per second", justify="right")
    for timing in timings:
        rate = timing.rate
        table.add_row(
            ("  " * timing.depth) + timing.stage,
            f"{timing.seconds:.3f}",
            f"{timing.count:,} {timing.unit}" if timing.count else "",
            f"{_human(rate)} {timing.unit}/s" if rate else "",
        )
    return table


def print_timings(timings: Iterable[StageTiming], console: Console | None = None) -> None:
    """Print the timings table on stderr (or ``console``): what ``--verbose`` adds."""
    (console or Console(stderr=True)).print(timings_table(timings))
