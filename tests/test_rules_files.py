"""Rules files: schema validation with located messages, loading, settings, and the rules CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from feocscreen.cli import main
from feocscreen.errors import RulesError
from feocscreen.models import ScreenConfig
from feocscreen.rules.kinds import REGISTRY, Subject, compile_condition
from feocscreen.rules.load import load_rulebook, shipped_dir, shipped_rulesets, validate_file

REPO_RULES = Path(__file__).resolve().parents[1] / "rules"


def _ruleset(**rule_overrides) -> dict:
    rule = {
        "id": "test-rule",
        "title": "Test rule",
        "severity": "medium",
        "citation": {"text": "Test", "url": "https://example.invalid/x"},
        "confidence": "primary",
        "effective_from": "2024-01-01",
        "condition": {"stage_in_group": {"stages": "midstream", "groups": ["covered"]}},
    }
    rule.update(rule_overrides)
    return {
        "kind": "ruleset",
        "id": "test",
        "version": "1",
        "title": "Test",
        "applicability": "tests",
        "last_reviewed": "2026-01-01",
        "sources": [{"text": "Test", "url": "https://example.invalid/x"}],
        "rules": [rule],
    }


def _write(tmp_path: Path, document: dict, name: str = "test.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_shipped_files_are_the_repository_rules_folder():
    assert {p.name for p in shipped_dir().glob("*")} == {p.name for p in REPO_RULES.glob("*")}
    assert [p.stem for p in shipped_rulesets()] == ["allied", "dfars", "feoc", "pfe"]


@pytest.mark.parametrize("path", sorted(REPO_RULES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_file_validates(path):
    kind, issues = validate_file(path)
    assert issues == []
    assert kind in ("ruleset", "groups", "scoring")


def test_every_shipped_rule_has_citation_url_and_confidence():
    book = load_rulebook()
    for rule in book.rules:
        assert rule.citation.url.startswith("https://"), rule.id
        assert rule.confidence in ("primary", "secondary", "unconfirmed")
    for ruleset in book.rulesets:
        assert ruleset.applicability and ruleset.last_reviewed


def test_schema_error_names_file_pointer_and_rule(tmp_path):
    bad = _write(tmp_path, _ruleset(condition={"stage_in_grup": {"stages": "chain"}}))
    with pytest.raises(RulesError) as caught:
        load_rulebook((str(bad),))
    messages = [i.message for i in caught.value.issues]
    assert any(
        "/rules/0/condition" in m and "test-rule" in m and "stage_in_grup" in m for m in messages
    )
    assert all(i.file == str(bad) for i in caught.value.issues)


def test_unconfirmed_rule_is_capped_at_medium(tmp_path):
    bad = _write(tmp_path, _ruleset(confidence="unconfirmed", severity="high"))
    kind, issues = validate_file(bad)
    assert kind == "ruleset"
    assert any("/rules/0/severity" in i.message and "at most medium" in i.message for i in issues)
    ok = _write(tmp_path, _ruleset(confidence="unconfirmed", severity="medium"), "ok.yaml")
    assert validate_file(ok)[1] == []


def test_unknown_watchlist_id_is_a_rules_error(tmp_path):
    bad = _write(tmp_path, _ruleset(condition={"listed": {"lists": ["SDNN"]}}))
    kind, issues = validate_file(bad)
    assert any("unknown watchlist id 'SDNN'" in i.message for i in issues)


def test_unknown_group_and_broken_yaml_are_rules_errors(tmp_path):
    bad = _write(tmp_path, _ruleset(condition={"jurisdiction_in_group": {"groups": ["narnia"]}}))
    with pytest.raises(RulesError) as caught:
        load_rulebook((str(bad),))
    assert "narnia" in caught.value.issues[0].message
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [unclosed", encoding="utf-8")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rulebook((str(broken),))
    with pytest.raises(RulesError, match="no shipped ruleset named 'nope'"):
        load_rulebook(("builtin:nope",))


def test_builtin_names_pick_one_shipped_ruleset():
    book = load_rulebook(("builtin:dfars",))
    assert [rs.id for rs in book.rulesets] == ["dfars"]
    assert all(r.regime == "DFARS" for r in book.rules)


def test_rulesets_disagreeing_on_a_setting_is_an_error(tmp_path):
    first = _ruleset()
    first["settings"] = {"indirect_method": "majority_look_through"}
    with pytest.raises(RulesError, match="disagree on setting 'indirect_method'"):
        load_rulebook((str(_write(tmp_path, first)), "builtin:feoc"))
    book = load_rulebook((str(_write(tmp_path, first)),))
    assert book.settings["indirect_method"] == "majority_look_through"


def test_stale_rules_warn(make_workbook):
    from feocscreen.api import screen

    path = make_workbook(suppliers=[["S1", "Plain", "US", "magnet", 1]])
    fresh = screen(ScreenConfig(inputs=(Path(path),), as_of=date(2027, 11, 1)))
    stale = screen(ScreenConfig(inputs=(Path(path),), as_of=date(2028, 1, 1)))
    codes = lambda r: {w["code"] for w in r.data["validation"]["warnings"]}  # noqa: E731
    assert "rules-stale" not in codes(fresh)
    assert "rules-stale" in codes(stale)


EXAMPLES = {
    "stage_in_group": {"stages": "chain", "groups": ["covered"]},
    "stage_unverified": {"stages": ["separation"]},
    "jurisdiction_in_group": {"groups": ["covered"]},
    "government_holding": {"at_least": 0.25},
    "foreign_controlled": {},
    "foreign_influenced": {"test": "single"},
    "listed": {"lists": ["SDN"]},
    "owner_listed": {"lists": ["SDN"]},
    "dfars_exception": {},
    "material": {"in": ["smco"]},
    "all": [{"material": {"in": ["smco"]}}],
    "any": [{"material": {"in": ["smco"]}}],
    "not": {"material": {"in": ["smco"]}},
}


def _subject(**supplier) -> Subject:
    groups = {"covered": frozenset({"CN", "HK"})}
    return Subject(
        supplier={"supplier_id": "S1", "country": "US", **supplier},
        chain=("mining", "separation"),
        stage_country={"mining": {"CN": 0.5, "unverified": 0.5}, "separation": {"US": 1.0}},
        group_members=lambda g, _context: groups.get(g, frozenset()),
        stage_evidence=lambda _s, _c: ((), ()),
        jurisdiction_evidence=lambda _c: (),
        ownership=None,
        matches=None,
    )


def test_every_kind_is_registered_described_and_evaluable():
    """Every kind explains itself, evaluates to three values and declares the columns it
    reads (the evaluation memos are keyed by them)."""
    assert set(EXAMPLES) == set(REGISTRY)
    for name, params in EXAMPLES.items():
        kind = compile_condition({name: params})
        assert REGISTRY[name].description.endswith(".")
        assert kind.describe()
        outcome = kind.evaluate(_subject())
        assert outcome.value in (True, False, None)
        assert kind.reads() is not None, name


def test_three_valued_combinators():
    unknown = {"listed": {"lists": ["SDN"]}}
    true = {"stage_in_group": {"stages": ["mining"], "groups": ["covered"]}}
    false = {"stage_unverified": {"stages": ["separation"]}}
    subject = _subject()
    assert compile_condition({"all": [true, unknown]}).evaluate(subject).value is None
    assert compile_condition({"all": [false, unknown]}).evaluate(subject).value is False
    assert compile_condition({"any": [true, unknown]}).evaluate(subject).value is True
    assert compile_condition({"any": [false, unknown]}).evaluate(subject).value is None
    assert compile_condition({"not": unknown}).evaluate(subject).value is None
    assert compile_condition({"not": true}).evaluate(subject).value is False
    hits = compile_condition(true).evaluate(subject).hits
    assert [(h.key, h.value, h.share) for h in hits] == [("mining", "CN", 0.5)]


def test_cli_rules_validate_list_and_explain(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(
        main, ["rules", "validate", str(REPO_RULES / "feoc.yaml"), str(REPO_RULES / "groups.yaml")]
    )
    assert (
        ok.exit_code == 0 and "valid ruleset file" in ok.output and "valid groups file" in ok.output
    )
    bad = _write(tmp_path, _ruleset(severity="catastrophic"))
    failed = runner.invoke(main, ["rules", "validate", str(bad)])
    assert failed.exit_code == 2
    assert "/rules/0/severity" in failed.output and "test-rule" in failed.output

    listed = runner.invoke(main, ["rules", "list", "--as-of", "2026-11-28"])
    assert listed.exit_code == 0
    assert "dfars-2027-chain-covered" in listed.output and "upcoming" in listed.output

    explained = runner.invoke(main, ["rules", "explain", "dfars-2027-chain-covered"])
    assert explained.exit_code == 0
    for text in ("critical", "primary", "2027-01-01", "225.7018-2", "covered"):
        assert text in explained.output
    kind = runner.invoke(main, ["rules", "explain", "foreign_influenced"])
    assert "condition kind" in kind.output
    code = runner.invoke(main, ["rules", "explain", "waiver-expired"])
    assert "issue code" in code.output
    missing = runner.invoke(main, ["rules", "explain", "no-such-thing"])
    assert missing.exit_code == 2
