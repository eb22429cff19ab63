"""Baseline files: which keys a previous result contributes, and how bad files are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from feocscreen.baseline import BaselineError, baseline_keys, load_baseline, read_result
from feocscreen.errors import FeocscreenError
from feocscreen.gate import evaluate_gate, not_screened_key

DATA = Path(__file__).parent / "data" / "result_v1.json"


@pytest.fixture()
def result() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def test_keys_are_unwaived_findings_and_not_screened_suppliers(result: dict[str, Any]) -> None:
    keys = load_baseline(DATA)
    assert keys == {
        "f-3b1e0c2a9d000000",  # active
        "f-77aa01bc3e000000",  # upcoming
        "f-0badcafe01000000",
        "f-0badcafe02000000",
        "f-5e5e5e5e5e000000",
        "not-screened:S009",
    }
    assert "f-c0ffee1234000000" not in keys  # waived: accepted under a waiver, not baselined
    assert not_screened_key("S009") in keys  # the gate's key format


def test_a_result_against_its_own_baseline_counts_nothing(result: dict[str, Any]) -> None:
    outcome = evaluate_gate(result, "info", True, baseline_keys(result))
    assert outcome.counted == [] and not outcome.tripped


def test_an_expired_waiver_resurfaces_through_a_baseline(result: dict[str, Any]) -> None:
    keys = baseline_keys(result)
    for supplier in result["suppliers"]:
        for finding in supplier["findings"]:
            finding["waived"] = None  # the waiver expired since the baseline was taken
    outcome = evaluate_gate(result, "medium", False, keys)
    assert outcome.counted == ["f-c0ffee1234000000"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "is not valid JSON (line 1, column 1"),
        ("[]", "the top level is not an object"),
        ('{"suppliers": []}', "schema_version None"),
        ('{"schema_version": "2", "suppliers": []}', "schema_version '2'"),
        ('{"schema_version": "1"}', "has no 'suppliers' list"),
        (
            '{"schema_version": "1", "suppliers": [{"supplier_id": "S1", "findings": {}}]}',
            "'findings' is not a list",
        ),
        (
            '{"schema_version": "1", "suppliers": [{"supplier_id": "S1", "findings": [{}]}]}',
            "findings[0] has no finding_id",
        ),
        (
            '{"schema_version": "1", "suppliers": [], "not_screened": [{"reasons": []}]}',
            "'not_screened' must be a list",
        ),
    ],
)
def test_malformed_baselines_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "old.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BaselineError) as raised:
        load_baseline(path)
    assert str(path) in raised.value.message and message in raised.value.message
    assert isinstance(raised.value, FeocscreenError) and raised.value.exit_code == 2


def test_unreadable_baselines_are_errors_not_crashes(tmp_path: Path) -> None:
    binary = tmp_path / "old.json"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(BaselineError, match="not UTF-8"):
        read_result(binary)
    with pytest.raises(BaselineError, match="cannot read"):
        read_result(tmp_path / "missing.json")


def test_a_check_json_output_is_a_valid_baseline(result: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "check.json"
    path.write_text(json.dumps({**result, "gate": {"tripped": True}}), encoding="utf-8-sig")
    assert load_baseline(path) == baseline_keys(result)
