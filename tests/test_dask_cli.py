"""`feocscreen screen --engine dask` from the command line gives the local engine's verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from feocscreen.cli import main
from test_dask_engine import _write_tables, _write_workbook

AS_OF = "2026-11-28"


def test_engine_dask_on_the_command_line_matches_local(tmp_path: Path) -> None:
    runner = CliRunner()
    workbook = _write_workbook(tmp_path / "portfolio.xlsx")
    tables = _write_tables(tmp_path / "tables", "parquet", parts=2)
    local_json = tmp_path / "local.json"
    result = runner.invoke(
        main, ["screen", str(workbook), "--as-of", AS_OF, "--json", str(local_json), "-q"]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    dask_json = tmp_path / "dask.json"
    result = runner.invoke(
        main,
        [
            "screen",
            "--engine",
            "dask",
            str(tables),
            "--as-of",
            AS_OF,
            "--output-dir",
            str(out),
            "--json",
            str(dask_json),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    local = json.loads(local_json.read_text())
    distributed = json.loads(dask_json.read_text())
    tiers = {s["supplier_id"]: s["tier"] for s in local["suppliers"]}
    assert {s["supplier_id"]: s["tier"] for s in distributed["suppliers"]} == tiers
    assert distributed["summary"] == local["summary"]
    written = pd.read_parquet(out / "suppliers.parquet")
    assert dict(zip(written["supplier_id"], written["tier"], strict=True)) == tiers
    assert (out / "summary.json").exists()


def test_dask_only_options_need_the_dask_engine(tmp_path: Path) -> None:
    workbook = _write_workbook(tmp_path / "portfolio.xlsx")
    result = CliRunner().invoke(main, ["screen", str(workbook), "--stream"])
    assert result.exit_code == 2
    assert "--engine dask" in result.output


def test_streamed_and_gathered_runs_can_follow_each_other_in_one_folder(tmp_path: Path) -> None:
    """suppliers.parquet is a folder of parts when streamed and one file when gathered; a
    run in either mode replaces what the other left, and the terminal summary works."""
    tables = _write_tables(tmp_path / "tables", "parquet", parts=2)
    out = tmp_path / "out"
    base = ["screen", "--engine", "dask", str(tables), "--as-of", AS_OF, "--output-dir", str(out)]
    rows = None
    for extra in (["--stream"], [], ["--stream"]):
        result = CliRunner().invoke(main, [*base, *extra])
        assert result.exit_code == 0, result.output
        assert "screened" in result.output  # the summary, top exposures included
        written = pd.read_parquet(out / "suppliers.parquet")
        assert (out / "suppliers.parquet").is_dir() == bool(extra)
        ids = sorted(written["supplier_id"])
        assert rows is None or ids == rows
        rows = ids
