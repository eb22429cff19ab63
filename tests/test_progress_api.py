"""Progress display and stage timings: shown on a terminal, silent otherwise, always timed."""

from __future__ import annotations

import io
import threading
import time

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from feocscreen import progress


def _terminal_console(buffer: io.StringIO) -> Console:
    return Console(file=buffer, force_terminal=True, width=100, color_system=None)


def test_not_a_terminal_draws_nothing_but_still_times() -> None:
    buffer = io.StringIO()
    tracker = progress.Tracker(stream=buffer)
    assert tracker.show is False
    with (
        progress.use(tracker),
        progress.collect() as timings,
        progress.stage("reading", total=3) as p,
    ):
        p.advance(3)
    assert buffer.getvalue() == ""
    assert [t.stage for t in timings] == ["reading"]
    assert timings.stages[0].count == 3


def test_terminal_shows_stage_counts_and_unit() -> None:
    buffer = io.StringIO()
    tracker = progress.Tracker(console=_terminal_console(buffer))
    assert tracker.show is True
    with progress.use(tracker), progress.stage("validating", total=1200, unit="rows") as p:
        p.advance(1200)
    shown = buffer.getvalue()
    assert "validating" in shown
    assert "1,200/1,200 rows" in shown
    assert "rows" in shown


def test_quiet_silences_even_a_terminal() -> None:
    buffer = io.StringIO()
    tracker = progress.Tracker(quiet=True, console=_terminal_console(buffer))
    with progress.use(tracker), progress.stage("matching", total=5) as p:
        p.advance(5)
    assert buffer.getvalue() == ""
    assert tracker.history.stages[0].count == 5


def test_nested_stages_record_depth_and_inner_first() -> None:
    tracker = progress.Tracker(show=False)
    with (
        progress.use(tracker),
        progress.collect() as timings,
        progress.stage("screening", unit="suppliers"),
    ):
        with progress.stage("reading") as p:
            p.advance(10)
        with progress.stage("evaluating", unit="suppliers") as p:
            p.advance(4)
    assert [(t.stage, t.depth) for t in timings] == [
        ("reading", 1),
        ("evaluating", 1),
        ("screening", 0),
    ]
    outer = timings.stages[-1]
    assert outer.seconds >= timings.stages[0].seconds + timings.stages[1].seconds
    assert timings.total_seconds() == outer.seconds


def test_collect_keeps_only_stages_ending_inside_it() -> None:
    tracker = progress.Tracker(show=False)
    with progress.use(tracker):
        with progress.stage("before"):
            pass
        with progress.collect() as timings, progress.stage("inside"):
            pass
        with progress.stage("after"):
            pass
    assert [t.stage for t in timings] == ["inside"]
    assert [t.stage for t in tracker.history] == ["before", "inside", "after"]


def test_use_restores_the_previous_tracker_after_an_error() -> None:
    before = progress.current()
    tracker = progress.Tracker(show=False)
    try:
        with progress.use(tracker):
            assert progress.current() is tracker
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert progress.current() is before


def test_a_failing_stage_is_still_timed() -> None:
    tracker = progress.Tracker(show=False)
    try:
        with progress.use(tracker), progress.stage("writing") as p:
            p.advance(2)
            raise ValueError("disk full")
    except ValueError:
        pass
    assert tracker.history.stages[0].stage == "writing"
    assert tracker.history.stages[0].count == 2


def test_advances_from_worker_threads_are_all_counted() -> None:
    buffer = io.StringIO()
    tracker = progress.Tracker(console=_terminal_console(buffer))
    with progress.use(tracker), progress.stage("evaluating", total=8000) as p:
        workers = [
            threading.Thread(target=lambda: [p.advance(1) for _ in range(1000)]) for _ in range(8)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert tracker.history.stages[0].count == 8000


def test_rate_and_dict_form() -> None:
    tracker = progress.Tracker(show=False)
    with progress.use(tracker), progress.stage("reading", unit="rows") as p:
        p.advance(500)
        time.sleep(0.01)
    timing = tracker.history.stages[0]
    assert timing.rate is not None and 0 < timing.rate <= 500 / 0.01
    as_dict = timing.to_dict()
    assert set(as_dict) == {"stage", "seconds", "count", "unit", "per_second", "depth"}
    assert as_dict["count"] == 500 and as_dict["unit"] == "rows"


def test_a_stage_with_no_count_has_no_rate() -> None:
    timing = progress.StageTiming("writing", 1.0, 0, "rows")
    assert timing.rate is None
    assert timing.to_dict()["per_second"] is None


def test_set_total_late_and_track() -> None:
    buffer = io.StringIO()
    tracker = progress.Tracker(console=_terminal_console(buffer))
    with progress.use(tracker):
        with progress.stage("reading") as p:
            p.set_total(7)
            p.advance(7)
        seen = list(progress.track(range(4), "matching", total=4, unit="names"))
    assert seen == [0, 1, 2, 3]
    assert "7/7 rows" in buffer.getvalue()
    assert [(t.stage, t.count) for t in tracker.history] == [("reading", 7), ("matching", 4)]


def test_a_stage_that_counts_nothing_shows_no_count() -> None:
    buffer = io.StringIO()
    tracker = progress.Tracker(console=_terminal_console(buffer))
    with progress.use(tracker), progress.stage("chains", unit="suppliers"):
        pass
    shown = buffer.getvalue()
    assert "chains" in shown
    assert "0/0" not in shown and "suppliers" not in shown


def test_print_timings_lists_every_stage() -> None:
    buffer = io.StringIO()
    timings = [
        progress.StageTiming("reading", 2.0, 1_000_000, "rows"),
        progress.StageTiming("evaluating", 0.5, 0, "rows", depth=1),
    ]
    progress.print_timings(timings, console=Console(file=buffer, width=100, color_system=None))
    shown = buffer.getvalue()
    assert "reading" in shown and "evaluating" in shown
    assert "500.0k rows/s" in shown


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_count_is_the_sum_of_advances(amounts: list[int]) -> None:
    tracker = progress.Tracker(show=False)
    with tracker.stage("reading") as p:
        for amount in amounts:
            p.advance(amount)
    assert tracker.history.stages[0].count == sum(amounts)
