"""Supply-chain propagation: where each stage of each supplier's material is performed.

A supplier's chain is the stage it supplies and every stage upstream of it. For
each stage the result is a country distribution (fractions 0–1, summing to 1)
with the undeclared remainder as ``unverified``. A Sourcing row with an
``upstream_supplier_id`` brings in that supplier's own distribution at the
linked stage *and every stage upstream of it*, weighted by the row's share.

Reading of a mixed chain (one model, stated so an auditor can follow it): the
share ``w`` linked at stage X explains that fraction of the material at X and
upstream of X; the supplier's own rows at an upstream stage t describe only the
remaining fraction ``F(t) = Π_{Y>t} (1 − L(Y))``, where L(Y) is the total
linked share at stage Y. So a magnet maker buying 60 % of its alloy from a
supplier whose separation is in China has separation exposure 0.6 and the
other 0.4 of its separation unverified until it declares it.

Computation is vectorised: own rows and remainders for every supplier at once,
then links resolved level by level in topological order (a supplier's level is
one more than the deepest supplier it buys from), each level one gather of the
rows of the suppliers it buys from. Shares are summed with pandas' compensated
summation, each group in row order.
Upstream loops cannot be ordered: they are reported as a ``cycle`` issue naming
the loop, and the looping links count as unverified.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .errors import make_issue, register
from .models import STAGES, Issue
from .portfolio import Portfolio

UNVERIFIED = "unverified"
STAGE_POS: dict[str, int] = {**{s: i for i, s in enumerate(STAGES)}, "recycling": 0}
_EPS = 1e-9  # shares below this are rounding noise from the products of fractions

register(
    "stage-outside-chain",
    "Sourcing stage outside the chain",
    "A Sourcing row names a stage downstream of what the supplier supplies; it is ignored.",
)
register(
    "upstream-not-screened",
    "Upstream supplier not screened",
    "A Sourcing row links to a supplier that is not screened; that share counts as unverified.",
)


@dataclass(frozen=True)
class SupplierChain:
    """One supplier's chain: country shares per stage, and the rows and paths behind each share.

    Built on demand from the run's flat arrays (``Chains.block``), so a portfolio at
    Excel's row limit never holds these dicts for every supplier at once.
    """

    stage_country: dict[str, dict[str, float]]
    # (stage, country) -> its Sourcing rows, in order (a dict as an ordered set)
    evidence_rows: dict[tuple[str, str], dict[int, None]]
    paths: dict[tuple[str, str], tuple[tuple[str, ...], ...]]  # (stage, country) -> via paths
    # stage -> its (country, share) pairs as in stage_country: the key of per-shape memos
    distributions: dict[str, tuple[tuple[str, float], ...]]

    def stage_rows(self, stage: str) -> list[int]:
        """Every Sourcing row behind a stage, in order (few suppliers ask: worked out then)."""
        return sorted(
            {row for (at, _), rows in self.evidence_rows.items() if at == stage for row in rows}
        )


@dataclass
class Chains:
    """Every supplier's chain, as flat arrays sorted by supplier id (see ``SupplierChain``)."""

    top: dict[str, int]
    ids: list[str]  # sorted; a supplier's position is its code
    distribution: pd.DataFrame  # supplier_id, pos, country, share (aggregated, chain stages only)
    issues: list[Issue]
    _dist: tuple[np.ndarray, _Coded, np.ndarray]  # pos, country, share (rounded)
    _dist_start: np.ndarray  # per code, where its distribution rows start (len(ids) + 1)
    _detail: tuple[np.ndarray, _Coded, _Coded, np.ndarray]  # pos, country, via, row
    _detail_start: np.ndarray
    _code: dict[str, int] = field(default_factory=dict)

    def chain(self, supplier_id: str) -> tuple[str, ...]:
        return STAGES[: self.top[supplier_id] + 1]

    def supplier(self, supplier_id: str) -> SupplierChain:
        code = self._code[supplier_id]
        return self.block(code, code + 1)[0]

    def distribution_positions(self) -> np.ndarray:
        """Each ``distribution`` row's supplier as its position in ``ids``: the rows are
        grouped by supplier, in the order of ``ids``."""
        return np.repeat(np.arange(len(self.ids)), np.diff(self._dist_start))

    @property
    def stage_country(self) -> Mapping[str, dict[str, dict[str, float]]]:
        """supplier_id -> stage -> country -> share, built per look-up."""
        return _StageCountry(self)

    def block(self, start: int, stop: int) -> list[SupplierChain]:
        """The chains of the suppliers at sorted positions start..stop-1, in that order.

        Each array is sliced and converted once per block: the per-supplier dicts cost
        Python objects, the arrays do not.
        """
        if start >= stop:
            return []
        d0, d1 = int(self._dist_start[start]), int(self._dist_start[stop])
        pos, country, share = (column[d0:d1].tolist() for column in self._dist)
        dist_bounds = (self._dist_start[start : stop + 1] - d0).tolist()
        e0, e1 = int(self._detail_start[start]), int(self._detail_start[stop])
        d_pos, d_country, d_via, d_row = (column[e0:e1].tolist() for column in self._detail)
        detail_bounds = (self._detail_start[start : stop + 1] - e0).tolist()
        tops = [self.top[sid] for sid in self.ids[start:stop]]
        built: list[SupplierChain] = []
        for index, top in enumerate(tops):
            stage_country: dict[str, dict[str, float]] = {STAGES[p]: {} for p in range(top + 1)}
            for k in range(dist_bounds[index], dist_bounds[index + 1]):
                stage_country[STAGES[pos[k]]][country[k]] = share[k]
            evidence: dict[tuple[str, str], dict[int, None]] = {}
            paths: dict[tuple[str, str], dict[tuple[str, ...], None]] = {}
            # dicts as ordered sets: insertion order is the sorted order of the detail rows
            for k in range(detail_bounds[index], detail_bounds[index + 1]):
                stage = STAGES[d_pos[k]]
                key = (stage, d_country[k])
                row = d_row[k]
                if row >= 0:
                    evidence.setdefault(key, {})[row] = None
                via = d_via[k]
                if via:
                    paths.setdefault(key, {})[tuple(via.split(" → "))] = None
            built.append(
                SupplierChain(
                    stage_country,
                    evidence,
                    {key: tuple(found) for key, found in paths.items()},
                    {stage: tuple(shares.items()) for stage, shares in stage_country.items()},
                )
            )
        return built


class _StageCountry(Mapping[str, dict[str, dict[str, float]]]):
    """``chains.stage_country[supplier_id]``, built when looked up."""

    def __init__(self, chains: Chains) -> None:
        self._chains = chains

    def __getitem__(self, supplier_id: str) -> dict[str, dict[str, float]]:
        return self._chains.supplier(supplier_id).stage_country

    def __iter__(self) -> Iterator[str]:
        return iter(self._chains.ids)

    def __len__(self) -> int:
        return len(self._chains.ids)


def _levels(supplier: np.ndarray, upstream: np.ndarray, count: int) -> np.ndarray:
    """Topological level of every supplier code (links: ``supplier[k]`` buys from
    ``upstream[k]``); -1 for those that cannot be ordered (on or behind a loop).

    A supplier is at level d once every supplier it buys from has a level below d: a pass
    over the links per level, counting each supplier's links still unresolved.
    """
    level = np.full(count, -1, dtype="int64")
    open_links = np.ones(len(supplier), dtype=bool)
    depth = 0
    while True:
        waiting = np.bincount(supplier[open_links], minlength=count)
        ready = (level < 0) & (waiting == 0)
        if not ready.any():
            return level
        level[ready] = depth
        open_links &= level[upstream] < 0
        depth += 1


def _find_cycles(pending: set[str], edges: pd.DataFrame) -> list[list[str]]:
    """Loops among the suppliers that could not be ordered (each named once)."""
    graph: dict[str, list[str]] = defaultdict(list)
    for s, u in zip(edges["supplier_id"], edges["upstream_supplier_id"], strict=True):
        if s in pending and u in pending:
            graph[s].append(u)
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in sorted(pending):
        stack = [(start, [start])]
        visited: set[str] = set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    key = frozenset(path)
                    if key not in seen:
                        seen.add(key)
                        cycles.append(path)
                elif nxt not in visited and nxt not in path:
                    visited.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    return cycles


@dataclass
class _Rows:
    """The Sourcing rows that count, as arrays: supplier code, stage position, country code
    (a blank country, or a link to a supplier not screened, as ``unverified``), share,
    upstream supplier code (-1: none) and the row's position in the Sourcing frame."""

    supplier: np.ndarray
    pos: np.ndarray
    country: np.ndarray
    share: np.ndarray
    upstream: np.ndarray
    row: np.ndarray
    countries: list[str]  # sorted; a country code is a position in it
    unverified: int  # the code of UNVERIFIED


def _located(src: pd.DataFrame, row: int) -> dict[str, Any]:
    """Where a Sourcing row is, for an issue about it."""
    loc = src.iloc[row]
    excel_row = loc.get("_row")
    return {
        "file": loc.get("_file"),
        "sheet": loc.get("_sheet"),
        "row": int(excel_row) if pd.notna(excel_row) else None,
    }


def _sourcing_rows(src: pd.DataFrame, ids: list[str], top: np.ndarray) -> tuple[_Rows, list[Issue]]:
    """The rows of screened suppliers at a stage of their chain, with an issue for each row
    outside its supplier's chain and each link to a supplier that is not screened."""
    issues: list[Issue] = []
    supplier = positions(ids, src["supplier_id"].astype(object).to_numpy())
    pos_found = _stage_positions(src["stage"])
    keep = (supplier >= 0) & ~np.isnan(pos_found)
    row = np.flatnonzero(keep)
    supplier, pos = supplier[keep], pos_found[keep].astype("int64")
    outside = pos > top[supplier]
    for k in np.flatnonzero(outside).tolist():
        issues.append(
            make_issue(
                "stage-outside-chain",
                "warning",
                f"{ids[supplier[k]]} supplies {STAGES[top[supplier[k]]]}; its "
                f"{STAGES[pos[k]]} row is ignored",
                column="stage",
                **_located(src, int(row[k])),
            )
        )
    inside = ~outside
    row, supplier, pos = row[inside], supplier[inside], pos[inside]
    upstream_text = src["upstream_supplier_id"].astype(object).to_numpy()[row]
    upstream = positions(ids, upstream_text)
    # A link to a supplier that is not screened carries no chain: count it as unverified.
    dangling = pd.notna(upstream_text) & (upstream < 0)
    for k in np.flatnonzero(dangling).tolist():
        issues.append(
            make_issue(
                "upstream-not-screened",
                "warning",
                f"{ids[supplier[k]]} buys {STAGES[pos[k]]} from {upstream_text[k]}, which is "
                "not screened; that share is unverified",
                column="upstream_supplier_id",
                value=upstream_text[k],
                **_located(src, int(row[k])),
            )
        )
    country = src["country"].astype(object).to_numpy()[row]
    country[pd.isna(country) | dangling] = UNVERIFIED
    codes, countries = pd.factorize(np.append(country, UNVERIFIED), sort=True)
    share = pd.to_numeric(src["share"], errors="coerce").fillna(0.0).to_numpy(dtype=float)[row]
    found = _Rows(
        supplier,
        pos,
        codes[:-1].astype("int64"),
        share,
        upstream,
        row.astype("int64"),
        list(countries),
        int(codes[-1]),
    )
    return found, issues


def _sums(keys: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """The values summed per key (0..size-1; 0.0 where none): each key's values in row
    order, with pandas' compensated summation. Every share of the chains is summed here.

    The rows are put in key order first (stably): pandas sums a key's values to a
    different last bit when other keys' rows lie between them, and a chain must not
    depend on where other suppliers' rows are in the sheet."""
    dense = np.zeros(size)
    if len(keys):
        order = np.argsort(keys, kind="stable")
        summed = pd.Series(values[order]).groupby(keys[order], sort=False).sum()
        dense[summed.index.to_numpy()] = summed.to_numpy()
    return dense


def _group_codes(*columns: np.ndarray) -> np.ndarray:
    """One code per distinct combination of the (non-negative integer) columns."""
    key = np.zeros(len(columns[0]), dtype="int64")
    for column in columns:
        key, _ = pd.factorize(key * (int(column.max(initial=0)) + 1) + column)
    return key


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The positions of every range start..stop-1, one range after another."""
    lengths = stops - starts
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(int(lengths.sum()))


class _Part(NamedTuple):
    """Chain rows as columns: supplier code, position, country code, via path, share, row."""

    supplier: np.ndarray
    pos: np.ndarray
    country: np.ndarray
    via: np.ndarray
    share: np.ndarray
    row: np.ndarray

    def take(self, index: np.ndarray) -> _Part:
        return _Part(*(column[index] for column in self))

    @classmethod
    def joined(cls, parts: list[_Part]) -> _Part:
        return cls(*(np.concatenate(columns) for columns in zip(*parts, strict=True)))


class _Paths:
    """Via paths as codes: 0 is none, 1 + s supplier s alone, and each longer path its first
    supplier and the code of the path after it (or, for a looping link, the supplier it
    buys from): the text is made once per distinct path, at the end."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.total = 1 + count
        self._made: list[tuple[np.ndarray, np.ndarray, bool]] = []

    def extend(self, supplier: np.ndarray, rest: np.ndarray, loop: bool = False) -> np.ndarray:
        """The code of each path ``supplier → rest`` (``rest`` a path code, or for a loop
        the supplier looped to), new ones numbered in order of first appearance."""
        scale = self.count if loop else self.total
        codes, distinct = pd.factorize(supplier * scale + rest)
        self._made.append((distinct // scale, distinct % scale, loop))
        found = self.total + codes
        self.total += len(distinct)
        return found

    def texts(self, ids: list[str]) -> list[str]:
        """Every path's text, by code."""
        texts = ["", *ids]
        for heads, rests, loop in self._made:
            if loop:
                texts += [
                    f"{ids[h]} → {ids[r]} (loop)"
                    for h, r in zip(heads.tolist(), rests.tolist(), strict=True)
                ]
            else:
                texts += [
                    ids[h] + " → " + texts[r]
                    for h, r in zip(heads.tolist(), rests.tolist(), strict=True)
                ]
        return texts


def build_chains(portfolio: Portfolio) -> Chains:
    """Propagate every supplier's chain (see module docstring); pure over the portfolio.

    Suppliers, countries and via paths are integer codes inside: the propagation is array
    passes and group sums, with text looked up once per distinct country and path; ids
    come back in the returned lookups.
    """
    suppliers = portfolio.suppliers
    # Codes follow the sorted ids, so every supplier's rows below are contiguous and in the
    # order suppliers are screened and reported.
    frame_ids = [str(s) for s in suppliers["supplier_id"]]
    order = sorted(range(len(frame_ids)), key=frame_ids.__getitem__)
    ids = [frame_ids[i] for i in order]
    names = np.array(ids, dtype=object)
    code = {sid: i for i, sid in enumerate(ids)}
    supplies = suppliers["supplies_stage"].tolist()
    top_arr = np.array([STAGE_POS[str(supplies[i])] for i in order], dtype="int64")
    top = dict(zip(ids, top_arr.tolist(), strict=True))
    rows, issues = _sourcing_rows(portfolio.sourcing, ids, top_arr)
    count, width = len(ids), len(STAGES)

    # Per supplier and position: the share linked and the share declared, and ``factor``,
    # the part of the stage not explained by links at the stages downstream of it.
    link = rows.upstream >= 0
    cell = rows.supplier * width + rows.pos
    linked = np.clip(_sums(cell[link], rows.share[link], count * width), 0.0, 1.0)
    declared = np.clip(_sums(cell, rows.share, count * width), 0.0, 1.0)
    kept = (1.0 - linked.reshape(count, width))[:, ::-1]  # downstream first
    factor = np.ones_like(kept)
    factor[:, 1:] = np.cumprod(kept, axis=1)[:, :-1]
    factor = factor[:, ::-1]
    # Own rows, then each position's undeclared remainder (positions above the chain too:
    # a supplier buying from this one inherits them as unverified).
    own = ~link
    own_supplier, own_pos = rows.supplier[own], rows.pos[own]
    remainder = (factor * (1.0 - declared.reshape(count, width)))[:, ::-1]
    rest_supplier, rest_column = np.nonzero(remainder > _EPS)
    rest_count = len(rest_supplier)
    base = _Part(
        np.concatenate([own_supplier, rest_supplier]),
        np.concatenate([own_pos, width - 1 - rest_column]),
        np.concatenate([rows.country[own], np.full(rest_count, rows.unverified)]),
        np.zeros(len(own_supplier) + rest_count, dtype="int64"),
        np.concatenate(
            [rows.share[own] * factor[own_supplier, own_pos], remainder[rest_supplier, rest_column]]
        ),
        np.concatenate([rows.row[own], np.full(rest_count, -1, dtype="int64")]),
    )

    link_supplier, link_upstream = rows.supplier[link], rows.upstream[link]
    link_pos, link_row = rows.pos[link], rows.row[link]
    weight = rows.share[link] * factor[link_supplier, link_pos]
    level = _levels(link_supplier, link_upstream, count)
    if (level < 0).any():
        pending_ids = {ids[c] for c in np.flatnonzero(level < 0).tolist()}
        edges = pd.DataFrame(
            {
                "supplier_id": names[link_supplier],
                "upstream_supplier_id": names[link_upstream],
            }
        )
        for cycle in _find_cycles(pending_ids, edges):
            loop = " → ".join([*cycle, cycle[0]])
            issues.append(
                make_issue(
                    "cycle",
                    "error",
                    f"upstream links form a loop: {loop}; those links count as unverified",
                    value=loop,
                )
            )

    # A supplier's resolved rows, as those buying from it see them: its own rows and
    # remainders, then what it inherited, each in the order made. ``pool`` holds them
    # grouped by supplier, for the suppliers others buy from only.
    needed = np.zeros(count, dtype=bool)
    needed[link_upstream] = True
    parts = [_shown(base, top_arr)]
    bought_from = np.flatnonzero(needed[base.supplier])
    pool = [base.take(bought_from[np.argsort(base.supplier[bought_from], kind="stable")])]
    del base, bought_from
    pool_size = len(pool[0].supplier)
    base_start = _starts(pool[0].supplier, count)
    inherited_start = np.zeros(count, dtype="int64")
    inherited_stop = np.zeros(count, dtype="int64")
    has_rows = np.diff(base_start) > 0
    resolved = (level == 0) & needed & has_rows
    paths = _Paths(count)
    link_level = level[link_supplier]
    max_level = int(level.max()) if len(level) else 0
    for depth in [*range(1, max_level + 1), -1]:
        members = level == depth
        if not members.any():
            continue
        batch = np.flatnonzero(link_level == depth)
        ready = resolved[link_upstream[batch]]
        found, unresolved = batch[ready], batch[~ready]
        # each link gets its upstream's rows at its stage and upstream of it
        upstream = link_upstream[found]
        starts = np.column_stack([base_start[upstream], inherited_start[upstream]]).ravel()
        stops = np.column_stack([base_start[upstream + 1], inherited_stop[upstream]]).ravel()
        gathered = pool[0] if len(pool) == 1 else _Part.joined(pool)
        pool = [gathered]
        taken = _ranges(starts, stops)
        owner = np.repeat(np.repeat(found, 2), stops - starts)
        inside = gathered.pos[taken] <= link_pos[owner]
        taken, owner = taken[inside], owner[inside]
        up = gathered.take(taken)
        buyer = link_supplier[owner]
        # the upstream's own path already starts with the upstream's id
        rest = np.where(up.via != 0, up.via, 1 + link_upstream[owner])
        inherited = _Part(
            buyer,
            up.pos,
            up.country,
            paths.extend(buyer, rest),
            weight[owner] * up.share,
            link_row[owner],
        )
        # Looping links: the linked share of that stage and everything upstream is unverified.
        lengths = link_pos[unresolved] + 1
        looping = np.repeat(unresolved, lengths)
        looped = _Part(
            link_supplier[looping],
            np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths),
            np.full(len(looping), rows.unverified, dtype="int64"),
            paths.extend(link_supplier[looping], link_upstream[looping], loop=True),
            weight[looping],
            link_row[looping],
        )
        new = _Part.joined([inherited, looped])
        parts.append(_summed(_shown(new, top_arr)))
        kept_new = new.take(np.flatnonzero(needed[new.supplier]))
        kept_new = kept_new.take(np.argsort(kept_new.supplier, kind="stable"))
        present = np.unique(kept_new.supplier)
        inherited_start[present] = pool_size + np.searchsorted(kept_new.supplier, present, "left")
        inherited_stop[present] = pool_size + np.searchsorted(kept_new.supplier, present, "right")
        pool.append(kept_new)
        pool_size += len(kept_new.supplier)
        resolved |= members & needed & (has_rows | (inherited_stop > inherited_start))

    detail, country, via = _detail(_Part.joined(parts), rows.countries, paths.texts(ids))
    # Each (supplier, position, country)'s shares summed in the detail's order.
    boundary = np.ones(len(detail.supplier), dtype=bool)
    boundary[1:] = (
        (np.diff(detail.supplier) != 0) | (np.diff(detail.pos) != 0) | (np.diff(country.codes) != 0)
    )
    first = np.flatnonzero(boundary)
    shares = _sums(np.cumsum(boundary) - 1, detail.share, len(first))
    dist_supplier = detail.supplier[first]
    dist_pos = detail.pos[first]
    dist_country = _Coded(country.codes[first], country.values)
    distribution = pd.DataFrame(
        {
            "supplier_id": names[dist_supplier],
            "pos": dist_pos,
            "country": pd.Series(np.array(country.values, dtype=object)[dist_country.codes]),
            "share": shares,
        }
    )
    return Chains(
        top,
        ids,
        distribution,
        issues,
        (dist_pos, dist_country, np.round(shares, 10)),
        _starts(dist_supplier, count),
        (detail.pos, country, via, detail.row),
        _starts(detail.supplier, count),
        code,
    )


def _shown(part: _Part, top: np.ndarray) -> _Part:
    """The rows of a part that show in a chain: a share above noise, at a stage of it."""
    return part.take(np.flatnonzero((part.share > _EPS) & (part.pos <= top[part.supplier])))


def _summed(part: _Part) -> _Part:
    """One row per (supplier, position, country, via, row), its shares summed in order.

    A Sourcing row is one supplier's, so the row stands for the supplier in the key."""
    key = _group_codes(part.row + 1, part.pos, part.country, part.via)
    shares = _sums(key, part.share, int(key.max(initial=-1)) + 1)
    one = np.empty(len(shares), dtype="int64")  # any row of each key: they differ in share only
    one[key] = np.arange(len(key))
    return part.take(one)._replace(share=shares)


def _detail(part: _Part, countries: list[str], texts: list[str]) -> tuple[_Part, _Coded, _Coded]:
    """Every share with the row and path behind it, sorted by supplier, position, country
    text, via text and row; with its country and via as codes of their distinct texts."""
    country = _compact(part.country, countries)
    via = _compact(part.via, texts)
    order = np.lexsort((part.row, via.codes, country.codes, part.pos, part.supplier))
    return (
        part.take(order),
        _Coded(country.codes[order], country.values),
        _Coded(via.codes[order], via.values),
    )


def _compact(codes: np.ndarray, texts: list[str]) -> _Coded:
    """Codes of ``texts`` recoded to the sorted distinct texts they use."""
    used = np.zeros(len(texts), dtype=bool)
    used[codes] = True
    kept = np.flatnonzero(used)
    ranks, values = pd.factorize(
        np.array([texts[k] for k in kept.tolist()], dtype=object), sort=True
    )
    recode = np.zeros(len(texts), dtype="int64")
    recode[kept] = ranks
    return _Coded(recode[codes], values)


class _Coded:
    """A text column as integer codes and its distinct values: no Python string per row.

    Forked workers read these arrays without writing to the pages they share with the
    parent; a column of Python strings would be copied into every worker as it is read
    (reading a string object updates its reference count).
    """

    def __init__(self, codes: np.ndarray, values: Any) -> None:
        self.codes = np.asarray(codes).astype(np.int32)  # positions in values
        self.values: list[Any] = list(values)

    def __getitem__(self, rows: slice) -> _CodedSlice:
        return _CodedSlice(self.codes[rows], self.values)


@dataclass
class _CodedSlice:
    codes: np.ndarray
    values: list[Any]

    def tolist(self) -> list[Any]:
        values = self.values
        return [values[c] for c in self.codes.tolist()]


def positions(ids: list[str], values: np.ndarray) -> np.ndarray:
    """Each value's position in ``ids`` (unique), -1 where absent or blank: one hashing
    pass over both, the ids first, so an id's code is its position (no dict look-up per
    row)."""
    codes, _ = pd.factorize(np.concatenate([np.array(ids, dtype=object), values]))
    found = codes[len(ids) :]
    return np.where(found < len(ids), found, -1)


def _stage_positions(stages: pd.Series) -> np.ndarray:
    """Each row's position in STAGES (NaN for a stage outside the chain, or none): looked
    up once per distinct stage name."""
    codes, names = pd.factorize(stages)
    table = np.array([*(STAGE_POS.get(n, np.nan) for n in names), np.nan], dtype="float64")
    return table[codes]  # code -1 (blank) takes the last entry


def _starts(codes: np.ndarray, count: int) -> np.ndarray:
    """Where each code's rows start in an array sorted by code (count + 1 offsets)."""
    return np.searchsorted(codes.astype("int64", copy=False), np.arange(count + 1))


def covered_share(shares: Mapping[str, float], covered: frozenset[str]) -> float:
    """Share of one stage performed in the given countries."""
    return float(sum(v for c, v in shares.items() if c in covered))


def stage_figures(
    chains: Chains, supplier_id: str, covered: frozenset[str]
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """DESIGN's stage_exposure and stage_unverified: all five stages, None outside the chain."""
    return chain_figures(chains.stage_country[supplier_id], covered)


def chain_figures(
    per_stage: Mapping[str, Mapping[str, float]], covered: frozenset[str]
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """``stage_figures`` of one supplier's stage → country shares."""
    exposure: dict[str, float | None] = dict.fromkeys(STAGES)
    unverified: dict[str, float | None] = dict.fromkeys(STAGES)
    for stage in STAGES:
        if stage in per_stage:
            exposure[stage], unverified[stage] = stage_shares(per_stage[stage], covered)
    return exposure, unverified


def stage_shares(shares: Mapping[str, float], covered: frozenset[str]) -> tuple[float, float]:
    """One stage's exposure (its share in covered nations) and unverified share, rounded."""
    return round(covered_share(shares, covered), 10), round(shares.get(UNVERIFIED, 0.0), 10)


def midstream_index(exposure: dict[str, float | None], weights: dict[str, Any]) -> float:
    """Stage-weighted mean exposure over the midstream stages in the chain (weights renormalised)."""
    total = weighted = 0.0  # summed in the weights' order, as sum() would
    for stage, weight in weights.items():
        share = exposure.get(stage)
        if share is not None:
            total += float(weight)
            weighted += float(share or 0.0) * float(weight)
    if total <= 0:
        return 0.0
    return round(weighted / total, 10)
