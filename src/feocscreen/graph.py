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
one more than the deepest supplier it buys from), each level one merge.
Upstream loops cannot be ordered: they are reported as a ``cycle`` issue naming
the loop, and the looping links count as unverified.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

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


def _empty_detail() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "supplier_id": pd.Series(dtype=object),
            "pos": pd.Series(dtype="int64"),
            "country": pd.Series(dtype=object),
            "share": pd.Series(dtype="float64"),
            "via": pd.Series(dtype=object),
            "row": pd.Series(dtype="int64"),
        }
    )


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


def build_chains(portfolio: Portfolio) -> Chains:
    """Propagate every supplier's chain (see module docstring); pure over the portfolio.

    Suppliers are handled as integer codes inside (merges and group-bys on integers are
    several times faster than on strings); ids come back in the returned lookups.
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
    issues: list[Issue] = []

    src = portfolio.sourcing
    upstream_text = (
        src["upstream_supplier_id"].astype(object).where(src["upstream_supplier_id"].notna(), None)
    )
    rows = pd.DataFrame(
        {
            "supplier_id": _codes(src["supplier_id"].astype(object), ids),
            "pos": _stage_positions(src["stage"]),
            "country": pd.Series(
                src["country"].astype(object).where(src["country"].notna(), None).to_numpy(),
                dtype=object,
            ),
            "share": pd.to_numeric(src["share"], errors="coerce").fillna(0.0).to_numpy(dtype=float),
            "upstream": _codes(upstream_text, ids),
            "upstream_text": pd.Series(upstream_text.to_numpy(), dtype=object),
            "row": np.arange(len(src), dtype="int64"),
        }
    )
    rows = rows[rows["supplier_id"].notna() & rows["pos"].notna()].copy()
    rows["supplier_id"] = rows["supplier_id"].astype("int64")
    rows["pos"] = rows["pos"].astype("int64")
    rows["top"] = top_arr[rows["supplier_id"].to_numpy()]
    outside = rows[rows["pos"] > rows["top"]]
    for r in outside.itertuples(index=False):
        loc = src.iloc[int(r.row)]
        issues.append(
            make_issue(
                "stage-outside-chain",
                "warning",
                f"{names[r.supplier_id]} supplies {STAGES[int(r.top)]}; its {STAGES[int(r.pos)]} row is ignored",
                file=loc.get("_file"),
                sheet=loc.get("_sheet"),
                row=int(loc.get("_row")) if pd.notna(loc.get("_row")) else None,
                column="stage",
            )
        )
    rows = rows[rows["pos"] <= rows["top"]]
    # A link to a supplier that is not screened carries no chain: count it as unverified.
    dangling = rows["upstream_text"].notna() & rows["upstream"].isna()
    for r in rows[dangling].itertuples(index=False):
        loc = src.iloc[int(r.row)]
        issues.append(
            make_issue(
                "upstream-not-screened",
                "warning",
                f"{names[r.supplier_id]} buys {STAGES[int(r.pos)]} from {r.upstream_text}, which is not "
                "screened; that share is unverified",
                file=loc.get("_file"),
                sheet=loc.get("_sheet"),
                row=int(loc.get("_row")) if pd.notna(loc.get("_row")) else None,
                column="upstream_supplier_id",
                value=r.upstream_text,
            )
        )
    rows["upstream"] = rows["upstream"].fillna(-1).astype("int64")
    rows.loc[dangling, "country"] = None

    # Grid of every supplier × all five positions (positions above the chain inherit as unverified).
    grid = pd.DataFrame(
        {
            "supplier_id": np.repeat(np.arange(len(ids), dtype="int64"), len(STAGES)),
            "pos": np.tile(np.arange(len(STAGES), dtype="int64")[::-1], len(ids)),
        }
    )
    links = rows[rows["upstream"] >= 0]
    own = rows[rows["upstream"] < 0]
    linked = links.groupby(["supplier_id", "pos"], sort=False)["share"].sum().rename("linked")
    declared = rows.groupby(["supplier_id", "pos"], sort=False)["share"].sum().rename("declared")
    grid = grid.join(linked, on=["supplier_id", "pos"]).join(declared, on=["supplier_id", "pos"])
    grid["linked"] = grid["linked"].fillna(0.0).clip(0.0, 1.0)
    grid["declared"] = grid["declared"].fillna(0.0).clip(0.0, 1.0)
    kept = 1.0 - grid["linked"]
    inclusive = kept.groupby(grid["supplier_id"], sort=False).cumprod()
    grid["factor"] = inclusive.groupby(grid["supplier_id"], sort=False).shift(1).fillna(1.0)
    factor = grid.set_index(["supplier_id", "pos"])["factor"]

    own_part = own.join(factor, on=["supplier_id", "pos"])
    own_part = pd.DataFrame(
        {
            "supplier_id": own_part["supplier_id"],
            "pos": own_part["pos"],
            "country": own_part["country"].where(own_part["country"].notna(), UNVERIFIED),
            "share": own_part["share"] * own_part["factor"],
            "via": "",
            "row": own_part["row"],
        }
    )
    remainder = grid.assign(share=grid["factor"] * (1.0 - grid["declared"]))
    remainder = remainder[remainder["share"] > _EPS]
    remainder_part = pd.DataFrame(
        {
            "supplier_id": remainder["supplier_id"],
            "pos": remainder["pos"],
            "country": UNVERIFIED,
            "share": remainder["share"],
            "via": "",
            "row": -1,
        }
    )
    base = pd.concat([_empty_detail(), own_part, remainder_part], ignore_index=True)
    base["supplier_id"] = base["supplier_id"].astype("int64")

    link_supplier = links["supplier_id"].to_numpy()
    link_upstream = links["upstream"].to_numpy()
    level = _levels(link_supplier, link_upstream, len(ids))
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

    links = links.join(factor, on=["supplier_id", "pos"])
    links = links.assign(weight=links["share"] * links["factor"])
    parts: list[pd.DataFrame] = [base]
    # ``done`` holds the resolved rows of suppliers that others buy from: only those are merged.
    needed = np.zeros(len(ids), dtype=bool)
    needed[links["upstream"].to_numpy()] = True
    base_codes = base["supplier_id"].to_numpy()
    done = base[(level[base_codes] == 0) & needed[base_codes]]
    max_level = int(level.max()) if len(level) else 0
    for depth in [*range(1, max_level + 1), -1]:
        members = np.flatnonzero(level == depth)
        if not len(members):
            continue
        batch = links[links["supplier_id"].isin(members)]
        resolvable = batch[batch["upstream"].isin(done["supplier_id"].unique())]
        unresolved = batch[~batch.index.isin(resolvable.index)]
        merged = resolvable.merge(
            done, left_on="upstream", right_on="supplier_id", suffixes=("", "_up")
        )
        merged = merged[merged["pos_up"] <= merged["pos"]]
        via_up = merged["via"].to_numpy(dtype=object)
        # The upstream's own path already starts with the upstream's id.
        via = (
            names[merged["supplier_id"].to_numpy()]
            + " → "
            + np.where(via_up != "", via_up, names[merged["upstream"].to_numpy()])
        )
        inherited = pd.DataFrame(
            {
                "supplier_id": merged["supplier_id"].to_numpy(),
                "pos": merged["pos_up"].to_numpy(),
                "country": pd.Series(merged["country_up"].to_numpy(), dtype=object),
                "share": (merged["weight"] * merged["share_up"]).to_numpy(),
                "via": pd.Series(via, dtype=object),
                "row": merged["row"].to_numpy(),
            }
        )
        # Looping links: the linked share of that stage and everything upstream is unverified.
        expanded = [
            (
                int(r.supplier_id),
                p,
                UNVERIFIED,
                float(r.weight),
                f"{names[r.supplier_id]} → {names[r.upstream]} (loop)",
                int(r.row),
            )
            for r in unresolved.itertuples(index=False)
            for p in range(int(r.pos) + 1)
        ]
        looped = pd.DataFrame(expanded, columns=list(_empty_detail().columns)).astype(
            _empty_detail().dtypes.to_dict()  # typed even when empty: shares stay float64
        )
        new = pd.concat([_empty_detail(), inherited, looped], ignore_index=True)
        new["supplier_id"] = new["supplier_id"].astype("int64")
        parts.append(new)
        is_member = np.zeros(len(ids), dtype=bool)
        is_member[members] = True
        upstream_rows = [
            base[is_member[base_codes] & needed[base_codes]],
            new[needed[new["supplier_id"].to_numpy()]],
        ]
        done = pd.concat([done, *upstream_rows], ignore_index=True)

    detail, country, via = _detail(parts, top_arr)
    # grouped on the country codes: the text is looked up once per distinct country
    distribution = (
        detail.assign(country=country.codes)
        .groupby(["supplier_id", "pos", "country"], sort=False)["share"]
        .sum()
        .reset_index()
    )
    dist_country = _Coded(distribution["country"].to_numpy(), country.values)
    dist_start = _starts(distribution["supplier_id"].to_numpy(), len(ids))
    distribution = distribution.assign(
        supplier_id=names[distribution["supplier_id"].to_numpy()],
        country=pd.Series(np.array(country.values, dtype=object)[dist_country.codes]),
    )
    return Chains(
        top,
        ids,
        distribution,
        issues,
        (
            distribution["pos"].to_numpy(),
            dist_country,
            distribution["share"].round(10).to_numpy(),
        ),
        dist_start,
        (detail["pos"].to_numpy(), country, via, detail["row"].to_numpy()),
        _starts(detail["supplier_id"].to_numpy(), len(ids)),
        code,
    )


DETAIL_KEYS = ["supplier_id", "pos", "country", "via", "row"]


def _detail(parts: list[pd.DataFrame], top: np.ndarray) -> tuple[pd.DataFrame, _Coded, _Coded]:
    """Every share with the row and path behind it, one row per key, sorted by key; with
    its country and via columns as codes.

    The first part (own rows and remainders) has one row per key already; each later
    part (a level's inherited rows) is summed on its own, since a supplier's inherited
    rows all come from its one level. Sorting uses order-preserving integer codes of the
    text keys, which costs far less time and memory than sorting the text.
    """
    kept = []
    for index, part in enumerate(parts):
        part = part[
            (part["share"].to_numpy() > _EPS)
            & (part["pos"].to_numpy() <= top[part["supplier_id"].to_numpy()])
        ]
        if index:
            part = part.groupby(DETAIL_KEYS, sort=False)["share"].sum().reset_index()
        kept.append(part[[*DETAIL_KEYS, "share"]])
    detail = pd.concat(kept, ignore_index=True)
    country, countries = pd.factorize(
        detail["country"].to_numpy(dtype=object), sort=True, use_na_sentinel=False
    )
    via, vias = pd.factorize(detail["via"].to_numpy(dtype=object), sort=True, use_na_sentinel=False)
    order = np.lexsort(
        (
            detail["row"].to_numpy(),
            via,
            country,
            detail["pos"].to_numpy(),
            detail["supplier_id"].to_numpy(),
        )
    )
    return (
        detail.take(order).reset_index(drop=True),
        _Coded(country[order], countries),
        _Coded(via[order], vias),
    )


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


def _codes(values: pd.Series, ids: list[str]) -> np.ndarray:
    """``positions`` as floats, NaN where absent: a column that can be filtered with notna."""
    found = positions(ids, values.to_numpy(dtype=object)).astype("float64")
    found[found < 0] = np.nan
    return found


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
