"""The gate: which findings count against --fail-on, with upcoming, waivers, not-screened and baselines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feocscreen.gate import GateCounter, evaluate_gate, not_screened_key


def finding(fid: str, severity: str, status: str = "active", waived: bool = False) -> dict:
    return {
        "finding_id": fid,
        "rule_id": f"rule-{fid}",
        "severity": severity,
        "status": status,
        "waived": {"by": "a", "why": "b", "until": "2030-01-01"} if waived else None,
        "message": "m",
    }


DATA = {
    "suppliers": [
        {
            "supplier_id": "S1",
            "findings": [
                finding("f-a", "medium"),
                finding("f-b", "critical", waived=True),
                finding("f-c", "critical", status="upcoming"),
                finding("f-d", "low"),
            ],
        }
    ],
    "not_screened": [{"supplier_id": "S9", "reasons": [{"message": "country is required"}]}],
}


def test_no_fail_on_never_trips():
    assert not evaluate_gate(DATA, None, True).tripped


def test_only_active_unwaived_findings_and_not_screened_count():
    outcome = evaluate_gate(DATA, "medium", False)
    assert outcome.tripped and outcome.exit_code == 1
    assert outcome.counted == [not_screened_key("S9"), "f-a"]


def test_not_screened_counts_as_high():
    assert evaluate_gate(DATA, "high", False).counted == ["not-screened:S9"]
    assert evaluate_gate(DATA, "critical", False).counted == []


def test_upcoming_counts_only_when_asked():
    assert evaluate_gate(DATA, "critical", True).counted == ["f-c"]


def test_baseline_counts_only_new_keys():
    baseline = {"f-a", "not-screened:S9"}
    outcome = evaluate_gate(DATA, "low", False, baseline)
    assert outcome.counted == ["f-d"]
    assert "new" in outcome.reasons[0]
    assert not evaluate_gate(DATA, "medium", False, baseline).tripped


def test_unknown_severity_is_refused():
    with pytest.raises(ValueError):
        evaluate_gate(DATA, "severe", False)


gate_findings = st.lists(
    st.tuples(
        st.sampled_from(["S1", "S2", "S3", "S4"]),
        st.sampled_from(["critical", "high", "medium", "low", "info"]),
        st.sampled_from(["active", "upcoming"]),
        st.booleans(),
    ),
    max_size=200,
)


@settings(max_examples=60, deadline=None)
@given(specs=gate_findings, keep=st.integers(min_value=0, max_value=30), upcoming=st.booleans())
def test_a_gate_that_keeps_a_few_decides_and_lists_as_the_whole_gate(specs, keep, upcoming):
    """What `screen` shows of a gate on a million findings: the same decision, count and
    first reasons as the gate holding every finding."""
    suppliers: dict[str, list[dict]] = {}
    for number, (supplier, severity, status, waived) in enumerate(specs):
        suppliers.setdefault(supplier, []).append(
            finding(f"f-{number:04d}", severity, status, waived)
        )
    data = {
        "suppliers": [{"supplier_id": s, "findings": f} for s, f in sorted(suppliers.items())],
        "not_screened": DATA["not_screened"],
    }
    whole = evaluate_gate(data, "medium", upcoming)
    counter = GateCounter("medium", upcoming, keep=keep)
    for supplier in data["suppliers"]:
        counter.add_supplier(supplier)
    kept = counter.outcome(data["not_screened"])
    assert (kept.tripped, kept.total) == (whole.tripped, whole.total)
    assert whole.total == len(whole.counted)
    assert kept.reasons == whole.reasons[: 1 + keep]
    assert kept.counted == whole.counted[:keep]
    assert len(counter.counted) <= 2 * keep + 64  # never the whole list
