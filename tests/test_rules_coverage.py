"""Every shipped rule fires on a supplier built to trip it, and none fires on a clean one."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from feocscreen.api import screen
from feocscreen.models import ScreenConfig
from feocscreen.rules.load import load_rulebook

AS_OF = date(2026, 11, 28)
SUPPLIER_HEADERS = [
    "Supplier ID",
    "Supplier Name",
    "Country",
    "Stage",
    "Material",
    "DFARS Exception",
]
SOURCING_HEADERS = ["Supplier ID", "Stage", "Country", "Share %", "Upstream Supplier ID"]
OWNERSHIP_HEADERS = [
    "Entity",
    "Owner",
    "Owner Country",
    "Owner Type",
    "Equity %",
    "Voting %",
    "Board %",
    "Debt %",
    "Appoints Officer",
]
ALLIED = {"mining": "AU", "separation": "EE", "metal": "JP", "alloy": "JP", "magnet": "US"}
LISTED = {
    "SDN": "Listed Sanctioned Example Trading",
    "FTO": "Listed Terror Example Front",
    "1260H": "Listed Military Example Industries",
    "UFLPA": "Listed Forced Labour Example Works",
    "NDAA154": "Listed Battery Example Energy",
    "EL": "Listed Export Example Electronics",
}
LISTED_OWNER = "Listed Owner Example Holdings"

# supplier id -> (name, country, material, exception, chain overrides, ownership rows, expected rules)
CASES: dict[str, tuple[str, str, str, str | None, dict[str, str], list[list[Any]], set[str]]] = {
    "CLEAN": (
        "Clean Magnets",
        "US",
        "ndfeb",
        None,
        {},
        [["CLEAN", "Jane Doe", "US", "individual", 10, 10, 0, 0, "no"]],
        set(),
    ),
    **{
        f"L-{list_id}": (name, "US", "ndfeb", None, {}, [], set())
        for list_id, name in LISTED.items()
    },
    "OWNLIST": (
        "Owner Listed Magnets",
        "US",
        "ndfeb",
        None,
        {},
        [["OWNLIST", LISTED_OWNER, "US", "company", 5, None, None, None, None]],
        {"pfe-owner-listed"},
    ),
    "CNCO": (
        "Sino Magnets",
        "CN",
        "ndfeb",
        None,
        {},
        [],
        {"feoc-covered-jurisdiction", "pfe-foreign-controlled"},
    ),
    "GOV30": (
        "State Minority Magnets",
        "US",
        "ndfeb",
        None,
        {},
        [["GOV30", "State Commission", "CN", "government", 30, None, None, None, None]],
        {"feoc-covered-government-holding", "pfe-fie-single-sfe"},
    ),
    "AGG": (
        "Aggregate Magnets",
        "US",
        "ndfeb",
        None,
        {},
        [
            ["AGG", "Shenzhen First Capital", "CN", "company", 20, None, None, None, None],
            ["AGG", "Ningbo Second Capital", "CN", "company", 20, None, None, None, None],
        ],
        {"pfe-fie-aggregate-sfe"},
    ),
    "DEBT": (
        "Debt Magnets",
        "US",
        "ndfeb",
        None,
        {},
        [["DEBT", "Shenzhen Lender Co", "CN", "company", 0, None, None, 20, None]],
        {"pfe-fie-sfe-debt"},
    ),
    "OFFICER": (
        "Officer Magnets",
        "US",
        "ndfeb",
        None,
        {},
        [["OFFICER", "Shenzhen Board Co", "CN", "company", 5, None, None, None, "yes"]],
        {"pfe-fie-sfe-officer"},
    ),
    "ALLOYCN": (
        "Alloy China Magnets",
        "US",
        "ndfeb",
        None,
        {"alloy": "CN"},
        [],
        {"feoc-activity-midstream", "dfars-melted-produced-covered", "dfars-2027-chain-covered"},
    ),
    "UNVER": (
        "Unverified Magnets",
        "US",
        "ndfeb",
        None,
        {"alloy": "unknown"},
        [],
        {
            "feoc-midstream-unverified",
            "dfars-melted-produced-unverified",
            "dfars-2027-chain-unverified",
            "allied-midstream-unverified",
        },
    ),
    "EXC": (
        "Exception Magnets",
        "US",
        "ndfeb",
        "electronic_device",
        {},
        [],
        {"dfars-exception-declared"},
    ),
    "VNSEP": (
        "Vietnam Separation Magnets",
        "US",
        "ndfeb",
        None,
        {"separation": "VN"},
        [],
        {"allied-midstream-non-allied"},
    ),
    "SMCO": (
        "Cobalt Magnets",
        "US",
        "smco",
        None,
        {"mining": "VN"},
        [],
        {"allied-mining-non-allied", "allied-smco-recycled-feed"},
    ),
}
LIST_RULES = {
    "SDN": {"feoc-sdn-listed", "pfe-sfe-feoc-listed"},
    "FTO": {"feoc-fto-listed", "pfe-sfe-feoc-listed"},
    "1260H": {"pfe-sfe-1260h"},
    "UFLPA": {"pfe-sfe-uflpa"},
    "NDAA154": {"pfe-sfe-ndaa154"},
    "EL": {"feoc-restricted-party-listed"},
}


@pytest.fixture(scope="module")
def screened(tmp_path_factory) -> dict[str, Any]:
    from openpyxl import Workbook

    folder = tmp_path_factory.mktemp("coverage")
    book = Workbook()
    book.remove(book.active)
    suppliers = book.create_sheet("Suppliers")
    sourcing = book.create_sheet("Sourcing")
    ownership = book.create_sheet("Ownership")
    suppliers.append(SUPPLIER_HEADERS)
    sourcing.append(SOURCING_HEADERS)
    ownership.append(OWNERSHIP_HEADERS)
    for sid, (name, country, material, exception, overrides, owners, _) in CASES.items():
        suppliers.append([sid, name, country, "magnet", material, exception])
        for stage, where in {**ALLIED, **overrides}.items():
            sourcing.append([sid, stage, where, 100, None])
        for row in owners:
            ownership.append(row)
    path = folder / "coverage.xlsx"
    book.save(path)
    lists = folder / "lists.csv"
    lines = ["name,aliases,country,list,source_url,id"]
    lines += [
        f"{name},,US,{list_id},https://example.invalid/{list_id},T-{list_id}"
        for list_id, name in LISTED.items()
    ]
    lines.append(f"{LISTED_OWNER},,US,1260H,https://example.invalid/owner,T-OWNER")
    lists.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = screen(ScreenConfig(inputs=(path,), lists=(lists,), as_of=AS_OF))
    assert not result.data["validation"]["errors"], result.data["validation"]["errors"]
    return {s["supplier_id"]: s for s in result.data["suppliers"]}


def _fired(supplier: dict[str, Any]) -> set[str]:
    return {f["rule_id"] for f in supplier["findings"]}


@pytest.mark.parametrize("sid", sorted(CASES))
def test_each_case_fires_exactly_its_rules(screened, sid):
    expected = CASES[sid][-1]
    if sid.startswith("L-"):
        expected = LIST_RULES[sid[2:]]
    assert _fired(screened[sid]) == expected


def test_every_shipped_rule_is_exercised():
    fired = set().union(*(c[-1] for c in CASES.values()), *LIST_RULES.values())
    assert {r.id for r in load_rulebook().rules} == fired


def test_clean_supplier_has_every_prong_tested_and_false(screened):
    clean = screened["CLEAN"]
    assert clean["tier"] == "clear" and clean["score"] == 0
    assert clean["prongs"] and all(v is False for v in clean["prongs"].values()), clean["prongs"]


def test_listed_supplier_is_feoc_and_pfe(screened):
    sdn = screened["L-SDN"]
    assert sdn["feoc"] is True and sdn["pfe"] is True and sdn["tier"] == "critical"
    assert sdn["matches"] and sdn["matches"][0]["list"] == "SDN"
    finding = next(f for f in sdn["findings"] if f["rule_id"] == "feoc-sdn-listed")
    assert finding["entry"].startswith("SDN:")


def test_without_watchlists_listing_prongs_are_not_tested(make_workbook):
    path = make_workbook(suppliers=[["S1", "Plain Magnets", "US", "magnet", 1]])
    result = screen(ScreenConfig(inputs=(Path(path),), as_of=AS_OF))
    s1 = result.data["suppliers"][0]
    assert s1["prongs"]["feoc_sdn_listed"] is None
    assert s1["prongs"]["pfe_sfe_1260h"] is None
    assert "no-watchlist" in {w["code"] for w in result.data["validation"]["warnings"]}
