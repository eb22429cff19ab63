"""Condition primitives of the rules files: one class per kind, in one registry.

A rule's condition is a tree of these. Each kind reads one facet of a supplier
(its chain, its jurisdiction, its holders, its watchlist matches) and answers
with three-valued logic: True, False, or None when the data needed to decide is
missing (no list loaded, no ownership rows). A True answer carries *hits*, the
stage/country or list entry that made it true, with the evidence behind it; the
evaluator turns each hit into one finding. ``rules explain`` prints each kind's
one-line ``description``.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

from ..models import MIDSTREAM, STAGES

UNVERIFIED = "unverified"
# Facets of a subject a condition may depend on, besides supplier columns (Kind.facets).
CHAIN = "@chain"  # chain, stage_country, stage_evidence
OWNERSHIP = "@ownership"  # ownership (its rows, figures and paths)
MATCHES = "@matches"  # matches and owner_matches
JURISDICTION_COLUMNS = frozenset({"incorporation_country", "hq_country", "country"})
SFE_LISTS_NOTE = "no watchlist loaded: listing not tested"
RunState = TypeVar("RunState")


@dataclass(frozen=True)
class Hit:
    """What made a condition true: a stage and country, or a list entry, with evidence."""

    key: str  # stage or facet the hit is about ("separation", "jurisdiction", "listing")
    value: str  # the country, measure or list entry
    detail: str
    share: float | None = None
    evidence: tuple[dict[str, Any], ...] = ()
    paths: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """A three-valued answer: True (with hits), False, or None (not tested, with why)."""

    value: bool | None
    hits: tuple[Hit, ...] = ()
    note: str = ""


@dataclass
class Subject:
    """Everything the primitives may read about one supplier (built once per supplier)."""

    supplier: Mapping[str, Any]
    chain: tuple[str, ...]
    stage_country: Mapping[str, Mapping[str, float]]
    group_members: Callable[[str, str], frozenset[str]]  # (group, "origin"|"jurisdiction")
    stage_evidence: Callable[
        [str, str], tuple[tuple[dict[str, Any], ...], tuple[tuple[str, ...], ...]]
    ]
    jurisdiction_evidence: Callable[[str], tuple[dict[str, Any], ...]]
    ownership: Any  # ownership.EntityOwnership | None
    matches: Sequence[Mapping[str, Any]] | None  # None = no watchlist loaded
    owner_matches: Sequence[Mapping[str, Any]] | None = None
    memo: dict[str, Outcome] = field(default_factory=dict)  # condition signature -> outcome
    # stage -> its (country, share) pairs in declaration order: the key of per-shape memos
    distributions: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    stage_hits: dict[tuple[str, str], Hit] = field(default_factory=dict)  # (stage, country)
    unverified_hits: dict[str, Hit] = field(default_factory=dict)  # stage

    def distribution(self, stage: str) -> tuple[tuple[str, float], ...]:
        """The stage's country shares as a hashable value (suppliers share chain shapes)."""
        found = self.distributions.get(stage)
        if found is None:
            found = self.distributions[stage] = tuple(self.stage_country.get(stage, {}).items())
        return found

    def stage_hit(self, stage: str, country: str, share: float) -> Hit:
        """The hit of a stage performed in a country, with its evidence, built once per supplier."""
        found = self.stage_hits.get((stage, country))
        if found is None:
            evidence, paths = self.stage_evidence(stage, country)
            found = Hit(stage, country, stage_detail(stage, country, share), share, evidence, paths)
            self.stage_hits[(stage, country)] = found
        return found

    def unverified_hit(self, stage: str, share: float) -> Hit:
        """The hit of a stage's unverified share, with its evidence, built once per supplier."""
        found = self.unverified_hits.get(stage)
        if found is None:
            evidence, paths = self.stage_evidence(stage, UNVERIFIED)
            found = Hit(stage, UNVERIFIED, unverified_detail(stage, share), share, evidence, paths)
            self.unverified_hits[stage] = found
        return found


# Answers that carry nothing supplier-specific, shared (Outcome is frozen): most suppliers
# of a large portfolio get one of these from most rules.
FALSE = Outcome(False)
TRUE = Outcome(True)
NO_LISTS = Outcome(None, note=SFE_LISTS_NOTE)
NO_OWNERSHIP_ROWS = Outcome(None, note="no ownership rows for this supplier")
NO_HOLDING_FIGURES = Outcome(None, note="ownership rows give no equity, voting or board figures")
NOT_COVERED_NO_FIGURES = Outcome(
    None, note="not covered by jurisdiction; no ownership figures to test holdings"
)


def _answer(hits: list[Hit]) -> Outcome:
    """True with the hits, or the shared False."""
    return Outcome(True, tuple(hits)) if hits else FALSE


class Kind:
    """Interface of every condition primitive and combinator."""

    name: ClassVar[str]
    description: ClassVar[str]
    signature: str = ""  # canonical JSON of the condition: equal conditions share one answer
    # Whether answering fills memos shared by every supplier of a run (the ownership
    # graph's foreign-control look-through, only ever reached through a supplier's ownership
    # rows): the evaluator then asks it of the same suppliers, in the same order, as
    # evaluating every rule would.
    fills_shared_memos: ClassVar[bool] = False
    # What of the subject the answer depends on: CHAIN, OWNERSHIP, MATCHES, or supplier
    # column names; None when not declared (then nothing may be assumed).
    facets: ClassVar[frozenset[str] | None] = None
    # For a kind reading OWNERSHIP: whether, for an entity whose owners reach no covered
    # nation or SFE list (``EntityOwnership.plain``), the answer depends on nothing of the
    # ownership but which figures its rows give (``EntityOwnership.figures_given``).
    plain_ownership: ClassVar[bool] = False

    def __init__(self, params: Any) -> None:
        self.params = params

    def evaluate(self, subject: Subject) -> Outcome:
        raise NotImplementedError

    def describe(self) -> str:
        """The condition in words, for ``rules explain``."""
        raise NotImplementedError

    def groups_used(self) -> set[str]:
        """Country groups this condition names (checked against groups.yaml at load)."""
        return set()

    def lists_used(self) -> set[str]:
        """Watchlist ids this condition names (checked against the known list ids at load)."""
        return set()

    def parts(self) -> list[Kind]:
        """The sub-conditions of a combinator (none for a primitive)."""
        return []

    def ownership_plain(self) -> bool:
        """``plain_ownership`` of this condition and every sub-condition that reads OWNERSHIP."""
        if self.facets is not None and OWNERSHIP in self.facets and not self.plain_ownership:
            return False
        return all(part.ownership_plain() for part in self.parts())

    def reads(self) -> frozenset[str] | None:
        """Everything the answer depends on (with the sub-conditions'); None when unknown."""
        found = self.facets
        for part in self.parts():
            more = part.reads()
            if found is None or more is None:
                return None
            found = found | more
        return found


def _pct(share: float) -> str:
    return f"{share * 100:.4g} %"


def stage_detail(stage: str, country: str, share: float) -> str:
    """The words of a stage hit: its share performed in one country."""
    return f"{stage}: {_pct(share)} in {country}"


def unverified_detail(stage: str, share: float) -> str:
    """The words of a stage hit on its unverified share."""
    return f"{stage}: {_pct(share)} unverified"


def _nothing() -> None:
    return None


class PerRun(Generic[RunState]):
    """State kept for each run, keyed by the run's group resolver and let go with it: a
    long-lived process does not keep the last run's, and runs in threads of one process
    (the Dask engine's local scheduler) keep their own."""

    HELD_STRONGLY = 4  # resolvers that cannot be held weakly: the last few runs' state

    def __init__(self, start: Callable[[Any], RunState]) -> None:
        self._start = start  # resolver -> new state (must not hold this object: no cycle)
        self._runs: weakref.WeakKeyDictionary[Any, RunState] = weakref.WeakKeyDictionary()
        self._held: dict[int, tuple[Any, RunState]] = {}
        # the last run asked, read and replaced as one value (threads): weak references
        # to its resolver and state, so holding it keeps neither alive
        self._last: tuple[Callable[[], Any], Callable[[], RunState | None]] = (_nothing, _nothing)

    def of(self, resolver: Any) -> RunState:
        """The state of the run with this group resolver (started when new)."""
        last = self._last
        if last[0]() is resolver:
            found = last[1]()
            if found is not None:
                return found
        try:
            found = self._runs.get(resolver)
            if found is None:
                found = self._runs[resolver] = self._start(resolver)
            self._last = (weakref.ref(resolver), weakref.ref(found))
        except TypeError:  # the resolver or its state cannot be held weakly
            entry = self._held.get(id(resolver))
            if entry is None or entry[0] is not resolver:
                if len(self._held) >= self.HELD_STRONGLY:
                    self._held.clear()
                entry = self._held[id(resolver)] = (resolver, self._start(resolver))
            found = entry[1]
        return found


MEMO_LIMIT = 65536  # distinct shapes kept per memo; beyond, start again (1M rows)


def _stages(spec: str | Sequence[str], chain: Sequence[str]) -> list[str]:
    if spec == "chain":
        wanted: Sequence[str] = STAGES
    elif spec == "midstream":
        wanted = MIDSTREAM
    else:
        wanted = list(spec)
    return [s for s in STAGES if s in wanted and s in chain]


def _stages_words(spec: str | Sequence[str]) -> str:
    if spec == "chain":
        return "any stage of the chain"
    if spec == "midstream":
        return "any midstream stage (separation, metal, alloy, magnet)"
    return "the " + ", ".join(spec) + " stage" + ("s" if len(spec) > 1 else "")


class _StageCondition(Kind):
    """Shared by the conditions on chain stages: which of their stages a chain has.

    Each stage of the chain is decided on its own, from its country shares only: a stage
    condition is true when any of its stages has a selection, with one hit per selected
    country. The evaluator relies on this to memoise findings per stage distribution.
    """

    facets = frozenset({CHAIN})

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.stages: str | Sequence[str] = params["stages"]
        self.wanted = frozenset(_stages(self.stages, STAGES))  # the stages it may hit
        self._stages_memo: dict[tuple[str, ...], list[str]] = {}

    def _chain_stages(self, chain: tuple[str, ...]) -> list[str]:
        """The condition's stages present in a chain (few distinct chains: kept per chain)."""
        found = self._stages_memo.get(chain)
        if found is None:
            found = self._stages_memo[chain] = _stages(self.stages, chain)
        return found

    def selection(
        self, distribution: tuple[tuple[str, float], ...], subject: Subject
    ) -> tuple[tuple[str, float], ...]:
        """The (country, share) hits of one stage with these country shares (none: no hit)."""
        raise NotImplementedError

    def detail(self, stage: str, country: str, share: float) -> str:
        """The words of one hit."""
        raise NotImplementedError

    def evaluate(self, subject: Subject) -> Outcome:
        hits: list[Hit] = []
        for stage in self._chain_stages(subject.chain):
            for country, share in self.selection(subject.distribution(stage), subject):
                hits.append(subject.stage_hit(stage, country, share))
        return _answer(hits)


class _Selection:
    """A stage condition's groups resolved for one run, and its selections so far."""

    def __init__(self, inside: frozenset[str], excluded: frozenset[str]) -> None:
        self.inside = inside
        self.excluded = excluded
        self.chosen: dict[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]] = {}

    @classmethod
    def resolve(cls, groups: tuple[str, ...], outside: tuple[str, ...], members: Any) -> _Selection:
        return cls(
            frozenset().union(*(members(g, "origin") for g in groups)),
            frozenset().union(*(members(g, "origin") for g in outside)),
        )


class StageInGroup(_StageCondition):
    name = "stage_in_group"
    description = (
        "Share of a chain stage performed in countries of the given groups (or outside them) "
        "is above a threshold (default: any share)."
    )

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.groups: list[str] = list(params.get("groups", []))
        self.outside: list[str] = list(params.get("outside", []))
        self.above = float(params.get("above", 0.0))
        self._runs = PerRun(partial(_Selection.resolve, tuple(self.groups), tuple(self.outside)))

    def groups_used(self) -> set[str]:
        return set(self.groups) | set(self.outside)

    def _selected(self, country: str, run: _Selection) -> bool:
        if country == UNVERIFIED or country in run.excluded:
            return False
        return not self.groups or country in run.inside

    def _chosen(
        self, distribution: tuple[tuple[str, float], ...], subject: Subject
    ) -> tuple[tuple[str, float], ...]:
        """The selected countries of one stage, by country, when their total is above the
        threshold (else none): depends only on the stage's shares, so computed once per shape."""
        run = self._runs.of(subject.group_members)
        found = run.chosen.get(distribution)
        if found is None:
            chosen = {c: s for c, s in distribution if s > 0 and self._selected(c, run)}
            total = sum(chosen.values())
            found = tuple(sorted(chosen.items())) if total > self.above + 1e-12 else ()
            if len(run.chosen) >= MEMO_LIMIT:
                run.chosen.clear()
            run.chosen[distribution] = found
        return found

    def selection(
        self, distribution: tuple[tuple[str, float], ...], subject: Subject
    ) -> tuple[tuple[str, float], ...]:
        return self._chosen(distribution, subject)

    def detail(self, stage: str, country: str, share: float) -> str:
        return stage_detail(stage, country, share)

    def describe(self) -> str:
        where = []
        if self.groups:
            where.append("in " + " or ".join(self.groups))
        if self.outside:
            where.append("outside " + " and ".join(self.outside))
        return (
            f"the share of {_stages_words(self.stages)} performed {' and '.join(where)} "
            f"is above {_pct(self.above)}"
        )


class StageUnverified(_StageCondition):
    name = "stage_unverified"
    description = (
        "Share of a chain stage whose origin is blank, unknown or undeclared is above a "
        "threshold (default: any share)."
    )

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.above = float(params.get("above", 0.0))

    def selection(
        self, distribution: tuple[tuple[str, float], ...], subject: Subject
    ) -> tuple[tuple[str, float], ...]:
        share = next((s for c, s in distribution if c == UNVERIFIED), 0.0)
        return ((UNVERIFIED, share),) if share > self.above + 1e-12 else ()

    def detail(self, stage: str, country: str, share: float) -> str:
        return unverified_detail(stage, share)

    def evaluate(self, subject: Subject) -> Outcome:
        hits: list[Hit] = []
        for stage in self._chain_stages(subject.chain):
            share = subject.stage_country.get(stage, {}).get(UNVERIFIED, 0.0)
            if share > self.above + 1e-12:
                hits.append(subject.unverified_hit(stage, share))
        return _answer(hits)

    def describe(self) -> str:
        return f"the unverified share of {_stages_words(self.stages)} is above {_pct(self.above)}"


class JurisdictionInGroup(Kind):
    name = "jurisdiction_in_group"
    description = "The supplier is incorporated or headquartered in a country of the given groups."
    facets = JURISDICTION_COLUMNS

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.groups: list[str] = list(params["groups"])
        self.of: list[str] = list(params.get("of", ["incorporation", "hq"]))

    def groups_used(self) -> set[str]:
        return set(self.groups)

    def evaluate(self, subject: Subject) -> Outcome:
        hits: list[Hit] = []
        for facet in self.of:
            column = "incorporation_country" if facet == "incorporation" else "hq_country"
            country = subject.supplier.get(column) or subject.supplier.get("country")
            if not isinstance(country, str):
                continue
            if any(country in subject.group_members(g, "jurisdiction") for g in self.groups):
                label = "incorporated" if facet == "incorporation" else "headquartered"
                hits.append(
                    Hit(
                        "jurisdiction",
                        country,
                        f"{label} in {country}",
                        None,
                        subject.jurisdiction_evidence(column),
                    )
                )
        return _answer(hits)

    def describe(self) -> str:
        facets = " or ".join(
            "incorporated" if f == "incorporation" else "headquartered" for f in self.of
        )
        return f"the supplier is {facets} in {' or '.join(self.groups)}"


class GovernmentHolding(Kind):
    name = "government_holding"
    description = (
        "A covered-nation government holds at least a share of equity, voting rights or board "
        "seats, directly or through intermediate owners."
    )
    facets = frozenset({OWNERSHIP})
    plain_ownership = True  # no holder found: zero shares, notes from figures_given

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.at_least = float(params["at_least"])
        self.measures: list[str] = list(params.get("measures", ["equity", "voting", "board"]))

    def evaluate(self, subject: Subject) -> Outcome:
        own = subject.ownership
        if own is None or not own.has_rows:
            return NO_OWNERSHIP_ROWS
        if not own.has_holding_figures:
            return NO_HOLDING_FIGURES
        hits: list[Hit] = []
        for measure in self.measures:
            share, nation = own.government[measure]
            if share >= self.at_least - 1e-12 and share > 0:
                paths = own.paths_for(measure, nation)
                hits.append(
                    Hit(
                        "ownership",
                        measure,
                        f"{nation} government {measure} {_pct(share)}",
                        share,
                        own.evidence_for(paths),
                        tuple(p.names for p in paths),
                    )
                )
        return _answer(hits)

    def describe(self) -> str:
        return (
            f"a covered-nation government holds at least {_pct(self.at_least)} of "
            f"{' or '.join(self.measures)} (direct plus indirect)"
        )


class ForeignControlled(Kind):
    name = "foreign_controlled"
    description = (
        "Foreign-controlled entity: incorporated or headquartered in a covered nation, or more "
        "than a share owned by covered governments, nationals or covered-nation entities."
    )
    fills_shared_memos = True  # asks who is foreign-controlled, memoised per graph
    facets = JURISDICTION_COLUMNS | {OWNERSHIP}
    plain_ownership = True  # no holder found: zero shares, notes from figures_given

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.above = float(params.get("above", 0.5))

    def evaluate(self, subject: Subject) -> Outcome:
        hits: list[Hit] = []
        for column, label in (
            ("incorporation_country", "incorporated"),
            ("hq_country", "headquartered"),
        ):
            country = subject.supplier.get(column) or subject.supplier.get("country")
            if isinstance(country, str) and country in subject.group_members(
                "covered", "jurisdiction"
            ):
                hits.append(
                    Hit(
                        "jurisdiction",
                        country,
                        f"{label} in {country}",
                        None,
                        subject.jurisdiction_evidence(column),
                    )
                )
        own = subject.ownership
        if own is not None and own.has_rows:
            share, paths = own.controlled_holding()
            if share > self.above + 1e-12:
                hits.append(
                    Hit(
                        "ownership",
                        "foreign-controlled",
                        f"{_pct(share)} held by covered-nation parties",
                        share,
                        own.evidence_for(paths),
                        tuple(p.names for p in paths),
                    )
                )
        if hits:
            return Outcome(True, tuple(hits))
        if own is None or not own.has_rows or not own.has_holding_figures:
            return NOT_COVERED_NO_FIGURES
        return FALSE

    def describe(self) -> str:
        return (
            "the supplier is incorporated or headquartered in a covered nation, or more than "
            f"{_pct(self.above)} of it is held by covered governments, nationals or entities"
        )


class ForeignInfluenced(Kind):
    name = "foreign_influenced"
    description = (
        "Foreign-influenced entity test: a single specified foreign entity (SFE) holds at "
        "least a share, SFEs together do, SFEs hold a share of its debt, or an SFE appoints an officer."
    )
    DEFAULTS: ClassVar[dict[str, float]] = {
        "single": 0.25,
        "aggregate": 0.40,
        "debt": 0.15,
        "officer": 0.0,
    }
    fills_shared_memos = True  # asks who is foreign-controlled, memoised per graph
    facets = frozenset({OWNERSHIP, MATCHES})
    plain_ownership = True  # no holder found: zero shares, notes from figures_given

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.test = str(params["test"])
        self.at_least = float(params.get("at_least", self.DEFAULTS[self.test]))

    def evaluate(self, subject: Subject) -> Outcome:
        own = subject.ownership
        if own is None or not own.has_rows:
            return NO_OWNERSHIP_ROWS
        value, detail, paths = own.influence(self.test)
        if value is None:
            return Outcome(None, note=detail)
        fired = value >= self.at_least - 1e-12 and value > 0
        if fired:
            hit = Hit(
                "ownership",
                f"fie-{self.test}",
                detail,
                value,
                own.evidence_for(paths),
                tuple(p.names for p in paths),
            )
            return Outcome(True, (hit,))
        if subject.matches is None:
            return Outcome(None, note=f"{detail}; {SFE_LISTS_NOTE} for owners")
        return FALSE

    def describe(self) -> str:
        words = {
            "single": f"a single specified foreign entity holds at least {_pct(self.at_least)}",
            "aggregate": f"specified foreign entities together hold at least {_pct(self.at_least)}",
            "debt": f"at least {_pct(self.at_least)} of its debt is held by specified foreign entities",
            "officer": "a specified foreign entity can appoint a board member or executive officer",
        }
        return words[self.test]


def _match_ok(match: Mapping[str, Any], lists: Sequence[str], min_score: float) -> bool:
    listed = str(match.get("list", "")).upper()
    return (
        match.get("status") == "match"
        and listed in lists
        and float(match.get("score") or 0) >= min_score
    )


def _match_hit(match: Mapping[str, Any], prefix: str) -> Hit:
    entry = str(match.get("entry_id") or match.get("entry") or "")
    return Hit(
        "listing",
        f"{match.get('list')}:{entry}",
        f"{prefix}{match.get('field', 'name')} '{match.get('name', '')}' matches "
        f"{match.get('list')} entry '{match.get('entry', '')}' (score {match.get('score')})",
        None,
    )


class _ListKind(Kind):
    """Shared by the watchlist kinds: which lists, and the least score that counts."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.lists = [str(x).upper() for x in params["lists"]]
        self.min_score = float(params.get("min_score", 0))

    def lists_used(self) -> set[str]:
        return set(self.lists)


class Listed(_ListKind):
    name = "listed"
    description = "The supplier (or a named field) matches an entry of the named watchlists."
    facets = frozenset({MATCHES})

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.fields: list[str] = list(params.get("fields", ["supplier_name"]))

    def evaluate(self, subject: Subject) -> Outcome:
        if subject.matches is None:
            return NO_LISTS
        hits = [
            _match_hit(m, "")
            for m in subject.matches
            if m.get("field") in self.fields and _match_ok(m, self.lists, self.min_score)
        ]
        return _answer(hits)

    def describe(self) -> str:
        return (
            f"{' or '.join(self.fields)} matches an entry of {', '.join(self.lists)} (status match)"
        )


class OwnerListed(_ListKind):
    name = "owner_listed"
    description = "A parent or an owner anywhere up the ownership chain matches an entry of the named watchlists."
    facets = frozenset({MATCHES})

    def evaluate(self, subject: Subject) -> Outcome:
        if subject.matches is None:
            return NO_LISTS
        hits = [
            _match_hit(m, "owner ")
            for m in subject.matches
            if m.get("field") in ("parent_name", "owner")
            and _match_ok(m, self.lists, self.min_score)
        ]
        hits += [
            _match_hit(m, "owner ")
            for m in (subject.owner_matches or ())
            if _match_ok(m, self.lists, self.min_score)
        ]
        unique = {h.value: h for h in hits}
        return Outcome(bool(unique), tuple(unique[k] for k in sorted(unique)))

    def describe(self) -> str:
        return f"a parent or owner matches an entry of {', '.join(self.lists)} (status match)"


class DfarsException(Kind):
    name = "dfars_exception"
    description = (
        "The supplier declared a DFARS 225.7018-3 exception (optionally one of those named)."
    )
    facets = frozenset({"dfars_exception"})

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.allowed: list[str] = list(params.get("in", []))

    def evaluate(self, subject: Subject) -> Outcome:
        declared = subject.supplier.get("dfars_exception")
        if (
            isinstance(declared, str)
            and declared
            and (not self.allowed or declared in self.allowed)
        ):
            hit = Hit(
                "dfars_exception",
                declared,
                f"declared exception {declared}",
                None,
                subject.jurisdiction_evidence("dfars_exception"),
            )
            return Outcome(True, (hit,))
        return FALSE

    def describe(self) -> str:
        which = " or ".join(self.allowed) if self.allowed else "any"
        return f"the supplier declared a DFARS exception ({which})"


class Material(Kind):
    name = "material"
    description = "The supplier's magnet material is one of those named (ndfeb, smco)."
    facets = frozenset({"material"})

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.materials: list[str] = list(params["in"])

    def evaluate(self, subject: Subject) -> Outcome:
        material = subject.supplier.get("material") or "ndfeb"
        return TRUE if material in self.materials else FALSE

    def describe(self) -> str:
        return f"the material is {' or '.join(self.materials)}"


class _Combinator(Kind):
    """Shared by all/any: a list of sub-conditions under three-valued (Kleene) logic."""

    facets = frozenset()  # only what the sub-conditions read

    word = ""
    # The value that decides the combination on its own: False for all, True for any.
    decisive: bool = False

    def __init__(self, params: Sequence[Any]) -> None:
        self.children = [compile_condition(c) for c in params]

    def parts(self) -> list[Kind]:
        return list(self.children)

    def groups_used(self) -> set[str]:
        return set().union(*(c.groups_used() for c in self.children))

    def lists_used(self) -> set[str]:
        return set().union(*(c.lists_used() for c in self.children))

    def evaluate(self, subject: Subject) -> Outcome:
        outcomes = [evaluate(c, subject) for c in self.children]
        if any(o.value is self.decisive for o in outcomes):
            if self.decisive is False:
                return FALSE
            return Outcome(True, tuple(h for o in outcomes if o.value for h in o.hits))
        if any(o.value is None for o in outcomes):
            return Outcome(
                None, note="; ".join(o.note for o in outcomes if o.value is None and o.note)
            )
        if self.decisive is False:
            return Outcome(True, tuple(h for o in outcomes for h in o.hits))
        return FALSE

    def describe(self) -> str:
        return f"{self.word} of: (" + "; ".join(c.describe() for c in self.children) + ")"


class All(_Combinator):
    name = "all"
    description = "True when every sub-condition is true; false when any is false; else not tested."
    word = "all"
    decisive = False


class AnyOf(_Combinator):
    name = "any"
    description = "True when any sub-condition is true; false when all are false; else not tested."
    word = "any"
    decisive = True


class Not(Kind):
    name = "not"
    description = (
        "True when the sub-condition is false, false when it is true; not tested stays not tested."
    )
    facets = frozenset()

    def __init__(self, params: Any) -> None:
        self.child = compile_condition(params)

    def parts(self) -> list[Kind]:
        return [self.child]

    def groups_used(self) -> set[str]:
        return self.child.groups_used()

    def lists_used(self) -> set[str]:
        return self.child.lists_used()

    def evaluate(self, subject: Subject) -> Outcome:
        outcome = evaluate(self.child, subject)
        if outcome.value is None:
            return outcome
        return FALSE if outcome.value else TRUE

    def describe(self) -> str:
        return f"not ({self.child.describe()})"


REGISTRY: dict[str, type[Kind]] = {
    cls.name: cls
    for cls in (
        StageInGroup,
        StageUnverified,
        JurisdictionInGroup,
        GovernmentHolding,
        ForeignControlled,
        ForeignInfluenced,
        Listed,
        OwnerListed,
        DfarsException,
        Material,
        All,
        AnyOf,
        Not,
    )
}


def compile_condition(node: Mapping[str, Any]) -> Kind:
    """Turn a schema-valid condition mapping into its Kind object."""
    ((name, params),) = node.items()
    kind = REGISTRY[name](params)
    kind.signature = json.dumps(node, sort_keys=True, default=str)
    return kind


def evaluate(kind: Kind, subject: Subject) -> Outcome:
    """A condition's answer for a subject, computed once per subject for equal conditions
    (rulesets repeat sub-conditions, e.g. "no declared DFARS exception")."""
    if not kind.signature:
        return kind.evaluate(subject)
    found = subject.memo.get(kind.signature)
    if found is None:
        found = subject.memo[kind.signature] = kind.evaluate(subject)
    return found
