"""Plain-text summary for a terminal or a CI log: headline counts, the gate, what counted."""

from __future__ import annotations

from .view import (
    Gate,
    Result,
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

MAX_LISTED = 50  # a CI log stays readable; the full list is in the JSON/SARIF outputs


def render(data: Result, gate: Gate | None = None) -> str:
    """The result as a few readable lines, ending with the gate decision when there is one."""
    tool = data.get("tool") or {}
    lines = [
        f"feocscreen {tool.get('version', '')} — as of {data.get('as_of', '?')} "
        "— informational, not legal advice",
    ]
    screened = suppliers(data)
    not_screened = list(data.get("not_screened") or [])
    by_tier = (data.get("summary") or {}).get("by_tier") or {}
    tiers = ", ".join(f"{tier} {count}" for tier, count in by_tier.items())
    lines.append(
        f"{len(screened)} suppliers screened, {len(not_screened)} not screened"
        + (f"; tiers: {tiers}" if tiers else "")
    )
    states = {"active": 0, "upcoming": 0, "waived": 0}
    for _, finding in iter_findings(data):
        state = finding_state(finding)
        states[state] = states.get(state, 0) + 1
    lines.append(
        f"findings: {states['active']} active, {states['upcoming']} upcoming, "
        f"{states['waived']} waived"
    )

    counted = counted_keys(data, gate)
    listed = _counted_lines(data, counted)
    if gate is not None:
        verdict = "FAILED" if gate.get("tripped") else "passed"
        scope = f"fail-on {gate.get('fail_on', 'high')}"
        if gate.get("fail_on_upcoming"):
            scope += ", upcoming included"
        if gate.get("baseline"):
            scope += f", new since baseline {gate['baseline']}"
        lines.append(f"gate {verdict} ({scope}): {len(counted)} counted")
        reasons = list(gate.get("reasons") or [])
        if reasons:  # the headline; the counted findings themselves are listed below
            lines.append(f"  {clean_text(reasons[0])}")
    elif listed:
        lines.append("active unwaived findings and suppliers not screened:")
    lines.extend(listed[:MAX_LISTED])
    if len(listed) > MAX_LISTED:
        lines.append(f"  … and {len(listed) - MAX_LISTED} more (see --format json or sarif)")

    waivers = waiver_lists(data)
    for waiver in waivers["expired"]:
        lines.append(f"EXPIRED WAIVER no longer applies: {waiver_label(waiver)}")
    for waiver in waivers["unused"]:
        lines.append(f"unused waiver matched no finding: {waiver_label(waiver)}")
    return "\n".join(lines) + "\n"


def _counted_lines(data: Result, counted: set[str]) -> list[str]:
    rows: list[tuple[int, str]] = []
    for supplier, finding in iter_findings(data):
        if str(finding.get("finding_id")) not in counted:
            continue
        refs = ", ".join(evidence_refs(finding.get("evidence")))
        rows.append(
            (
                severity_order(finding.get("severity")),
                clean_text(
                    f"  {supplier.get('supplier_id')} {supplier.get('supplier_name')}: "
                    f"{str(finding.get('severity', '')).upper()} {finding.get('rule_id')} "
                    f"({finding.get('status')}) {finding.get('message') or finding.get('title')}"
                    + (f" [{refs}]" if refs else "")
                ),
            )
        )
    for entry in data.get("not_screened") or []:
        if not_screened_key(entry.get("supplier_id")) not in counted:
            continue
        reasons = "; ".join(clean_text(r.get("message")) for r in entry.get("reasons") or [])
        rows.append(
            (
                severity_order("high"),
                clean_text(f"  {entry.get('supplier_id')}: NOT SCREENED ({reasons})"),
            )
        )
    return [line for _, line in sorted(rows, key=lambda row: row[0])]
