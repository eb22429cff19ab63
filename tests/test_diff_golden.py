"""`feocscreen diff` against golden files, plus the invariants of comparing two results.

The golden inputs (tests/golden/diff_old.json, diff_new.json) differ in one of each kind of
change: a supplier added and one removed, a not-screened supplier resolved and a new one,
a tier that got worse, findings new, resolved, upcoming→active and waived→active, and
exposure that moved for a supplier and for the portfolio. Regenerate the expected outputs
with FEOCSCREEN_UPDATE_GOLDEN=1 after a deliberate change, and review the diff.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from feocscreen.cli import main
from feocscreen.diff import diff_results, has_changes, render_diff

GOLDEN = Path(__file__).parent / "golden"
OLD, NEW = GOLDEN / "diff_old.json", GOLDEN / "diff_new.json"
EXPECTED = {"text": "diff.txt", "json": "diff.json", "markdown": "diff.md"}


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_diff_matches_the_golden_output(fmt: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["diff", str(OLD), str(NEW), "--format", fmt])
    assert result.exit_code == 0, result.output
    golden = GOLDEN / EXPECTED[fmt]
    if os.environ.get("FEOCSCREEN_UPDATE_GOLDEN"):
        golden.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == golden.read_text(encoding="utf-8")


def test_diff_names_each_kind_of_change() -> None:
    diff = json.loads((GOLDEN / "diff.json").read_text(encoding="utf-8"))
    assert [s["supplier_id"] for s in diff["suppliers_added"]] == ["S005"]
    assert [s["supplier_id"] for s in diff["suppliers_removed"]] == ["S003"]
    assert diff["not_screened_added"] == ["S010"] and diff["not_screened_removed"] == ["S009"]
    assert diff["tier_changes"] == [
        {
            "supplier_id": "S001",
            "supplier_name": "Nordmag Magnetics GmbH",
            "from": "high",
            "to": "critical",
            "direction": "worse",
        }
    ]
    assert {f["rule_id"] for f in diff["findings_new"]} == {
        "feoc-activity-midstream",
        "feoc-covered-jurisdiction",
    }
    assert {f["rule_id"] for f in diff["findings_resolved"]} == {
        "feoc-government-25",
        "midstream-unverified",
    }
    assert {(f["rule_id"], f["from"], f["to"]) for f in diff["findings_changed"]} == {
        ("dfars-2027-chain", "upcoming", "active"),
        ("midstream-covered-share", "waived", "active"),
    }
    assert {(e["supplier_id"], e["stage"], e["to"]) for e in diff["exposure_changes"]} == {
        ("S004", "separation", 0.4),
        ("S004", "midstream", 0.1),
    }
    assert [e["stage"] for e in diff["portfolio_exposure_changes"]] == ["separation", "midstream"]


def test_reordered_suppliers_and_findings_are_no_change() -> None:
    old = json.loads(OLD.read_text(encoding="utf-8"))
    shuffled = copy.deepcopy(old)
    shuffled["suppliers"].reverse()
    for supplier in shuffled["suppliers"]:
        supplier["findings"].reverse()
        for finding in supplier["findings"]:  # evidence moved rows: ids are what count
            for item in finding.get("evidence") or []:
                if "row" in item:
                    item["row"] += 7
    diff = diff_results(old, shuffled)
    assert not has_changes(diff)
    assert render_diff(diff, "text").endswith("no changes\n")
    assert "No changes." in render_diff(diff, "markdown")


def test_a_file_that_is_not_a_result_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2, 3]", encoding="utf-8")
    result = CliRunner().invoke(main, ["diff", str(OLD), str(bad)])
    assert result.exit_code == 2
    assert "bad.json is not a feocscreen JSON result" in result.stderr
    wrong = tmp_path / "v9.json"
    wrong.write_text('{"schema_version": "9", "suppliers": []}', encoding="utf-8")
    result = CliRunner().invoke(main, ["diff", str(wrong), str(NEW)])
    assert result.exit_code == 2 and "schema_version '9'" in result.stderr


def _result(findings: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "suppliers": [
            {
                "supplier_id": sid,
                "tier": "clear",
                "findings": [
                    {"finding_id": fid, "rule_id": "r", "severity": "low", "status": "active"}
                    for fid in ids
                ],
            }
            for sid, ids in findings.items()
        ]
    }


findings_maps = st.dictionaries(
    st.sampled_from(["S1", "S2", "S3", "S4"]),
    st.lists(st.sampled_from([f"f-{i}" for i in range(8)]), unique=True, max_size=4),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(findings_maps, findings_maps)
def test_new_and_resolved_are_mirror_images(
    a: dict[str, list[str]], b: dict[str, list[str]]
) -> None:
    forward = diff_results(_result(a), _result(b))
    backward = diff_results(_result(b), _result(a))
    ids = lambda rows: sorted(r["finding_id"] for r in rows)  # noqa: E731
    assert ids(forward["findings_new"]) == ids(backward["findings_resolved"])
    assert ids(forward["findings_resolved"]) == ids(backward["findings_new"])
    assert not has_changes(diff_results(_result(a), _result(a)))
