"""Ownership look-through over Portfolio frames: methods, measures, owner types, loops."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ownership_builders import graph

NAN = math.nan


def row(entity, owner, country, otype, equity=NAN, voting=NAN, board=NAN, debt=NAN, appoints=None):
    return (entity, owner, country, otype, equity, voting, board, debt, appoints)


CHAIN = [
    row("E", "Lion Pte", "SG", "company", 0.4),
    row("Lion Pte", "SASAC", "CN", "government", 0.6),
]


@pytest.mark.parametrize(
    ("method", "expected"), [("multiply", 0.24), ("majority_look_through", 0.4)]
)
def test_indirect_method_setting(method, expected):
    entity = graph(CHAIN, method).entity("E")
    assert entity.government["equity"] == (pytest.approx(expected), "CN")
    assert entity.to_dict()["paths"][0]["path"] == ["E", "Lion Pte", "SASAC"]


def test_measures_are_separate_and_the_highest_counts():
    entity = graph(
        [row("E", "Party Committee", "CN", "party_or_official", equity=0.05, board=0.3)]
    ).entity("E")
    assert entity.government["equity"][0] == pytest.approx(0.05)
    assert entity.government["board"][0] == pytest.approx(0.3)
    assert entity.covered_government == pytest.approx(0.3)


def test_paths_are_summed():
    entity = graph(
        [
            row("E", "SASAC", "CN", "government", 0.1),
            row("E", "Lion Pte", "SG", "company", 0.5),
            row("Lion Pte", "SASAC", "CN", "government", 0.3),
        ]
    ).entity("E")
    assert entity.government["equity"][0] == pytest.approx(0.25)
    assert len(entity.paths_for("equity", "CN")) == 2


def test_state_owned_without_rows_is_assumed_government_with_a_warning():
    g = graph([row("E", "Provincial Holding Co", "CN", "state_owned", 0.3)])
    assert g.entity("E").covered_government == pytest.approx(0.3)
    assert [w.code for w in g.warnings] == ["state-owned-assumed"]


def test_state_owned_with_rows_is_followed():
    g = graph(
        [
            row("E", "Provincial Holding Co", "CN", "state_owned", 0.5),
            row("Provincial Holding Co", "Provincial SASAC", "CN", "government", 0.4),
        ]
    )
    assert g.entity("E").covered_government == pytest.approx(0.2)
    assert g.warnings == []


def test_hong_kong_owner_is_covered_and_non_covered_government_is_not():
    assert graph([row("E", "HK Monetary Authority", "HK", "government", 0.3)]).entity(
        "E"
    ).covered_government == pytest.approx(0.3)
    assert (
        graph([row("E", "Temasek", "SG", "government", 0.9)]).entity("E").covered_government == 0.0
    )


def test_loops_terminate():
    g = graph(
        [
            row("E", "A Co", "SG", "company", 0.5),
            row("A Co", "B Co", "SG", "company", 0.5),
            row("B Co", "A Co", "SG", "company", 0.5),
            row("B Co", "SASAC", "CN", "government", 0.5),
        ]
    )
    assert g.entity("E").covered_government == pytest.approx(0.125)


def test_foreign_influence_tests():
    g = graph(
        [
            row("E", "Shenzhen A", "CN", "company", 0.2, debt=0.1, appoints=False),
            row("E", "Shenzhen B", "CN", "company", 0.2, debt=0.06, appoints=True),
            row("E", "Dutch Pension", "NL", "company", 0.6, debt=0.5, appoints=True),
        ]
    )
    entity = g.entity("E")
    assert entity.influence("single")[0] == pytest.approx(0.2)
    assert entity.influence("aggregate")[0] == pytest.approx(0.4)
    assert entity.influence("debt")[0] == pytest.approx(0.16)
    value, words, paths = entity.influence("officer")
    assert value == 1.0 and "Shenzhen B" in words and paths[0].names == ("E", "Shenzhen B")
    assert entity.controlled_holding()[0] == pytest.approx(0.4)


def test_listed_owner_is_an_sfe_and_missing_columns_are_not_tested():
    g = graph([row("E", "Listed Holdings", "SG", "company", 0.3)], listed={"Listed Holdings"})
    entity = g.entity("E")
    assert entity.influence("single")[0] == pytest.approx(0.3)
    assert entity.influence("debt")[0] is None
    assert entity.influence("officer")[0] is None


def test_controlled_intermediate_counts_in_full():
    g = graph(
        [
            row("E", "Cayman Holdco", "KY", "company", 0.6),
            row("Cayman Holdco", "Shenzhen Parent", "CN", "company", 0.8),
        ]
    )
    share, paths = g.entity("E").controlled_holding()
    assert share == pytest.approx(0.6)
    assert paths[0].names == ("E", "Cayman Holdco")


fractions = st.floats(0, 1, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4), fractions), min_size=1, max_size=8))
def test_holdings_are_fractions_and_majority_never_lowers(edges):
    names = ["E", "I1", "I2", "I3", "GOV"]
    rows = [
        row(
            names[a],
            names[b],
            "CN" if names[b] == "GOV" else "SG",
            "government" if names[b] == "GOV" else "company",
            w,
        )
        for a, b, w in edges
        if names[a] != names[b]
    ]
    if not rows:
        return
    multiply = graph(rows).entity("E").covered_government or 0.0
    majority = graph(rows, "majority_look_through").entity("E").covered_government or 0.0
    assert 0 <= multiply <= 1 and 0 <= majority <= 1
    assert majority >= multiply - 1e-9


def test_rows_without_holding_figures_leave_the_government_test_untested():
    from feocscreen.rules.kinds import (
        ForeignControlled,
        ForeignInfluenced,
        GovernmentHolding,
        Subject,
    )

    entity = graph([row("E", "Shenzhen Lender Co", "CN", "company", debt=0.2)]).entity("E")
    subject = Subject(
        supplier={"supplier_id": "E"},
        chain=(),
        stage_country={},
        group_members=lambda _g, _c: frozenset(),
        stage_evidence=lambda _s, _c: ((), ()),
        jurisdiction_evidence=lambda _c: (),
        ownership=entity,
        matches=None,
    )
    outcome = GovernmentHolding({"at_least": 0.25}).evaluate(subject)
    assert outcome.value is None and "no equity" in outcome.note
    assert ForeignControlled({}).evaluate(subject).value is None
    assert ForeignInfluenced({"test": "single"}).evaluate(subject).value is None
    assert ForeignInfluenced({"test": "debt"}).evaluate(subject).value is True  # 20 % of debt
