"""The result dict shaped for the page: the same read-only helpers the report writers use.

Nothing here scores, counts or filters — tiers, findings and figures are read
from ``result.data`` as the pipeline produced them, through
``feocscreen.report.view`` so that the page words evidence, citations and
waivers exactly as the Excel and Markdown reports do. The only choice made
here is order: worst tier first, so the suppliers that need attention lead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import SEVERITIES, STAGES, TIERS
from ..report import view as rv

TIER_SYMBOL: dict[str, str] = {  # a shape beside the colour, so tier never rests on colour alone
    "critical": "◆",
    "high": "▲",
    "medium": "■",
    "low": "●",
    "clear": "✓",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def spend_text(value: Any) -> tuple[str, str]:
    """A spend block ``{usd, share, suppliers}`` (or a bare dollar figure): figure and detail."""
    usd = rv.money(value)
    figure = f"${usd:,.0f}" if usd is not None else "—"
    detail = []
    if isinstance(value, Mapping):
        if _is_number(value.get("share")):
            detail.append(f"{100 * value['share']:.1f} % of declared spend")
        if _is_number(value.get("suppliers")):
            n = int(value["suppliers"])
            detail.append(f"{n} supplier{'' if n == 1 else 's'}")
    return figure, ", ".join(detail)


def coverage_text(value: Any) -> tuple[str, str]:
    """How much of the portfolio declared spend: figure (share of suppliers) and detail."""
    if not isinstance(value, Mapping):
        return rv.percent(value) or "—", ""
    figure = rv.percent(value.get("share_of_suppliers")) or "—"
    detail = []
    if _is_number(value.get("suppliers_with_spend")):
        detail.append(f"{int(value['suppliers_with_spend'])} suppliers")
    total = rv.money(value.get("total_spend_usd"))
    if total is not None:
        detail.append(f"${total:,.0f} in total")
    return figure, ", ".join(detail)


def _tier_rank(tier: Any) -> int:
    return TIERS.index(tier) if tier in TIERS else len(TIERS)


def _finding_row(finding: Mapping[str, Any]) -> dict[str, Any]:
    waived = finding.get("waived")
    waiver = ""
    if isinstance(waived, Mapping):
        waiver = rv.clean_text(
            f"waived by {waived.get('by') or '?'} until {waived.get('until') or '?'}: {waived.get('why') or ''}"
        )
    return {
        "finding_id": rv.clean_text(finding.get("finding_id")),
        "rule_id": rv.clean_text(finding.get("rule_id")),
        "title": rv.clean_text(finding.get("title")),
        "severity": finding.get("severity") if finding.get("severity") in SEVERITIES else "info",
        "state": rv.finding_state(finding),
        "effective_from": rv.clean_text(finding.get("effective_from")),
        "message": rv.clean_text(finding.get("message")),
        "citation": rv.citation_text(finding.get("citation")),
        "citation_url": rv.citation_url(finding.get("citation")),
        "confidence": rv.clean_text(finding.get("confidence")),
        "evidence": rv.evidence_refs(finding.get("evidence")),
        "waiver": waiver,
    }


def _supplier_row(supplier: Mapping[str, Any]) -> dict[str, Any]:
    findings = sorted(
        supplier.get("findings") or [],
        key=lambda f: (
            ("active", "upcoming", "waived").index(rv.finding_state(f))
            if rv.finding_state(f) in ("active", "upcoming", "waived")
            else 3,
            rv.severity_order(f.get("severity")),
        ),
    )
    tier = supplier.get("tier") if supplier.get("tier") in TIERS else "unknown"
    return {
        "supplier_id": rv.clean_text(supplier.get("supplier_id")),
        "supplier_name": rv.clean_text(supplier.get("supplier_name")),
        "country": rv.clean_text(supplier.get("country")),
        "stage": rv.clean_text(supplier.get("stage")),
        "tier": tier,
        "tier_symbol": TIER_SYMBOL.get(str(tier), "?"),
        "score": supplier.get("score"),
        "feoc": supplier.get("feoc"),
        "pfe": supplier.get("pfe"),
        "basis": [rv.clean_text(b) for b in supplier.get("feoc_pfe_basis") or []],
        "midstream_exposure": rv.percent(supplier.get("midstream_exposure")) or "n/a",
        "counts": rv.finding_counts(supplier),
        "findings": [_finding_row(f) for f in findings],
        "matches": [
            {
                "field": rv.clean_text(m.get("field")),
                "list": rv.clean_text(m.get("list")),
                "entry": rv.clean_text(m.get("entry")),
                "score": m.get("score"),
                "status": rv.clean_text(m.get("status")),
                "explanation": rv.clean_text(m.get("explanation")),
            }
            for m in supplier.get("matches") or []
        ],
    }


def page_view(data: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the result section shows, in display order, as plain strings and numbers."""
    summary = data.get("summary") or {}
    by_tier = summary.get("by_tier") or {}
    suppliers = sorted(
        rv.suppliers(data),
        key=lambda s: (_tier_rank(s.get("tier")), -(s.get("score") or 0.0)),
    )
    spend_weighted = rv.portfolio_stage_exposure(data, "spend_weighted")
    count_based = rv.portfolio_stage_exposure(data, "count_based")
    hhi = summary.get("hhi_by_stage") or {}
    validation = data.get("validation") or {}
    return {
        "as_of": rv.clean_text(data.get("as_of")),
        "generated_at": rv.clean_text(data.get("generated_at")),
        "screened": len(suppliers),
        "not_screened_count": len(data.get("not_screened") or []),
        "tiers": [
            {"tier": tier, "symbol": TIER_SYMBOL[tier], "count": int(by_tier.get(tier) or 0)}
            for tier in TIERS
        ],
        "spend_feoc_pfe": spend_text(summary.get("spend_feoc_pfe")),
        "spend_passing_2027": spend_text(summary.get("spend_passing_2027")),
        "spend_coverage": coverage_text(summary.get("spend_coverage")),
        "portfolio_midstream_exposure": rv.percent(summary.get("portfolio_midstream_exposure"))
        or "—",
        "weighting": rv.clean_text(summary.get("weighting") or "spend"),
        "stages": [
            {
                "stage": stage,
                "spend_weighted": rv.percent(spend_weighted.get(stage)) or "—",
                "count_based": rv.percent(count_based.get(stage)) or "—",
                "hhi": hhi.get(stage),
            }
            for stage in STAGES
        ],
        "suppliers": [_supplier_row(s) for s in suppliers],
        "not_screened": [
            {
                "supplier_id": rv.clean_text(entry.get("supplier_id")),
                "reasons": [dict(reason) for reason in entry.get("reasons") or []],
            }
            for entry in data.get("not_screened") or []
        ],
        "errors": list(validation.get("errors") or []),
        "warnings": list(validation.get("warnings") or []),
        "rulesets": [dict(r) for r in data.get("rulesets") or []],
        "lists": [dict(item) for item in data.get("lists") or []],
        "disclaimer": rv.DISCLAIMER,
    }
