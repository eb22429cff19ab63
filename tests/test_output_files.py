"""Outputs written over earlier ones: a new file, written through links, refused when
protected (``machine.clear_for_writing``)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from feocscreen.cli import main
from feocscreen.machine import clear_for_writing

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo_suppliers.xlsx"
ARGS = ["screen", str(DEMO), "--as-of", "2026-06-01", "-q"]


def test_a_result_written_over_an_old_one_is_a_new_file(tmp_path: Path) -> None:
    out, report = tmp_path / "r.json", tmp_path / "r.xlsx"
    out.write_text("old " * 100_000)
    report.write_text("old")
    first = os.stat(out).st_ino
    keep = out.open("rb")  # the old file stays whole for whoever still reads it
    run = CliRunner().invoke(main, [*ARGS, "--json", str(out), "-o", str(report)])
    assert run.exit_code == 0, run.output
    assert json.loads(out.read_text("utf-8"))["summary"]["suppliers"] == 32
    assert os.stat(out).st_ino != first
    assert keep.read(4) == b"old "
    keep.close()
    assert report.read_bytes()[:2] == b"PK"


def test_a_link_is_written_through(tmp_path: Path) -> None:
    target, link = tmp_path / "target.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target)
    run = CliRunner().invoke(main, [*ARGS, "--json", str(link)])
    assert run.exit_code == 0, run.output
    assert link.is_symlink()
    assert json.loads(target.read_text("utf-8"))["summary"]["suppliers"] == 32


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_a_protected_result_is_refused_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    out.write_text("kept")
    out.chmod(0o444)
    run = CliRunner().invoke(main, [*ARGS, "--json", str(out)])
    assert run.exit_code == 2
    assert f"cannot write {out}" in run.output
    assert out.read_text() == "kept"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="open files counted in /proc")
def test_an_old_output_is_let_go_after_its_name_is_gone(tmp_path):
    path = tmp_path / "old.json"
    path.write_bytes(b"x" * (1 << 20))
    before = len(os.listdir("/proc/self/fd"))
    clear_for_writing(path)
    assert not path.exists()
    for thread in threading.enumerate():
        if thread.name == "let-go":
            thread.join()
    assert len(os.listdir("/proc/self/fd")) == before  # the held file is closed
