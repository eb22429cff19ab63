"""JUnit XML for CI dashboards: one testcase per supplier, one failure per counted finding.

Suppliers that could not be screened are testcases too, failing with their
reasons, because the gate counts them as high findings. Findings the gate did
not count (upcoming, waived, below the threshold, in the baseline) are listed
in the testcase's system-out so nothing is hidden.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from .view import (
    Gate,
    Result,
    citation_text,
    clean_text,
    counted_keys,
    evidence_refs,
    finding_state,
    not_screened_key,
    suppliers,
)

SUITE_NAME = "feocscreen"


def render(data: Result, gate: Gate | None = None) -> str:
    """A <testsuites> document; failures are exactly the findings the gate counted."""
    counted = counted_keys(data, gate)
    suite = ET.Element("testsuite", name=SUITE_NAME)
    failures = 0
    cases = 0
    for supplier in suppliers(data):
        case = ET.SubElement(
            suite, "testcase", name=_case_name(supplier), classname=_classname(supplier)
        )
        cases += 1
        others: list[str] = []
        for finding in supplier.get("findings") or []:
            if str(finding.get("finding_id")) in counted:
                failures += 1
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=clean_text(
                        f"[{finding.get('severity')}] {finding.get('rule_id')}: {finding.get('title')}"
                    ),
                    type=clean_text(finding.get("rule_id")),
                )
                failure.text = _finding_detail(finding)
            else:
                others.append(
                    f"{finding_state(finding)} [{finding.get('severity')}] {finding.get('rule_id')}: "
                    f"{clean_text(finding.get('message') or finding.get('title'))}"
                )
        if others:
            ET.SubElement(case, "system-out").text = "\n".join(others)
    for entry in data.get("not_screened") or []:
        case = ET.SubElement(
            suite,
            "testcase",
            name=clean_text(entry.get("supplier_id")),
            classname=f"{SUITE_NAME}.not_screened",
        )
        cases += 1
        reasons = [_issue_line(issue) for issue in entry.get("reasons") or []]
        if not_screened_key(entry.get("supplier_id")) in counted:
            failures += 1
            failure = ET.SubElement(
                case, "failure", message="not screened: input errors", type="not-screened"
            )
            failure.text = "\n".join(reasons)
        else:
            ET.SubElement(case, "system-out").text = "\n".join(reasons)
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    if data.get("as_of"):
        props = ET.Element("properties")
        ET.SubElement(props, "property", name="as_of", value=clean_text(data["as_of"]))
        if gate is not None:
            ET.SubElement(props, "property", name="fail_on", value=clean_text(gate.get("fail_on")))
        suite.insert(0, props)
    root = ET.Element("testsuites", name=SUITE_NAME, tests=str(cases), failures=str(failures))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _case_name(supplier: Mapping[str, Any]) -> str:
    return clean_text(
        f"{supplier.get('supplier_id')} {supplier.get('supplier_name') or ''}".strip()
    )


def _classname(supplier: Mapping[str, Any]) -> str:
    return f"{SUITE_NAME}.{clean_text(supplier.get('stage') or 'supplier')}"


def _finding_detail(finding: Mapping[str, Any]) -> str:
    lines = [
        clean_text(finding.get("message")),
        f"status: {finding.get('status')}; effective from {finding.get('effective_from')}",
        f"citation: {citation_text(finding.get('citation'))}",
        f"confidence: {finding.get('confidence')}",
        f"finding_id: {finding.get('finding_id')}",
    ]
    refs = evidence_refs(finding.get("evidence"))
    if refs:
        lines.append("evidence: " + "; ".join(refs))
    return "\n".join(lines)


def _issue_line(issue: Mapping[str, Any]) -> str:
    where = " ".join(
        clean_text(part)
        for part in (issue.get("file"), issue.get("sheet"), issue.get("cell") or issue.get("row"))
        if part
    )
    return clean_text(f"{where}: {issue.get('message')}" if where else issue.get("message"))
