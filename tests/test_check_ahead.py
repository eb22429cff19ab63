"""Large workbooks are checked on a child process while the libraries load
(``ingest.check_ahead``): the same answers as checking when opening, refusals included,
and nothing left behind."""

from __future__ import annotations

import json
import os
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import write_lying_zip, write_workbook, write_zip_bomb
from feocscreen import ingest
from feocscreen.cli import main
from feocscreen.errors import InputError

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="checked ahead on Linux only")

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo_suppliers.xlsx"


@pytest.fixture
def every_workbook_ahead(monkeypatch):
    """Check every workbook ahead, however small; fail if a check was started and not used.

    The suite's web tests leave an idle thread behind, and checks are not forked beside
    other threads: here they are (the child takes no lock such a thread could hold)."""
    monkeypatch.setattr(ingest, "AHEAD_MIN_BYTES", 0)
    monkeypatch.setattr(ingest.threading, "active_count", lambda: 1)
    yield
    left = dict(ingest._AHEAD)
    ingest._cancel_ahead()
    assert not left, f"checks started and never used: {list(left)}"


def _ahead(path: Path) -> None:
    ingest.check_ahead([path])
    assert path.resolve() in ingest._AHEAD  # the check really runs on a child


def test_a_workbook_checked_ahead_opens_as_one_checked_when_opened(every_workbook_ahead):
    _ahead(DEMO)
    ahead = ingest.open_input(DEMO)
    assert not ingest._AHEAD
    here = ingest.open_input(DEMO)
    assert (ahead.sha256, ahead.sheet_names) == (here.sha256, here.sheet_names)
    assert ahead.sha256 == ingest.sha256_of(DEMO)


def test_the_screen_command_checks_ahead_and_gives_the_same_result(
    every_workbook_ahead, tmp_path, monkeypatch
):
    started: list[Path] = []
    real = ingest._Ahead

    def counted(path: Path) -> ingest._Ahead:
        started.append(path)
        return real(path)

    monkeypatch.setattr(ingest, "_Ahead", counted)
    args = ["screen", str(DEMO), "--as-of", "2026-06-01", "-q", "--json"]
    run = CliRunner().invoke(main, [*args, str(tmp_path / "ahead.json")])
    assert run.exit_code == 0, run.output
    assert started == [DEMO]
    monkeypatch.setattr(ingest, "AHEAD_MIN_BYTES", 1 << 60)
    run = CliRunner().invoke(main, [*args, str(tmp_path / "here.json")])
    assert run.exit_code == 0, run.output
    ahead, here = (
        json.loads((tmp_path / n).read_text("utf-8")) for n in ("ahead.json", "here.json")
    )
    for result in (ahead, here):
        result.pop("generated_at")
        result["audit"].pop("stage_timings", None)
        result["audit"].pop("started_at", None)
        result["audit"].pop("finished_at", None)
    assert ahead == here


def _bomb(path: Path) -> Path:
    return write_zip_bomb(path, 300)


def _not_a_workbook(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    return path


@pytest.mark.parametrize("make", [_bomb, write_lying_zip, _not_a_workbook])
def test_a_refusal_ahead_is_the_refusal_when_opened(every_workbook_ahead, tmp_path, make):
    path = make(tmp_path / "hostile.xlsx")
    with pytest.raises(InputError) as here:
        ingest.open_input(path)
    _ahead(path)
    with pytest.raises(InputError) as ahead:
        ingest.open_input(path)
    assert ahead.value.message == here.value.message
    assert [i.to_dict() for i in ahead.value.issues] == [i.to_dict() for i in here.value.issues]
    run = CliRunner().invoke(main, ["validate", str(path)])
    assert run.exit_code == 2
    assert here.value.message in run.output


def test_a_child_that_cannot_tell_leaves_the_check_to_the_parent(
    every_workbook_ahead, tmp_path, monkeypatch
):
    path = write_workbook(
        tmp_path / "book.xlsx",
        {
            "Suppliers": [
                ["supplier_id", "supplier_name", "country", "stage"],
                ["A", "Al", "JP", "magnet"],
            ]
        },
    )

    def broken(_path: Path) -> list[str]:
        raise RuntimeError("the child fails")

    monkeypatch.setattr(ingest, "check_zip", broken)
    _ahead(path)
    monkeypatch.undo()
    assert ingest._checked(path) is None  # the child reported nothing usable
    assert ingest.open_input(path).sheet_names == ["Suppliers"]


def test_checks_not_needed_are_let_go(every_workbook_ahead):
    _ahead(DEMO)
    pid = ingest._AHEAD[DEMO.resolve()].pid
    ingest._cancel_ahead()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, 0)  # already reaped


def test_small_workbooks_csv_and_missing_files_are_checked_when_opened(tmp_path):
    csv = tmp_path / "suppliers.csv"
    csv.write_text("supplier_id,supplier_name,country,stage\nA,Al,JP,magnet\n")
    ingest.check_ahead([DEMO, csv, tmp_path / "missing.xlsx", tmp_path])
    assert not ingest._AHEAD


def test_nothing_is_forked_beside_another_thread(monkeypatch):
    monkeypatch.setattr(ingest, "AHEAD_MIN_BYTES", 0)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        ingest.check_ahead([DEMO])
        assert not ingest._AHEAD
    finally:
        release.set()
        other.join()
