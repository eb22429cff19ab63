"""Markdown sized for a pull-request comment: a short table of what counted, details collapsed.

Every cell is escaped: supplier names come from the input, and a PR comment
must not turn them into links, HTML or @-mentions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .view import (
    Gate,
    Result,
    citation_text,
    citation_url,
    clean_text,
    counted_keys,
    evidence_refs,
    finding_state,
    iter_findings,
    not_screened_key,
    severity_order,
    suppliers,
    waiver_label,
    waiver_lists,
)

TABLE_ROWS = 15  # the headline table stays readable in a PR comment
DETAILS_BUDGET = 50_000  # GitHub rejects comments over 65,536 characters; leave room for the rest
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # [ escaped, so ( ! # need no escape


def escape(value: Any) -> str:
    """Cell text that renders literally: no markup, HTML, links or mentions."""
    text = clean_text(value).replace("\r", " ").replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _SPECIAL.sub(r"\\\1", text)
    return text.replace("@", "&#64;")


def render(data: Result, gate: Gate | None = None) -> str:
    """Heading with the verdict, a table of counted findings, and collapsed full details."""
    counted = counted_keys(data, gate)
    if gate is None:
        heading = "### feocscreen screening"
    elif gate.get("tripped"):
        heading = f"### ❌ feocscreen check failed (fail-on {escape(gate.get('fail_on'))})"
    else:
        heading = f"### ✅ feocscreen check passed (fail-on {escape(gate.get('fail_on'))})"
    by_tier = (data.get("summary") or {}).get("by_tier") or {}
    tiers = " · ".join(f"{escape(t)} **{escape(n)}**" for t, n in by_tier.items())
    lines = [
        heading,
        "",
        f"As of {escape(data.get('as_of'))}: {len(suppliers(data))} suppliers screened, "
        f"{len(data.get('not_screened') or [])} not screened. {tiers}",
        "",
    ]
    rows = _counted_rows(data, counted)
    if rows:
        lines += [
            f"**{len(rows)} counted** "
            + ("(new since the baseline)" if gate and gate.get("baseline") else ""),
            "",
            "| Severity | Supplier | Rule | Finding |",
            "|---|---|---|---|",
        ]
        lines += [row for _, row in rows[:TABLE_ROWS]]
        if len(rows) > TABLE_ROWS:
            lines.append(f"| | … {len(rows) - TABLE_ROWS} more | | see details below |")
        lines.append("")
    else:
        lines += ["No finding counts against the gate.", ""]
    waivers = waiver_lists(data)
    for waiver in waivers["expired"]:
        lines.append(f"- ⚠️ **Expired waiver no longer applies:** {escape(waiver_label(waiver))}")
    for waiver in waivers["unused"]:
        lines.append(f"- Unused waiver matched nothing: {escape(waiver_label(waiver))}")
    if waivers["expired"] or waivers["unused"]:
        lines.append("")
    lines += _details(data, counted)
    lines += ["", "_Informational, not legal advice._", ""]
    return "\n".join(lines)


def _counted_rows(data: Result, counted: set[str]) -> list[tuple[int, str]]:
    rows: list[tuple[int, str]] = []
    for supplier, finding in iter_findings(data):
        if str(finding.get("finding_id")) not in counted:
            continue
        rows.append(
            (
                severity_order(finding.get("severity")),
                f"| {escape(finding.get('severity'))} | {_supplier(supplier)} | "
                f"{escape(finding.get('rule_id'))} | {escape(finding.get('message') or finding.get('title'))} |",
            )
        )
    for entry in data.get("not_screened") or []:
        if not_screened_key(entry.get("supplier_id")) in counted:
            reasons = "; ".join(clean_text(r.get("message")) for r in entry.get("reasons") or [])
            rows.append(
                (
                    severity_order("high"),
                    f"| high | {escape(entry.get('supplier_id'))} | not-screened | {escape(reasons)} |",
                )
            )
    rows.sort(key=lambda row: row[0])
    return rows


def _details(data: Result, counted: set[str]) -> list[str]:
    findings = list(iter_findings(data))
    lines = [
        "<details>",
        f"<summary>All {len(findings)} findings</summary>",
        "",
        "| Supplier | Rule | Severity | State | Counted | Effective | Citation | Evidence |",
        "|---|---|---|---|---|---|---|---|",
    ]
    used = sum(len(line) for line in lines)
    shown = 0
    for supplier, finding in findings:
        url = citation_url(finding.get("citation"))
        cite = escape(citation_text(finding.get("citation")))
        if url:
            cite = f"[{cite}]({url})"
        line = (
            f"| {_supplier(supplier)} | {escape(finding.get('rule_id'))} | "
            f"{escape(finding.get('severity'))} | {escape(finding_state(finding))} | "
            f"{'yes' if str(finding.get('finding_id')) in counted else 'no'} | "
            f"{escape(finding.get('effective_from'))} | {cite} | "
            f"{escape('; '.join(evidence_refs(finding.get('evidence'))))} |"
        )
        if used + len(line) > DETAILS_BUDGET:
            break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    if shown < len(findings):
        lines.append(f"\n{len(findings) - shown} more findings are in the JSON or SARIF output.")
    lines += ["", "</details>"]
    return lines


def _supplier(supplier: Mapping[str, Any]) -> str:
    return f"{escape(supplier.get('supplier_id'))} {escape(supplier.get('supplier_name'))}"
