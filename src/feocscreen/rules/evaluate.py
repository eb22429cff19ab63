"""Apply a rule book to one supplier: findings (active/upcoming) and the FEOC/PFE prongs.

Pure: no I/O. Every rule that marks a prong is evaluated (so prongs are known
whatever the date); a rule yields findings only when it is active on ``as_of`` or
becomes effective within the horizon, and a rule that can do neither is not asked. Each hit of a true condition is one finding, whose
``finding_id`` hashes the supplier, rule, stage and country or list entry (never
cell positions), so it survives row reordering and is usable as a baseline key.

A large portfolio repeats itself, so answers are kept for what suppliers share:

- a stage's hits depend only on its country shares. Rules made of one stage condition
  (alone, or in an ``all`` with conditions on the supplier's own columns) are evaluated
  stage by stage from a memo keyed by (stage, country shares), holding their findings
  ready but for the finding id and the evidence cells;
- the other rules depend on a few supplier columns, the ownership rows and the
  watchlist matches. For a supplier without matches, and without ownership rows or with
  none that reach a covered nation or a listed owner (then only which figures the rows
  give matters), their answers, prongs included, are kept per value of those columns;
  only the evidence cells are looked up for each supplier.

Memos belong to a run (its group resolver) and go with it. Either way a supplier gets
exactly the verdict that evaluating every rule on it gives: tests/test_eval_equivalence.py
checks generated portfolios against that definition, tests/test_perf_equivalence.py
whole results byte for byte against goldens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..models import STAGES
from .kinds import (
    CHAIN,
    MATCHES,
    MEMO_LIMIT,
    OWNERSHIP,
    All,
    Hit,
    Kind,
    PerRun,
    StageInGroup,
    StageUnverified,
    Subject,
    _StageCondition,
    evaluate,
)
from .load import Rule, RuleBook

_sha256 = hashlib.sha256


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


def _rule_template(rule: Rule) -> dict[str, Any]:
    """A finding of the rule with the per-hit keys left as None, in the result's key order
    (shared values keep a large result's memory proportional to what differs)."""
    until = rule.effective_until.isoformat() if rule.effective_until else None
    return {
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


def _evidence_list(hit: Hit) -> list[dict[str, Any]]:
    """The evidence of a finding: the hit's cells, then the paths through the chain."""
    evidence: list[dict[str, Any]] = list(hit.evidence)
    if hit.paths:
        evidence += [{"path": list(p)} for p in hit.paths]
    return evidence


def _hit_fields(template: dict[str, Any], status: str, hit: Hit) -> dict[str, Any]:
    """The finding of a hit with every key but ``finding_id`` and ``evidence`` filled.

    Findings are copies of these (``dict.copy``), so the nested values (citation) are
    shared; after evaluation only top-level keys are written (waivers set ``waived``,
    scoring ``contribution``)."""
    finding = template.copy()  # same keys, same order: only the per-hit values are set
    finding["status"] = status
    finding["message"] = f"{template['title']}: {hit.detail}"  # the next step is in ``advice``
    if hit.key in STAGES:
        finding["stage"] = hit.key
        finding["country"] = hit.value
    if hit.key == "listing":
        finding["entry"] = hit.value
    if hit.share is not None:
        finding["share"] = round(hit.share, 10)
    return finding


def _fills_shared_memos(kind: Kind) -> bool:
    return kind.fills_shared_memos or any(_fills_shared_memos(k) for k in kind.parts())


def _stage_split(condition: Kind) -> tuple[_StageCondition, tuple[Kind, ...]] | None:
    """(stage condition, the other conditions of its ``all``) when the rule's findings are its
    stage hits whenever those others are all true, else None.

    The others must read neither chain stages (their hits could then repeat a stage hit's
    id) nor memos shared across suppliers (deciding them only for suppliers with stage hits
    would change the order those memos fill in).
    """
    if isinstance(condition, StageInGroup | StageUnverified):
        return condition, ()
    if type(condition) is not All:
        return None
    leaves = [c for c in condition.children if isinstance(c, StageInGroup | StageUnverified)]
    others = tuple(c for c in condition.children if c not in leaves)
    for other in others:
        reads = other.reads()
        if reads is None or CHAIN in reads or _fills_shared_memos(other):
            return None
    return (leaves[0], others) if len(leaves) == 1 else None


@dataclass
class _Planned:
    """A rule as one run evaluates it: status for the run's dates, prong, template."""

    rule: Rule
    condition: Kind
    prong: tuple[str, str] | None  # (marks, prong name)
    status: str | None
    rank: int  # position of (status, rule id) in the order findings are listed
    template: dict[str, Any]  # a finding of the rule, status set, per-hit keys None
    stage_split: tuple[_StageCondition, tuple[Kind, ...]] | None


# One stage's findings under every stage-split rule, one per rule and selected country:
# (plan slot, rank, country, the rule's finding template with its status, message, share,
# bytes hashed after the supplier id). Kept lean: at Excel's row limit the memo holds
# about 60,000 stage shapes.
StageFindings = tuple[tuple[int, int, str, dict[str, Any], str, float, bytes], ...]


@dataclass(frozen=True)
class _ColumnEvidence:
    """Stands for ``subject.jurisdiction_evidence(column)`` in an answer kept for many
    suppliers: each gets its own cells."""

    column: str


def _column_evidence_marker(column: str) -> tuple[dict[str, Any], ...]:
    return (_ColumnEvidence(column),)  # type: ignore[return-value]


@dataclass
class _Context:
    """The answers of the other (not stage-split) rules for one value of what they read,
    with evidence left as markers: prongs, notes, basis, and per finding (rank, bytes
    hashed after the supplier id, finding without id and evidence, evidence, paths)."""

    prongs: dict[str, bool | None]
    notes: dict[str, str]
    basis: dict[str, list[str]]
    findings: list[tuple[int, bytes, dict[str, Any], tuple[Any, ...], tuple[tuple[str, ...], ...]]]


@dataclass
class _RunMemo:
    """What is kept across the suppliers of one run (groups are the run's)."""

    stages: dict[tuple[str, tuple[tuple[str, float], ...]], StageFindings] = field(
        default_factory=dict
    )
    contexts: dict[Any, _Context] = field(default_factory=dict)


@dataclass
class _Plan:
    """A book's rules for one (as_of, horizon end): those evaluated stage by stage, the rest,
    what the rest read, and the memos of each run."""

    book: RuleBook  # held so its id cannot be reused while the plan is cached
    by_stage: list[_Planned]
    generic: list[_Planned]
    context_key: Callable[[Subject], Any] | None  # None: the rest are evaluated every time
    runs: PerRun[_RunMemo] = field(default_factory=lambda: PerRun(_new_run))
    chain_stages: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)

    def memo(self, subject: Subject) -> _RunMemo:
        """The memos of the subject's run (its group resolver's)."""
        return self.runs.of(subject.group_members)


def _new_run(_resolver: Any) -> _RunMemo:
    return _RunMemo()


_PLANS: dict[tuple[int, date, date], _Plan] = {}
_PLANS_MAX = 64  # books and dates change a few times per process at most


def _plan(book: RuleBook, as_of: date, horizon_end: date) -> _Plan:
    """The book's rules planned for the run's dates, worked out once rather than per supplier."""
    key = (id(book), as_of, horizon_end)
    plan = _PLANS.get(key)
    if plan is not None and plan.book is book:
        return plan
    if len(_PLANS) >= _PLANS_MAX:
        _PLANS.clear()
    planned: list[_Planned] = []
    ids = [rule.id for rule in book.rules]
    # Rule ids are unique in a loaded book; were they not, findings of two rules could share
    # an id, and only evaluating every rule in book order says which one is kept.
    shortcuts = len(set(ids)) == len(ids)
    for rule in book.rules:
        status = rule.status(as_of, horizon_end)
        prong = (rule.marks, f"{rule.marks}_{rule.prong}") if rule.marks and rule.prong else None
        condition = rule.condition
        if status is None and prong is None and not _fills_shared_memos(condition):
            continue  # no finding, no prong, nothing another rule would see: not asked
        split = _stage_split(condition) if prong is None and shortcuts else None
        template = _rule_template(rule)
        template["status"] = status  # the run's, the same for every finding of the rule
        planned.append(_Planned(rule, condition, prong, status, 0, template, split))
    order = sorted({(p.status or "", p.rule.id) for p in planned})
    ranks = {key: index for index, key in enumerate(order)}
    for p in planned:
        p.rank = ranks[(p.status or "", p.rule.id)]
    generic = [p for p in planned if p.stage_split is None]
    plan = _Plan(
        book,
        [p for p in planned if p.stage_split is not None and p.status is not None],
        generic,
        _context_key([p.condition for p in generic]) if shortcuts else None,
    )
    _PLANS[key] = plan
    return plan


def _context_key(conditions: list[Kind]) -> Callable[[Subject], Any] | None:
    """A function giving what the conditions' answers depend on for a supplier, when that
    can be a memo key: None (no memo) for a supplier with ownership rows or watchlist
    matches, else whether those are absent and the values of the columns read."""
    reads: frozenset[str] = frozenset()
    for condition in conditions:
        more = condition.reads()
        if more is None or CHAIN in more:
            return None
        reads |= more
    columns = tuple(sorted(r for r in reads if r not in (OWNERSHIP, MATCHES)))
    ownership = OWNERSHIP in reads
    plain = all(condition.ownership_plain() for condition in conditions)
    matches = MATCHES in reads

    def key(subject: Subject) -> Any:
        own_state: Any = 0
        if ownership:
            own = subject.ownership
            if own is not None:
                # The kinds that fill shared memos do so only through ownership rows, and
                # for a plain entity they find nothing to remember: every owner above it
                # is not foreign-controlled, whatever is asked first.
                if own.has_rows:
                    if not plain or not own.plain:
                        return None
                    own_state = own.figures_given
                else:
                    own_state = 1
        match_state = 0
        if matches and subject.matches is not None:
            if subject.matches or subject.owner_matches:
                return None
            match_state = 1
        supplier = subject.supplier
        values = tuple([supplier.get(c) for c in columns])
        for value in values:  # text or blank only: 1, 1.0 and True would share a key
            if value is not None and type(value) is not str:
                return None
        return own_state, match_state, values

    return key


def _stage_findings(
    plan: _Plan, stage: str, distribution: tuple[tuple[str, float], ...], subject: Subject
) -> StageFindings:
    """Every stage-split rule's findings on one stage with these country shares."""
    found = []
    for slot, planned in enumerate(plan.by_stage):
        leaf, _ = planned.stage_split  # type: ignore[misc]
        if stage not in leaf.wanted:
            continue
        template = planned.template
        for country, share in leaf.selection(distribution, subject):
            # as _hit_fields words and rounds a stage hit
            message = f"{template['title']}: {leaf.detail(stage, country, share)}"
            suffix = "\x1f".join((planned.rule.id, stage, country)).encode("utf-8")
            found.append((slot, planned.rank, country, template, message, round(share, 10), suffix))
    return tuple(found)


Findings = dict[str, tuple[int, str, dict[str, Any]]]  # fid -> (rank, fid, finding)


def evaluate_supplier(
    book: RuleBook, subject: Subject, supplier_id: str, as_of: date, horizon_end: date
) -> SupplierVerdict:
    """Findings and prongs of one supplier under every rule of the book."""
    plan = _plan(book, as_of, horizon_end)
    run = plan.memo(subject)
    # Sorting the (rank of the rule, fid, finding) values lists findings by status, rule id
    # and finding id. The first hit of an id makes the finding.
    findings: Findings = {}
    # finding_id hashes "supplier\x1frule\x1fkey\x1fvalue": the supplier's part is hashed once
    prefix = _sha256((supplier_id + "\x1f").encode("utf-8"))
    if plan.by_stage:
        _add_stage_findings(plan, run, subject, prefix, findings)
    key = plan.context_key(subject) if plan.context_key is not None else None
    if key is None:
        prongs, notes, basis = _add_generic_findings(plan, subject, prefix, findings)
    else:
        context = run.contexts.get(key)
        if context is None:
            if len(run.contexts) >= MEMO_LIMIT:
                run.contexts.clear()
            context = run.contexts[key] = _context(plan, subject)
        prongs, notes, basis = _add_context_findings(context, subject, prefix, findings)
    return SupplierVerdict([entry[2] for entry in sorted(findings.values())], prongs, notes, basis)


def _generic_outcomes(
    plan: _Plan, subject: Subject
) -> tuple[
    dict[str, bool | None], dict[str, str], dict[str, list[str]], list[tuple[_Planned, Hit]]
]:
    """Prongs, notes, basis and the (rule, hit) of every finding of the rules that are not
    stage-split, each rule evaluated on the subject in book order."""
    prongs: dict[str, bool | None] = {}
    notes: dict[str, str] = {}
    basis: dict[str, list[str]] = {"feoc": [], "pfe": []}
    hits: list[tuple[_Planned, Hit]] = []
    for planned in plan.generic:
        outcome = evaluate(planned.condition, subject)
        if planned.prong is not None:
            marks, name = planned.prong
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
                basis[marks] += [f"{planned.rule.title}: {h.detail}" for h in outcome.hits]
        if not outcome.value or planned.status is None:
            continue
        hits += [
            (planned, hit) for hit in outcome.hits or (Hit("supplier", "", "condition holds"),)
        ]
    return (
        dict(sorted(prongs.items())),
        dict(sorted(notes.items())),
        {k: sorted(set(v)) for k, v in basis.items()},
        hits,
    )


def _add_generic_findings(
    plan: _Plan, subject: Subject, prefix: Any, findings: Findings
) -> tuple[dict[str, bool | None], dict[str, str], dict[str, list[str]]]:
    """Evaluate the rules that are not stage-split on the subject; add their findings."""
    prongs, notes, basis, hits = _generic_outcomes(plan, subject)
    # One evidence list per hit, shared by the findings it makes; like the evidence dicts,
    # never mutated after. Keyed by id, with the hit kept so its id cannot be reused.
    evidence_lists: dict[int, tuple[Hit, list[dict[str, Any]]]] = {}
    for planned, hit in hits:
        digest = prefix.copy()
        digest.update("\x1f".join((planned.rule.id, hit.key, hit.value)).encode("utf-8"))
        fid = "f-" + digest.hexdigest()[:16]
        if fid in findings:
            continue
        shared = evidence_lists.get(id(hit))
        if shared is None:
            shared = evidence_lists[id(hit)] = (hit, _evidence_list(hit))
        finding = _hit_fields(planned.template, planned.status or "", hit)
        finding["finding_id"] = fid
        finding["evidence"] = shared[1]
        findings[fid] = (planned.rank, fid, finding)
    return prongs, notes, basis


def _context(plan: _Plan, subject: Subject) -> _Context:
    """The answers of the rules that are not stage-split for every supplier with the subject's
    context key: evaluated on the subject with its column evidence left as markers."""
    probe = Subject(
        supplier=subject.supplier,
        chain=subject.chain,
        stage_country=subject.stage_country,
        group_members=subject.group_members,
        stage_evidence=subject.stage_evidence,
        jurisdiction_evidence=_column_evidence_marker,
        ownership=subject.ownership,
        matches=subject.matches,
        owner_matches=subject.owner_matches,
    )
    prongs, notes, basis, hits = _generic_outcomes(plan, probe)
    found = []
    seen: set[bytes] = set()
    for planned, hit in hits:
        suffix = "\x1f".join((planned.rule.id, hit.key, hit.value)).encode("utf-8")
        if suffix in seen:  # the same finding id for every supplier: the first hit makes it
            continue
        seen.add(suffix)
        fields = _hit_fields(planned.template, planned.status or "", hit)
        found.append((planned.rank, suffix, fields, hit.evidence, hit.paths))
    return _Context(prongs, notes, basis, found)


def _add_context_findings(
    context: _Context, subject: Subject, prefix: Any, findings: Findings
) -> tuple[dict[str, bool | None], dict[str, str], dict[str, list[str]]]:
    """The kept answers for the subject: its own copies, with its own evidence cells."""
    for rank, suffix, fields, cells, paths in context.findings:
        digest = prefix.copy()
        digest.update(suffix)
        fid = "f-" + digest.hexdigest()[:16]
        evidence: list[dict[str, Any]] = []
        for cell in cells:
            if type(cell) is _ColumnEvidence:
                evidence += subject.jurisdiction_evidence(cell.column)
            else:
                evidence.append(dict(cell))
        if paths:
            evidence += [{"path": list(p)} for p in paths]
        finding = fields.copy()
        finding["finding_id"] = fid
        finding["evidence"] = evidence
        findings[fid] = (rank, fid, finding)
    return (
        dict(context.prongs),
        dict(context.notes),
        {k: list(v) for k, v in context.basis.items()},
    )


def _add_stage_findings(
    plan: _Plan, run: _RunMemo, subject: Subject, prefix: Any, findings: Findings
) -> None:
    """The findings of the stage-split rules, stage by stage from the per-shape memo.

    No two of them share an id: rule ids are unique and each rule hits a stage and country
    once, and the hits of the rules' other conditions are never on a stage."""
    memo = run.stages
    chain = subject.chain
    stages = plan.chain_stages.get(chain)
    if stages is None:
        stages = plan.chain_stages[chain] = tuple(s for s in STAGES if s in chain)
    # per slot: whether the rule's other conditions all hold (their hits are then added)
    gates: list[bool | None] = [None] * len(plan.by_stage)
    for stage in stages:
        distribution = subject.distribution(stage)
        key = (stage, distribution)
        stage_findings = memo.get(key)
        if stage_findings is None:
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            stage_findings = memo[key] = _stage_findings(plan, stage, distribution, subject)
        evidence: dict[str, list[dict[str, Any]]] = {}  # the stage's, by country
        for slot, rank, country, template, message, share, suffix in stage_findings:
            gate = gates[slot]
            if gate is None:
                gate = gates[slot] = _gate(plan.by_stage[slot], subject, prefix, findings)
            if not gate:
                continue
            cited = evidence.get(country)
            if cited is None:
                cells, paths = subject.stage_evidence(stage, country)
                cited = evidence[country] = list(cells)
                if paths:
                    cited += [{"path": list(p)} for p in paths]
            digest = prefix.copy()
            digest.update(suffix)
            fid = "f-" + digest.hexdigest()[:16]
            finding = template.copy()  # the rule's keys in order, its status set
            finding["finding_id"] = fid
            finding["message"] = message
            finding["evidence"] = cited
            finding["stage"] = stage
            finding["country"] = country
            finding["share"] = share
            findings[fid] = (rank, fid, finding)


def _gate(planned: _Planned, subject: Subject, prefix: Any, findings: Findings) -> bool:
    """Whether a stage-split rule's other conditions all hold; their hits are then findings
    of the rule too (the rule has stage hits when this is asked)."""
    _, others = planned.stage_split  # type: ignore[misc]
    hits: list[Hit] = []
    for condition in others:
        outcome = evaluate(condition, subject)
        if outcome.value is not True:
            return False
        hits += outcome.hits
    rule = planned.rule
    for hit in hits:
        digest = prefix.copy()
        digest.update("\x1f".join((rule.id, hit.key, hit.value)).encode("utf-8"))
        fid = "f-" + digest.hexdigest()[:16]
        if fid not in findings:
            finding = _hit_fields(planned.template, planned.status or "", hit)
            finding["finding_id"] = fid
            finding["evidence"] = _evidence_list(hit)
            findings[fid] = (planned.rank, fid, finding)
    return True
