"""Apply a rule book to one supplier: findings (active/upcoming) and the FEOC/PFE prongs.

Pure: no I/O. Every rule is evaluated (so prongs are known whatever the date);
a rule yields findings only when it is active on ``as_of`` or becomes effective
within the horizon. Each hit of a true condition is one finding, whose
``finding_id`` hashes the supplier, rule, stage and country or list entry (never
cell positions), so it survives row reordering and is usable as a baseline key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..models import STAGES
from .kinds import Hit, Kind, Subject, evaluate
from .load import Rule, RuleBook


def finding_id(supplier_id: str, rule_id: str, key: str, value: str) -> str:
    """Stable id of a finding: hash of supplier, rule, stage/facet and country/entry."""
    digest = hashlib.sha256("\x1f".join((supplier_id, rule_id, key, value)).encode("utf-8"))
    return "f-" + digest.hexdigest()[:16]


@dataclass
class SupplierVerdict:
    """What the rules say about one supplier, before waivers and scoring."""

    findings: list[dict[str, Any]]
    prongs: dict[str, bool | None]
    prong_notes: dict[str, str]
    basis: dict[str, list[str]]  # "feoc"/"pfe" -> reasons


# Per-rule values every finding repeats, keyed by the rule's identity: hashing the frozen
# Rule (its whole condition tree) once per finding cost more than building the finding.
# The rule is kept in the value so its id cannot be reused while the entry lives.
_RULE_TEMPLATES: dict[int, tuple[Rule, dict[str, Any]]] = {}
_RULE_TEMPLATES_MAX = 4096  # rule books are small; this bounds a long-lived process


def _rule_template(rule: Rule) -> dict[str, Any]:
    """A finding of the rule with the per-hit keys left as None, in the result's key order
    (shared values keep a large result's memory proportional to what differs)."""
    entry = _RULE_TEMPLATES.get(id(rule))
    if entry is not None and entry[0] is rule:
        return entry[1]
    if len(_RULE_TEMPLATES) >= _RULE_TEMPLATES_MAX:
        _RULE_TEMPLATES.clear()
    until = rule.effective_until.isoformat() if rule.effective_until else None
    template: dict[str, Any] = {
        "finding_id": None,
        "rule_id": rule.id,
        "title": rule.title,
        "severity": rule.severity,
        "status": None,
        "effective_from": rule.effective_from.isoformat(),
        "effective_until": until,
        "message": None,
        "citation": rule.citation.to_dict(),
        "confidence": rule.confidence,
        "evidence": None,
        "contribution": 0.0,
        "waived": None,
        "stage": None,
        "country": None,
        "entry": None,
        "share": None,
        "regime": rule.regime,
        "ruleset": rule.ruleset,
        "advice": rule.advice,
    }
    _RULE_TEMPLATES[id(rule)] = (rule, template)
    return template


def _evidence_list(hit: Hit) -> list[dict[str, Any]]:
    """The evidence of a finding: the hit's cells, then the paths through the chain."""
    evidence: list[dict[str, Any]] = list(hit.evidence)
    if hit.paths:
        evidence += [{"path": list(p)} for p in hit.paths]
    return evidence


def _finding(
    fid: str, rule: Rule, status: str, hit: Hit, evidence: list[dict[str, Any]]
) -> dict[str, Any]:
    template = _rule_template(rule)
    finding = template.copy()  # same keys, same order: only the per-hit values are set
    stage = hit.key if hit.key in STAGES else None
    finding["finding_id"] = fid
    finding["status"] = status
    finding["message"] = f"{template['title']}: {hit.detail}"  # the next step is in ``advice``
    finding["evidence"] = evidence
    if stage:
        finding["stage"] = stage
        finding["country"] = hit.value
    if hit.key == "listing":
        finding["entry"] = hit.value
    if hit.share is not None:
        finding["share"] = round(hit.share, 10)
    return finding


_STATUS: dict[tuple[int, date, date], tuple[Rule, str | None]] = {}


def _status(rule: Rule, as_of: date, horizon_end: date) -> str | None:
    """``rule.status``, computed once per rule and date rather than once per supplier."""
    key = (id(rule), as_of, horizon_end)
    entry = _STATUS.get(key)
    if entry is None or entry[0] is not rule:
        if len(_STATUS) >= _RULE_TEMPLATES_MAX:
            _STATUS.clear()
        entry = _STATUS[key] = (rule, rule.status(as_of, horizon_end))
    return entry[1]


# Per rule book, each rule with its condition and the prong it marks ("feoc_a"), worked
# out once rather than once per supplier; the book is held so its id cannot be reused.
Plan = list[tuple[Rule, Kind, tuple[str, str] | None]]
_PLANS: dict[int, tuple[RuleBook, Plan]] = {}


def _plan(book: RuleBook) -> Plan:
    """The book's rules as (rule, condition, (marks, prong name) or None)."""
    entry = _PLANS.get(id(book))
    if entry is None or entry[0] is not book:
        if len(_PLANS) >= 64:  # books are loaded a few times per process at most
            _PLANS.clear()
        plan = [
            (
                rule,
                rule.condition,
                (rule.marks, f"{rule.marks}_{rule.prong}") if rule.marks and rule.prong else None,
            )
            for rule in book.rules
        ]
        entry = _PLANS[id(book)] = (book, plan)
    return entry[1]


def evaluate_supplier(
    book: RuleBook, subject: Subject, supplier_id: str, as_of: date, horizon_end: date
) -> SupplierVerdict:
    """Findings and prongs of one supplier under every rule of the book."""
    findings: dict[str, dict[str, Any]] = {}
    prongs: dict[str, bool | None] = {}
    notes: dict[str, str] = {}
    basis: dict[str, list[str]] = {"feoc": [], "pfe": []}
    # One evidence list per hit, shared by the findings it makes (a stage hit is shared by
    # every rule on that stage and country); like the evidence dicts, never mutated after.
    # Keyed by id, with the hit kept so its id cannot be reused within the call.
    evidence_lists: dict[int, tuple[Hit, list[dict[str, Any]]]] = {}
    for rule, condition, prong in _plan(book):
        outcome = evaluate(condition, subject)
        if prong is not None:
            marks, name = prong
            previous = prongs.get(name, False)
            if outcome.value is True or previous is True:
                prongs[name] = True
            elif outcome.value is None or previous is None:
                prongs[name] = None
                if outcome.note:
                    notes[name] = outcome.note
            else:
                prongs[name] = False
            if outcome.value:
                basis[marks] += [f"{rule.title}: {h.detail}" for h in outcome.hits]
        if not outcome.value:
            continue
        status = _status(rule, as_of, horizon_end)
        if status is None:
            continue
        hits = outcome.hits or (Hit("supplier", "", "condition holds"),)
        for hit in hits:
            fid = finding_id(supplier_id, rule.id, hit.key, hit.value)
            if fid in findings:  # the first hit of an id makes the finding, as before
                continue
            shared = evidence_lists.get(id(hit))
            if shared is None:
                shared = evidence_lists[id(hit)] = (hit, _evidence_list(hit))
            findings[fid] = _finding(fid, rule, status, hit, shared[1])
    ordered = sorted(findings.values(), key=lambda f: (f["status"], f["rule_id"], f["finding_id"]))
    return SupplierVerdict(
        ordered,
        dict(sorted(prongs.items())),
        dict(sorted(notes.items())),
        {k: sorted(set(v)) for k, v in basis.items()},
    )
