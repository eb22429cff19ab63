"""Scoring, explanations, blocking, thresholds, decisions and screening a Portfolio."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feocscreen.errors import RulesError, WaiverError
from feocscreen.match import (
    GENERIC_ONLY_CAP,
    WatchlistIndex,
    compare_names,
    load_decisions,
    score_entry,
    screen_portfolio,
)
from feocscreen.names import PLACES, normalise_name
from feocscreen.portfolio import Portfolio, SheetLayout
from feocscreen.watchlist import WatchlistEntry, WatchlistSet, load_lists

ROOT = Path(__file__).resolve().parents[1]


def score(a: str, b: str) -> float:
    return compare_names(normalise_name(a), normalise_name(b)).score


def entry(
    name: str,
    *aliases: str,
    list_id: str = "EL",
    country: str | None = "CN",
    ids: tuple[str, ...] = (),
    entry_id: str | None = None,
) -> WatchlistEntry:
    return WatchlistEntry(
        entry_id=entry_id or f"E-{name}",
        list_id=list_id,
        name=name,
        aliases=aliases,
        country=country,
        countries=(country,) if country else (),
        identifiers=ids,
        source_url="https://example.invalid/list",
        file="list.csv",
        row=2,
    )


def lists_of(*entries: WatchlistEntry) -> WatchlistSet:
    return WatchlistSet(
        entries=list(entries),
        sources=[{"path": "list.csv", "sha256": "0", "rows_by_source": {"EL": 1}}],
    )


def test_spelling_variants_of_one_company_score_100() -> None:
    listed = "Ganzhou Qiaolan Rare Earth New Materials Co., Ltd."
    for variant in (
        "赣州桥兰稀土新材料有限公司",
        "GANZHOU QIAOLAN RARE EARTH NEW MATL CO LTD",
        "Qiaolan (Ganzhou) Rare-Earth New Material Company Limited",
        "Gan Zhou Qiao Lan Rare Earth New Materials",
    ):
        assert score(variant, listed) == 100.0, variant


def test_companies_sharing_only_generic_words_place_and_legal_form_never_match() -> None:
    result = compare_names(
        normalise_name("Ganzhou Qiaolan Rare Earth Magnetic Materials Group Co., Ltd."),
        normalise_name("Ganzhou Ruixin Rare Earth Magnetic Materials Group Co., Ltd."),
    )
    assert result.capped and result.score <= GENERIC_ONLY_CAP
    assert score("China Rare Earth Magnet Group", "China Rare Earth Materials Holdings") < 75


def test_generic_words_weigh_less_than_the_trade_name() -> None:
    dropped_generic = score("Ganzhou Qiaolan Magnet Co", "Ganzhou Qiaolan Magnet Technology Co")
    other_trade_name = score("Ganzhou Qiaolan Magnet Co", "Ganzhou Ruixin Magnet Co")
    assert dropped_generic > 90 > 60 > other_trade_name


def test_same_trade_name_in_another_city_is_for_review_not_a_match() -> None:
    assert 75 <= score("Baotou Qiaolan Magnet Co", "Ganzhou Qiaolan Magnet Co") < 90


def test_two_known_places_that_look_alike_do_not_agree() -> None:
    assert score("Longnan Aoxing Hitech", "Longyan Aoxing Hitech") < 90


def test_typos_and_romanisation_variants_go_to_review_or_match_but_not_full_score() -> None:
    typo = score("Ganzhou Qiaolan Magnet", "Ganzhou Qiaolon Magnet")
    assert 60 < typo < 100


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_scores_are_bounded_and_symmetric(a: str, b: str) -> None:
    forward = score(a, b)
    assert 0.0 <= forward <= 100.0
    assert forward == pytest.approx(score(b, a), abs=0.11)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=40))
def test_a_name_matches_itself_fully(a: str) -> None:
    if normalise_name(a).tokens:
        assert score(a, a) == 100.0


def test_explanation_names_agreeing_and_differing_features() -> None:
    hit = score_entry(
        normalise_name("Qiaolan Demo Magnet Co Ltd"),
        entry("Ganzhou Qiaolan Demo Magnet Co., Ltd.", country="CN"),
        [normalise_name("Ganzhou Qiaolan Demo Magnet Co., Ltd.")],
        country="SG",
    )
    assert "distinct tokens agree: qiaolan, demo" in hit.explanation
    assert "only in list name: ganzhou" in hit.explanation
    assert "country differs: SG / CN" in hit.explanation
    capped = score_entry(
        normalise_name("Ganzhou Ruixin Magnet Co"),
        entry("Ganzhou Qiaolan Magnet Co"),
        [normalise_name("Ganzhou Qiaolan Magnet Co")],
    )
    assert "only legal form, place and generic words shared" in capped.explanation


def test_hong_kong_and_mainland_china_agree_as_countries() -> None:
    hit = score_entry(
        normalise_name("Qiaolan Demo Ltd"),
        entry("Qiaolan Demo Ltd", country="CN"),
        [normalise_name("Qiaolan Demo Ltd")],
        country="HK",
    )
    assert hit.score == 100.0 and "country agrees" in hit.explanation


def test_identifiers_decide_when_both_sides_have_one() -> None:
    listed = entry("Qiaolan Demo Magnet Co", ids=("549300NORDICDEMO0952",))
    names = [normalise_name(listed.name)]
    same = score_entry(
        normalise_name("Totally Other Name Ltd"),
        listed,
        names,
        identifiers=("549300NORDICDEMO0952",),
    )
    assert same.score == 100.0 and "identifier agrees: LEI 549300NORDICDEMO0952" in same.explanation
    differ = score_entry(
        normalise_name("Qiaolan Demo Magnet Co"),
        listed,
        names,
        identifiers=("549300SASKDEMO001450",),
    )
    assert differ.score <= 70 and "identifier differs" in differ.explanation
    index = WatchlistIndex([listed])
    found = index.search("Unrelated Words", identifiers=("549300NORDICDEMO0952",))
    assert [h.score for h in found] == [100.0]


def test_aliases_are_scored_and_named_in_the_explanation() -> None:
    listed = entry("Official Long Demo Name Co", "桥兰示例磁业有限公司")
    hits = WatchlistIndex([listed]).search("赣州桥兰示例磁业有限公司")
    assert hits and "matched alias '桥兰示例磁业有限公司'" in hits[0].explanation


def test_blocking_scores_only_candidates_never_all_pairs() -> None:
    entries = [entry(f"Demo{n:04d}x Magnet Co") for n in range(3000)]
    entries.append(entry("Ganzhou Qiaolan Magnet Co"))
    index = WatchlistIndex(entries)
    candidates = index.candidates(normalise_name("QIAOLAN MAGNET CO LTD"))
    assert len(candidates) < 10 and len(entries) - 1 in candidates
    spaced = index.candidates(normalise_name("Qiao Lan Magnet"))
    assert len(entries) - 1 in spaced


def _portfolio() -> Portfolio:
    loc = {"_file": "book.xlsx", "_sheet": "Suppliers"}
    suppliers = pd.DataFrame(
        [
            {
                "supplier_id": "S1",
                "supplier_name": "Ganzhou Qiaolan Demo Magnet Co., Ltd.",
                "country": "CN",
                "parent_name": "Qiaolan Demo Holdings",
                "parent_country": "HK",
                "lei": None,
                **loc,
                "_row": 2,
            },
            {
                "supplier_id": "S2",
                "supplier_name": "Bavarian Example Magnet GmbH",
                "country": "DE",
                "parent_name": None,
                "parent_country": None,
                "lei": None,
                **loc,
                "_row": 3,
            },
        ]
    )
    sourcing = pd.DataFrame(
        [
            {
                "supplier_id": "S2",
                "stage": "separation",
                "country": "CN",
                "share": 1.0,
                "facility": None,
                "operator": "赣州桥兰示例磁业有限公司",
                "upstream_supplier_id": None,
                "_file": "book.xlsx",
                "_sheet": "Sourcing",
                "_row": 5,
            },
        ]
    )
    ownership = pd.DataFrame(
        [
            {
                "entity": "S2",
                "owner": "Ruixin Demo State Group",
                "owner_country": "CN",
                "owner_type": "state_owned",
                "equity": 0.3,
                "_file": "book.xlsx",
                "_sheet": "Ownership",
                "_row": 2,
            },
            {
                "entity": "Ruixin Demo State Group",
                "owner": "Example Province Assets Commission",
                "owner_country": "CN",
                "owner_type": "government",
                "equity": 1.0,
                "_file": "book.xlsx",
                "_sheet": "Ownership",
                "_row": 3,
            },
        ]
    )
    layouts = {
        ("book.xlsx", "Suppliers"): SheetLayout(
            "book.xlsx",
            "Suppliers",
            {"supplier_name": ("Supplier Name", "B"), "parent_name": ("Parent", "K")},
        ),
        ("book.xlsx", "Sourcing"): SheetLayout(
            "book.xlsx", "Sourcing", {"operator": ("Operator", "F")}
        ),
        ("book.xlsx", "Ownership"): SheetLayout(
            "book.xlsx", "Ownership", {"owner": ("Owner", "B")}
        ),
    }
    return Portfolio(suppliers=suppliers, sourcing=sourcing, ownership=ownership, layouts=layouts)


LISTED = lists_of(
    entry("Ganzhou Qiaolan Demo Magnet Co., Ltd.", "桥兰示例磁业", entry_id="EL-1"),
    entry("Ruixin Demo State Group Co., Ltd.", list_id="1260H", entry_id="1260H-1"),
    entry("Qiaolan Demo Holdings Limited", list_id="SDN", country="HK", entry_id="SDN-7"),
)


def test_screen_portfolio_covers_every_name_field_with_evidence() -> None:
    outcome = screen_portfolio(
        _portfolio(), LISTED, match_threshold=90, review_threshold=75, decisions=None
    )
    assert outcome.tested
    s1 = {(m["field"], m["list"], m["status"]) for m in outcome.by_supplier["S1"]}
    assert s1 == {
        ("supplier_name", "EL", "match"),
        ("parent_name", "SDN", "match"),
        # The two share the trade words "Qiaolan Demo": each is a review item for the other.
        ("supplier_name", "SDN", "review"),
        ("parent_name", "EL", "review"),
    }
    s2 = {(m["field"], m["list"]): m for m in outcome.by_supplier["S2"]}
    assert set(s2) == {("operator", "EL"), ("owner", "1260H")}
    operator = s2[("operator", "EL")]
    assert operator["evidence"] == [
        {"file": "book.xlsx", "sheet": "Sourcing", "row": 5, "column": "operator", "cell": "F5"}
    ]
    assert operator["name"] == "赣州桥兰示例磁业有限公司" and operator["entry_id"] == "EL-1"
    for match in outcome.by_supplier["S1"] + outcome.by_supplier["S2"]:
        assert set(match) >= {
            "field",
            "list",
            "entry",
            "score",
            "status",
            "explanation",
            "name",
            "entry_id",
            "entry_country",
            "source_url",
            "evidence",
        }
        assert match["status"] == ("match" if match["score"] >= 90 else "review")
    assert set(outcome.by_owner) == {
        "Ruixin Demo State Group",
        "Example Province Assets Commission",
    }
    assert [m["list"] for m in outcome.by_owner["Ruixin Demo State Group"]] == ["1260H"]
    assert outcome.by_owner["Example Province Assets Commission"] == []
    assert json.dumps(outcome.by_supplier)  # plain JSON-serialisable data


def test_thresholds_split_match_review_and_nothing() -> None:
    portfolio = _portfolio()
    strict = screen_portfolio(
        portfolio, LISTED, match_threshold=100, review_threshold=100, decisions=None
    )
    loose = screen_portfolio(
        portfolio, LISTED, match_threshold=101 - 1, review_threshold=0, decisions=None
    )
    assert all(m["score"] == 100 for ms in strict.by_supplier.values() for m in ms)
    assert sum(map(len, loose.by_supplier.values())) >= sum(map(len, strict.by_supplier.values()))
    with pytest.raises(RulesError):
        screen_portfolio(portfolio, LISTED, match_threshold=70, review_threshold=80, decisions=None)


def test_no_list_loaded_means_not_tested_with_a_warning() -> None:
    outcome = screen_portfolio(
        _portfolio(), WatchlistSet(), match_threshold=90, review_threshold=75, decisions=None
    )
    assert not outcome.tested
    assert [i.code for i in outcome.issues] == ["no-watchlist"]
    assert outcome.by_supplier == {"S1": [], "S2": []}


def test_decisions_close_false_positives_confirm_reviews_and_are_audited(tmp_path: Path) -> None:
    path = tmp_path / "decisions.yaml"
    path.write_text(
        "decisions:\n"
        "  - supplier_id: S1\n    entry: SDN-7\n    verdict: negative\n    by: ana\n"
        "    date: 2026-11-01\n    note: different holding\n"
        "  - name: Ruixin Demo State Group\n    entry: Ruixin Demo State Group Co., Ltd.\n"
        "    verdict: positive\n    by: bo\n    date: 2026-11-02\n"
        "  - supplier_id: S9\n    entry: EL-1\n    verdict: negative\n    by: cy\n    date: 2026-11-03\n"
    )
    outcome = screen_portfolio(
        _portfolio(), LISTED, match_threshold=99, review_threshold=75, decisions=path
    )
    assert {m["list"] for m in outcome.by_supplier["S1"]} == {"EL"}  # SDN hits closed
    owner_hit = outcome.by_owner["Ruixin Demo State Group"][0]
    assert (
        owner_hit["status"] == "match"
        and "confirmed by bo on 2026-11-02" in owner_hit["explanation"]
    )
    record = outcome.decisions
    assert record["path"] == str(path) and len(record["sha256"]) == 64
    assert [(d["entry"], d["verdict"]) for d in record["applied"]] == [
        ("SDN-7", "negative"),
        ("Ruixin Demo State Group Co., Ltd.", "positive"),
    ]
    assert {m["field"] for m in record["applied"][0]["matches"]} == {"parent_name", "supplier_name"}
    assert [d["supplier_id"] for d in record["unused"]] == ["S9"]


def test_decisions_csv_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "decisions.csv"
    path.write_text(
        "supplier_id,name,list,entry,verdict,by,date,note\n"
        "S1,,EL,EL-1,negative,ana,2026-11-01,not them\n"
    )
    outcome = screen_portfolio(
        _portfolio(), LISTED, match_threshold=90, review_threshold=75, decisions=path
    )
    assert all(
        m["entry_id"] != "EL-1" or m["field"] != "supplier_name" for m in outcome.by_supplier["S1"]
    )
    assert outcome.decisions["applied"][0]["row"] == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "decisions:\n  - supplier_id: S1\n    verdict: negative\n    by: a\n    date: 2026-01-01\n",
            "entry",
        ),
        (
            "decisions:\n  - supplier_id: S1\n    entry: X\n    verdict: maybe\n    by: a\n    date: 2026-01-01\n",
            "verdict",
        ),
        (
            "decisions:\n  - entry: X\n    verdict: negative\n    by: a\n    date: 2026-01-01\n",
            "supplier_id",
        ),
        (
            "decisions:\n  - supplier_id: S1\n    entry: X\n    verdict: negative\n    date: 2026-01-01\n",
            "by",
        ),
        (
            "decisions:\n  - supplier_id: S1\n    entry: X\n    verdict: negative\n    by: a\n    date: soon\n",
            "YYYY-MM-DD",
        ),
        ("decisions: {a: [\n", "not YAML"),
        ("just text\n", "list of decisions"),
    ],
)
def test_malformed_decisions_are_located_errors(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(body)
    with pytest.raises(WaiverError, match=message) as caught:
        load_decisions(path)
    assert caught.value.issues and caught.value.issues[0].file == str(path)


def test_demo_workbook_with_shipped_lists_gives_explained_matches_and_review_items() -> None:
    from feocscreen.validate import load_portfolio

    portfolio = load_portfolio(
        [ROOT / "fixtures" / "demo_suppliers.xlsx", ROOT / "fixtures" / "demo_flat.csv"]
    )
    lists = load_lists([ROOT / "fixtures" / "lists"])
    outcome = screen_portfolio(
        portfolio, lists, match_threshold=90, review_threshold=75, decisions=None
    )
    found = {
        (sid, m["field"], m["list"], m["status"])
        for sid, ms in outcome.by_supplier.items()
        for m in ms
    }
    assert ("S007", "supplier_name", "EL", "match") in found
    assert ("S026", "operator", "EL", "match") in found  # written in Chinese characters
    assert ("S018", "operator", "CMIC", "match") in found  # Nei Mongol / Hsi-Tu spellings
    assert ("S021", "supplier_name", "SDN", "match") in found
    assert ("S021", "parent_name", "CMIC", "match") in found
    assert ("S020", "owner", "UFLPA", "match") in found
    assert ("F012", "supplier_name", "SDN", "review") in found  # misspelt
    # Names the fixtures README says must not match.
    for sid in ("S006", "S012"):
        assert outcome.by_supplier[sid] == []
    provincial = "Example Provincial Rare Earth State Holding Group Co., Ltd."
    assert all(m["status"] != "match" for m in outcome.by_owner.get(provincial, []))
    decided = screen_portfolio(
        portfolio,
        lists,
        match_threshold=90,
        review_threshold=75,
        decisions=ROOT / "fixtures" / "decisions_demo.yaml",
    )
    assert decided.decisions["unused"] == []
    assert [m["status"] for m in decided.by_supplier["F012"]] == ["match"]
    assert all(m["list"] != "1260H" for m in decided.by_supplier["S007"])


def test_blocking_keeps_the_best_supported_names_when_many_share_weak_keys() -> None:
    # 300 names one letter away from the query's trade word in other cities, and the
    # listed company in the query's own city: ranking by key rarity keeps the latter.
    cities = sorted(PLACES - {"ganzhou"})
    neighbours = sorted(
        {"ruixin"[:i] + letter + "ruixin"[i:] for i in range(7) for letter in "abdefklmpt"}
    )
    decoys = [
        entry(
            f"{cities[n % len(cities)]} {neighbours[n % len(neighbours)]} Magnet Co",
            entry_id=f"D{n}",
        )
        for n in range(300)
    ]
    target = entry("Ganzhou Ruixing Magnet Co", entry_id="T")
    index = WatchlistIndex([*decoys, target])
    query = normalise_name("Ganzhou Ruixin Magnet Co")
    shared = index.postings("druixin")
    assert len(shared) > 100  # more names share the typo key than the cap lets through
    assert len(index.candidate_names(query)) <= 100
    assert len(decoys) in index.candidates(query)
    assert [h.entry.entry_id for h in index.search("Ganzhou Ruixin Magnet Co")][:1] == ["T"]
