"""Law-derived screening cases (issue 3, "Done means"), each a real workbook through the public API.

Every expected figure follows from the regulation fact sheet: covered nations CN, RU, IR, KP
(HK/MO as China by default), DOE's 25 % covered-government test, IRC 7701(a)(51)'s
foreign-controlled (> 50 %) and foreign-influenced (single SFE ≥ 25 %) tests, and DFARS
225.7018's alloy/magnet test now and mine-to-magnet test from 2027-01-01.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from feocscreen.api import screen
from feocscreen.models import ScreenConfig

TODAY = date(2026, 11, 28)
IN_2027 = date(2027, 3, 1)
SUPPLIER_HEADERS = [
    "Supplier ID",
    "Supplier Name",
    "Country",
    "Stage",
    "Supplies Stage",
    "Annual Spend (USD)",
]
OWNERSHIP_HEADERS = ["Entity", "Owner", "Owner Country", "Owner Type", "Equity %"]
ALLIED_CHAIN = {"mining": "AU", "separation": "EE", "metal": "JP", "alloy": "JP", "magnet": "US"}


def chain_rows(supplier_id: str, countries: dict[str, str]) -> list[list[Any]]:
    return [[supplier_id, stage, country, 100, None] for stage, country in countries.items()]


def run(
    make_workbook: Any,
    suppliers: list[list[Any]],
    sourcing: list[list[Any]] | None = None,
    ownership: list[list[Any]] | None = None,
    as_of: date = TODAY,
    rules: tuple[str, ...] = (),
) -> dict[str, dict[str, Any]]:
    path = make_workbook(
        suppliers=suppliers,
        sourcing=sourcing,
        ownership=ownership,
        supplier_headers=SUPPLIER_HEADERS,
        ownership_headers=OWNERSHIP_HEADERS,
    )
    result = screen(ScreenConfig(inputs=(Path(path),), as_of=as_of, rules=rules))
    assert not result.data["validation"]["errors"], result.data["validation"]["errors"]
    return {s["supplier_id"]: s for s in result.data["suppliers"]}


def active(supplier: dict[str, Any]) -> set[str]:
    return {f["rule_id"] for f in supplier["findings"] if f["status"] == "active"}


def upcoming(supplier: dict[str, Any]) -> set[str]:
    return {f["rule_id"] for f in supplier["findings"] if f["status"] == "upcoming"}


def test_fully_allied_chain_is_clear_with_zero_exposure(make_workbook):
    out = run(
        make_workbook,
        [["M1", "Allied Magnets", "US", "magnet", None, 100]],
        chain_rows("M1", ALLIED_CHAIN),
    )
    m1 = out["M1"]
    assert m1["tier"] in ("clear", "low")
    assert m1["stage_exposure"] == {s: 0.0 for s in ALLIED_CHAIN}
    assert m1["midstream_exposure"] == 0.0
    assert (m1["feoc"], m1["pfe"]) == (False, False)
    assert not active(m1) and not upcoming(m1)
    assert m1["stage_allied"]["separation"]["msp"] == 1.0  # Estonia: MSP member
    assert m1["stage_allied"]["separation"]["g7"] == 0.0
    assert all(m1["stage_allied"][stage]["allied"] == 1.0 for stage in ALLIED_CHAIN)


def test_all_china_chain_is_feoc_and_critical(make_workbook):
    china = {stage: "CN" for stage in ALLIED_CHAIN}
    out = run(
        make_workbook, [["C1", "Sino Magnets", "CN", "magnet", None, 100]], chain_rows("C1", china)
    )
    c1 = out["C1"]
    assert c1["feoc"] is True and c1["pfe"] is True
    assert c1["prongs"]["feoc_covered_jurisdiction"] is True
    assert c1["tier"] in ("critical", "high")
    assert c1["stage_exposure"] == {s: 1.0 for s in ALLIED_CHAIN}
    assert c1["midstream_exposure"] == 1.0
    assert "dfars-melted-produced-covered" in active(c1)


ALLOY_MAKER = ["A1", "Allied Alloys KK", "JP", "alloy", None, 100]
ALLOY_CHAIN = {"mining": "AU", "separation": "CN", "metal": "CN", "alloy": "JP"}


@pytest.mark.parametrize(("as_of", "dfars_status"), [(TODAY, "upcoming"), (IN_2027, "active")])
def test_allied_alloy_maker_with_chinese_separation_fails_dfars_only_from_2027(
    make_workbook, as_of, dfars_status
):
    out = run(make_workbook, [ALLOY_MAKER], chain_rows("A1", ALLOY_CHAIN), as_of=as_of)
    a1 = out["A1"]
    assert a1["stage_exposure"] == {
        "mining": 0.0,
        "separation": 1.0,
        "metal": 1.0,
        "alloy": 0.0,
        "magnet": None,
    }
    assert a1["feoc"] is False and a1["pfe"] is False
    assert not any(r.startswith("dfars-melted") for r in active(a1))  # passes DFARS today
    chain_2027 = {
        f["stage"]: f["status"]
        for f in a1["findings"]
        if f["rule_id"] == "dfars-2027-chain-covered"
    }
    assert chain_2027 == {"separation": dfars_status, "metal": dfars_status}
    # DOE activity prong: covered midstream processing is an active finding of at least medium.
    assert "feoc-activity-midstream" in active(a1)


def test_magnet_maker_inherits_its_alloy_suppliers_chain(make_workbook):
    suppliers = [ALLOY_MAKER, ["M1", "Allied Magnets", "US", "magnet", None, 100]]
    sourcing = [
        *chain_rows("A1", ALLOY_CHAIN),
        ["M1", "magnet", "US", 100, None],
        ["M1", "alloy", None, 100, "A1"],
    ]
    m1 = run(make_workbook, suppliers, sourcing)["M1"]
    assert m1["stage_exposure"] == {
        "mining": 0.0,
        "separation": 1.0,
        "metal": 1.0,
        "alloy": 0.0,
        "magnet": 0.0,
    }
    assert m1["stage_country"]["alloy"] == {"JP": 1.0}
    finding = next(
        f
        for f in m1["findings"]
        if f["rule_id"] == "dfars-2027-chain-covered" and f["stage"] == "separation"
    )
    assert finding["status"] == "upcoming"
    assert {"path": ["M1", "A1"]} in finding["evidence"]
    assert any(e.get("sheet") == "Sourcing" and e.get("cell") for e in finding["evidence"])


def test_sixty_forty_split_upstream_gives_sixty_percent_exposure(make_workbook):
    suppliers = [ALLOY_MAKER, ["M2", "Split Magnets", "US", "magnet", None, 100]]
    sourcing = [
        *chain_rows("A1", ALLOY_CHAIN),
        ["M2", "magnet", "US", 100, None],
        ["M2", "alloy", None, 60, "A1"],
        ["M2", "alloy", "JP", 40, None],
    ]
    m2 = run(make_workbook, suppliers, sourcing)["M2"]
    assert m2["stage_exposure"]["separation"] == pytest.approx(0.6)
    assert m2["stage_exposure"]["metal"] == pytest.approx(0.6)
    assert m2["stage_unverified"]["separation"] == pytest.approx(
        0.4
    )  # the other 40 % is undeclared
    assert m2["stage_country"]["alloy"] == {"JP": 1.0}


@pytest.mark.parametrize(
    ("country", "exposure"),
    [
        ("Republic of Korea", 0.0),
        ("North Korea", 1.0),
        ("Hong Kong", 1.0),
        ("Taiwan", 0.0),
        ("Viet Nam", 0.0),
    ],
)
def test_covered_nations_korea_hong_kong_taiwan_vietnam(make_workbook, country, exposure):
    chain = {**ALLIED_CHAIN, "separation": country}
    s1 = run(
        make_workbook, [["S1", "Buyer Magnets", "US", "magnet", None, 100]], chain_rows("S1", chain)
    )["S1"]
    assert s1["stage_exposure"]["separation"] == exposure
    if exposure:
        assert "feoc-activity-midstream" in active(s1)
    else:
        assert "feoc-activity-midstream" not in active(s1)


def test_taiwan_and_vietnam_are_non_allied_low_findings(make_workbook):
    chain = {**ALLIED_CHAIN, "separation": "Viet Nam", "magnet": "Taiwan"}
    s1 = run(
        make_workbook, [["S1", "Buyer Magnets", "US", "magnet", None, 100]], chain_rows("S1", chain)
    )["S1"]
    found = {(f["rule_id"], f["country"]) for f in s1["findings"]}
    assert {("allied-midstream-non-allied", "VN"), ("allied-midstream-non-allied", "TW")} <= found
    assert s1["tier"] == "low"


def test_hong_kong_origin_is_a_setting(make_workbook, tmp_path):
    custom = tmp_path / "hk.yaml"
    text = (
        Path("rules/allied.yaml")
        .read_text(encoding="utf-8")
        .replace("hk_mo_origin: true", "hk_mo_origin: false")
    )
    custom.write_text(text.replace("id: allied\n", "id: allied-hk\n"), encoding="utf-8")
    chain = {**ALLIED_CHAIN, "separation": "Hong Kong"}
    s1 = run(
        make_workbook,
        [["S1", "Buyer", "US", "magnet", None, 1]],
        chain_rows("S1", chain),
        rules=(str(custom),),
    )["S1"]
    assert s1["stage_exposure"]["separation"] == 0.0
    assert {f["rule_id"] for f in s1["findings"]} == {"allied-midstream-non-allied"}


def _owned(make_workbook, ownership: list[list[Any]], country: str = "US") -> dict[str, Any]:
    out = run(
        make_workbook,
        [["O1", "Owned Magnets", country, "magnet", None, 100]],
        chain_rows("O1", ALLIED_CHAIN),
        ownership,
    )
    return out["O1"]


def test_direct_thirty_percent_state_equity_is_feoc_and_pfe(make_workbook):
    o1 = _owned(make_workbook, [["O1", "State Asset Commission", "CN", "government", 30]])
    assert o1["covered_government_ownership"] == pytest.approx(0.3)
    assert o1["feoc"] is True and o1["pfe"] is True
    assert o1["prongs"]["feoc_covered_government_25"] is True
    assert o1["prongs"]["pfe_fie_single_sfe_25"] is True
    assert o1["ownership"]["nation"] == "CN"
    assert o1["ownership"]["paths"][0]["path"] == ["O1", "State Asset Commission"]
    finding = next(f for f in o1["findings"] if f["rule_id"] == "feoc-covered-government-holding")
    assert {"path": ["O1", "State Asset Commission"]} in finding["evidence"]
    assert {
        "file": "suppliers.xlsx",
        "sheet": "Ownership",
        "row": 2,
        "column": "owner",
        "cell": "B2",
    } in finding["evidence"]


def test_twenty_percent_state_equity_is_neither(make_workbook):
    o1 = _owned(make_workbook, [["O1", "State Asset Commission", "CN", "government", 20]])
    assert o1["covered_government_ownership"] == pytest.approx(0.2)
    assert o1["feoc"] is False and o1["pfe"] is False
    assert o1["prongs"]["feoc_covered_government_25"] is False


def test_sixty_percent_via_singapore_company_wholly_government_owned(make_workbook):
    o1 = _owned(
        make_workbook,
        [
            ["O1", "Lion Holdings Pte Ltd", "SG", "company", 60],
            ["Lion Holdings Pte Ltd", "State Asset Commission", "CN", "government", 100],
        ],
    )
    assert o1["covered_government_ownership"] == pytest.approx(0.6)
    assert o1["feoc"] is True and o1["pfe"] is True
    assert o1["prongs"]["pfe_foreign_controlled"] is True
    assert ["O1", "Lion Holdings Pte Ltd", "State Asset Commission"] in [
        p["path"] for p in o1["ownership"]["paths"]
    ]


def test_forty_percent_via_singapore_company_forty_percent_government_is_sixteen_percent(
    make_workbook,
):
    o1 = _owned(
        make_workbook,
        [
            ["O1", "Lion Holdings Pte Ltd", "SG", "company", 40],
            ["Lion Holdings Pte Ltd", "State Asset Commission", "CN", "government", 40],
        ],
    )
    assert o1["covered_government_ownership"] == pytest.approx(0.16)
    assert o1["feoc"] is False and o1["pfe"] is False


def test_forty_percent_private_chinese_company_is_pfe_not_feoc(make_workbook):
    o1 = _owned(make_workbook, [["O1", "Shenzhen Private Investment Co", "CN", "company", 40]])
    assert o1["covered_government_ownership"] == 0.0
    assert o1["prongs"]["feoc_covered_government_25"] is False
    assert o1["feoc"] is False
    assert o1["pfe"] is True
    assert o1["prongs"]["pfe_fie_single_sfe_25"] is True
    assert o1["prongs"]["pfe_foreign_controlled"] is False  # 40 % is not more than 50 %


def test_unverified_separation_is_never_clear(make_workbook):
    chain = {**ALLIED_CHAIN, "separation": "unknown"}
    s1 = run(make_workbook, [["S1", "Buyer", "US", "magnet", None, 1]], chain_rows("S1", chain))[
        "S1"
    ]
    assert s1["stage_unverified"]["separation"] == 1.0
    assert s1["tier"] != "clear"
    assert "feoc-midstream-unverified" in active(s1)


def test_unverified_is_never_clear_even_under_a_ruleset_without_such_rules(make_workbook):
    chain = {**ALLIED_CHAIN, "separation": "unknown"}
    out = run(
        make_workbook,
        [["S1", "Buyer", "US", "magnet", None, 1]],
        chain_rows("S1", chain),
        rules=("builtin:pfe",),
    )
    assert out["S1"]["tier"] == "low"


def test_mining_only_chinese_exposure(make_workbook):
    chain = {**ALLIED_CHAIN, "mining": "CN"}
    s1 = run(make_workbook, [["S1", "Buyer", "US", "magnet", None, 1]], chain_rows("S1", chain))[
        "S1"
    ]
    assert s1["midstream_exposure"] == 0.0
    assert s1["stage_exposure"]["mining"] == 1.0
    finding = next(f for f in s1["findings"] if f["rule_id"] == "dfars-2027-chain-covered")
    assert (finding["stage"], finding["country"], finding["status"]) == ("mining", "CN", "upcoming")
    assert not any(r.startswith("dfars-melted") for r in active(s1))


def test_pfe_rules_wait_for_the_first_taxable_year(make_workbook):
    out = run(
        make_workbook,
        [["C1", "Sino Magnets", "CN", "magnet", None, 1]],
        chain_rows("C1", {s: "CN" for s in ALLIED_CHAIN}),
        as_of=date(2025, 9, 1),
    )
    statuses = {f["rule_id"]: f["status"] for f in out["C1"]["findings"]}
    assert (
        statuses["pfe-foreign-controlled"] == "upcoming"
    )  # taxable years beginning after 2025-07-04
    assert statuses["feoc-covered-jurisdiction"] == "active"
    assert out["C1"]["pfe"] is True  # an entity property, whatever the effective date


def test_hong_kong_incorporation_counts_as_china(make_workbook):
    out = run(
        make_workbook,
        [
            ["H1", "Harbour Magnets Ltd", "Hong Kong", "magnet", None, 1],
            ["T1", "Formosa Magnets", "Taiwan", "magnet", None, 1],
        ],
        [*chain_rows("H1", ALLIED_CHAIN), *chain_rows("T1", ALLIED_CHAIN)],
    )
    assert out["H1"]["feoc"] is True and out["H1"]["prongs"]["feoc_covered_jurisdiction"] is True
    assert out["T1"]["feoc"] is False and out["T1"]["prongs"]["feoc_covered_jurisdiction"] is False
