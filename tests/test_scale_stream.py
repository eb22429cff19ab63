"""The CLI streams each supplier to its outputs; what it writes equals the in-memory result.

``feocscreen screen`` never holds the supplier list: the JSON is written supplier by
supplier (compact past PRETTY_JSON_LIMIT) and every report sheet fills as suppliers
arrive. These tests run the demo through that path, with waivers and a gate, and
compare the files with ``api.screen`` plus ``write_report`` on the whole result.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from openpyxl import load_workbook

from feocscreen.api import open_screening, screen
from feocscreen.cli import main
from feocscreen.cli import screen as screen_cli
from feocscreen.models import ScreenConfig
from feocscreen.report.excel import SHEETS, write_report

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo_suppliers.xlsx"
LISTS = (
    ROOT / "fixtures" / "lists" / "simple_illustrative.csv",
    ROOT / "fixtures" / "lists" / "csl_illustrative.csv",
)
AS_OF = "2026-11-28"


@pytest.fixture
def waivers(tmp_path: Path) -> Path:
    """One waiver that applies, one expired, one that matches nothing."""
    data = screen(ScreenConfig(inputs=(DEMO,), as_of=date.fromisoformat(AS_OF))).data
    finding = next(f for s in data["suppliers"] for f in s["findings"] if f["status"] == "active")
    owner = next(s for s in data["suppliers"] if finding in s["findings"])
    entry = {
        "supplier_id": owner["supplier_id"],
        "rule_id": finding["rule_id"],
        "justification": "Second source qualified; switch in Q1",
        "approved_by": "lead@example.com",
        "expires": "2027-06-30",
    }
    path = tmp_path / "waivers.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "waivers": [
                    entry,
                    {**entry, "expires": "2026-01-01"},
                    {**entry, "supplier_id": "NOBODY"},
                ]
            }
        ),
        encoding="utf-8",
    )
    return path


def _without_run_fields(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    data.pop("generated_at")
    data["audit"] = {k: v for k, v in data["audit"].items() if k != "command_line"}
    return data


def _cells(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's values, without the Audit row of the command line (it names the run)."""
    book = load_workbook(path)
    return {
        ws.title: [
            tuple(row)
            for row in ws.iter_rows(values_only=True)
            if row[:2] != ("Run", "command line")
        ]
        for ws in book
    }


def test_streamed_json_and_report_equal_the_whole_result(
    tmp_path: Path, waivers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(screen_cli, "PRETTY_JSON_LIMIT", 0)  # the compact, streamed layout
    out, report = tmp_path / "r.json", tmp_path / "r.xlsx"
    args = ["screen", str(DEMO), "--as-of", AS_OF, "--waivers", str(waivers), "-q"]
    args += ["--json", str(out), "-o", str(report), "--fail-on", "high"]
    for path in LISTS:
        args += ["-l", str(path)]
    run = CliRunner().invoke(main, args)
    assert run.exit_code == 1, run.output  # the demo has high findings: the gate trips

    config = ScreenConfig(
        inputs=(DEMO,),
        lists=LISTS,
        waivers=waivers,
        as_of=date.fromisoformat(AS_OF),
        fail_on="high",
    )
    whole = screen(config)
    streamed = json.loads(out.read_text(encoding="utf-8"))
    assert out.read_text(encoding="utf-8").count("\n") == 1  # compact: one line
    assert _without_run_fields(streamed) == _without_run_fields(whole.data)
    assert [w["findings"] for w in streamed["waivers"]["applied"]]  # the waiver applied
    assert streamed["waivers"]["expired"] and streamed["waivers"]["unused"]
    assert whole.gate is not None and whole.gate.tripped

    expected = tmp_path / "whole.xlsx"
    write_report(whole.data, expected)
    got, want = _cells(report), _cells(expected)
    assert list(got) == list(SHEETS)
    assert got == want


def test_a_run_streams_its_suppliers_once_in_id_order() -> None:
    run = open_screening(ScreenConfig(inputs=(DEMO,), as_of=date.fromisoformat(AS_OF)))
    ids = [s["supplier_id"] for s in run.suppliers()]
    assert ids == sorted(ids) and len(ids) == run.count
    with pytest.raises(RuntimeError):
        next(iter(run.suppliers()))
    tail = run.finish()
    assert tail["summary"]["suppliers"] == len(ids)
    assert set(tail) == {"validation", "summary", "waivers", "audit"}


def test_forked_workers_write_the_same_json_as_one_process(
    tmp_path: Path, waivers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large runs screen blocks on forked workers: the same JSON, report and gate."""
    from feocscreen import api

    monkeypatch.setattr(screen_cli, "PRETTY_JSON_LIMIT", 0)
    monkeypatch.setattr(api, "SUPPLIER_BLOCK", 4)  # the demo's 32 suppliers in 8 blocks
    monkeypatch.setattr(api, "VALIDATE_ALL_LIMIT", 0)  # most entries come back slim
    monkeypatch.setattr(api, "VALIDATE_SAMPLE", 8)
    outputs = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("FEOCSCREEN_WORKERS", workers)
        out, report = tmp_path / f"w{workers}.json", tmp_path / f"w{workers}.xlsx"
        args = ["screen", str(DEMO), "--as-of", AS_OF, "--waivers", str(waivers), "-q"]
        args += ["--json", str(out), "-o", str(report), "--fail-on", "critical"]
        for path in LISTS:
            args += ["-l", str(path)]
        run = CliRunner().invoke(main, args)
        assert run.exit_code == 1, run.output
        outputs[workers] = (
            _without_run_fields(json.loads(out.read_text("utf-8"))),
            _cells(report),
            run.output,
        )
    assert outputs["1"] == outputs["2"]
    assert outputs["2"][0]["waivers"]["applied"]  # waiver matches came back from the workers


def test_a_gate_on_many_findings_lists_the_worst_and_counts_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`screen --fail-on low`: workers send only what the gate counts, and the gate keeps
    only what it shows; the count, the decision and the lines equal the whole gate's."""
    from feocscreen import api
    from feocscreen.gate import evaluate_gate

    config = ScreenConfig(inputs=(DEMO,), lists=LISTS, as_of=date.fromisoformat(AS_OF))
    whole = evaluate_gate(screen(config).data, "low", False)
    assert whole.total > screen_cli.GATE_SHOWN  # more than are listed
    expected = whole.reasons[: 1 + screen_cli.GATE_SHOWN]
    monkeypatch.setattr(api, "SUPPLIER_BLOCK", 4)
    monkeypatch.setattr(screen_cli, "PRETTY_JSON_LIMIT", 0)  # encoded where screened
    # most entries come back slim, as in a large run (a short run has every one checked)
    monkeypatch.setattr(api, "VALIDATE_ALL_LIMIT", 0)
    monkeypatch.setattr(api, "VALIDATE_SAMPLE", 8)
    for workers in ("1", "2"):
        monkeypatch.setenv("FEOCSCREEN_WORKERS", workers)
        args = ["screen", str(DEMO), "--as-of", AS_OF, "--fail-on", "low"]
        args += ["--json", str(tmp_path / f"w{workers}.json")]
        for path in LISTS:
            args += ["-l", str(path)]
        run = CliRunner().invoke(main, args)
        assert run.exit_code == 1, run.output
        shown = [
            line[len("gate: ") :] for line in run.output.splitlines() if line.startswith("gate: ")
        ]
        assert shown == expected, workers
        assert shown[0].startswith(f"{whole.total} finding(s) at or above low")


def test_questions_that_cannot_reach_the_summary_are_counted_not_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows built where suppliers are screened carry only the questions the Summary can
    still show (per block on workers, per run in one process); the Summary is the one
    every supplier's questions give, its count of the rest included."""
    from feocscreen import api
    from feocscreen.report import excel

    monkeypatch.setattr(excel, "ASK_LIMIT", 5)
    config = ScreenConfig(inputs=(DEMO,), lists=LISTS, as_of=date.fromisoformat(AS_OF))
    whole = screen(config).data
    budget = excel.AskBudget()
    built = [excel.supplier_rows(s, budget) for s in whole["suppliers"]]
    dropped = [r for r in built if r.ask_count and not r.asks]
    assert dropped and all(len(r.asks) == r.ask_count for r in built if r.asks)
    assert sum(r.ask_count for r in built) > 2 * excel.ASK_LIMIT

    with monkeypatch.context() as every_question:  # the reference: nothing dropped
        every_question.setattr(excel.AskBudget, "wants", lambda self, order: True)
        write_report(whole, tmp_path / "every.xlsx")
    expected = _cells(tmp_path / "every.xlsx")["Summary"]
    assert any("more questions" in str(row[0]) for row in expected)

    monkeypatch.setattr(screen_cli, "PRETTY_JSON_LIMIT", 0)  # rows built where screened
    monkeypatch.setattr(api, "SUPPLIER_BLOCK", 4)
    write_report(whole, tmp_path / "whole.xlsx")
    assert _cells(tmp_path / "whole.xlsx")["Summary"] == expected
    for workers in ("1", "2"):
        monkeypatch.setenv("FEOCSCREEN_WORKERS", workers)
        report = tmp_path / f"w{workers}.xlsx"
        args = ["screen", str(DEMO), "--as-of", AS_OF, "-q", "-o", str(report)]
        args += ["--json", str(tmp_path / f"w{workers}.json")]
        for path in LISTS:
            args += ["-l", str(path)]
        run = CliRunner().invoke(main, args)
        assert run.exit_code == 0, run.output
        assert _cells(report)["Summary"] == expected, workers


@pytest.mark.parametrize("every", [True, False])
def test_a_supplier_that_breaks_the_schema_stops_the_run(
    monkeypatch: pytest.MonkeyPatch, every: bool
) -> None:
    """Suppliers are checked against the result's schema as they are screened (every one of
    a small run, a sample of a large one, the first always): a broken one is a bug."""
    import jsonschema

    from feocscreen import api

    if not every:
        monkeypatch.setattr(api, "VALIDATE_ALL_LIMIT", 0)
        monkeypatch.setattr(api, "VALIDATE_SAMPLE", 4)
    entry = api._supplier_entry

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        made = entry(*args, **kwargs)
        made["supplier_name"] = 7
        return made

    monkeypatch.setattr(api, "_supplier_entry", broken)
    run = open_screening(ScreenConfig(inputs=(DEMO,), as_of=date.fromisoformat(AS_OF)))
    with pytest.raises(jsonschema.ValidationError, match="7"):
        list(run.suppliers())


def test_screening_suppliers_creates_no_reference_cycles() -> None:
    """Runs pause the cyclic collector; a cycle per supplier would then leak until the end
    (a self-calling closure in the ownership walk once cost 330 MB at 1M rows)."""
    import gc

    run = open_screening(ScreenConfig(inputs=(DEMO,), lists=LISTS, as_of=date.fromisoformat(AS_OF)))
    gc.collect()
    gc.disable()
    try:
        screened = list(run.suppliers())
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert screened and unreachable == 0


def test_a_bad_worker_count_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEOCSCREEN_WORKERS", "two")
    run = CliRunner().invoke(main, ["screen", str(DEMO), "--as-of", AS_OF, "-q"])
    assert run.exit_code == 2
    assert "FEOCSCREEN_WORKERS='two'" in run.output and "Traceback" not in run.output
