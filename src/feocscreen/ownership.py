"""Ownership look-through: covered-government holdings, foreign control and foreign influence.

The Ownership sheet is a graph: each row says an owner holds equity, voting,
board and debt fractions of an entity (a supplier id or an owner name used
elsewhere in the sheet; owners are joined by normalised name). Holdings are
followed upward through any number of intermediate owners.

Decisions from the regulation fact sheet ("Decisions for encoding"):
- ``multiply`` (default): multiply fractions along each path, sum over paths.
  ``majority_look_through``: a holder above 50 % of an intermediate counts as
  holding all that the intermediate holds.
- Board seats, voting rights and equity are tested separately; the highest
  decides. ``government``/``party_or_official`` owners of a covered nation are
  that government; a covered ``state_owned`` owner too, followed through its
  own rows when it has them, else taken as wholly government-held (warning).
- Foreign-controlled (IRC 7701(a)(51)): incorporated/headquartered in a covered
  nation, or more than 50 % held by covered governments, covered-nation
  individuals, covered-nation companies or foreign-controlled intermediates.
- Foreign-influenced: specified foreign entities (SFEs: foreign-controlled
  parties and owners listed on SFE lists) hold ≥ 25 % singly, ≥ 40 % together,
  ≥ 15 % of debt, or can appoint an officer. An SFE intermediate counts in full.
Every figure carries the path(s) behind it.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from .errors import make_issue
from .models import Issue
from .portfolio import Portfolio

MEASURES: tuple[str, ...] = ("equity", "voting", "board")
GOVERNMENT_TYPES = frozenset({"government", "party_or_official"})
MAJORITY = 0.5  # above this an intermediate is controlled (majority look-through, FCE test)
MAX_DEPTH = 12  # ownership chains deeper than this are not followed (no real cap table is)
# Lists whose entries are specified foreign entities (IRC 7701(a)(51)(B)(i)-(iv)):
# SDN and FTO (FEOC prongs A, B), the 1260H list, the UFLPA lists, FY2024 NDAA sec. 154(b).
SFE_LISTS = frozenset({"SDN", "FTO", "1260H", "UFLPA", "NDAA154"})


@lru_cache(maxsize=1 << 18)  # owner names recur row after row of a large Ownership sheet
def normalise_owner(name: Any) -> str:
    """Join key of an owner or entity name: case, spacing and punctuation ignored."""
    return re.sub(r"[\W_]+", " ", str(name).casefold()).strip()


class Edge(NamedTuple):  # one Ownership row; a tuple: made 100k+ times for a large sheet
    owner: str  # normalised key
    owner_name: str
    owner_country: str | None
    owner_type: str | None
    values: dict[str, float | None]
    appoints_officer: bool | None
    location: tuple[str, str, int] | None


@dataclass(frozen=True)
class HoldingPath:
    """One path from an entity up to a terminal holder, with the fraction it carries."""

    names: tuple[str, ...]
    share: float
    terminal: str
    nation: str | None
    locations: tuple[tuple[str, str, int], ...]


def _numbers(frame: Any, name: str) -> list[float | None]:
    """A column as ``_num`` reads each value: a float column without a call per value."""
    if name not in frame.columns:
        return [None] * len(frame)
    column = frame[name]
    if column.dtype.kind == "f":
        return column.astype(object).where(column.notna(), None).tolist()
    return [_num(value) for value in column.tolist()]


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


class OwnershipGraph:
    """The Ownership sheet as a graph, with the covered-nation test and the method setting."""

    def __init__(
        self,
        portfolio: Portfolio,
        covered: frozenset[str],
        method: str = "multiply",
        listed_owners: set[str] | None = None,
    ) -> None:
        self.covered = covered
        self.method = method
        self.layouts = portfolio.layouts
        self.listed_owners = {normalise_owner(n) for n in (listed_owners or set())}
        self.edges: dict[str, list[Edge]] = defaultdict(list)
        self.display: dict[str, str] = {}
        self.owner_info: dict[str, tuple[str | None, str | None]] = {}
        self.warnings: list[Issue] = []
        self._fc_memo: dict[str, bool] = {}
        self._reaches: dict[str, bool] = {}  # see reaches_concern
        self._root_keys: dict[str, str] = {}  # display name -> normalised, for paths()
        frame = portfolio.ownership
        # Column by column rather than a dict per row: the sheet can have 100k+ rows.
        size = len(frame)

        def column(name: str) -> list[Any]:
            return frame[name].tolist() if name in frame.columns else [None] * size

        entities, owners = column("entity"), column("owner")
        countries, types, officers = (
            column("owner_country"),
            column("owner_type"),
            column("appoints_officer"),
        )
        files, sheets, excel_rows = column("_file"), column("_sheet"), column("_row")
        located = frame["_row"].notna().tolist() if "_row" in frame.columns else [False] * size
        measured = (*MEASURES, "debt")
        edges, display, owner_info = self.edges, self.display, self.owner_info
        for entity_name, owner_name, country, otype, officer, file, sheet, row, at, *values in zip(
            entities,
            owners,
            countries,
            types,
            officers,
            files,
            sheets,
            excel_rows,
            located,
            *(_numbers(frame, m) for m in measured),
            strict=True,
        ):
            entity = normalise_owner(entity_name)
            owner = normalise_owner(owner_name)
            if entity not in display:
                display[entity] = str(entity_name)
            if owner not in display:
                display[owner] = str(owner_name)
            country = country if isinstance(country, str) and country else None
            otype = otype if isinstance(otype, str) and otype else None
            if owner not in owner_info:
                owner_info[owner] = (country, otype)
            edges[entity].append(
                Edge(
                    owner,
                    str(owner_name),
                    country,
                    otype,
                    dict(zip(measured, values, strict=True)),
                    officer if isinstance(officer, bool) else None,
                    (str(file), str(sheet), int(row)) if file is not None and at else None,
                )
            )
        self._assumed: set[str] = set()
        for owner, (country, otype) in sorted(self.owner_info.items()):
            if otype == "state_owned" and country in covered and owner not in self.edges:
                self._assumed.add(owner)
                self.warnings.append(
                    make_issue(
                        "state-owned-assumed",
                        "warning",
                        f"state-owned owner {self.display[owner]!r} ({country}) has no rows of its "
                        "own; taken as wholly government-held",
                        value=self.display[owner],
                    )
                )

    def cell(self, file: str, sheet: str, row: int, column: str) -> dict[str, Any]:
        """Evidence dict of one Ownership cell (A1 reference when the layout is known)."""
        layout = self.layouts.get((file, sheet))
        letter = layout.columns[column][1] if layout and column in layout.columns else None
        return {
            "file": file,
            "sheet": sheet,
            "row": row,
            "column": column,
            "cell": f"{letter}{row}" if letter else None,
        }

    # -- who is what -------------------------------------------------------------------
    def is_government(self, owner: str) -> bool:
        """A covered-nation government (or its party/officials, or a state-owned holder without rows)."""
        country, otype = self.owner_info.get(owner, (None, None))
        if country not in self.covered:
            return False
        return otype in GOVERNMENT_TYPES or (otype == "state_owned" and owner not in self.edges)

    def is_foreign_controlled_party(self, owner: str, trail: frozenset[str] = frozenset()) -> bool:
        """Covered government, covered-nation national or company, or a foreign-controlled intermediate."""
        if owner in self._fc_memo:
            return self._fc_memo[owner]
        country, otype = self.owner_info.get(owner, (None, None))
        result = False
        if country in self.covered and otype != "public_float":
            result = True
        elif owner in self.edges and owner not in trail:
            share, _ = self.controlled_holding(owner, trail | {owner})
            result = share > MAJORITY
        self._fc_memo[owner] = result
        return result

    def is_sfe(self, owner: str) -> bool:
        """A specified foreign entity: foreign-controlled, or matched on an SFE watchlist."""
        return owner in self.listed_owners or self.is_foreign_controlled_party(owner)

    # -- look-through ------------------------------------------------------------------
    def paths(
        self,
        entity: str,
        measure: str,
        is_terminal: Callable[[str], bool],
    ) -> list[HoldingPath]:
        """Every path from the entity to a terminal holder, carrying its fraction of ``measure``."""
        found: list[HoldingPath] = []
        root = self.display.get(entity, entity)
        root_key = self._root_keys.get(root)
        if root_key is None:  # asked for every supplier and measure: normalised once
            root_key = self._root_keys[root] = normalise_owner(root)
        self._walk(
            entity,
            measure,
            is_terminal,
            found,
            entity,
            1.0,
            (root,),
            (root_key,),
            (),
            0,
        )
        return found

    def _walk(
        self,
        entity: str,
        measure: str,
        is_terminal: Callable[[str], bool],
        found: list[HoldingPath],
        node: str,
        share: float,
        names: tuple[str, ...],
        keys: tuple[str, ...],
        locs: tuple[Any, ...],
        depth: int,
    ) -> None:
        """Depth-first from ``node``, adding every path that reaches a terminal holder.

        A method rather than a recursive closure: a closure that calls itself is a reference
        cycle, left for the garbage collector once per supplier screened.
        """
        # ``keys`` are the normalised names of ``names`` (the entity and the owners so far),
        # carried along rather than normalised again at every edge.
        if depth > MAX_DEPTH:
            return
        for edge in self.edges.get(node, []):
            value = edge.values.get(measure)
            if not value:
                continue
            if depth > 0 and self.method == "majority_look_through" and value > MAJORITY:
                value = 1.0
            carried = share * value
            if edge.owner in keys or edge.owner == entity:
                continue  # a loop: intake reports it; the walk just does not go round
            trail = (*names, self.display.get(edge.owner, edge.owner_name))
            here = (*locs, edge.location) if edge.location else locs
            if is_terminal(edge.owner):
                country, _ = self.owner_info.get(edge.owner, (None, None))
                found.append(HoldingPath(trail, carried, edge.owner, country, here))
            elif edge.owner in self.edges:
                self._walk(
                    entity,
                    measure,
                    is_terminal,
                    found,
                    edge.owner,
                    carried,
                    trail,
                    (*keys, edge.owner),
                    here,
                    depth + 1,
                )

    def controlled_holding(
        self, entity: str, trail: frozenset[str] = frozenset()
    ) -> tuple[float, list[HoldingPath]]:
        """Highest of equity/voting held by foreign-controlled parties (the > 50 % FCE test)."""
        best: tuple[float, list[HoldingPath]] = (0.0, [])
        within = trail | {entity}  # the same set for every owner asked: built once

        def is_terminal(owner: str) -> bool:
            return self.is_foreign_controlled_party(owner, within)

        for measure in ("equity", "voting"):
            paths = self.paths(entity, measure, is_terminal)
            total = min(1.0, sum(p.share for p in paths))
            if total > best[0]:
                best = (total, paths)
        return best

    def reaches_concern(self, key: str) -> bool:
        """Whether any owner above the entity, at any depth, is in a covered nation or on an
        SFE list. When none is, no look-through finds anything: no government, foreign-
        controlled party or SFE holds any of it, whatever the trail (each of those tests
        needs a covered nation or a listing somewhere above)."""
        found = self._reaches.get(key)
        if found is None:
            found = self._reaches[key] = any(
                self.owner_info.get(owner, (None, None))[0] in self.covered
                or owner in self.listed_owners
                for owner in self.ancestors(key)
            )
        return found

    def ancestors(self, key: str) -> set[str]:
        """Every owner reachable upward from an entity (normalised keys)."""
        seen: set[str] = set()
        stack = [key]
        while stack:
            node = stack.pop()
            for edge in self.edges.get(node, []):
                if edge.owner not in seen:
                    seen.add(edge.owner)
                    stack.append(edge.owner)
        seen.discard(key)
        return seen

    def entity(self, key: str) -> EntityOwnership:
        return EntityOwnership(self, normalise_owner(key))


@dataclass
class EntityOwnership:
    """Ownership figures of one entity (a screened supplier), each with its paths."""

    graph: OwnershipGraph
    key: str
    government: dict[str, tuple[float, str | None]] = field(init=False)
    by_nation: dict[str, dict[str, float]] = field(init=False)
    _paths: dict[str, list[HoldingPath]] = field(init=False)
    # Answers computed once per entity, on first use (every ruleset asks the same tests):
    # lazily, so the graph's foreign-control memo fills in the same order as without them.
    _has_holding_figures: bool | None = field(init=False, default=None)
    _controlled: tuple[float, list[HoldingPath]] | None = field(init=False, default=None)
    _influence: dict[str, tuple[float | None, str, list[HoldingPath]]] = field(
        init=False, default_factory=dict
    )
    _sfe_holdings: tuple[float, list[HoldingPath], tuple[float, str, list[HoldingPath]]] | None = (
        field(init=False, default=None)
    )
    _direct: tuple[list[Edge], list[Edge], list[HoldingPath]] | None = field(
        init=False, default=None
    )

    def __post_init__(self) -> None:
        self.government = {}
        self.by_nation = defaultdict(dict)
        self._paths = {m: [] for m in MEASURES}
        self.government = {m: (0.0, None) for m in MEASURES}
        if self.key not in self.graph.edges:
            return  # no rows: nothing to look through (most suppliers of a large sheet)
        for measure in MEASURES:
            paths = self.graph.paths(self.key, measure, self.graph.is_government)
            self._paths[measure] = paths
            per_nation: dict[str, float] = defaultdict(float)
            for p in paths:
                per_nation[p.nation or "?"] += p.share
            for nation, share in per_nation.items():
                self.by_nation[nation][measure] = round(min(1.0, share), 10)
            if per_nation:
                nation, share = max(sorted(per_nation.items()), key=lambda kv: kv[1])
                self.government[measure] = (round(min(1.0, share), 10), nation)
            else:
                self.government[measure] = (0.0, None)

    @property
    def has_rows(self) -> bool:
        return self.key in self.graph.edges

    @property
    def figures_given(self) -> tuple[bool, bool, bool]:
        """Which figures the entity's own owner rows give: equity, voting or board; debt;
        appoints_officer. With no covered or listed owner above it (``plain``), the
        ownership tests' answers depend on nothing else."""
        return self.has_holding_figures, self.gives_debt, self.gives_officer

    @property
    def gives_debt(self) -> bool:
        """Whether any direct owner row gives a debt share (else the debt test is untestable)."""
        return any(e.values.get("debt") is not None for e in self.graph.edges.get(self.key, []))

    @property
    def gives_officer(self) -> bool:
        """Whether any direct owner row says if it appoints an officer."""
        return any(e.appoints_officer is not None for e in self.graph.edges.get(self.key, []))

    @property
    def plain(self) -> bool:
        """Owner rows, but no owner above in a covered nation or on an SFE list."""
        return self.has_rows and not self.graph.reaches_concern(self.key)

    @property
    def has_holding_figures(self) -> bool:
        """Whether any direct owner row gives equity, voting or board (else nothing to test)."""
        if self._has_holding_figures is None:
            self._has_holding_figures = any(
                edge.values.get(m) is not None
                for edge in self.graph.edges.get(self.key, [])
                for m in MEASURES
            )
        return self._has_holding_figures

    def paths_for(self, measure: str, nation: str | None) -> list[HoldingPath]:
        return [p for p in self._paths[measure] if nation is None or p.nation == nation]

    @property
    def covered_government(self) -> float | None:
        if not self.has_rows:
            return None
        return max(share for share, _ in self.government.values())

    def controlled_holding(self) -> tuple[float, list[HoldingPath]]:
        if self._controlled is None:
            self._controlled = self.graph.controlled_holding(self.key, frozenset({self.key}))
        return self._controlled

    def influence(self, test: str) -> tuple[float | None, str, list[HoldingPath]]:
        """One foreign-influence test: (value or None when untestable, words, paths)."""
        found = self._influence.get(test)
        if found is None:
            found = self._influence[test] = self._look_up_influence(test)
        return found

    def _sfe_equity_voting(
        self,
    ) -> tuple[float, list[HoldingPath], tuple[float, str, list[HoldingPath]]]:
        """SFE holdings over equity and voting: (best total, its paths, best single holder)."""
        if self._sfe_holdings is not None:
            return self._sfe_holdings
        graph = self.graph
        best_paths: list[HoldingPath] = []
        best_total = 0.0
        best_single = (0.0, "", [])  # type: tuple[float, str, list[HoldingPath]]
        for measure in ("equity", "voting"):
            paths = graph.paths(self.key, measure, graph.is_sfe)
            per_holder: dict[str, list[HoldingPath]] = defaultdict(list)
            for p in paths:
                per_holder[p.terminal].append(p)
            total = min(1.0, sum(p.share for p in paths))
            if total > best_total:
                best_total, best_paths = total, paths
            for holder, held in sorted(per_holder.items()):
                share = min(1.0, sum(p.share for p in held))
                if share > best_single[0]:
                    best_single = (share, holder, held)
        self._sfe_holdings = (best_total, best_paths, best_single)
        return self._sfe_holdings

    def _direct_sfe(self) -> tuple[list[Edge], list[Edge], list[HoldingPath]]:
        """The entity's owner rows, those held by SFEs, and a path to each of those
        (the debt and officer tests both read them)."""
        if self._direct is None:
            graph = self.graph
            edges = graph.edges.get(self.key, [])
            sfe_edges = [e for e in edges if graph.is_sfe(e.owner)]
            root = graph.display.get(self.key, self.key)
            direct = [
                HoldingPath(
                    (root, graph.display.get(e.owner, e.owner_name)),
                    0.0,
                    e.owner,
                    e.owner_country,
                    (e.location,) if e.location else (),
                )
                for e in sfe_edges
            ]
            self._direct = (edges, sfe_edges, direct)
        return self._direct

    def _look_up_influence(self, test: str) -> tuple[float | None, str, list[HoldingPath]]:
        graph = self.graph
        if test in ("single", "aggregate") and not self.has_holding_figures:
            return None, "no equity or voting figures given", []
        if test in ("single", "aggregate"):
            best_total, best_paths, best_single = self._sfe_equity_voting()
            if test == "single":
                share, holder, held = best_single
                name = graph.display.get(holder, holder)
                return round(share, 10), f"single SFE {name!r} holds {share * 100:.4g} %", held
            return round(best_total, 10), f"SFEs hold {best_total * 100:.4g} % together", best_paths
        edges, sfe_edges, direct = self._direct_sfe()
        if test == "debt":
            if not self.gives_debt:
                return None, "no debt figures given", []
            debt = min(1.0, sum(e.values.get("debt") or 0.0 for e in sfe_edges))
            return round(debt, 10), f"SFEs hold {debt * 100:.4g} % of debt", direct
        if not self.gives_officer:
            return None, "appoints_officer not given", []
        appointing = [p for p, e in zip(direct, sfe_edges, strict=True) if e.appoints_officer]
        if appointing:
            names = ", ".join(p.names[-1] for p in appointing)
            return 1.0, f"SFE {names} can appoint an officer", appointing
        return 0.0, "no SFE can appoint an officer", []

    def evidence_for(self, paths: list[HoldingPath]) -> tuple[dict[str, Any], ...]:
        seen: dict[tuple[str, str, int], None] = {}
        for p in paths:
            for loc in p.locations:
                seen.setdefault(loc, None)
        return tuple(self.graph.cell(f, s, r, "owner") for f, s, r in sorted(seen))

    def to_dict(self) -> dict[str, Any]:
        """The ``ownership`` block of a supplier in the result."""
        if not self.has_rows:
            return {
                "equity": None,
                "voting": None,
                "board": None,
                "nation": None,
                "by_nation": {},
                "paths": [],
            }
        best_measure = max(MEASURES, key=lambda m: self.government[m][0])
        paths = [
            {"measure": m, "share": round(p.share, 10), "nation": p.nation, "path": list(p.names)}
            for m in MEASURES
            for p in self._paths[m]
        ]
        return {
            **{m: self.government[m][0] for m in MEASURES},
            "nation": self.government[best_measure][1],
            "by_nation": {n: dict(sorted(v.items())) for n, v in sorted(self.by_nation.items())},
            "paths": sorted(paths, key=lambda p: (p["measure"], -p["share"], p["path"])),
        }
