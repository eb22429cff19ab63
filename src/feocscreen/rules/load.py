"""Read rules files: YAML → JSON Schema → typed rulesets, country groups and scoring.

A broken file stops the run (``RulesError``, exit 2) with the file, the JSON
pointer, the rule id and a human message for every problem found. Shipped
rules live in ``feocscreen/data/rules`` (the repository's ``rules/`` folder,
copied into the wheel), so they are found from a checkout and after install.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..errors import RulesError, make_issue, register
from ..models import Issue, severity_rank
from .kinds import Kind, compile_condition

register(
    "rules-invalid", "Invalid rules file", "A rules file fails its schema or a semantic check."
)

BUILTIN_PREFIX = "builtin:"
SHARED_FILES = ("groups.yaml", "scoring.yaml")
# Settings every run has, whichever rulesets are loaded; rulesets may override them.
DEFAULT_SETTINGS: dict[str, Any] = {
    "hk_mo_jurisdiction": True,  # HK/MO count as China for incorporation/HQ (fact sheet, decisions)
    "hk_mo_origin": True,  # and for where a stage is performed
    "indirect_method": "multiply",  # DOE arithmetic unconfirmed: multiply along paths, sum paths
    "taxable_year_start": "2026-01-01",  # PFE: taxable years beginning after 2025-07-04
    "thresholds": {"match": 90, "review": 75},  # watchlist name-match score cut-offs (0-100)
}
# [U] figures must not exceed this severity (fact sheet, "Decisions for encoding").
UNCONFIRMED_CAP = "medium"


def shipped_dir() -> Path:
    """Folder of the shipped rules files (works from a checkout and from a wheel)."""
    return Path(str(resources.files("feocscreen") / "data" / "rules"))


def shipped_rulesets() -> list[Path]:
    """Every shipped ruleset file, sorted by name."""
    return sorted(p for p in shipped_dir().glob("*.yaml") if p.name not in SHARED_FILES)


@dataclass(frozen=True)
class Citation:
    """Where a rule or group comes from: text and URL."""

    text: str
    url: str

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "url": self.url}


@dataclass(frozen=True)
class Rule:
    """One rule of a ruleset, its condition compiled."""

    id: str
    title: str
    severity: str
    confidence: str
    citation: Citation
    effective_from: date
    effective_until: date | None
    condition: Kind
    ruleset: str
    regime: str
    marks: str | None = None
    prong: str | None = None
    advice: str = ""
    effective_setting: str | None = None

    def status(self, as_of: date, horizon_end: date) -> str | None:
        """'active', 'upcoming' (effective within the horizon) or None (expired or too far)."""
        if self.effective_until is not None and as_of > self.effective_until:
            return None
        if self.effective_from <= as_of:
            return "active"
        if self.effective_from <= horizon_end:
            return "upcoming"
        return None


@dataclass(frozen=True)
class Ruleset:
    """One regime's rules file: who it binds, when it was reviewed, its settings and rules."""

    id: str
    version: str
    title: str
    regime: str
    applicability: str
    last_reviewed: date
    sources: tuple[Citation, ...]
    settings: dict[str, Any]
    rules: tuple[Rule, ...]
    path: str
    sha256: str


@dataclass(frozen=True)
class Group:
    """A country group of groups.yaml, unions resolved."""

    name: str
    title: str
    members: frozenset[str]
    citation: Citation


@dataclass
class RuleBook:
    """Everything a run's rules say: rulesets, country groups, scoring and merged settings."""

    rulesets: list[Ruleset]
    groups: dict[str, Group]
    scoring: dict[str, Any]
    settings: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)  # role -> path of groups/scoring

    @property
    def rules(self) -> list[Rule]:
        return [r for rs in self.rulesets for r in rs.rules]

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of rules files (shipped beside them)."""
    import json

    return json.loads((shipped_dir() / "schema.json").read_text(encoding="utf-8"))


def _plain(value: Any) -> Any:
    """YAML dates become ISO strings so the schema sees what the file says."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _issue(path: str, pointer: str, rule_id: str | None, message: str) -> Issue:
    where = pointer or "/"
    if rule_id:
        where += f" (rule {rule_id})"
    return make_issue(
        "rules-invalid", "error", f"{where}: {message}", file=path, column=pointer or None
    )


def read_document(path: Path) -> tuple[dict[str, Any], str]:
    """Parse one rules file; returns the document and the sha256 of its bytes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulesError(f"cannot read rules file {path}: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise RulesError(f"{path} is not a rules file (expected a mapping at the top)")
    return _plain(document), hashlib.sha256(raw).hexdigest()


def validate_document(document: dict[str, Any], path: str) -> list[Issue]:
    """Schema errors of one parsed rules file, each with pointer, rule id and message."""
    validator = jsonschema.Draft202012Validator(schema())
    issues = []
    for error in sorted(
        validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))
    ):
        parts = [str(p) for p in error.absolute_path]
        pointer = "/" + "/".join(parts) if parts else ""
        rule_id = None
        if len(parts) >= 2 and parts[0] == "rules" and parts[1].isdigit():
            rules = document.get("rules") or []
            index = int(parts[1])
            if index < len(rules) and isinstance(rules[index], dict):
                rule_id = rules[index].get("id")
        issues.append(_issue(path, pointer, rule_id, error.message))
    return issues


def kind_of(document: dict[str, Any]) -> str:
    """'ruleset', 'groups' or 'scoring' (a file without ``kind`` is a ruleset)."""
    return str(document.get("kind", "ruleset"))


def _rules_error(issues: list[Issue], headline: str = "invalid rules") -> RulesError:
    """One error for every problem found; a single problem is spelled out in the headline."""
    if len(issues) == 1:
        issue = issues[0]
        return RulesError(f"{headline}: {issue.file}: {issue.message}", issues)
    return RulesError(f"{headline}: {len(issues)} problems", issues)


def _resolve_spec(spec: str) -> Path:
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX) :]
        path = shipped_dir() / f"{name}.yaml"
        if not path.is_file() or path.name in SHARED_FILES:
            known = ", ".join(p.stem for p in shipped_rulesets())
            raise RulesError(f"no shipped ruleset named {name!r} (known: {known})")
        return path
    path = Path(spec)
    if not path.is_file():
        raise RulesError(f"rules file not found: {spec}")
    return path


def _groups(document: dict[str, Any], path: str) -> dict[str, Group]:
    raw = document["groups"]
    resolved: dict[str, frozenset[str]] = {}

    def members(name: str, trail: tuple[str, ...]) -> frozenset[str]:
        if name in resolved:
            return resolved[name]
        if name in trail:
            raise RulesError(f"{path}: group union loops: {' -> '.join((*trail, name))}")
        entry = raw.get(name)
        if entry is None:
            raise RulesError(f"{path}: /groups/{trail[-1]}/union names unknown group {name!r}")
        if "members" in entry:
            result = frozenset(entry["members"])
        else:
            result = frozenset().union(*(members(g, (*trail, name)) for g in entry["union"]))
        resolved[name] = result
        return result

    return {
        name: Group(name, entry["title"], members(name, ()), Citation(**entry["citation"]))
        for name, entry in raw.items()
    }


def _rule(entry: dict[str, Any], ruleset: dict[str, Any], settings: dict[str, Any]) -> Rule:
    effective = entry["effective_from"]
    setting = None
    if isinstance(effective, dict):
        setting = effective["setting"]
        effective = settings[setting]
    until = entry.get("effective_until")
    return Rule(
        id=entry["id"],
        title=entry["title"],
        severity=entry["severity"],
        confidence=entry["confidence"],
        citation=Citation(**entry["citation"]),
        effective_from=date.fromisoformat(str(effective)),
        effective_until=date.fromisoformat(until) if until else None,
        condition=compile_condition(entry["condition"]),
        ruleset=ruleset["id"],
        regime=str(ruleset.get("regime") or ruleset["id"]).upper(),
        marks=entry.get("marks"),
        prong=entry.get("prong"),
        advice=entry.get("advice", ""),
        effective_setting=setting,
    )


def _known_list_ids() -> set[str]:
    """Short list ids the watchlist readers produce (empty if that module is unavailable)."""
    try:
        from ..watchlist import LIST_IDS
    except ImportError:  # pragma: no cover - the watchlist module ships with the package
        return set()
    return set(LIST_IDS)


def _semantic_issues(document: dict[str, Any], path: str, group_names: set[str]) -> list[Issue]:
    issues: list[Issue] = []
    for index, entry in enumerate(document["rules"]):
        pointer = f"/rules/{index}"
        if entry["confidence"] == "unconfirmed" and severity_rank(
            entry["severity"]
        ) > severity_rank(UNCONFIRMED_CAP):
            issues.append(
                _issue(
                    path,
                    f"{pointer}/severity",
                    entry["id"],
                    f"an unconfirmed rule may be at most {UNCONFIRMED_CAP}, not {entry['severity']}",
                )
            )
        condition = compile_condition(entry["condition"])
        for name in sorted(condition.groups_used() - group_names):
            issues.append(
                _issue(path, f"{pointer}/condition", entry["id"], f"unknown country group {name!r}")
            )
        known_lists = _known_list_ids()
        for name in sorted(condition.lists_used() - known_lists if known_lists else set()):
            issues.append(
                _issue(
                    path,
                    f"{pointer}/condition",
                    entry["id"],
                    f"unknown watchlist id {name!r} (known: {', '.join(sorted(known_lists))})",
                )
            )
        until = entry.get("effective_until")
        start = entry["effective_from"]
        if until and isinstance(start, str) and until < start:
            issues.append(
                _issue(path, f"{pointer}/effective_until", entry["id"], "ends before it starts")
            )
    ids = [e["id"] for e in document["rules"]]
    for rule_id in sorted({i for i in ids if ids.count(i) > 1}):
        issues.append(_issue(path, "/rules", rule_id, "rule id appears twice"))
    return issues


def load_rulebook(specs: tuple[str, ...] | list[str] = ()) -> RuleBook:
    """Load the rulesets named by ``-r`` (paths or builtin:NAME; none = every shipped one).

    A ``-r`` file of kind ``groups`` or ``scoring`` replaces the shipped one.
    """
    paths = [_resolve_spec(s) for s in specs] if specs else shipped_rulesets()
    shared = {"groups": shipped_dir() / "groups.yaml", "scoring": shipped_dir() / "scoring.yaml"}
    documents: list[tuple[Path, dict[str, Any], str]] = []
    issues: list[Issue] = []
    for path in paths:
        document, digest = read_document(path)
        found = validate_document(document, str(path))
        issues += found
        if not found and kind_of(document) in shared:
            shared[kind_of(document)] = path
        elif not found:
            documents.append((path, document, digest))
    if issues:
        raise _rules_error(issues)
    groups_doc, _ = read_document(shared["groups"])
    scoring_doc, _ = read_document(shared["scoring"])
    for role, document in (("groups", groups_doc), ("scoring", scoring_doc)):
        found = validate_document(document, str(shared[role]))
        if found or kind_of(document) != role:
            raise _rules_error(found, f"invalid {role} file {shared[role]}")
    groups = _groups(groups_doc, str(shared["groups"]))
    if "covered" not in groups:
        raise RulesError(f"{shared['groups']}: a group named 'covered' is required")
    if not documents:
        raise RulesError("no ruleset given (only groups or scoring files)")

    settings = _merge_settings(documents)
    rulesets: list[Ruleset] = []
    seen_rules: dict[str, str] = {}
    for path, document, digest in documents:
        found = _semantic_issues(document, str(path), set(groups))
        for entry in document["rules"]:
            if entry["id"] in seen_rules and seen_rules[entry["id"]] != str(path):
                found.append(
                    _issue(
                        str(path),
                        "/rules",
                        entry["id"],
                        f"rule id also in {seen_rules[entry['id']]}",
                    )
                )
            seen_rules[entry["id"]] = str(path)
        if found:
            issues += found
            continue
        rules = tuple(_rule(e, document, settings) for e in document["rules"])
        rulesets.append(
            Ruleset(
                id=document["id"],
                version=document["version"],
                title=document["title"],
                regime=str(document.get("regime") or document["id"]).upper(),
                applicability=document["applicability"],
                last_reviewed=date.fromisoformat(document["last_reviewed"]),
                sources=tuple(Citation(**s) for s in document["sources"]),
                settings=dict(document.get("settings") or {}),
                rules=rules,
                path=str(path),
                sha256=digest,
            )
        )
    if issues:
        raise _rules_error(issues)
    ids = [rs.id for rs in rulesets]
    if len(set(ids)) != len(ids):
        raise RulesError(f"two rulesets share an id: {sorted(i for i in ids if ids.count(i) > 1)}")
    return RuleBook(
        rulesets=sorted(rulesets, key=lambda r: r.id),
        groups=groups,
        scoring=scoring_doc,
        settings=settings,
        files={role: str(p) for role, p in shared.items()},
    )


def _merge_settings(documents: list[tuple[Path, dict[str, Any], str]]) -> dict[str, Any]:
    """Defaults overridden by the rulesets; two rulesets disagreeing is an error."""
    settings = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULT_SETTINGS.items()}
    origin: dict[str, str] = {}
    for path, document, _ in documents:
        for key, value in (document.get("settings") or {}).items():
            if isinstance(value, dict):
                merged = {**settings[key], **value}
                value = merged
            if key in origin and settings[key] != value:
                raise RulesError(
                    f"rulesets disagree on setting {key!r}: {origin[key]} says {settings[key]!r}, "
                    f"{path} says {value!r}"
                )
            settings[key] = value
            origin[key] = str(path)
    return settings


def validate_file(path: Path) -> tuple[str, list[Issue]]:
    """Check one rules file on its own (schema and, for rulesets, semantics); kind and issues."""
    document, _ = read_document(path)
    issues = validate_document(document, str(path))
    kind = kind_of(document)
    if issues:
        return kind, issues
    if kind == "groups":
        try:
            _groups(document, str(path))
        except RulesError as exc:
            issues.append(_issue(str(path), "/groups", None, exc.message))
        return kind, issues
    if kind == "scoring":
        return kind, issues
    groups_doc, _ = read_document(shipped_dir() / "groups.yaml")
    sibling = path.parent / "groups.yaml"
    if sibling.is_file() and sibling.resolve() != path.resolve():
        groups_doc, _ = read_document(sibling)
    names = set(groups_doc.get("groups", {}))
    return kind, _semantic_issues(document, str(path), names)
