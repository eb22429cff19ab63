"""Read-only views over a result dict that every writer shares.

Writers format; they never re-score or filter. These helpers only walk the
result (DESIGN's JSON v1 plus the additions in docs/ARCHITECTURE.md) in a stable
order and turn its nested values (citations, evidence, waivers) into display
text, so that the Excel, text, JUnit, SARIF and Markdown outputs agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..models import SEVERITIES, STAGES

DISCLAIMER = (
    "Informational, not legal advice. feocscreen applies the rulesets listed in the Audit "
    "sheet to the data supplied; verify conclusions with counsel before acting on them."
)
NOT_SCREENED_RULE = "not-screened"
# Control characters other than tab/newline break XML 1.0 and confuse terminals; so do
# the non-characters U+FFFE/U+FFFF and unpaired surrogates, which no sheet can hold.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_SAFE_URL = re.compile(r"^https?://[^\s\"'<>]+$", re.IGNORECASE)

Result = Mapping[str, Any]
Gate = Mapping[str, Any]


def clean_text(value: Any) -> str:
    """Display text of any value with control characters removed; None becomes ''."""
    if value is None:
        return ""
    text = str(value)
    # Every character _CONTROL removes is unprintable (a control, a surrogate or a
    # non-character), so printable text, nearly all of it, is returned without the regex.
    return text if text.isprintable() else _CONTROL.sub("", text)


def safe_url(url: Any) -> str | None:
    """The URL when it is a plain http(s) address, else None (never a file: or script link)."""
    if isinstance(url, str) and _SAFE_URL.match(url.strip()):
        return url.strip()
    return None


def citation_text(citation: Any) -> str:
    """The human text of a citation given either as a string or as {text, url}."""
    if isinstance(citation, Mapping):
        return clean_text(citation.get("text") or citation.get("url") or "")
    return clean_text(citation)


def citation_url(citation: Any) -> str | None:
    """The link of a citation, when it has a safe one."""
    if isinstance(citation, Mapping):
        return safe_url(citation.get("url"))
    return safe_url(citation)


def evidence_refs(evidence: Any) -> list[str]:
    """Each piece of evidence as 'Sheet!C5 (file)', or a graph path as 'A → B → C'."""
    refs: list[str] = []
    for item in evidence or []:
        if type(item) is dict and not item.get("path"):  # a cell: the common case
            sheet, cell, file = item.get("sheet"), item.get("cell"), item.get("file")
            texts = type(sheet) is str and type(cell) is str and type(file) is str
            if texts and sheet and cell and file:  # what the lines below make of it
                refs.append(clean_text(f"{sheet}!{cell} ({file})".strip()))
                continue
        if not isinstance(item, Mapping):
            refs.append(clean_text(item))
            continue
        if item.get("path"):
            path = item["path"]
            steps = path if isinstance(path, Sequence) and not isinstance(path, str) else [path]
            refs.append("path: " + " → ".join(clean_text(step) for step in steps))
            continue
        place = item.get("cell") or (f"row {item['row']}" if item.get("row") else "")
        ref = f"{item['sheet']}!{place}" if item.get("sheet") else str(place)
        if item.get("column") and not item.get("cell"):
            ref += f" {item['column']}"
        if item.get("file"):
            ref += f" ({item['file']})"
        refs.append(clean_text(ref.strip()))
    return refs


def first_location(evidence: Any) -> tuple[str, int | None] | None:
    """The (file, row) of the first piece of evidence that names a file."""
    for item in evidence or []:
        if isinstance(item, Mapping) and item.get("file"):
            row = item.get("row")
            return str(item["file"]), int(row) if isinstance(row, int) and row > 0 else None
    return None


def finding_state(finding: Mapping[str, Any]) -> str:
    """'waived', 'active' or 'upcoming': how the finding is shown."""
    return "waived" if finding.get("waived") else str(finding.get("status", "active"))


def severity_order(severity: Any) -> int:
    """Sort key putting critical first and unknown severities last."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


# The result's keys written after its suppliers: they need every supplier (a streamed run
# knows them only at the end).
TAIL_KEYS = ("validation", "summary", "waivers", "audit")


def split_result(data: Result) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
    """A whole result as a stream's three parts: head, suppliers, tail."""
    head = {k: v for k, v in data.items() if k != "suppliers" and k not in TAIL_KEYS}
    tail = {k: data[k] for k in TAIL_KEYS if k in data}
    return head, list(data.get("suppliers") or []), tail


def suppliers(data: Result) -> list[Mapping[str, Any]]:
    """The screened suppliers in the order the result gives them."""
    return list(data.get("suppliers") or [])


def iter_findings(data: Result) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Every (supplier, finding) pair, suppliers in result order, findings in their order."""
    for supplier in suppliers(data):
        for finding in supplier.get("findings") or []:
            yield supplier, finding


def not_screened_key(supplier_id: Any) -> str:
    """The gate/baseline key of a supplier that could not be screened."""
    return f"{NOT_SCREENED_RULE}:{supplier_id}"


def counted_keys(data: Result, gate: Gate | None) -> set[str]:
    """Keys the gate counted; without a gate, every active unwaived finding and not-screened supplier.

    The default is only a display choice for writers used outside `check`; the
    decision itself belongs to the gate.
    """
    if gate is not None:
        return {str(key) for key in gate.get("counted") or []}
    keys = {
        str(f["finding_id"])
        for _, f in iter_findings(data)
        if f.get("status") == "active" and not f.get("waived")
    }
    keys.update(
        not_screened_key(entry.get("supplier_id")) for entry in data.get("not_screened") or []
    )
    return keys


def finding_counts(supplier: Mapping[str, Any]) -> dict[str, int]:
    """How many of a supplier's findings are active (unwaived), upcoming and waived."""
    counts = {"active": 0, "upcoming": 0, "waived": 0}
    for finding in supplier.get("findings") or []:
        state = finding_state(finding)
        counts[state] = counts.get(state, 0) + 1
    return counts


def stage_share(value: Any, key: str = "spend_weighted") -> float | None:
    """A portfolio stage figure that may be a bare number or {spend_weighted, count_based}."""
    if isinstance(value, Mapping):
        value = value.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def portfolio_stage_exposure(data: Result, key: str = "spend_weighted") -> dict[str, float | None]:
    """Portfolio covered share per stage, whichever way round the summary nests it."""
    exposure = (data.get("summary") or {}).get("stage_exposure") or {}
    if key in exposure and isinstance(exposure[key], Mapping):
        return {stage: stage_share(exposure[key].get(stage)) for stage in STAGES}
    return {stage: stage_share(exposure.get(stage), key) for stage in STAGES}


def money(value: Any) -> float | None:
    """A money figure given as a number or as {usd: ...}."""
    if isinstance(value, Mapping):
        value = value.get("usd", value.get("amount"))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def percent(value: Any) -> str:
    """A 0–1 fraction as '40.0 %'; blank for None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{100 * value:.1f} %"
    return ""


def issues(data: Result) -> list[Mapping[str, Any]]:
    """Validation errors then warnings, as the result lists them."""
    validation = data.get("validation") or {}
    return [*(validation.get("errors") or []), *(validation.get("warnings") or [])]


def waiver_lists(data: Result) -> dict[str, list[Mapping[str, Any]]]:
    """The applied, expired and unused waivers (each possibly absent)."""
    waivers = data.get("waivers") or {}
    return {kind: list(waivers.get(kind) or []) for kind in ("applied", "expired", "unused")}


def waiver_label(waiver: Mapping[str, Any]) -> str:
    """'S001 / rule-id (until 2027-03-31, by x)' for messages about a waiver."""
    who = waiver.get("approved_by") or waiver.get("by") or "?"
    until = waiver.get("expires") or waiver.get("until") or "?"
    return clean_text(
        f"{waiver.get('supplier_id', '*')} / {waiver.get('rule_id', '*')} "
        f"(expires {until}, approved by {who})"
    )
