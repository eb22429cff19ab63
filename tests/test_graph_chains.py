"""Chain propagation over Portfolio frames: inheritance, remainders, loops and invariants."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feocscreen.graph import build_chains, midstream_index, positions, stage_figures
from feocscreen.models import STAGES
from feocscreen.portfolio import Portfolio

COVERED = frozenset({"CN", "RU", "IR", "KP", "HK", "MO"})


def portfolio(suppliers: dict[str, str], rows: list[tuple[Any, ...]]) -> Portfolio:
    """suppliers: id -> supplies_stage; rows: (supplier, stage, country, share, upstream)."""
    sup = pd.DataFrame(
        {
            "supplier_id": list(suppliers),
            "supplies_stage": list(suppliers.values()),
            "_file": "t.xlsx",
            "_sheet": "Suppliers",
            "_row": range(2, 2 + len(suppliers)),
        }
    )
    src = pd.DataFrame(
        rows or None,
        columns=["supplier_id", "stage", "country", "share", "upstream_supplier_id"],
    )
    src["_file"] = "t.xlsx"
    src["_sheet"] = "Sourcing"
    src["_row"] = range(2, 2 + len(src))
    return Portfolio(suppliers=sup, sourcing=src)


def test_three_level_inheritance_with_paths():
    chains = build_chains(
        portfolio(
            {"SEP": "separation", "ALY": "alloy", "MAG": "magnet"},
            [
                ("SEP", "mining", "CN", 1.0, None),
                ("SEP", "separation", "CN", 1.0, None),
                ("ALY", "metal", "JP", 1.0, None),
                ("ALY", "alloy", "JP", 1.0, None),
                ("ALY", "separation", None, 0.5, "SEP"),
                ("ALY", "separation", "EE", 0.5, None),
                ("MAG", "magnet", "US", 1.0, None),
                ("MAG", "alloy", None, 1.0, "ALY"),
            ],
        )
    )
    assert chains.stage_country["MAG"]["separation"] == {"CN": 0.5, "EE": 0.5}
    assert chains.stage_country["MAG"]["mining"] == {"CN": 0.5, "unverified": 0.5}
    assert ("MAG", "ALY", "SEP") in chains.supplier("MAG").paths[("separation", "CN")]
    exposure, unverified = stage_figures(chains, "MAG", COVERED)
    assert exposure == {"mining": 0.5, "separation": 0.5, "metal": 0.0, "alloy": 0.0, "magnet": 0.0}
    assert unverified["mining"] == 0.5
    assert chains.issues == []


def test_recycling_stands_at_the_mining_position():
    chains = build_chains(portfolio({"M": "magnet"}, [("M", "recycling", "US", 1.0, None)]))
    assert chains.stage_country["M"]["mining"] == {"US": 1.0}
    assert chains.stage_country["M"]["separation"] == {"unverified": 1.0}


def test_loop_is_reported_and_counts_as_unverified():
    chains = build_chains(
        portfolio(
            {"A": "alloy", "B": "alloy", "C": "magnet"},
            [
                ("A", "alloy", None, 1.0, "B"),
                ("B", "alloy", None, 1.0, "A"),
                ("C", "alloy", None, 1.0, "A"),
                ("C", "magnet", "US", 1.0, None),
            ],
        )
    )
    loops = [i for i in chains.issues if i.code == "cycle"]
    assert len(loops) == 1 and "A → B → A" in loops[0].message
    assert chains.stage_country["A"]["alloy"] == {"unverified": 1.0}
    assert chains.stage_country["C"]["alloy"] == {"unverified": 1.0}
    assert chains.stage_country["C"]["magnet"] == {"US": 1.0}


def test_link_to_a_supplier_not_screened_and_rows_outside_the_chain_are_reported():
    chains = build_chains(
        portfolio(
            {"A": "alloy"},
            [("A", "alloy", None, 1.0, "GONE"), ("A", "magnet", "CN", 1.0, None)],
        )
    )
    codes = sorted(i.code for i in chains.issues)
    assert codes == ["stage-outside-chain", "upstream-not-screened"]
    assert chains.stage_country["A"]["alloy"] == {"unverified": 1.0}
    assert "magnet" not in chains.stage_country["A"]


def test_midstream_index_renormalises_over_the_chain():
    weights = {"separation": 0.3, "metal": 0.2, "alloy": 0.2, "magnet": 0.3}
    separator = {"mining": 1.0, "separation": 0.5, "metal": None, "alloy": None, "magnet": None}
    assert midstream_index(separator, weights) == 0.5
    miner = {"mining": 1.0, "separation": None, "metal": None, "alloy": None, "magnet": None}
    assert midstream_index(miner, weights) == 0.0
    full = {"mining": 0.0, "separation": 1.0, "metal": 0.0, "alloy": 0.0, "magnet": 1.0}
    assert midstream_index(full, weights) == pytest.approx(0.6)


COUNTRIES = st.sampled_from(["CN", "US", "JP", "AU", None])


@st.composite
def networks(draw):
    n = draw(st.integers(1, 6))
    ids = [f"S{i}" for i in range(n)]
    tops = {sid: draw(st.sampled_from(STAGES)) for sid in ids}
    rows = []
    for index, sid in enumerate(ids):
        for pos in range(STAGES.index(tops[sid]) + 1):
            budget = 1.0
            for _ in range(draw(st.integers(0, 3))):
                share = draw(st.floats(0, budget, allow_nan=False))
                budget -= share
                upstream = None
                if index > 0 and draw(st.booleans()):
                    upstream = ids[draw(st.integers(0, index - 1))]  # only earlier ids: no loops
                country = None if upstream else draw(COUNTRIES)
                rows.append((sid, STAGES[pos], country, share, upstream))
    return tops, rows


@settings(max_examples=60, deadline=None)
@given(networks())
def test_every_chain_stage_sums_to_one_and_nothing_is_negative(network):
    tops, rows = network
    chains = build_chains(portfolio(tops, rows))
    for sid, top in tops.items():
        assert list(chains.stage_country[sid]) == list(STAGES[: STAGES.index(top) + 1])
        for stage, shares in chains.stage_country[sid].items():
            assert all(v >= 0 for v in shares.values())
            assert sum(shares.values()) == pytest.approx(1.0, abs=1e-6), (sid, stage, shares)
        exposure, unverified = stage_figures(chains, sid, COVERED)
        for stage in STAGES:
            if exposure[stage] is None:
                assert unverified[stage] is None
            else:
                assert 0 <= exposure[stage] + unverified[stage] <= 1 + 1e-9


@settings(max_examples=60, deadline=None)
@given(networks())
def test_the_distribution_rows_are_grouped_by_supplier_in_id_order(network):
    """The summary takes each distribution row's supplier position from the chains
    instead of looking its id up: the two agree."""
    tops, rows = network
    chains = build_chains(portfolio(tops, rows))
    ids = chains.distribution["supplier_id"].to_numpy(dtype=object)
    assert chains.distribution_positions().tolist() == positions(chains.ids, ids).tolist()


@st.composite
def interleaved_networks(draw):
    """Suppliers with rows whose shares make rounding show (0.1 + 0.1 + 0.1 + 0.5), links
    anywhere (loops too), and one interleaving of the suppliers' rows in the sheet: each
    supplier's own rows stay in their order."""
    n = draw(st.integers(2, 6))
    ids = [f"S{i}" for i in range(n)]
    tops = {sid: draw(st.sampled_from(STAGES)) for sid in ids}
    rows = []
    for sid in ids:
        for _ in range(draw(st.integers(0, 6))):
            pos = draw(st.integers(0, STAGES.index(tops[sid])))
            share = draw(st.sampled_from([0.1, 0.1, 0.2, 0.3, 0.5, 0.7, 1 / 3]))
            upstream = draw(st.sampled_from([None, None, *ids]))
            country = None if upstream else draw(COUNTRIES)
            rows.append((sid, STAGES[pos], country, share, upstream))
    slots = draw(st.permutations(range(len(rows))))
    # the suppliers take the slots in the drawn order; each fills its slots with its rows
    # in their own order
    owners = sorted(range(len(rows)), key=lambda k: slots[k])
    queue = {sid: [k for k in range(len(rows)) if rows[k][0] == sid] for sid in ids}
    order = [queue[rows[k][0]].pop(0) for k in owners]
    return tops, rows, order


@settings(max_examples=150, deadline=None)
@given(interleaved_networks())
def test_a_chain_does_not_depend_on_where_other_suppliers_rows_are(network):
    """Shares are summed per stage in each supplier's row order, whatever rows of other
    suppliers lie between: the same chains to the last bit, the same rows behind them."""
    tops, rows, order = network
    grouped = build_chains(portfolio(tops, rows))
    mixed = build_chains(portfolio(tops, [rows[k] for k in order]))
    assert mixed.distribution.to_dict("list") == grouped.distribution.to_dict("list")
    for sid in tops:
        one, other = grouped.supplier(sid), mixed.supplier(sid)
        assert other.stage_country == one.stage_country
        assert other.paths == one.paths
        moved = {key: [order[r] for r in found] for key, found in other.evidence_rows.items()}
        assert moved == {key: list(found) for key, found in one.evidence_rows.items()}
