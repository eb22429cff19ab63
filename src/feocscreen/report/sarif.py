"""SARIF 2.1.0 for code-scanning views: one result per finding, located at input file + row.

Waived findings carry an accepted suppression with the waiver's justification,
so code-scanning tools show them as dismissed rather than dropping them.
Upcoming findings are `note`s. The stable `finding_id` is the partial
fingerprint, so a finding keeps its identity when rows move.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from .view import (
    NOT_SCREENED_RULE,
    Gate,
    Result,
    citation_text,
    citation_url,
    clean_text,
    counted_keys,
    evidence_refs,
    first_location,
    not_screened_key,
    suppliers,
)

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://github.com/feocscreen/feocscreen"
FINGERPRINT = "feocscreenFindingId/v1"
# SARIF has three result levels; critical and high block, medium warns.
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}


def render(data: Result, gate: Gate | None = None) -> str:
    """A SARIF log with one run; rules are the distinct rule ids the findings used."""
    counted = counted_keys(data, gate)
    paths = _input_paths(data)
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for supplier in suppliers(data):
        for finding in supplier.get("findings") or []:
            rule_id = clean_text(finding.get("rule_id")) or "unknown-rule"
            if rule_id not in rules:
                rules[rule_id] = _rule(rule_id, finding)
            results.append(_result(data, supplier, finding, rule_id, counted, paths))
    not_screened = list(data.get("not_screened") or [])
    if not_screened:
        rules[NOT_SCREENED_RULE] = {
            "id": NOT_SCREENED_RULE,
            "name": "NotScreened",
            "shortDescription": {"text": "Supplier not screened because of input errors"},
            "defaultConfiguration": {"level": "error"},
            "properties": {"severity": "high"},
        }
        for entry in not_screened:
            results.append(_not_screened_result(entry, counted, paths))
    rule_index = {rule_id: index for index, rule_id in enumerate(rules)}
    for result in results:
        result["ruleIndex"] = rule_index[result["ruleId"]]
    tool = data.get("tool") or {}
    driver: dict[str, Any] = {
        "name": "feocscreen",
        "informationUri": INFORMATION_URI,
        "rules": list(rules.values()),
    }
    if tool.get("version"):
        driver["version"] = str(tool["version"])
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "results": results,
        "artifacts": [
            {
                "location": {"uri": _uri(entry.get("path"))},
                "hashes": {"sha-256": str(entry.get("sha256"))},
            }
            for entry in data.get("inputs") or []
            if entry.get("path") and entry.get("sha256")
        ],
        "properties": {
            "as_of": str(data.get("as_of")),
            "disclaimer": "informational, not legal advice",
        },
    }
    if gate is not None:
        run["invocations"] = [
            {
                "executionSuccessful": True,
                "properties": {
                    "gate_tripped": bool(gate.get("tripped")),
                    "fail_on": str(gate.get("fail_on")),
                },
            }
        ]
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _rule(rule_id: str, finding: Mapping[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": rule_id,
        "shortDescription": {"text": clean_text(finding.get("title")) or rule_id},
        "defaultConfiguration": {"level": LEVELS.get(str(finding.get("severity")), "warning")},
        "properties": {
            "severity": str(finding.get("severity")),
            "confidence": str(finding.get("confidence")),
            "citation": citation_text(finding.get("citation")),
        },
    }
    url = citation_url(finding.get("citation"))
    if url:
        rule["helpUri"] = url
    return rule


def _result(
    data: Result,
    supplier: Mapping[str, Any],
    finding: Mapping[str, Any],
    rule_id: str,
    counted: set[str],
    paths: dict[str, str],
) -> dict[str, Any]:
    finding_id = str(finding.get("finding_id"))
    status = str(finding.get("status"))
    level = "note" if status == "upcoming" else LEVELS.get(str(finding.get("severity")), "warning")
    message = clean_text(
        f"{supplier.get('supplier_id')} {supplier.get('supplier_name') or ''}: "
        f"{finding.get('message') or finding.get('title')}"
    )
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "level": level,
        "message": {"text": message},
        "partialFingerprints": {FINGERPRINT: finding_id},
        "properties": {
            "finding_id": finding_id,
            "supplier_id": str(supplier.get("supplier_id")),
            "severity": str(finding.get("severity")),
            "status": status,
            "effective_from": str(finding.get("effective_from")),
            "counted": finding_id in counted,
            "evidence": evidence_refs(finding.get("evidence")),
        },
    }
    location = first_location(finding.get("evidence")) or _default_location(data)
    if location:
        result["locations"] = [_location(paths.get(location[0], location[0]), location[1])]
    waived = finding.get("waived")
    if waived:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": clean_text(
                    f"{waived.get('why')} (approved by {waived.get('by')}, until {waived.get('until')})"
                ),
            }
        ]
    return result


def _not_screened_result(
    entry: Mapping[str, Any], counted: set[str], paths: dict[str, str]
) -> dict[str, Any]:
    reasons = list(entry.get("reasons") or [])
    supplier_id = str(entry.get("supplier_id"))
    result: dict[str, Any] = {
        "ruleId": NOT_SCREENED_RULE,
        "level": "error",
        "message": {
            "text": clean_text(
                f"{supplier_id} not screened: "
                + "; ".join(clean_text(r.get("message")) for r in reasons)
            )
        },
        "partialFingerprints": {FINGERPRINT: not_screened_key(supplier_id)},
        "properties": {
            "supplier_id": supplier_id,
            "severity": "high",
            "counted": not_screened_key(supplier_id) in counted,
        },
    }
    located = [r for r in reasons if r.get("file")]
    if located:
        row = located[0].get("row")
        file = str(located[0]["file"])
        result["locations"] = [
            _location(paths.get(file, file), row if isinstance(row, int) and row > 0 else None)
        ]
    return result


def _input_paths(data: Result) -> dict[str, str]:
    """Evidence names a file by its name; code scanning needs the path as given on the
    command line (relative to the repository), so map each unambiguous name to its path."""
    by_name: dict[str, list[str]] = {}
    for entry in data.get("inputs") or []:
        if entry.get("path"):
            path = str(entry["path"])
            by_name.setdefault(PurePath(path.replace("\\", "/")).name, []).append(path)
    return {name: found[0] for name, found in by_name.items() if len(found) == 1}


def _default_location(data: Result) -> tuple[str, int | None] | None:
    inputs = data.get("inputs") or []
    return (str(inputs[0]["path"]), None) if inputs and inputs[0].get("path") else None


def _location(file: str, row: int | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(file)}}
    if row:
        physical["region"] = {"startLine": row}
    return {"physicalLocation": physical}


def _uri(path: Any) -> str:
    return quote(str(path).replace("\\", "/"), safe="/:@-._~")
