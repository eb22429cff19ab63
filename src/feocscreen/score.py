"""Scores, tiers and the portfolio summary (DESIGN "Scores"). Pure.

score = 100·(1 − ∏(1 − wᵢ)) over active unwaived findings, wᵢ the severity
weight from rules/scoring.yaml: bounded in [0, 100), monotone in the findings,
and each finding's contribution is its marginal share in a fixed order (worst
first), so the contributions add up to the score.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .graph import UNVERIFIED, positions
from .models import MIDSTREAM, SEVERITIES, STAGES, severity_rank


def counts(finding: Mapping[str, Any]) -> bool:
    """Whether a finding counts toward score and tier: active and not waived."""
    return finding.get("status") == "active" and not finding.get("waived")


def score_findings(findings: list[dict[str, Any]], weights: Mapping[str, float]) -> float:
    """Set each finding's ``contribution`` and return the supplier's score (0–100)."""
    return _scored(findings, weights)[0]


def score_and_tier(
    findings: list[dict[str, Any]],
    weights: Mapping[str, float],
    tiers: Mapping[str, str],
    midstream_unverified: bool = False,
) -> tuple[float, str]:
    """``score_findings`` and ``tier`` in one pass over the findings."""
    score, worst = _scored(findings, weights)
    return score, _tier_of(worst, tiers, midstream_unverified)


def _scored(findings: list[dict[str, Any]], weights: Mapping[str, float]) -> tuple[float, int]:
    """The score, contributions set, and the worst severity rank counted (-1 for none)."""
    counted = []
    for finding in findings:
        finding["contribution"] = 0.0
        if counts(finding):
            counted.append((-severity_rank(finding["severity"]), finding["finding_id"], finding))
    counted.sort(key=_first_two)
    shares, score = _contributions(tuple([float(weights[f["severity"]]) for _, _, f in counted]))
    for (_, _, finding), share in zip(counted, shares, strict=True):
        finding["contribution"] = share
    return score, -counted[0][0] if counted else -1


_first_two = operator.itemgetter(0, 1)  # rank and finding id: the finding itself never compared
_CONTRIBUTIONS: dict[tuple[float, ...], tuple[list[float], float]] = {}
_CONTRIBUTIONS_KEPT = 4096  # distinct weight sequences; a portfolio has a few hundred


def _contributions(weights: tuple[float, ...]) -> tuple[list[float], float]:
    """The contributions of findings with these weights, in scoring order, and the score.

    They depend on nothing else, and suppliers repeat the same few sequences, so each is
    worked out once (rounding is most of the cost)."""
    found = _CONTRIBUTIONS.get(weights)
    if found is None:
        shares = []
        remaining = 1.0
        for weight in weights:
            shares.append(round(100.0 * remaining * weight, 6))
            remaining *= 1.0 - weight
        if len(_CONTRIBUTIONS) >= _CONTRIBUTIONS_KEPT:
            _CONTRIBUTIONS.clear()
        found = _CONTRIBUTIONS[weights] = (shares, round(100.0 * (1.0 - remaining), 6))
    return found


def tier(
    findings: list[dict[str, Any]],
    tiers: Mapping[str, str],
    midstream_unverified: bool = False,
) -> str:
    """Worst active unwaived severity mapped to a tier; never clear with an unverified midstream stage."""
    worst = max((severity_rank(f["severity"]) for f in findings if counts(f)), default=-1)
    return _tier_of(worst, tiers, midstream_unverified)


def _tier_of(worst: int, tiers: Mapping[str, str], midstream_unverified: bool) -> str:
    result = "clear" if worst < 0 else tiers[SEVERITIES[len(SEVERITIES) - 1 - worst]]
    if result == "clear" and midstream_unverified:
        return "low"  # DESIGN: unknown is not clean
    return result


def hhi(shares: Mapping[str, float]) -> float | None:
    """Herfindahl–Hirschman index (0–10,000) of the verified country shares, renormalised."""
    verified = {c: s for c, s in shares.items() if c != UNVERIFIED and s > 0}
    total = sum(verified.values())
    if total <= 0:
        return None
    return round(sum((100.0 * s / total) ** 2 for s in verified.values()), 4)


class SummaryFigures:
    """The per-supplier figures the portfolio summary needs, gathered one supplier at a time
    as compact columns (a screening run streams its suppliers and keeps only these)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.tiers: list[str] = []
        self.feoc_pfe: list[str] = []
        # per supplier: spend, exposure at each stage, unverified at each stage, midstream;
        # the rows added one at a time, then the earlier ones as float tables (see pack)
        self.rows: list[tuple[Any, ...]] = []
        self.tables: list[np.ndarray] = []

    def add(self, supplier: Mapping[str, Any]) -> None:
        sid = supplier["supplier_id"]
        self.ids.append(sid)
        self.tiers.append(supplier["tier"])
        if supplier.get("feoc") or supplier.get("pfe"):
            self.feoc_pfe.append(sid)
        exposure, unverified = supplier["stage_exposure"], supplier["stage_unverified"]
        self.rows.append(
            (
                supplier.get("annual_spend_usd"),
                *[exposure[stage] for stage in STAGES],
                *[unverified[stage] for stage in STAGES],
                supplier["midstream_exposure"],
            )
        )

    @classmethod
    def of(cls, suppliers: Iterable[Mapping[str, Any]]) -> SummaryFigures:
        """The figures of these suppliers, in their order."""
        figures = cls()
        for supplier in suppliers:
            figures.add(supplier)
        return figures

    def pack(self) -> None:
        """Turn the rows added so far into a float table, NaN for a blank: a worker packs
        its block's figures before sending them, so the parent need not convert 175k rows
        at the end of a run at Excel's row limit."""
        if self.rows:
            self.tables.append(np.array(self.rows, dtype="float64"))
            self.rows = []

    def extend(self, other: SummaryFigures) -> None:
        """Add the suppliers `other` holds, after those already here."""
        self.ids += other.ids
        self.tiers += other.tiers
        self.feoc_pfe += other.feoc_pfe
        if other.tables:
            self.pack()
            self.tables += other.tables
        self.rows += other.rows

    def _columns(self) -> dict[str, np.ndarray]:
        """The figures as float columns, NaN for a blank."""
        width = 2 + 2 * len(STAGES)
        self.pack()
        table = (
            np.concatenate(self.tables) if self.tables else np.empty((0, width), dtype="float64")
        )
        columns = {"spend": table[:, 0], "midstream": table[:, -1]}
        for index, stage in enumerate(STAGES):
            columns[f"exposure:{stage}"] = table[:, 1 + index]
            columns[f"unverified:{stage}"] = table[:, 1 + len(STAGES) + index]
        return columns

    def summary(
        self,
        distribution: pd.DataFrame,
        covered_origin: frozenset[str],
        not_screened: int,
        supplier_positions: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """DESIGN's summary block plus the report's stage × country matrix and midstream index.

        ``distribution`` holds supplier_id, pos, country, share for every screened supplier;
        ``supplier_positions``, when known, each of its rows' supplier as a position in the
        ids here (else they are looked up). Spend-weighted figures use suppliers that
        declared spend; without any, count-based.
        """
        ids = self.ids
        columns = self._columns()
        spend = columns["spend"]
        has_spend = ~np.isnan(spend) & (spend > 0)
        total_spend = float(spend[has_spend].sum())
        by_tier = {t: 0 for t in ("critical", "high", "medium", "low", "clear")}
        for name in self.tiers:
            by_tier[name] += 1
        by_tier["not_screened"] = not_screened

        stage_exposure: dict[str, Any] = {}
        for stage in STAGES:
            values = columns[f"exposure:{stage}"]
            unverified = columns[f"unverified:{stage}"]
            in_chain = ~np.isnan(values)
            weighted = in_chain & has_spend
            w = spend[weighted]
            stage_exposure[stage] = {
                "suppliers": int(in_chain.sum()),
                "count_based": _round(values[in_chain].mean()) if in_chain.any() else None,
                "spend_weighted": _round((values[weighted] * w).sum() / w.sum())
                if weighted.any()
                else None,
                "unverified_count_based": _round(unverified[in_chain].mean())
                if in_chain.any()
                else None,
                "unverified_spend_weighted": _round((unverified[weighted] * w).sum() / w.sum())
                if weighted.any()
                else None,
                "spend_coverage": _round(weighted.sum() / in_chain.sum())
                if in_chain.any()
                else None,
            }

        midstream = columns["midstream"]
        # DFARS 2027 chain test (``passes_2027``): nothing covered or unverified at any stage
        passing_mask = np.ones(len(ids), dtype=bool)
        for stage in STAGES:
            exposure = columns[f"exposure:{stage}"]
            in_chain = ~np.isnan(exposure)
            clean = (exposure <= 1e-12) & (np.nan_to_num(columns[f"unverified:{stage}"]) <= 1e-12)
            passing_mask &= ~in_chain | clean
        flagged = set(self.feoc_pfe)
        feoc_pfe_mask = np.fromiter((sid in flagged for sid in ids), dtype=bool, count=len(ids))

        # Stage × country matrix: spend-weighted when any spend is declared, else each
        # supplier equal. Suppliers and countries as integer codes: one pass per stage.
        weights = np.where(has_spend, spend, 0.0) if has_spend.any() else np.ones(len(ids))
        supplier = (
            supplier_positions
            if supplier_positions is not None
            else positions(ids, distribution["supplier_id"].to_numpy(dtype=object))
        )
        row_weight = np.where(supplier >= 0, weights[supplier], 0.0)
        country, countries = pd.factorize(distribution["country"].to_numpy(dtype=object))
        pos = distribution["pos"].to_numpy()
        weighted_share = distribution["share"].to_numpy(dtype="float64") * row_weight
        matrix: dict[str, dict[str, float]] = {}
        hhi_by_stage: dict[str, float | None] = {}
        for index, stage in enumerate(STAGES):
            at = (pos == index) & (row_weight > 0) & (country >= 0)  # a blank country: none
            present = np.zeros(len(ids), dtype=bool)
            present[supplier[at]] = True
            denominator = weights[present].sum()
            if denominator <= 0:
                matrix[stage] = {}
                hhi_by_stage[stage] = None
                continue
            totals = np.bincount(country[at], weights=weighted_share[at], minlength=len(countries))
            shares = {str(countries[c]): v / denominator for c, v in enumerate(totals.tolist())}
            matrix[stage] = {c: round(float(v), 10) for c, v in sorted(shares.items()) if v > 0}
            hhi_by_stage[stage] = hhi(matrix[stage])

        return {
            "by_tier": by_tier,
            "suppliers": len(ids),
            "stage_exposure": stage_exposure,
            "spend_coverage": {
                "suppliers_with_spend": int(has_spend.sum()),
                "share_of_suppliers": _round(has_spend.mean()) if ids else None,
                "total_spend_usd": _round(total_spend),
            },
            "spend_feoc_pfe": _spend_block(spend, has_spend, feoc_pfe_mask, total_spend),
            "spend_passing_2027": _spend_block(spend, has_spend, passing_mask, total_spend),
            "hhi_by_stage": hhi_by_stage,
            "stage_country_share": matrix,
            "weighting": "spend" if has_spend.any() else "count",
            "portfolio_midstream_exposure": _round(
                (midstream[has_spend] * spend[has_spend]).sum() / total_spend
            )
            if total_spend > 0
            else (_round(midstream.mean()) if ids else None),
        }


def portfolio_summary(
    suppliers: Iterable[Mapping[str, Any]],
    distribution: pd.DataFrame,
    covered_origin: frozenset[str],
    not_screened: int,
) -> dict[str, Any]:
    """The portfolio summary of screened suppliers (see ``SummaryFigures.summary``)."""
    return SummaryFigures.of(suppliers).summary(distribution, covered_origin, not_screened)


def passes_2027(supplier: Mapping[str, Any]) -> bool:
    """DFARS 2027 chain test on the data: zero covered and zero unverified share at every stage."""
    stages = [s for s in STAGES if supplier["stage_exposure"][s] is not None]
    return all(
        (supplier["stage_exposure"][s] or 0) <= 1e-12
        and (supplier["stage_unverified"][s] or 0) <= 1e-12
        for s in stages
    )


def midstream_unverified(supplier_unverified: Mapping[str, float | None]) -> bool:
    return any((supplier_unverified.get(s) or 0) > 1e-12 for s in MIDSTREAM)


def _spend_block(
    spend: np.ndarray, has_spend: np.ndarray, members: np.ndarray, total: float
) -> dict[str, Any]:
    """Spend and count of the suppliers `members` marks (a mask over ``spend``)."""
    chosen = spend[has_spend & members]
    usd = float(chosen.sum())
    return {
        "suppliers": int(members.sum()),
        "usd": _round(usd),
        "share": _round(usd / total) if total > 0 else None,
    }


def _round(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if np.isnan(number):
        return None
    return round(number, 10)
