"""What changed between two screening results: suppliers, tiers, findings and exposure.

``feocscreen diff OLD.json NEW.json`` answers a reviewer's question about a
supplier-list change: who was added or removed, whose tier moved, which
findings are new or resolved (matched by the stable ``finding_id``, so
re-ordered rows change nothing), which findings changed state (upcoming to
active, waived, unwaived), and how covered-nation exposure moved per supplier
and for the portfolio. It compares two result dicts; it never re-scores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .models import STAGES, TIERS
from .report.markdown import escape as md_escape
from .report.view import clean_text, finding_state

DIFF_FORMATS: tuple[str, ...] = ("text", "json", "markdown")
EXPOSURE_TOLERANCE = 1e-9  # float noise only: any real change of a share is reported
_TIER_RANK = {tier: rank for rank, tier in enumerate(reversed(TIERS))}  # clear=0 … critical=4


def diff_results(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The changes from `old` to `new`, each list in a stable order."""
    old_suppliers = {s["supplier_id"]: s for s in old.get("suppliers") or []}
    new_suppliers = {s["supplier_id"]: s for s in new.get("suppliers") or []}
    common = [sid for sid in new_suppliers if sid in old_suppliers]

    tier_changes = []
    for sid in common:
        before, after = old_suppliers[sid].get("tier"), new_suppliers[sid].get("tier")
        if before != after:
            worse = _TIER_RANK.get(str(after), 0) > _TIER_RANK.get(str(before), 0)
            tier_changes.append(
                {
                    "supplier_id": sid,
                    "supplier_name": new_suppliers[sid].get("supplier_name"),
                    "from": before,
                    "to": after,
                    "direction": "worse" if worse else "better",
                }
            )

    old_findings = _findings(old)
    new_findings = _findings(new)
    findings_changed = []
    for fid, (supplier, finding) in new_findings.items():
        if fid in old_findings:
            before = finding_state(old_findings[fid][1])
            after = finding_state(finding)
            if before != after:
                findings_changed.append(
                    {**_finding_row(supplier, finding), "from": before, "to": after}
                )

    exposure_changes = []
    for sid in common:
        before_s, after_s = old_suppliers[sid], new_suppliers[sid]
        for stage in (*STAGES, "midstream"):
            before = _exposure(before_s, stage)
            after = _exposure(after_s, stage)
            if _moved(before, after):
                exposure_changes.append(
                    {
                        "supplier_id": sid,
                        "stage": stage,
                        "from": before,
                        "to": after,
                        "delta": None
                        if before is None or after is None
                        else round(after - before, 10),
                    }
                )
    portfolio_changes = []
    for stage in (*STAGES, "midstream"):
        before = _portfolio_exposure(old, stage)
        after = _portfolio_exposure(new, stage)
        if _moved(before, after):
            portfolio_changes.append(
                {
                    "stage": stage,
                    "from": before,
                    "to": after,
                    "delta": None if before is None or after is None else round(after - before, 10),
                }
            )

    old_ns = {e["supplier_id"] for e in old.get("not_screened") or []}
    new_ns = {e["supplier_id"] for e in new.get("not_screened") or []}
    return {
        "old": _run(old),
        "new": _run(new),
        "suppliers_added": [
            _supplier_row(new_suppliers[sid]) for sid in new_suppliers if sid not in old_suppliers
        ],
        "suppliers_removed": [
            _supplier_row(old_suppliers[sid]) for sid in old_suppliers if sid not in new_suppliers
        ],
        "not_screened_added": sorted(new_ns - old_ns),
        "not_screened_removed": sorted(old_ns - new_ns),
        "tier_changes": tier_changes,
        "findings_new": [
            _finding_row(s, f) for fid, (s, f) in new_findings.items() if fid not in old_findings
        ],
        "findings_resolved": [
            _finding_row(s, f) for fid, (s, f) in old_findings.items() if fid not in new_findings
        ],
        "findings_changed": findings_changed,
        "exposure_changes": exposure_changes,
        "portfolio_exposure_changes": portfolio_changes,
    }


def has_changes(diff: Mapping[str, Any]) -> bool:
    """True when anything but the run descriptions differs."""
    return any(value for key, value in diff.items() if key not in ("old", "new"))


def render_diff(diff: Mapping[str, Any], fmt: str) -> str:
    """The diff as text, json or markdown."""
    if fmt == "json":
        return json.dumps(diff, indent=2, ensure_ascii=False) + "\n"
    if fmt == "text":
        return _render_text(diff)
    if fmt == "markdown":
        return _render_markdown(diff)
    raise KeyError(f"unknown diff format {fmt!r}; known: {', '.join(DIFF_FORMATS)}")


# ---- building blocks ---------------------------------------------------------------------


def _findings(data: Mapping[str, Any]) -> dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]]:
    found: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
    for supplier in data.get("suppliers") or []:
        for finding in supplier.get("findings") or []:
            found[str(finding["finding_id"])] = (supplier, finding)
    return found


def _run(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "as_of": data.get("as_of"),
        "generated_at": data.get("generated_at"),
        "suppliers": len(data.get("suppliers") or []),
        "inputs": [
            {"path": i.get("path"), "sha256": i.get("sha256")} for i in data.get("inputs") or []
        ],
    }


def _supplier_row(supplier: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "supplier_id": supplier.get("supplier_id"),
        "supplier_name": supplier.get("supplier_name"),
        "tier": supplier.get("tier"),
    }


def _finding_row(supplier: Mapping[str, Any], finding: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "finding_id": finding.get("finding_id"),
        "supplier_id": supplier.get("supplier_id"),
        "rule_id": finding.get("rule_id"),
        "severity": finding.get("severity"),
        "state": finding_state(finding),
        "message": finding.get("message") or finding.get("title"),
    }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _exposure(supplier: Mapping[str, Any], stage: str) -> float | None:
    if stage == "midstream":
        return _number(supplier.get("midstream_exposure"))
    return _number((supplier.get("stage_exposure") or {}).get(stage))


def _portfolio_exposure(data: Mapping[str, Any], stage: str) -> float | None:
    summary = data.get("summary") or {}
    if stage == "midstream":
        return _number(summary.get("portfolio_midstream_exposure"))
    block = (summary.get("stage_exposure") or {}).get(stage)
    if isinstance(block, Mapping):
        block = block.get("spend_weighted")
    return _number(block)


def _moved(before: float | None, after: float | None) -> bool:
    if before is None or after is None:
        return before != after
    return abs(after - before) > EXPOSURE_TOLERANCE


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _delta(value: float | None) -> str:
    return "" if value is None else f" ({'+' if value >= 0 else '−'}{abs(100 * value):.1f} pp)"


# ---- renderers ---------------------------------------------------------------------------


def _render_text(diff: Mapping[str, Any]) -> str:
    old, new = diff["old"], diff["new"]
    lines = [
        f"feocscreen diff: {old['suppliers']} suppliers as of {old['as_of']} → "
        f"{new['suppliers']} suppliers as of {new['as_of']}"
    ]
    if not has_changes(diff):
        return "\n".join([*lines, "no changes"]) + "\n"

    def section(title: str, entries: list[str]) -> None:
        if entries:
            lines.append(f"{title} ({len(entries)}):")
            lines.extend(f"  {clean_text(entry)}" for entry in entries)

    section(
        "suppliers added",
        [
            f"+ {s['supplier_id']} {s['supplier_name']} [{s['tier']}]"
            for s in diff["suppliers_added"]
        ],
    )
    section(
        "suppliers removed",
        [
            f"- {s['supplier_id']} {s['supplier_name']} [{s['tier']}]"
            for s in diff["suppliers_removed"]
        ],
    )
    section("not screened, new", [f"! {sid}" for sid in diff["not_screened_added"]])
    section("not screened, resolved", [f"✓ {sid}" for sid in diff["not_screened_removed"]])
    section(
        "tier changes",
        [
            f"{t['supplier_id']} {t['supplier_name']}: {t['from']} → {t['to']} ({t['direction']})"
            for t in diff["tier_changes"]
        ],
    )
    section("findings new", [_finding_line("+", f) for f in diff["findings_new"]])
    section("findings resolved", [_finding_line("-", f) for f in diff["findings_resolved"]])
    section(
        "findings changed",
        [f"{_finding_line('~', f)} ({f['from']} → {f['to']})" for f in diff["findings_changed"]],
    )
    section(
        "exposure changes",
        [
            f"{e['supplier_id']} {e['stage']}: {_pct(e['from'])} → {_pct(e['to'])}{_delta(e['delta'])}"
            for e in diff["exposure_changes"]
        ],
    )
    section(
        "portfolio exposure (spend-weighted)",
        [
            f"{e['stage']}: {_pct(e['from'])} → {_pct(e['to'])}{_delta(e['delta'])}"
            for e in diff["portfolio_exposure_changes"]
        ],
    )
    return "\n".join(lines) + "\n"


def _finding_line(mark: str, f: Mapping[str, Any]) -> str:
    return (
        f"{mark} {f['supplier_id']} {str(f['severity']).upper()} {f['rule_id']} "
        f"[{f['state']}]: {f['message']}"
    )


def _render_markdown(diff: Mapping[str, Any]) -> str:
    old, new = diff["old"], diff["new"]
    lines = [
        "### feocscreen diff",
        "",
        f"{old['suppliers']} suppliers as of {md_escape(old['as_of'])} → "
        f"{new['suppliers']} suppliers as of {md_escape(new['as_of'])}",
        "",
    ]
    if not has_changes(diff):
        return "\n".join([*lines, "No changes.", ""])
    counts = [
        ("Suppliers added", len(diff["suppliers_added"])),
        ("Suppliers removed", len(diff["suppliers_removed"])),
        ("Not screened, new", len(diff["not_screened_added"])),
        ("Not screened, resolved", len(diff["not_screened_removed"])),
        ("Tier changes", len(diff["tier_changes"])),
        ("Findings new", len(diff["findings_new"])),
        ("Findings resolved", len(diff["findings_resolved"])),
        ("Findings changed state", len(diff["findings_changed"])),
        ("Exposure changes", len(diff["exposure_changes"])),
    ]
    lines += ["| Change | Count |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in counts]
    lines.append("")

    def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
        if not rows:
            return
        lines.extend(
            [
                "<details>",
                f"<summary>{title} ({len(rows)})</summary>",
                "",
                "| " + " | ".join(header) + " |",
                "|" + "---|" * len(header),
            ]
        )
        lines.extend("| " + " | ".join(md_escape(v) for v in row) + " |" for row in rows)
        lines.extend(["", "</details>", ""])

    supplier_header = ["Supplier", "Name", "Tier"]
    table(
        "Suppliers added",
        supplier_header,
        [[s["supplier_id"], s["supplier_name"], s["tier"]] for s in diff["suppliers_added"]],
    )
    table(
        "Suppliers removed",
        supplier_header,
        [[s["supplier_id"], s["supplier_name"], s["tier"]] for s in diff["suppliers_removed"]],
    )
    table(
        "Not screened",
        ["Supplier", "Change"],
        [[sid, "new: input errors"] for sid in diff["not_screened_added"]]
        + [[sid, "resolved"] for sid in diff["not_screened_removed"]],
    )
    table(
        "Tier changes",
        ["Supplier", "Name", "From", "To"],
        [[t["supplier_id"], t["supplier_name"], t["from"], t["to"]] for t in diff["tier_changes"]],
    )
    finding_header = ["Supplier", "Severity", "Rule", "State", "Message"]
    for title, key in (
        ("Findings new", "findings_new"),
        ("Findings resolved", "findings_resolved"),
    ):
        table(
            title,
            finding_header,
            [
                [f["supplier_id"], f["severity"], f["rule_id"], f["state"], f["message"]]
                for f in diff[key]
            ],
        )
    table(
        "Findings changed state",
        ["Supplier", "Rule", "From", "To"],
        [[f["supplier_id"], f["rule_id"], f["from"], f["to"]] for f in diff["findings_changed"]],
    )
    table(
        "Exposure changes",
        ["Supplier", "Stage", "From", "To"],
        [
            [e["supplier_id"], e["stage"], _pct(e["from"]), _pct(e["to"])]
            for e in diff["exposure_changes"]
        ],
    )
    table(
        "Portfolio exposure (spend-weighted)",
        ["Stage", "From", "To"],
        [[e["stage"], _pct(e["from"]), _pct(e["to"])] for e in diff["portfolio_exposure_changes"]],
    )
    return "\n".join(lines)
