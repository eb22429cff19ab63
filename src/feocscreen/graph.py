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


@dataclass
class Chains:
    """Per supplier and stage: country shares, and the rows and paths behind each share."""

    top: dict[str, int]
    stage_country: dict[str, dict[str, dict[str, float]]]
    evidence_rows: dict[tuple[str, str, str], list[int]]
    paths: dict[tuple[str, str, str], list[tuple[str, ...]]]
    distribution: pd.DataFrame  # supplier_id, pos, country, share (aggregated, chain stages only)
    issues: list[Issue] = field(default_factory=list)
    stage_rows: dict[tuple[str, str], list[int]] = field(
        default_factory=dict
    )  # every row behind a stage

    def chain(self, supplier_id: str) -> tuple[str, ...]:
        return STAGES[: self.top[supplier_id] + 1]


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


def _levels(edges: pd.DataFrame, suppliers: list[str]) -> tuple[dict[str, int], set[str]]:
    """Topological level of every supplier; the ones that cannot be ordered are returned apart."""
    level: dict[str, int] = {}
    upstream: dict[str, set[str]] = defaultdict(set)
    for s, u in zip(edges["supplier_id"], edges["upstream_supplier_id"], strict=True):
        upstream[s].add(u)
    known = set(suppliers)
    for s in suppliers:
        if not (upstream.get(s, set()) & known):
            level[s] = 0
    pending = {s for s in suppliers if s not in level}
    depth = 0
    while pending:
        depth += 1
        ready = {s for s in pending if all(u in level or u not in known for u in upstream[s])}
        if not ready:
            break
        for s in ready:
            level[s] = max((level[u] for u in upstream[s] if u in level), default=-1) + 1
        pending -= ready
    return level, pending


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
    """Propagate every supplier's chain (see module docstring); pure over the portfolio."""
    suppliers = portfolio.suppliers
    ids = [str(s) for s in suppliers["supplier_id"]]
    top = dict(zip(ids, (STAGE_POS[str(s)] for s in suppliers["supplies_stage"]), strict=True))
    issues: list[Issue] = []

    src = portfolio.sourcing
    rows = pd.DataFrame(
        {
            "supplier_id": src["supplier_id"].astype(object).to_numpy(),
            "pos": src["stage"].map(STAGE_POS).to_numpy(),
            "country": src["country"].astype(object).where(src["country"].notna(), None).to_numpy(),
            "share": pd.to_numeric(src["share"], errors="coerce").fillna(0.0).to_numpy(dtype=float),
            "upstream": src["upstream_supplier_id"]
            .astype(object)
            .where(src["upstream_supplier_id"].notna(), None)
            .to_numpy(),
            "row": np.arange(len(src), dtype="int64"),
        }
    )
    rows = rows[rows["supplier_id"].isin(top)]
    rows = rows[rows["pos"].notna()]
    rows["pos"] = rows["pos"].astype("int64")
    rows["top"] = rows["supplier_id"].map(top).astype("int64")
    outside = rows[rows["pos"] > rows["top"]]
    for r in outside.itertuples(index=False):
        loc = src.iloc[int(r.row)]
        issues.append(
            make_issue(
                "stage-outside-chain",
                "warning",
                f"{r.supplier_id} supplies {STAGES[int(r.top)]}; its {STAGES[int(r.pos)]} row is ignored",
                file=loc.get("_file"),
                sheet=loc.get("_sheet"),
                row=int(loc.get("_row")) if pd.notna(loc.get("_row")) else None,
                column="stage",
            )
        )
    rows = rows[rows["pos"] <= rows["top"]]
    # A link to a supplier that is not screened carries no chain: count it as unverified.
    dangling = rows["upstream"].notna() & ~rows["upstream"].isin(top)
    for r in rows[dangling].itertuples(index=False):
        loc = src.iloc[int(r.row)]
        issues.append(
            make_issue(
                "upstream-not-screened",
                "warning",
                f"{r.supplier_id} buys {STAGES[int(r.pos)]} from {r.upstream}, which is not screened; "
                "that share is unverified",
                file=loc.get("_file"),
                sheet=loc.get("_sheet"),
                row=int(loc.get("_row")) if pd.notna(loc.get("_row")) else None,
                column="upstream_supplier_id",
                value=r.upstream,
            )
        )
    rows.loc[dangling, "upstream"] = None
    rows.loc[dangling, "country"] = None

    # Grid of every supplier × all five positions (positions above the chain inherit as unverified).
    grid = pd.DataFrame(
        {
            "supplier_id": np.repeat(np.array(ids, dtype=object), len(STAGES)),
            "pos": np.tile(np.arange(len(STAGES), dtype="int64")[::-1], len(ids)),
        }
    )
    links = rows[rows["upstream"].notna()]
    own = rows[rows["upstream"].isna()]
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

    level, pending = _levels(links.rename(columns={"upstream": "upstream_supplier_id"}), ids)
    for cycle in _find_cycles(pending, links.rename(columns={"upstream": "upstream_supplier_id"})):
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
    done = base[base["supplier_id"].map(level).eq(0)]
    max_level = max(level.values(), default=0)
    for depth in [*range(1, max_level + 1), None]:
        members = pending if depth is None else {s for s, lv in level.items() if lv == depth}
        if not members:
            continue
        batch = links[links["supplier_id"].isin(members)]
        resolvable = batch[batch["upstream"].isin(done["supplier_id"].unique())]
        unresolved = batch[~batch.index.isin(resolvable.index)]
        merged = resolvable.merge(
            done, left_on="upstream", right_on="supplier_id", suffixes=("", "_up")
        )
        merged = merged[merged["pos_up"] <= merged["pos"]]
        inherited = pd.DataFrame(
            {
                "supplier_id": merged["supplier_id"],
                "pos": merged["pos_up"],
                "country": merged["country_up"],
                "share": merged["weight"] * merged["share_up"],
                # The upstream's own path already starts with the upstream's id.
                "via": merged["supplier_id"]
                + " → "
                + np.where(
                    merged["via"].astype(str) != "", merged["via"].astype(str), merged["upstream"]
                ),
                "row": merged["row"],
            }
        )
        # Looping links: the linked share of that stage and everything upstream is unverified.
        expanded = [
            (
                r.supplier_id,
                p,
                UNVERIFIED,
                float(r.weight),
                f"{r.supplier_id} → {r.upstream} (loop)",
                int(r.row),
            )
            for r in unresolved.itertuples(index=False)
            for p in range(int(r.pos) + 1)
        ]
        looped = pd.DataFrame(expanded, columns=list(_empty_detail().columns))
        new = pd.concat([_empty_detail(), inherited, looped], ignore_index=True)
        parts.append(new)
        member_rows = pd.concat([base[base["supplier_id"].isin(members)], new], ignore_index=True)
        done = pd.concat([done, member_rows], ignore_index=True)

    detail = pd.concat(parts, ignore_index=True)
    detail = detail[detail["share"] > _EPS]
    detail = detail[detail["pos"] <= detail["supplier_id"].map(top)]
    detail = (
        detail.groupby(["supplier_id", "pos", "country", "via", "row"], sort=True)["share"]
        .sum()
        .reset_index()
    )
    distribution = (
        detail.groupby(["supplier_id", "pos", "country"], sort=True)["share"].sum().reset_index()
    )
    return _index(top, detail, distribution, issues)


def _index(
    top: dict[str, int], detail: pd.DataFrame, distribution: pd.DataFrame, issues: list[Issue]
) -> Chains:
    stage_country: dict[str, dict[str, dict[str, float]]] = {
        s: {STAGES[p]: {} for p in range(t + 1)} for s, t in top.items()
    }
    for s, p, c, share in zip(
        distribution["supplier_id"],
        distribution["pos"],
        distribution["country"],
        distribution["share"],
        strict=True,
    ):
        stage_country[s][STAGES[p]][c] = round(float(share), 10)
    evidence_rows: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    stage_rows: dict[tuple[str, str], list[int]] = defaultdict(list)
    paths: dict[tuple[str, str, str], list[tuple[str, ...]]] = defaultdict(list)
    for s, p, c, via, row in zip(
        detail["supplier_id"],
        detail["pos"],
        detail["country"],
        detail["via"],
        detail["row"],
        strict=True,
    ):
        key = (s, STAGES[p], c)
        if row >= 0 and row not in evidence_rows[key]:
            evidence_rows[key].append(int(row))
            if row not in stage_rows[(s, STAGES[p])]:
                stage_rows[(s, STAGES[p])].append(int(row))
        if via:
            path = tuple(str(via).split(" → "))
            if path not in paths[key]:
                paths[key].append(path)
    return Chains(
        top, stage_country, dict(evidence_rows), dict(paths), distribution, issues, dict(stage_rows)
    )


def covered_share(shares: dict[str, float], covered: frozenset[str]) -> float:
    """Share of one stage performed in the given countries."""
    return float(sum(v for c, v in shares.items() if c in covered))


def stage_figures(
    chains: Chains, supplier_id: str, covered: frozenset[str]
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """DESIGN's stage_exposure and stage_unverified: all five stages, None outside the chain."""
    exposure: dict[str, float | None] = {}
    unverified: dict[str, float | None] = {}
    per_stage = chains.stage_country[supplier_id]
    for stage in STAGES:
        if stage in per_stage:
            exposure[stage] = round(covered_share(per_stage[stage], covered), 10)
            unverified[stage] = round(per_stage[stage].get(UNVERIFIED, 0.0), 10)
        else:
            exposure[stage] = None
            unverified[stage] = None
    return exposure, unverified


def midstream_index(exposure: dict[str, float | None], weights: dict[str, Any]) -> float:
    """Stage-weighted mean exposure over the midstream stages in the chain (weights renormalised)."""
    present = {s: float(w) for s, w in weights.items() if exposure.get(s) is not None}
    total = sum(present.values())
    if total <= 0:
        return 0.0
    return round(sum(float(exposure[s] or 0.0) * w for s, w in present.items()) / total, 10)
