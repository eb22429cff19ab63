"""The CI writers: registry over every format, JUnit parsed, SARIF validated against the
vendored OASIS schema, Markdown sized and escaped for a PR comment, text and JSON."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feocscreen import report
from feocscreen.report import markdown, sarif

DATA = Path(__file__).parent / "data"
GATE = {
    "tripped": True,
    "fail_on": "critical",
    "fail_on_upcoming": False,
    "counted": ["f-0badcafe01000000", "f-0badcafe02000000"],
    "reasons": ["2 finding(s) at or above critical"],
}


@pytest.fixture()
def result() -> dict[str, Any]:
    return json.loads((DATA / "result_v1.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def test_registry_names_every_format() -> None:
    assert set(report.FORMATS) == {"text", "json", "junit", "sarif", "markdown"}


@pytest.mark.parametrize("fmt", sorted(report.FORMATS))
@pytest.mark.parametrize("gate", [None, GATE])
def test_every_format_renders_the_result_and_an_empty_one(
    fmt: str, gate: dict[str, Any] | None, result: dict[str, Any]
) -> None:
    text = report.render(fmt, result, gate)
    assert isinstance(text, str) and text.endswith("\n")
    assert "S002" in text  # the critical supplier appears in every format
    assert report.render(fmt, {}, gate)


def test_unknown_format_is_refused_with_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: text, json, junit, sarif, markdown"):
        report.render("html", {})


def test_writers_do_not_change_the_result(result: dict[str, Any]) -> None:
    before = copy.deepcopy(result)
    for fmt in report.FORMATS:
        report.render(fmt, result, GATE)
    assert result == before


def test_junit_has_a_testcase_per_supplier_and_a_failure_per_counted_finding(
    result: dict[str, Any],
) -> None:
    root = ET.fromstring(report.render("junit", result, GATE))
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    names = [c.get("name") for c in cases]
    assert names[:2] == ["S001 Nordmag Magnetics GmbH", "S002 Baotou Northern Separation Co., Ltd."]
    assert "S009" in names  # not screened is a testcase too
    assert len(cases) == len(result["suppliers"]) + len(result["not_screened"])
    failures = {c.get("name"): [f.get("type") for f in c.findall("failure")] for c in cases}
    assert failures["S002 Baotou Northern Separation Co., Ltd."] == [
        "feoc-jurisdiction",
        "feoc-government-25",
    ]
    assert failures["S001 Nordmag Magnetics GmbH"] == []  # high is below --fail-on critical
    assert failures["S009"] == []  # high, below critical: listed, not failed
    assert suite.get("failures") == "2" and suite.get("tests") == str(len(cases))
    s001 = next(c for c in cases if c.get("name", "").startswith("S001"))
    out = s001.findtext("system-out") or ""
    assert "upcoming [critical] dfars-2027-chain" in out
    assert "waived [medium] midstream-covered-share" in out


def test_junit_without_a_gate_fails_active_unwaived_findings_and_not_screened(
    result: dict[str, Any],
) -> None:
    suite = ET.fromstring(report.render("junit", result)).find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "5"  # 4 active unwaived findings + 1 not screened


def test_junit_survives_control_characters_in_names(result: dict[str, Any]) -> None:
    result["suppliers"][0]["supplier_name"] = "Bad\x00Name\x1b[31m"
    root = ET.fromstring(report.render("junit", result))
    assert root.find("testsuite/testcase").get("name") == "S001 BadName[31m"


def test_sarif_validates_against_the_oasis_schema(
    result: dict[str, Any], sarif_validator: jsonschema.Draft4Validator
) -> None:
    for gate in (None, GATE):
        log = json.loads(report.render("sarif", result, gate))
        errors = [e.message for e in sarif_validator.iter_errors(log)]
        assert errors == []
    assert list(sarif_validator.iter_errors(json.loads(report.render("sarif", {})))) == []


def test_the_schema_check_is_real(
    result: dict[str, Any], sarif_validator: jsonschema.Draft4Validator
) -> None:
    log = json.loads(report.render("sarif", result))
    log["runs"][0]["results"][0]["level"] = "fatal"
    log["runs"][0]["results"][2]["suppressions"][0]["state"] = "accepted"
    messages = [e.message for e in sarif_validator.iter_errors(log)]
    assert any("fatal" in m for m in messages)
    assert any("state" in m for m in messages)


def test_sarif_has_a_result_per_finding_at_input_file_and_row(result: dict[str, Any]) -> None:
    log = json.loads(report.render("sarif", result, GATE))
    run = log["runs"][0]
    results = run["results"]
    findings = [f for s in result["suppliers"] for f in s["findings"]]
    assert len(results) == len(findings) + len(result["not_screened"])
    first = results[0]
    assert first["ruleId"] == "dfars-magnet-melt"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "suppliers.xlsx"},
        "region": {"startLine": 5},
    }
    assert first["partialFingerprints"] == {sarif.FINGERPRINT: "f-3b1e0c2a9d000000"}
    assert first["level"] == "error"
    rules = run["tool"]["driver"]["rules"]
    assert rules[first["ruleIndex"]]["id"] == "dfars-magnet-melt"
    assert rules[first["ruleIndex"]]["helpUri"].startswith("https://www.acquisition.gov/")
    by_rule = {r["ruleId"]: r for r in results}
    assert by_rule["dfars-2027-chain"]["level"] == "note"  # upcoming
    waived = by_rule["midstream-covered-share"]
    assert waived["suppressions"][0]["status"] == "accepted"
    assert "Second source qualified" in waived["suppressions"][0]["justification"]
    assert by_rule["feoc-jurisdiction"]["properties"]["counted"] is True
    assert by_rule["dfars-magnet-melt"]["properties"]["counted"] is False
    not_screened = by_rule["not-screened"]
    assert not_screened["locations"][0]["physicalLocation"]["region"] == {"startLine": 9}
    assert run["artifacts"][0]["hashes"]["sha-256"] == result["inputs"][0]["sha256"]
    assert run["invocations"][0]["properties"]["gate_tripped"] is True


def test_markdown_is_comment_sized_escaped_and_collapsed(result: dict[str, Any]) -> None:
    result["suppliers"][1]["supplier_name"] = "Evil | <img src=x> [link](http://x) @team"
    text = report.render("markdown", result, GATE)
    assert text.startswith("### ❌ feocscreen check failed (fail-on critical)")
    assert "<details>" in text and "</details>" in text
    assert "<img" not in text and "[link](http://x)" not in text and "@team" not in text
    assert "Evil \\| &lt;img src=x&gt; \\[link\\](http://x) &#64;team" in text
    table = text.split("<details>")[0]
    assert table.count("| critical |") == 2
    assert "Expired waiver no longer applies" in text
    assert "_Informational, not legal advice._" in text


def test_markdown_stays_under_a_github_comment_limit(result: dict[str, Any]) -> None:
    template = result["suppliers"][0]
    result["suppliers"] = [
        {**template, "supplier_id": f"S{i:05d}", "findings": [dict(template["findings"][0])]}
        for i in range(3000)
    ]
    text = report.render("markdown", result)
    assert len(text) < 65_536
    assert "more findings are in the JSON or SARIF output" in text
    assert "… 2986 more" in text  # 3000 findings and one not screened, 15 shown


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_markdown_escape_never_lets_markup_through(text: str) -> None:
    escaped = markdown.escape(text)
    assert "\n" not in escaped and "<" not in escaped and "@" not in escaped
    unescaped_pipes = escaped.replace("\\|", "")
    assert "|" not in unescaped_pipes


def test_text_output_states_the_gate_and_loud_waiver_problems(result: dict[str, Any]) -> None:
    text = report.render("text", result, GATE)
    assert "informational, not legal advice" in text
    assert "gate FAILED (fail-on critical): 2 counted" in text
    assert "S002 Baotou Northern Separation Co., Ltd.: CRITICAL feoc-jurisdiction" in text
    assert "EXPIRED WAIVER no longer applies: S002 / feoc-jurisdiction" in text
    assert "unused waiver matched no finding: S777" in text
    passed = report.render("text", result, {**GATE, "tripped": False, "counted": []})
    assert "gate passed (fail-on critical): 0 counted" in passed


def test_json_output_is_the_result_plus_the_gate(result: dict[str, Any]) -> None:
    loaded = json.loads(report.render("json", result, GATE))
    assert loaded.pop("gate") == GATE
    assert loaded == result


def test_sarif_locates_findings_at_the_input_path_as_given(result: dict[str, Any]) -> None:
    result["inputs"][0]["path"] = "suppliers/approved list.xlsx"
    for supplier in result["suppliers"]:
        for finding in supplier["findings"]:
            for item in finding["evidence"]:
                if "file" in item:
                    item["file"] = "approved list.xlsx"
    log = json.loads(report.render("sarif", result))
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
        if r["ruleId"] != "not-screened"
    }
    assert uris == {"suppliers/approved%20list.xlsx"}
