"""The evaluator's memos change nothing: every supplier of a generated portfolio gets the
verdict that asking every rule of the book, in book order, gives (findings with their key
order, prongs, notes, basis), for the shipped rules and for rules shaped to defeat the
shortcuts, at dates where rules are active, upcoming or over."""

from __future__ import annotations

import gc
import json
import math
import weakref
from datetime import date
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feocscreen.api import group_resolver
from feocscreen.models import STAGES
from feocscreen.ownership import OwnershipGraph
from feocscreen.rules.evaluate import _plan, _rule_template, evaluate_supplier, finding_id
from feocscreen.rules.kinds import OWNERSHIP, All, Hit, Kind, Subject, compile_condition
from feocscreen.rules.load import RuleBook, load_rulebook
from ownership_builders import graph

COUNTRIES = ("CN", "HK", "US", "JP", "VN", "AU", "MY", "unverified")
SHARES = (1.0, 0.5, 0.25, 0.75, 0.3, 0.7, 0.05)
NAN = math.nan


def _ruleset(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "ruleset",
        "id": "shortcuts",
        "version": "1",
        "title": "Rules shaped around the evaluator's shortcuts",
        "applicability": "tests",
        "last_reviewed": "2026-01-01",
        "sources": [{"text": "Test", "url": "https://example.invalid/x"}],
        "rules": [
            {
                "title": f"Rule {r['id']}",
                "severity": "medium",
                "citation": {"text": "Test", "url": "https://example.invalid/x"},
                "confidence": "primary",
                "effective_from": "2024-01-01",
                **r,
            }
            for r in rules
        ],
    }


COVERED_MID = {"stage_in_group": {"stages": "midstream", "groups": ["covered"]}}
UNVERIFIED_CHAIN = {"stage_unverified": {"stages": "chain"}}
SHORTCUT_RULES = [
    # a stage rule with a prong: evaluated in full, since prongs are per supplier
    {"id": "t-stage-prong", "marks": "feoc", "prong": "stage_test", "condition": COVERED_MID},
    # a stage rule whose other condition has hits of its own (they become findings too)
    {
        "id": "t-stage-and-jurisdiction",
        "condition": {"all": [COVERED_MID, {"jurisdiction_in_group": {"groups": ["covered"]}}]},
    },
    {
        "id": "t-stage-and-exception",
        "condition": {"all": [UNVERIFIED_CHAIN, {"dfars_exception": {}}]},
    },
    # untested without watchlists: no findings then
    {
        "id": "t-stage-and-listed",
        "condition": {"all": [COVERED_MID, {"listed": {"lists": ["SDN"]}}]},
    },
    # not split: the other condition fills the ownership graph's shared memo
    {"id": "t-stage-and-control", "condition": {"all": [COVERED_MID, {"foreign_controlled": {}}]}},
    # not split: two stage conditions, or a stage condition under any/not
    {"id": "t-two-stages", "condition": {"all": [COVERED_MID, UNVERIFIED_CHAIN]}},
    {"id": "t-any-stage", "condition": {"any": [COVERED_MID, {"material": {"in": ["smco"]}}]}},
    {"id": "t-not-stage", "condition": {"not": UNVERIFIED_CHAIN}},
    {
        "id": "t-above",
        "condition": {
            "stage_in_group": {"stages": ["mining", "magnet"], "outside": ["covered"], "above": 0.4}
        },
    },
    {
        "id": "t-unverified-above",
        "condition": {"stage_unverified": {"stages": ["alloy"], "above": 0.2}},
    },
    # over before the dates below: asked only for what it marks
    {
        "id": "t-over-prong",
        "effective_until": "2024-06-30",
        "marks": "pfe",
        "prong": "over_test",
        "condition": {"foreign_influenced": {"test": "single"}},
    },
    {"id": "t-over", "effective_until": "2024-06-30", "condition": COVERED_MID},
    {"id": "t-later", "effective_from": "2031-01-01", "condition": UNVERIFIED_CHAIN},
    # the other rules read columns, ownership and matches
    {
        "id": "t-jurisdiction-hq",
        "condition": {"jurisdiction_in_group": {"groups": ["covered"], "of": ["hq"]}},
    },
    {"id": "t-listed-any", "condition": {"listed": {"lists": ["SDN", "EL"]}}},
    {"id": "t-not-material", "condition": {"not": {"material": {"in": ["ndfeb"]}}}},
]


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> list[RuleBook]:
    folder = tmp_path_factory.mktemp("rules")
    path = folder / "shortcuts.yaml"
    path.write_text(yaml.safe_dump(_ruleset(SHORTCUT_RULES), sort_keys=False), encoding="utf-8")
    return [load_rulebook(), load_rulebook((str(path),))]


def _reference(
    book: RuleBook, subject: Subject, supplier_id: str, as_of: date, horizon_end: date
) -> tuple[Any, ...]:
    """Every rule asked in book order, every hit made a finding (the evaluator's definition)."""
    findings: dict[str, dict[str, Any]] = {}
    prongs: dict[str, bool | None] = {}
    notes: dict[str, str] = {}
    basis: dict[str, list[str]] = {"feoc": [], "pfe": []}
    for rule in book.rules:
        outcome = rule.condition.evaluate(subject)
        if rule.marks and rule.prong:
            name = f"{rule.marks}_{rule.prong}"
            previous = prongs.get(name, False)
            if outcome.value is True or previous is True:
                prongs[name] = True
            elif outcome.value is None or previous is None:
                prongs[name] = None
                if outcome.note:
                    notes[name] = outcome.note
            else:
                prongs[name] = False
            if outcome.value:
                basis[rule.marks] += [f"{rule.title}: {h.detail}" for h in outcome.hits]
        status = rule.status(as_of, horizon_end)
        if not outcome.value or status is None:
            continue
        for hit in outcome.hits or (Hit("supplier", "", "condition holds"),):
            fid = finding_id(supplier_id, rule.id, hit.key, hit.value)
            if fid in findings:
                continue
            finding = _rule_template(rule)
            finding.update(
                finding_id=fid,
                status=status,
                message=f"{rule.title}: {hit.detail}",
                evidence=list(hit.evidence) + [{"path": list(p)} for p in hit.paths],
            )
            if hit.key in STAGES:
                finding.update(stage=hit.key, country=hit.value)
            if hit.key == "listing":
                finding["entry"] = hit.value
            if hit.share is not None:
                finding["share"] = round(hit.share, 10)
            findings[fid] = finding
    ordered = sorted(findings.values(), key=lambda f: (f["status"], f["rule_id"], f["finding_id"]))
    return (
        ordered,
        dict(sorted(prongs.items())),
        dict(sorted(notes.items())),
        {k: sorted(set(v)) for k, v in basis.items()},
    )


OWNER_ROWS = [
    # (entity, owner, owner_country, owner_type, equity, voting, board, debt, appoints_officer)
    ("S1", "Lion Pte", "SG", "company", 0.6, NAN, NAN, NAN, None),
    ("Lion Pte", "SASAC", "CN", "government", 0.6, NAN, NAN, NAN, None),
    ("S2", "Dragon Holdings", "CN", "company", 0.3, 0.3, NAN, 0.2, True),
    ("S3", "Lender Co", "HK", "company", NAN, NAN, NAN, 0.5, None),
    ("S4", "Lion Pte", "SG", "company", 0.2, NAN, NAN, NAN, False),
    ("S4", "Free Float", "US", "public_float", 0.8, NAN, NAN, NAN, None),
    # no covered or listed owner above: answers kept per figures given, across entities
    ("S5", "Maple Holdings", "CA", "company", 0.7, 0.7, NAN, 0.1, False),
    ("Maple Holdings", "Maple Trust", "US", "company", 1.0, NAN, NAN, NAN, None),
    ("S8", "Elm SA", "FR", "company", 0.9, NAN, NAN, 0.3, False),
    ("S7", "Birch AG", "DE", "company", NAN, NAN, NAN, NAN, None),
    # a listed owner above, though in no covered nation
    ("S6", "Oak LLC", "US", "company", 0.2, 0.1, NAN, 0.05, True),
    ("Oak LLC", "Cedar Ltd", "GB", "company", 0.6, NAN, NAN, NAN, None),
]


def _graph(covered: frozenset[str]) -> OwnershipGraph:
    return graph(OWNER_ROWS, listed={"Dragon Holdings", "Cedar Ltd"}, covered=covered)


stage_shares = st.lists(
    st.tuples(st.sampled_from(COUNTRIES), st.sampled_from(SHARES)), min_size=1, max_size=3
).map(dict)
supplier_rows = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9"]),
        "chain": st.dictionaries(st.sampled_from(STAGES), stage_shares, max_size=5),
        "incorporation_country": st.sampled_from([None, "CN", "US", "HK", "JP"]),
        "hq_country": st.sampled_from([None, "CN", "US", "MO"]),
        "country": st.sampled_from([None, "CN", "US", "VN"]),
        "dfars_exception": st.sampled_from([None, "", "cots", "qualifying_country"]),
        "material": st.sampled_from([None, "ndfeb", "smco"]),
        "matches": st.sampled_from(["none", "empty", "sdn", "owner"]),
    }
)
MATCH = {"status": "match", "list": "SDN", "score": 97, "entry": "X Co", "entry_id": "1"}


def _subjects(rows: list[dict[str, Any]], book: RuleBook) -> list[tuple[str, Subject]]:
    """One run's subjects: one group resolver and one ownership graph for all of them."""
    members = group_resolver(book)
    graph = _graph(members("covered", "jurisdiction"))
    subjects = []
    for index, row in enumerate(rows):
        sid = row["id"]
        chain = tuple(s for s in STAGES if s in row["chain"])
        matches: list[dict[str, Any]] | None = {
            "none": None,
            "empty": [],
            "sdn": [{**MATCH, "field": "supplier_name", "name": sid}],
            "owner": [],
        }[row["matches"]]
        owners = (
            [{**MATCH, "field": "owner", "name": "Parent"}] if row["matches"] == "owner" else []
        )
        columns = {
            k: row[k]
            for k in (
                "incorporation_country",
                "hq_country",
                "country",
                "dfars_exception",
                "material",
            )
        }

        def stage_evidence(stage: str, country: str, sid: str = sid, index: int = index) -> Any:
            cells = (
                {"file": "t.xlsx", "row": index, "column": "country", "cell": f"{stage}/{country}"},
            )
            return cells, ((sid, f"{stage}-{country}-up"),) if country == "CN" else ()

        def jurisdiction_evidence(column: str, index: int = index) -> Any:
            return ({"file": "t.xlsx", "row": index, "column": column, "cell": None},)

        subjects.append(
            (
                sid,
                Subject(
                    supplier={"supplier_id": sid, **columns},
                    chain=chain,
                    stage_country={s: row["chain"][s] for s in chain},
                    group_members=members,
                    stage_evidence=stage_evidence,
                    jurisdiction_evidence=jurisdiction_evidence,
                    ownership=graph.entity(sid),
                    matches=matches,
                    owner_matches=owners,
                ),
            )
        )
    return subjects


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(supplier_rows, min_size=1, max_size=25),
    as_of=st.sampled_from(
        [date(2024, 6, 1), date(2026, 11, 28), date(2027, 3, 1), date(2030, 1, 1)]
    ),
)
def test_memoised_evaluation_equals_asking_every_rule(
    books: list[RuleBook], rows: list[dict[str, Any]], as_of: date
) -> None:
    _assert_memoised_equals_reference(books, rows, as_of)


def test_entities_with_nothing_covered_or_listed_above_share_answers_by_figures_given(
    books: list[RuleBook],
) -> None:
    # S5 and S8: different owners, the same figures given; S7: no figures; S6: a listed
    # owner above; S9: no rows. Same columns throughout, so only ownership tells them apart.
    columns = {
        "incorporation_country": None,
        "hq_country": "US",
        "country": "US",
        "dfars_exception": None,
        "material": None,
    }
    rows = [
        {"id": sid, "chain": {"separation": {"CN": 1.0}}, "matches": matches, **columns}
        for matches in ("none", "empty")
        for sid in ("S5", "S7", "S8", "S6", "S9", "S7", "S5")
    ]
    _assert_memoised_equals_reference(books, rows, date(2026, 11, 28))


class _OwnerCount(Kind):
    """A kind that reads ownership without declaring its plain answers (say, a count of owners)."""

    name = "owner_count"
    facets = frozenset({OWNERSHIP})


def test_only_kinds_that_declare_it_are_answered_per_figures_given() -> None:
    shipped = compile_condition({"government_holding": {"at_least": 0.25}})
    assert shipped.ownership_plain()
    other = _OwnerCount({})
    assert not other.ownership_plain()
    combined = All([])
    combined.children = [shipped, other]
    assert not combined.ownership_plain()


def _assert_memoised_equals_reference(
    books: list[RuleBook], rows: list[dict[str, Any]], as_of: date
) -> None:
    horizon_end = date(as_of.year + 2, as_of.month, as_of.day)
    for book in books:
        fast = [
            evaluate_supplier(book, subject, sid, as_of, horizon_end)
            for sid, subject in _subjects(rows, book)
        ]
        slow = [
            _reference(book, subject, sid, as_of, horizon_end)
            for sid, subject in _subjects(rows, book)
        ]
        for verdict, expected in zip(fast, slow, strict=True):
            got = (verdict.findings, verdict.prongs, verdict.prong_notes, verdict.basis)
            assert json.dumps(got) == json.dumps(expected)  # key order included


def test_findings_share_only_values_nothing_writes(books: list[RuleBook]) -> None:
    """Findings of many suppliers share their citation (never written) but no finding dict
    or evidence list: waivers and scoring write into findings after evaluation."""
    rows = [
        {
            "id": f"S{i}",
            "chain": {"separation": {"CN": 1.0}, "magnet": {"CN": 0.5, "unverified": 0.5}},
            "incorporation_country": "CN",
            "hq_country": "CN",
            "country": "CN",
            "dfars_exception": None,
            "material": None,
            "matches": "none",
        }
        for i in range(5, 8)
    ]
    book = books[0]
    verdicts = [
        evaluate_supplier(book, subject, sid, date(2026, 11, 28), date(2028, 11, 28))
        for sid, subject in _subjects(rows, book)
    ]
    findings = [f for v in verdicts for f in v.findings]
    assert len({id(f) for f in findings}) == len(findings)
    first, second = verdicts[0].findings[0], verdicts[1].findings[0]
    assert first["evidence"] is not second["evidence"]
    first["waived"] = {"by": "test"}
    first["contribution"] = 12.5
    assert second["waived"] is None and second["contribution"] == 0.0
    again = evaluate_supplier(
        book, _subjects(rows[:1], book)[0][1], "S5", date(2026, 11, 28), date(2028, 11, 28)
    )
    assert again.findings[0]["waived"] is None and again.findings[0]["contribution"] == 0.0


def test_what_is_kept_for_a_run_goes_with_it(books: list[RuleBook]) -> None:
    """The per-shape memos belong to a run (its group resolver): a long-lived process does
    not keep the last run's."""
    book = books[0]
    as_of, horizon_end = date(2026, 11, 28), date(2028, 11, 28)
    rows = [
        {
            "id": "S7",
            "chain": {"separation": {"CN": 1.0}, "magnet": {"CN": 0.5, "unverified": 0.5}},
            "incorporation_country": "US",
            "hq_country": None,
            "country": "US",
            "dfars_exception": None,
            "material": None,
            "matches": "none",
        }
    ]
    subjects = _subjects(rows, book)
    for sid, subject in subjects:
        assert evaluate_supplier(book, subject, sid, as_of, horizon_end).findings
    plan = _plan(book, as_of, horizon_end)
    run = plan.memo(subject)
    assert run.stages and run.contexts
    kept = weakref.ref(run)
    del subjects, subject, run
    gc.collect()
    assert kept() is None


def test_runs_in_turn_keep_their_own_memos(books: list[RuleBook]) -> None:
    """Two runs screening in turn (threads of one process) each keep their memos, and their
    verdicts are those of one run alone."""
    book = books[0]
    as_of, horizon_end = date(2026, 11, 28), date(2028, 11, 28)
    rows = [
        {
            "id": f"S{i}",
            "chain": {"mining": {"CN": 0.5, "AU": 0.5}, "magnet": {"CN": 0.5, "unverified": 0.5}},
            "incorporation_country": "CN" if i % 2 else "US",
            "hq_country": None,
            "country": "US",
            "dfars_exception": None,
            "material": None,
            "matches": "none",
        }
        for i in range(1, 7)
    ]
    alone = [
        evaluate_supplier(book, subject, sid, as_of, horizon_end).findings
        for sid, subject in _subjects(rows, book)
    ]
    first, second = _subjects(rows, book), _subjects(rows, book)
    in_turn = []
    for (sid, one), (_, other) in zip(first, second, strict=True):
        in_turn.append(evaluate_supplier(book, one, sid, as_of, horizon_end).findings)
        assert evaluate_supplier(book, other, sid, as_of, horizon_end).findings == in_turn[-1]
    assert json.dumps(in_turn) == json.dumps(alone)
    plan = _plan(book, as_of, horizon_end)
    one_run, other_run = plan.memo(first[0][1]), plan.memo(second[0][1])
    assert one_run is not other_run and one_run.stages and other_run.stages
