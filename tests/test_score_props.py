"""Scores and tiers: bounded, monotone, contributions add up; HHI; the 2027 pass test."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feocscreen.graph import midstream_index
from feocscreen.models import SEVERITIES, STAGES
from feocscreen.rules.load import load_rulebook
from feocscreen.score import (
    hhi,
    passes_2027,
    portfolio_summary,
    score_and_tier,
    score_findings,
    tier,
)

SCORING = load_rulebook(("builtin:feoc",)).scoring
WEIGHTS = SCORING["severity_weights"]
TIERS = SCORING["tiers"]

findings_strategy = st.lists(
    st.tuples(st.sampled_from(SEVERITIES), st.sampled_from(["active", "upcoming"]), st.booleans()),
    max_size=12,
)


def make(specs):
    return [
        {
            "finding_id": f"f-{i:016x}",
            "severity": severity,
            "status": status,
            "waived": {"by": "a", "why": "b", "until": "2030-01-01"} if waived else None,
        }
        for i, (severity, status, waived) in enumerate(specs)
    ]


@settings(max_examples=200, deadline=None)
@given(findings_strategy, st.sampled_from(SEVERITIES))
def test_score_is_bounded_monotone_and_explained(specs, extra):
    findings = make(specs)
    score = score_findings(findings, WEIGHTS)
    assert 0 <= score < 100
    assert sum(f["contribution"] for f in findings) == pytest.approx(score, abs=1e-4)
    for f in findings:
        if f["status"] != "active" or f["waived"]:
            assert f["contribution"] == 0
    more = make([*specs, (extra, "active", False)])
    assert score_findings(more, WEIGHTS) >= score - 1e-9


@settings(max_examples=200, deadline=None)
@given(findings_strategy, st.booleans())
def test_score_and_tier_in_one_pass_agree_with_each_alone(specs, unverified):
    alone, together = make(specs), make(specs)
    expected = (score_findings(alone, WEIGHTS), tier(alone, TIERS, unverified))
    assert score_and_tier(together, WEIGHTS, TIERS, unverified) == expected
    assert together == alone  # the same contributions set


shares = st.none() | st.floats(0, 1) | st.sampled_from([0.0, 0.1, 0.2, 1 / 3, 0.7])


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries({stage: shares for stage in STAGES}),
    st.dictionaries(
        st.sampled_from(STAGES),
        st.integers(0, 3) | st.floats(0, 1) | st.sampled_from([0.15, 0.2, 0.35]),
        max_size=5,
    ),
)
def test_midstream_index_is_the_renormalised_weighted_mean(exposure, weights):
    """The stage-weighted mean over the stages in the chain, to the last digit as the
    formula written out reads (weights in their order, each stage's share times its weight)."""
    present = {s: float(w) for s, w in weights.items() if exposure.get(s) is not None}
    total = sum(present.values())
    expected = (
        0.0
        if total <= 0
        else round(sum(float(exposure[s] or 0.0) * w for s, w in present.items()) / total, 10)
    )
    assert midstream_index(exposure, weights) == expected


def test_score_formula_and_tier():
    findings = make(
        [("high", "active", False), ("medium", "active", False), ("critical", "upcoming", False)]
    )
    assert score_findings(findings, WEIGHTS) == pytest.approx(100 * (1 - (1 - 0.6) * (1 - 0.3)))
    assert tier(findings, TIERS) == "high"
    assert tier(make([("critical", "active", True)]), TIERS) == "clear"
    assert tier(make([("info", "active", False)]), TIERS) == "clear"
    assert tier(make([]), TIERS, midstream_unverified=True) == "low"


def test_hhi():
    assert hhi({"CN": 1.0}) == 10000
    assert hhi({"CN": 0.5, "AU": 0.5}) == 5000
    assert hhi({"CN": 0.5, "unverified": 0.5}) == 10000  # over verified shares only
    assert hhi({"unverified": 1.0}) is None


def test_passes_2027_needs_zero_covered_and_zero_unverified():
    base = {"mining": 0.0, "separation": 0.0, "metal": None, "alloy": None, "magnet": None}
    assert passes_2027({"stage_exposure": base, "stage_unverified": base})
    assert not passes_2027({"stage_exposure": {**base, "mining": 0.01}, "stage_unverified": base})
    assert not passes_2027(
        {"stage_exposure": base, "stage_unverified": {**base, "separation": 0.2}}
    )


SHARE = st.one_of(st.just(0.0), st.just(1e-13), st.floats(0.0, 1.0))


@st.composite
def supplier_figures(draw, index: int):
    top = draw(st.integers(0, len(STAGES) - 1))
    exposure = {s: (draw(SHARE) if i <= top else None) for i, s in enumerate(STAGES)}
    unverified = {s: (draw(SHARE) if i <= top else None) for i, s in enumerate(STAGES)}
    return {
        "supplier_id": f"S{index:04d}",
        "annual_spend_usd": draw(st.one_of(st.none(), st.floats(0, 1e9))),
        "tier": draw(st.sampled_from(["critical", "high", "medium", "low", "clear"])),
        "feoc": draw(st.booleans()),
        "pfe": False,
        "stage_exposure": exposure,
        "stage_unverified": unverified,
        "midstream_exposure": draw(st.floats(0.0, 1.0)),
    }


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_summary_counts_agree_with_the_per_supplier_tests(data):
    """The summary works on columns; its counts equal the per-supplier definitions."""
    n = data.draw(st.integers(0, 12))
    suppliers = [data.draw(supplier_figures(i)) for i in range(n)]
    empty = pd.DataFrame({"supplier_id": [], "pos": [], "country": [], "share": []})
    summary = portfolio_summary(suppliers, empty, frozenset({"CN"}), 0)
    assert summary["spend_passing_2027"]["suppliers"] == sum(passes_2027(s) for s in suppliers)
    assert summary["spend_feoc_pfe"]["suppliers"] == sum(s["feoc"] or s["pfe"] for s in suppliers)
    assert sum(summary["by_tier"].values()) == n
