"""`feocscreen check` end to end on real workbooks: the exit-code matrix, waivers, baselines,
CI formats written to files, and `screen -o` writing the Excel report."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result
from openpyxl import Workbook, load_workbook

from feocscreen.cli import main
from feocscreen.report.excel import SHEETS, TIER_COLOURS

AS_OF = "2026-11-28"
HEADER = [
    "supplier_id",
    "supplier_name",
    "country",
    "stage",
    "annual_spend_usd",
    "mining_country",
    "separation_country",
    "metal_country",
    "alloy_country",
    "magnet_country",
]
ALLIED = ["A1", "Allied Magnets Inc.", "US", "magnet", 1000, "AU", "US", "JP", "JP", "US"]
# Incorporated in a covered nation: high today (FEOC jurisdiction, PFE), critical from 2027.
COVERED = ["C1", "Northern Separation Co.", "CN", "separation", 500, "CN", "CN", None, None, None]
SECOND_COVERED = ["C2", "Volga Metals JSC", "RU", "metal", 300, "RU", "RU", "RU", None, None]
BROKEN = ["B1", "Missing Country Ltd.", None, "magnet", 200, "AU", "US", "JP", "JP", "US"]


def workbook(path: Path, *rows: list[Any]) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "Suppliers"
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def check(*args: str | Path) -> Result:
    return run("check", *args, "--as-of", AS_OF)


def findings_of(result_json: dict[str, Any], supplier_id: str) -> list[dict[str, Any]]:
    supplier = next(s for s in result_json["suppliers"] if s["supplier_id"] == supplier_id)
    return supplier["findings"]


@pytest.fixture()
def allied(tmp_path: Path) -> Path:
    return workbook(tmp_path / "allied.xlsx", ALLIED)


@pytest.fixture()
def mixed(tmp_path: Path) -> Path:
    return workbook(tmp_path / "mixed.xlsx", ALLIED, COVERED)


@pytest.mark.parametrize(
    ("rows", "options", "code"),
    [
        pytest.param([ALLIED], [], 0, id="allied-list-passes"),
        pytest.param([ALLIED, COVERED], [], 1, id="high-finding-trips-default-high"),
        pytest.param([ALLIED, COVERED], ["--fail-on", "critical"], 0, id="below-critical-passes"),
        pytest.param(
            [ALLIED, COVERED],
            ["--fail-on", "critical", "--fail-on-upcoming"],
            1,
            id="upcoming-critical-counts-when-asked",
        ),
        pytest.param([ALLIED, COVERED], ["--fail-on", "medium"], 1, id="medium-threshold"),
        pytest.param([ALLIED, BROKEN], [], 1, id="not-screened-counts-as-high"),
        pytest.param(
            [ALLIED, BROKEN], ["--fail-on", "critical"], 0, id="not-screened-below-critical"
        ),
        pytest.param([ALLIED, BROKEN], ["--fail-on", "critical", "--strict"], 2, id="strict-error"),
    ],
)
def test_exit_code_matrix(
    tmp_path: Path, rows: list[list[Any]], options: list[str], code: int
) -> None:
    path = workbook(tmp_path / "list.xlsx", *rows)
    result = check(path, *options)
    assert result.exit_code == code, result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_default_output_is_text_naming_what_counted(mixed: Path) -> None:
    result = check(mixed)
    assert result.exit_code == 1
    assert "gate FAILED (fail-on high): 2 counted" in result.output
    assert "C1 Northern Separation Co.: HIGH feoc-covered-jurisdiction (active)" in result.output
    assert "A1" not in result.output.split("counted", 1)[1]  # the clean supplier is not listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "html"], "Invalid value for '--format'"),
        (["--fail-on", "severe"], "Invalid value for '--fail-on'"),
        (["--as-of", "yesterday"], "is not a date"),
    ],
)
def test_usage_errors_exit_2(allied: Path, args: list[str], message: str) -> None:
    result = run("check", allied, *args)
    assert result.exit_code == 2
    assert message in result.output + result.stderr


def test_missing_and_unreadable_inputs_exit_2(tmp_path: Path) -> None:
    assert run("check", tmp_path / "nowhere.xlsx").exit_code == 2
    fake = tmp_path / "suppliers.xlsx"
    fake.write_text("supplier_id,name\nS1,x\n" * 3, encoding="utf-8")
    result = check(fake)
    assert result.exit_code == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_invalid_rules_and_waivers_exit_2(allied: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("id: broken\nrules: 7\n", encoding="utf-8")
    assert check(allied, "-r", rules).exit_code == 2
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n  - supplier_id: C1\n", encoding="utf-8")
    result = check(allied, "--waivers", waivers)
    assert result.exit_code == 2
    assert "error:" in result.stderr


def test_an_internal_error_exits_3_and_says_how_to_report_it(
    allied: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(config: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("feocscreen.api.screen", broken)
    result = CliRunner().invoke(main, ["check", str(allied)])
    assert result.exit_code == 3
    assert "This is a bug in feocscreen" in result.stderr
    assert "Traceback" not in result.stderr


def waiver_file(tmp_path: Path, expires: str, rules: tuple[str, ...]) -> Path:
    path = tmp_path / f"waivers-{expires}.yaml"
    entries = [
        {
            "supplier_id": "C1",
            "rule_id": rule,
            "justification": "Dual-sourcing plan approved by the board",
            "approved_by": "procurement.lead@example.com",
            "expires": expires,
        }
        for rule in rules
    ]
    entries.append(
        {
            "supplier_id": "GONE",
            "rule_id": "feoc-covered-jurisdiction",
            "justification": "Supplier left the approved list last year",
            "approved_by": "procurement.lead@example.com",
            "expires": "2030-01-01",
        }
    )
    path.write_text(yaml.safe_dump({"waivers": entries}), encoding="utf-8")
    return path


def test_waivers_clear_the_gate_stay_visible_and_report_expired_and_unused(
    mixed: Path, tmp_path: Path
) -> None:
    rules = ("feoc-covered-jurisdiction", "pfe-foreign-controlled")
    valid = waiver_file(tmp_path, "2027-06-30", rules)
    result = check(mixed, "--waivers", valid, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    waived = [f for f in findings_of(data, "C1") if f["waived"]]
    assert {f["rule_id"] for f in waived} == set(rules)  # still listed, marked waived
    assert waived[0]["waived"]["by"] == "procurement.lead@example.com"
    assert data["gate"]["counted"] == []
    assert "unused waiver: GONE / feoc-covered-jurisdiction" in result.stderr

    expired = waiver_file(tmp_path, "2026-01-31", rules)
    result = check(mixed, "--waivers", expired)
    assert result.exit_code == 1
    assert "EXPIRED WAIVER no longer applies: C1 / feoc-covered-jurisdiction" in result.output


def test_baseline_fails_only_on_new_findings(tmp_path: Path) -> None:
    old_list = workbook(tmp_path / "old.xlsx", ALLIED, COVERED)
    old_json = tmp_path / "baseline.json"
    screened = run("screen", old_list, "--as-of", AS_OF, "--json", old_json, "-q")
    assert screened.exit_code == 0, screened.stderr

    # the same suppliers, rows moved and another allied row inserted above: nothing is new
    moved = workbook(tmp_path / "moved.xlsx", ["A0", *ALLIED[1:]], COVERED, ALLIED)
    result = check(moved, "--baseline", old_json, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["gate"]["counted"] == []

    # a new covered supplier is never absorbed; the old one never resurfaces as new
    grown = workbook(tmp_path / "grown.xlsx", ALLIED, COVERED, SECOND_COVERED)
    result = check(grown, "--baseline", old_json, "--format", "json")
    assert result.exit_code == 1
    gate = json.loads(result.stdout)["gate"]
    new_ids = {f["finding_id"] for f in findings_of(json.loads(result.stdout), "C2")}
    assert gate["counted"] and set(gate["counted"]) <= new_ids
    assert gate["baseline"] == str(old_json)


def test_a_malformed_baseline_exits_2_naming_the_file(allied: Path, tmp_path: Path) -> None:
    bad = tmp_path / "old.json"
    bad.write_text('{"schema_version": "1", "suppliers": [{"findings": []}]}', encoding="utf-8")
    result = check(allied, "--baseline", bad)
    assert result.exit_code == 2
    assert str(bad) in result.stderr and "supplier_id" in result.stderr


def test_junit_and_sarif_outputs_written_to_files(mixed: Path, tmp_path: Path) -> None:
    junit = tmp_path / "out" / "feocscreen.xml"
    result = check(mixed, "--format", "junit", "--output", junit)
    assert result.exit_code == 1 and result.stdout == ""
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "2"
    assert "gate: 2 finding(s) at or above high" in result.stderr

    sarif_path = tmp_path / "feocscreen.sarif"
    assert check(mixed, "--format", "sarif", "--output", sarif_path).exit_code == 1
    schema_path = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    log = json.loads(sarif_path.read_text(encoding="utf-8"))
    assert list(jsonschema.Draft4Validator(schema).iter_errors(log)) == []
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"
    ].endswith("mixed.xlsx")

    markdown = check(mixed, "--format", "markdown", "-q")
    assert markdown.stdout.startswith("### ❌ feocscreen check failed (fail-on high)")
    assert markdown.stderr == ""


def test_check_writes_no_workbook_unless_asked(mixed: Path, tmp_path: Path) -> None:
    before = set(tmp_path.rglob("*"))
    check(mixed, "--format", "json", "-q")
    assert not [p for p in set(tmp_path.rglob("*")) - before if p.suffix == ".xlsx"]
    report = tmp_path / "ci" / "report.xlsx"
    check(mixed, "--report", report, "-q")
    assert load_workbook(report).sheetnames == list(SHEETS)


def test_screen_writes_the_excel_report(mixed: Path, tmp_path: Path) -> None:
    report = tmp_path / "reports" / "q4.xlsx"
    result = run("screen", mixed, "--as-of", AS_OF, "-o", report, "-q")
    assert result.exit_code == 0, result.stderr
    book = load_workbook(report)
    assert book.sheetnames == list(SHEETS)
    suppliers = book["Suppliers"]
    table = {row[0].value: row for row in suppliers.iter_rows(min_row=2)}
    assert set(table) == {"A1", "C1"}
    header = [c.value for c in suppliers[1]]
    tier = table["C1"][header.index("Tier")]
    assert tier.value == "high" and tier.fill.fgColor.rgb.endswith(TIER_COLOURS["high"][0])
    assert table["A1"][header.index("Tier")].value == "clear"
    audit = {(r[0], r[1]): r for r in book["Audit"].iter_rows(min_row=2, values_only=True)}
    inputs = {key[1]: row for key, row in audit.items() if key[0] == "Input"}
    assert len(inputs) == 1
    ((name, row),) = inputs.items()
    assert name.endswith("mixed.xlsx") and row[2] == "workbook"
    assert row[3] == hashlib.sha256(mixed.read_bytes()).hexdigest()
    assert any(key[0] == "Ruleset" and len(str(r[3])) == 64 for key, r in audit.items())
    findings = book["Findings"]
    citations = [row[9] for row in findings.iter_rows(min_row=2) if row[0].value == "C1"]
    assert citations and all(c.hyperlink is not None for c in citations)
    # same input and --as-of → same cells
    again = tmp_path / "reports" / "again.xlsx"
    run("screen", mixed, "--as-of", AS_OF, "-o", again, "-q")
    second = load_workbook(again)
    for name in SHEETS:
        first_rows = [r for r in book[name].iter_rows(values_only=True)]
        second_rows = [r for r in second[name].iter_rows(values_only=True)]
        if name == "Audit":  # the command line names the output file, which differs here
            first_rows = [r for r in first_rows if r[1] != "command line"]
            second_rows = [r for r in second_rows if r[1] != "command line"]
        assert first_rows == second_rows, name
