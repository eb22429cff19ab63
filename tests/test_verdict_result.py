"""The JSON result end to end: schema, determinism, stable finding ids, the screen command and exit codes."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from feocscreen.api import result_schema, screen
from feocscreen.cli import main
from feocscreen.models import Evidence, Issue, ScreenConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEMO = FIXTURES / "demo_suppliers.xlsx"
LISTS = FIXTURES / "lists" / "simple_illustrative.csv"
AS_OF = date(2026, 11, 28)


def whole_chain(supplier: str, mining: str) -> list[list[Any]]:
    """Sourcing rows of a magnet chain, each stage wholly in one country, mined in `mining`."""
    countries = {"mining": mining, "separation": "EE", "metal": "JP", "alloy": "JP"}
    return [
        [supplier, stage, countries.get(stage, "US"), 100, None]
        for stage in ("mining", "separation", "metal", "alloy", "magnet")
    ]


# A magnet chain covered only at mining: the DFARS 2027 chain test fails it (an upcoming finding).
CHINA_MINED_ONLY = whole_chain("B", "CN")


def stable(data: dict) -> dict:
    """The result without the fields that change between identical runs."""
    data = copy.deepcopy(data)
    data.pop("generated_at")
    data["audit"].pop("command_line")  # differs only when the command does
    assert data["audit"]["timings"] == {}, "timings belong to --verbose runs only"
    return data


@pytest.fixture(scope="module")
def demo() -> dict:
    return screen(ScreenConfig(inputs=(DEMO,), lists=(LISTS,), as_of=AS_OF)).data


def test_demo_result_validates_and_has_the_report_additions(demo):
    jsonschema.Draft202012Validator(result_schema()).validate(demo)
    assert demo["lists"] and demo["lists"][0]["rows_by_source"]
    summary = demo["summary"]
    assert set(summary["stage_country_share"]) == {
        "mining",
        "separation",
        "metal",
        "alloy",
        "magnet",
    }
    for shares in summary["stage_country_share"].values():
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-6)
    assert 0 <= summary["portfolio_midstream_exposure"] <= 1
    assert sum(v for k, v in summary["by_tier"].items() if k != "not_screened") == len(
        demo["suppliers"]
    )
    audit = demo["audit"]
    assert audit["settings"]["indirect_method"] == "multiply"
    assert (
        audit["settings"]["hk_mo_jurisdiction"] is True
        and audit["settings"]["hk_mo_origin"] is True
    )
    assert audit["settings"]["taxable_year_start"] == "2026-01-01"
    assert "pandas" in audit["libraries"]
    assert [r["id"] for r in demo["rulesets"]] == ["allied", "dfars", "feoc", "pfe"]
    assert set(demo["waivers"]) == {"applied", "expired", "unused"}
    for supplier in demo["suppliers"]:
        assert set(supplier["stage_country"]) == {
            s for s, v in supplier["stage_exposure"].items() if v is not None
        }


def test_same_input_same_result(demo):
    again = screen(ScreenConfig(inputs=(DEMO,), lists=(LISTS,), as_of=AS_OF)).data
    assert json.dumps(stable(demo), sort_keys=False) == json.dumps(stable(again), sort_keys=False)


def test_finding_ids_do_not_depend_on_row_positions(make_workbook, tmp_path):
    suppliers = [["A", "Alpha", "US", "magnet", 1], ["B", "Beta", "CN", "alloy", 2]]
    sourcing = [
        ["A", "alloy", "CN", 50, None],
        ["A", "alloy", "JP", 50, None],
        ["B", "alloy", "CN", 100, None],
    ]
    first = make_workbook(suppliers=suppliers, sourcing=sourcing, name="one.xlsx")
    second = make_workbook(suppliers=suppliers[::-1], sourcing=sourcing[::-1], name="two.xlsx")
    ids = []
    for path in (first, second):
        data = screen(ScreenConfig(inputs=(Path(path),), as_of=AS_OF)).data
        ids.append(sorted(f["finding_id"] for s in data["suppliers"] for f in s["findings"]))
    assert ids[0] == ids[1] and ids[0]


def test_not_screened_suppliers_are_listed_and_gate_as_high(make_workbook):
    path = make_workbook(
        suppliers=[["A", "Alpha", "US", "magnet", 1], ["B", "Beta", None, "magnet", 1]]
    )
    result = screen(ScreenConfig(inputs=(Path(path),), as_of=AS_OF, fail_on="high"))
    assert [s["supplier_id"] for s in result.data["suppliers"]] == ["A"]
    assert [n["supplier_id"] for n in result.data["not_screened"]] == ["B"]
    assert result.gate is not None and "not-screened:B" in result.gate.counted


def test_screen_command_writes_json_and_report(tmp_path):
    out = tmp_path / "out" / "result.json"
    report = tmp_path / "report.xlsx"
    result = CliRunner().invoke(
        main, ["screen", str(DEMO), "--as-of", "2026-11-28", "--json", str(out), "-o", str(report)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(result_schema()).validate(data)
    assert data["as_of"] == "2026-11-28"
    assert "critical" in result.output and str(out) in result.output
    assert load_workbook(report, read_only=True).sheetnames[0] == "Summary"


def test_screen_json_to_stdout_and_gate_exit_codes(make_workbook):
    clean = make_workbook(
        suppliers=[["A", "Alpha", "US", "magnet", 1]],
        sourcing=whole_chain("A", "AU"),
        name="clean.xlsx",
    )
    runner = CliRunner()
    ok = runner.invoke(main, ["screen", str(clean), "--json", "-", "-q", "--fail-on", "low"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["suppliers"][0]["tier"] == "clear"
    # Upcoming 2027 finding: does not trip --fail-on critical, trips it with --fail-on-upcoming.
    upcoming = make_workbook(
        suppliers=[["B", "Beta", "US", "magnet", 1]],
        sourcing=CHINA_MINED_ONLY,
        name="upcoming.xlsx",
    )
    args = ["screen", str(upcoming), "--as-of", "2026-11-28", "-q", "--fail-on", "critical"]
    assert runner.invoke(main, args).exit_code == 0
    assert runner.invoke(main, [*args, "--fail-on-upcoming"]).exit_code == 1
    assert (
        runner.invoke(
            main, ["screen", str(upcoming), "--as-of", "2027-02-01", "-q", "--fail-on", "critical"]
        ).exit_code
        == 1
    )


def test_strict_turns_input_errors_into_exit_2(make_workbook):
    path = make_workbook(
        suppliers=[["A", "Alpha", "US", "magnet", 1], ["B", "Beta", None, "magnet", 1]]
    )
    runner = CliRunner()
    assert runner.invoke(main, ["screen", str(path), "-q"]).exit_code == 0
    strict = runner.invoke(main, ["screen", str(path), "-q", "--strict"])
    assert strict.exit_code == 2 and "--strict" in strict.output


def test_bad_rules_and_bad_dates_are_usage_errors(make_workbook, tmp_path):
    path = make_workbook(suppliers=[["A", "Alpha", "US", "magnet", 1]])
    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\n", encoding="utf-8")
    result = runner.invoke(main, ["screen", str(path), "-r", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert runner.invoke(main, ["screen", str(path), "--as-of", "yesterday"]).exit_code == 2


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["suppliers"][0].update(tier="amber"),
        lambda d: d["suppliers"][0]["stage_exposure"].pop("metal"),
        lambda d: d["suppliers"][0]["findings"][0].update(status="maybe"),
        lambda d: d["suppliers"][0]["findings"][0].update(waived={"by": "x"}),
        lambda d: d["suppliers"][0]["findings"][0]["evidence"].append({"path": ["only-one"]}),
        lambda d: d["summary"].pop("spend_passing_2027"),
        lambda d: d["audit"].pop("libraries"),
    ],
)
def test_schema_rejects_broken_results(demo, breakage):
    broken = copy.deepcopy(demo)
    broken["suppliers"] = [s for s in broken["suppliers"] if s["findings"]]
    breakage(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(result_schema()).validate(broken)


def test_horizon_and_builtin_rules_from_the_command_line(make_workbook, tmp_path):
    path = make_workbook(
        suppliers=[["B", "Beta", "US", "magnet", 1]],
        sourcing=CHINA_MINED_ONLY,
    )
    runner = CliRunner()

    def rule_ids(*extra: str) -> set[str]:
        out = tmp_path / "r.json"
        result = runner.invoke(
            main, ["screen", str(path), "--as-of", "2026-11-28", "-q", "--json", str(out), *extra]
        )
        assert result.exit_code == 0, result.output
        data = json.loads(out.read_text(encoding="utf-8"))
        return {f["rule_id"] for s in data["suppliers"] for f in s["findings"]}

    assert "dfars-2027-chain-covered" in rule_ids()
    assert "dfars-2027-chain-covered" not in rule_ids("--horizon", "1")
    assert rule_ids("-r", "builtin:dfars") == {"dfars-2027-chain-covered"}


def test_unwritable_output_is_a_usage_error_not_a_bug(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["screen", str(DEMO), "-q", "--json", str(blocker / "out.json")]
    )
    assert result.exit_code == 2
    assert "cannot write" in result.output and "internal error" not in result.output


def test_blank_cells_of_any_kind_are_treated_as_missing():
    import pandas as pd

    from feocscreen.api import screen_portfolio
    from feocscreen.portfolio import Portfolio

    suppliers = pd.DataFrame(
        {
            "supplier_id": ["A"],
            "supplier_name": ["Alpha"],
            "country": ["US"],
            "incorporation_country": [pd.NA],
            "hq_country": [float("nan")],
            "stage": ["magnet"],
            "supplies_stage": ["magnet"],
            "material": [pd.NA],
            "annual_spend_usd": [float("nan")],
            "dfars_exception": [pd.NA],
            "_file": ["t.xlsx"],
            "_sheet": ["Suppliers"],
            "_row": [2],
        }
    )
    data = screen_portfolio(
        Portfolio(suppliers=suppliers), ScreenConfig(inputs=(), as_of=AS_OF)
    ).data
    supplier = data["suppliers"][0]
    assert supplier["material"] == "ndfeb" and supplier["annual_spend_usd"] is None
    assert supplier["prongs"]["feoc_covered_jurisdiction"] is False
    assert supplier["stage_unverified"]["magnet"] == 1.0 and supplier["tier"] != "clear"


def test_large_results_stream_as_compact_json_equal_to_the_indented_form(demo, monkeypatch):
    import io

    from feocscreen.cli import screen as screen_cli

    pretty, compact = io.BytesIO(), io.BytesIO()
    screen_cli.write_json(demo, pretty)
    monkeypatch.setattr(screen_cli, "PRETTY_JSON_LIMIT", 0)
    screen_cli.write_json(demo, compact)
    assert b"\n  " in pretty.getvalue() and compact.getvalue().count(b"\n") == 1
    assert (
        json.loads(compact.getvalue())
        == json.loads(pretty.getvalue())
        == json.loads(json.dumps(demo))
    )


def test_compact_json_spells_keys_that_are_not_text_as_the_indented_form(demo, monkeypatch):
    """A mapping keyed by numbers (rare in a result) is written as the standard encoder
    writes it: keys as text."""
    import copy
    import io

    from feocscreen.cli import screen as screen_cli

    data = copy.deepcopy(demo)
    data["suppliers"][0]["ownership"]["by_nation"] = {1: 0.5, "CN": 0.25}
    data["audit"]["settings"] = {**data["audit"].get("settings", {}), 2027: "as of"}
    pretty, compact = io.BytesIO(), io.BytesIO()
    screen_cli.write_json(data, pretty)
    monkeypatch.setattr(screen_cli, "PRETTY_JSON_LIMIT", 0)
    screen_cli.write_json(data, compact)
    streamed = json.loads(compact.getvalue())
    assert streamed == json.loads(pretty.getvalue())
    assert streamed["suppliers"][0]["ownership"]["by_nation"] == {"1": 0.5, "CN": 0.25}
    assert streamed["audit"]["settings"]["2027"] == "as of"


def test_verbose_adds_stage_timings_to_the_terminal_summary(tmp_path):
    """--verbose: every stage's time under the summary (stderr); without it none, and
    --quiet prints no summary at all. Only the result goes to stdout."""
    runner = CliRunner()
    base = ["screen", str(DEMO), "--as-of", AS_OF.isoformat(), "--json", str(tmp_path / "r.json")]
    verbose = runner.invoke(main, [*base, "--verbose"])
    plain = runner.invoke(main, base)
    quiet = runner.invoke(main, [*base, "--quiet"])
    assert verbose.exit_code == plain.exit_code == quiet.exit_code
    stages = ("intake", "chains", "matching", "evaluating")
    for stage in stages:
        assert any(
            line.strip().startswith(f"{stage}: ") and line.rstrip().endswith(" s")
            for line in verbose.stderr.splitlines()
        ), stage
        assert f"{stage}: " not in plain.stderr
    assert "screened" in plain.stderr and quiet.stderr == "" and verbose.stdout == ""


def test_verbose_lists_the_first_warnings_and_counts_the_rest_by_code(tmp_path, monkeypatch):
    """A sheet at Excel's row limit has tens of thousands of warnings: --verbose lists the
    first WARNINGS_SHOWN and counts the others by code."""
    from collections import Counter

    monkeypatch.setattr("feocscreen.cli.screen.WARNINGS_SHOWN", 1)
    out = tmp_path / "r.json"
    args = ["screen", str(DEMO), "--as-of", AS_OF.isoformat(), "--json", str(out), "--verbose"]
    run = CliRunner().invoke(main, args)
    warnings = json.loads(out.read_text(encoding="utf-8"))["validation"]["warnings"]
    assert len(warnings) > 2
    lines = run.stderr.splitlines()
    listed = [line for line in lines if line.startswith("  warning [")]
    assert listed == [f"  warning [{warnings[0]['code']}] {warnings[0]['message']}"]
    rest = Counter(w["code"] for w in warnings[1:])
    counted = ", ".join(f"{code} {n}" for code, n in rest.most_common())
    assert f"  … {len(warnings) - 1} more warning(s): {counted} (" in run.stderr
    assert any(line.strip().startswith("evaluating: ") for line in lines)  # timings follow


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("compact", [False, True])
def test_a_json_file_that_cannot_be_written_is_a_usage_error(monkeypatch, compact):
    """A disk that fills while the result is written is exit 2 naming the file, whether the
    result is written whole (indented) or supplier by supplier (compact)."""
    if compact:
        monkeypatch.setattr("feocscreen.cli.screen.PRETTY_JSON_LIMIT", 0)
    result = CliRunner().invoke(main, ["screen", str(DEMO), "--json", "/dev/full", "-q"])
    assert result.exit_code == 2, result.output
    assert "cannot write /dev/full" in result.output and "Traceback" not in result.output


optional_text = st.none() | st.text(max_size=8)


@given(
    st.builds(
        Issue,
        code=st.text(min_size=1, max_size=8),
        severity=st.sampled_from(["error", "warning"]),
        message=st.text(max_size=20),
        file=optional_text,
        sheet=optional_text,
        row=st.none() | st.integers(min_value=1, max_value=1_048_576),
        column=optional_text,
        header=optional_text,
        cell=optional_text,
        value=st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=8)
        | st.lists(st.integers(), max_size=3)
        | st.dates(),
    )
)
def test_issue_to_dict_holds_every_field_and_values_as_json_scalars(issue):
    data = issue.to_dict()
    assert set(data) == {f.name for f in dataclasses.fields(Issue)}
    assert list(data)[-1] == "message"  # the result's key order: location first, message last
    for f in dataclasses.fields(Issue):
        if f.name != "value":
            assert data[f.name] == getattr(issue, f.name)
    expected = issue.value
    if expected is not None and not isinstance(expected, (str, int, float, bool)):
        expected = str(expected)
    assert data["value"] == expected


def test_evidence_to_dict_holds_every_field():
    evidence = Evidence("book.xlsx", "Sourcing", 7, "country", "C7")
    assert evidence.to_dict() == {
        "file": "book.xlsx",
        "sheet": "Sourcing",
        "row": 7,
        "column": "country",
        "cell": "C7",
    }
    assert set(evidence.to_dict()) == {f.name for f in dataclasses.fields(Evidence)}
