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
from functools import lru_cache
from typing import Any

from ..models import STAGES
from .kinds import Hit, Subject, evaluate
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


@lru_cache(maxsize=4096)
def _rule_fields(rule: Rule) -> tuple[str, str, str | None, dict[str, str]]:
    """Per-rule values every finding repeats, built once and shared (a large portfolio has
    millions of findings; sharing keeps the result's memory proportional to what differs)."""
    until = rule.effective_until.isoformat() if rule.effective_until else None
    return rule.title, rule.effective_from.isoformat(), until, rule.citation.to_dict()


def _finding(supplier_id: str, rule: Rule, status: str, hit: Hit) -> dict[str, Any]:
    stage = hit.key if hit.key in STAGES else None
    # Evidence dicts are shared between findings of the same supplier: never mutated after.
    evidence: list[dict[str, Any]] = list(hit.evidence)
    evidence += [{"path": list(p)} for p in hit.paths]
    title, effective_from, effective_until, citation = _rule_fields(rule)
    return {
        "finding_id": finding_id(supplier_id, rule.id, hit.key, hit.value),
        "rule_id": rule.id,
        "title": title,
        "severity": rule.severity,
        "status": status,
        "effective_from": effective_from,
        "effective_until": effective_until,
        "message": f"{title}: {hit.detail}",  # the next step is in ``advice``
        "citation": citation,
        "confidence": rule.confidence,
        "evidence": evidence,
        "contribution": 0.0,
        "waived": None,
        "stage": stage,
        "country": hit.value if stage else None,
        "entry": hit.value if hit.key == "listing" else None,
        "share": None if hit.share is None else round(hit.share, 10),
        "regime": rule.regime,
        "ruleset": rule.ruleset,
        "advice": rule.advice,
    }


def evaluate_supplier(
    book: RuleBook, subject: Subject, supplier_id: str, as_of: date, horizon_end: date
) -> SupplierVerdict:
    """Findings and prongs of one supplier under every rule of the book."""
    findings: dict[str, dict[str, Any]] = {}
    prongs: dict[str, bool | None] = {}
    notes: dict[str, str] = {}
    basis: dict[str, list[str]] = {"feoc": [], "pfe": []}
    for rule in book.rules:
        outcome = evaluate(rule.condition, subject)
        if rule.marks and rule.prong:
            name = f"{rule.marks}_{rule.prong}"
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
                basis[rule.marks] += [f"{rule.title}: {h.detail}" for h in outcome.hits]
        status = rule.status(as_of, horizon_end)
        if status is None or not outcome.value:
            continue
        hits = outcome.hits or (Hit("supplier", "", "condition holds"),)
        for hit in hits:
            finding = _finding(supplier_id, rule, status, hit)
            findings.setdefault(finding["finding_id"], finding)
    ordered = sorted(findings.values(), key=lambda f: (f["status"], f["rule_id"], f["finding_id"]))
    return SupplierVerdict(
        ordered,
        dict(sorted(prongs.items())),
        dict(sorted(notes.items())),
        {k: sorted(set(v)) for k, v in basis.items()},
    )
