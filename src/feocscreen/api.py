"""``screen(config) -> ScreeningResult``: the stages of a screening run, in order.

intake → chains (graph) → matches (watchlists, when given) → ownership →
rules → waivers → scores → result dict (DESIGN's JSON v1 plus the report's
additions), validated against the shipped JSON Schema. Deterministic: the same
inputs and ``as_of`` give the same dict apart from ``generated_at``.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd

from . import __version__, progress
from .errors import make_issue
from .gate import GateOutcome, evaluate_gate
from .graph import UNVERIFIED, Chains, build_chains, midstream_index, stage_figures
from .models import MIDSTREAM, STAGES, Issue, ScreenConfig
from .ownership import SFE_LISTS, OwnershipGraph, normalise_owner
from .portfolio import Portfolio
from .rules.evaluate import evaluate_supplier
from .rules.kinds import Subject
from .rules.load import RuleBook, load_rulebook
from .score import midstream_unverified, portfolio_summary, score_findings, tier
from .waivers import WaiverReport, apply_waivers, load_waivers

SCHEMA_VERSION = "1"
STALE_AFTER_MONTHS = 12  # DESIGN: warn when as-of is over 12 months past last_reviewed
HK_MO = frozenset({"HK", "MO"})
AUDITED_LIBRARIES = (
    "pandas",
    "numpy",
    "pandera",
    "openpyxl",
    "python-calamine",
    "fastexcel",
    "jsonschema",
    "PyYAML",
    "rapidfuzz",
    "pycountry",
    "pypinyin",
    "click",
    "rich",
)


@dataclass
class ScreeningResult:
    """The result dict (``data``) and, for in-process callers, the objects behind it."""

    data: dict[str, Any]
    portfolio: Portfolio
    rulebook: RuleBook
    gate: GateOutcome | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return bool(self.data["validation"]["errors"])


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (clamped to the month's last day)."""
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - 28 always exists


def group_resolver(book: RuleBook) -> Any:
    """(group, context) → members, with HK/MO added to ``covered`` per the two settings."""
    settings = book.settings
    cache: dict[tuple[str, str], frozenset[str]] = {}

    def members(group: str, context: str) -> frozenset[str]:
        key = (group, context)
        if key not in cache:
            base = book.groups[group].members
            flag = (
                settings["hk_mo_origin"] if context == "origin" else settings["hk_mo_jurisdiction"]
            )
            cache[key] = base | HK_MO if group == "covered" and flag else base
        return cache[key]

    return members


@contextmanager
def _timed(timings: dict[str, float], name: str, total: int | None = None) -> Iterator[Any]:
    start = time.perf_counter()
    with progress.stage(name, total=total, unit="suppliers") as handle:
        yield handle
    timings[name] = round(time.perf_counter() - start, 4)


_PAUSE_DEPTH = 0


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a run allocates millions of small dicts.

    Screening builds one dict per finding and keeps them all, so each generation-2 pass
    rescans everything built so far: measured at 100k Sourcing rows, 2-3 s of a 10 s run.
    The run creates few reference cycles; collection resumes (and catches up) on exit.
    """
    global _PAUSE_DEPTH
    if _PAUSE_DEPTH:  # nested: the outermost pause decides
        yield
        return
    was_enabled = gc.isenabled()
    gc.freeze()  # what exists now (modules, the rule book) is never rescanned
    gc.disable()
    _PAUSE_DEPTH += 1
    try:
        yield
    finally:
        _PAUSE_DEPTH -= 1
        if was_enabled:
            gc.enable()
        gc.unfreeze()


collector_paused = _collector_paused  # for callers that also write the result (CLI, web)


def screen(config: ScreenConfig) -> ScreeningResult:
    """Read the inputs named by ``config`` and screen them (see module docstring)."""
    from .validate import load_portfolio

    book = load_rulebook(config.rules)
    timings: dict[str, float] = {}
    with _collector_paused():
        start = time.perf_counter()
        portfolio = load_portfolio(
            config.inputs, columns_map=config.columns, suppliers_map=config.suppliers_map
        )
        timings["intake"] = round(time.perf_counter() - start, 4)
        return screen_portfolio(portfolio, config, book, timings)


def _load_matches(
    portfolio: Portfolio, config: ScreenConfig, book: RuleBook
) -> tuple[Any, list[dict[str, Any]], list[Issue]]:
    """Watchlist matches when lists are given (or FEOCSCREEN_LISTS_DIR is set), else None."""
    if not config.lists and not os.environ.get("FEOCSCREEN_LISTS_DIR"):
        return (
            None,
            [],
            [
                make_issue(
                    "no-watchlist",
                    "warning",
                    "no watchlist loaded: listing prongs are reported as not tested, never as passed",
                )
            ],
        )
    from .match import screen_portfolio as match_portfolio
    from .watchlist import load_lists

    lists = load_lists(list(config.lists))
    thresholds = book.settings["thresholds"]
    outcome = match_portfolio(
        portfolio,
        lists,
        match_threshold=float(thresholds["match"]),
        review_threshold=float(thresholds["review"]),
        decisions=config.decisions,
    )
    if not getattr(outcome, "tested", True):
        return None, list(lists.sources), list(outcome.issues)
    return outcome, list(lists.sources), list(getattr(outcome, "issues", []))


def _evidence(portfolio: Portfolio, loc: Any, column: str) -> dict[str, Any]:
    """The evidence dict of one cell (built directly: this runs once per finding)."""
    file, sheet, row = loc.get("_file"), loc.get("_sheet"), loc.get("_row")
    if file is None or row is None or pd.isna(row):
        return {"file": None, "sheet": None, "row": None, "column": column, "cell": None}
    cell = None
    layout = portfolio.layouts.get((file, sheet))
    if layout is not None and column in layout.columns:
        cell = f"{layout.columns[column][1]}{int(row)}"
    return {"file": str(file), "sheet": str(sheet), "row": int(row), "column": column, "cell": cell}


def screen_portfolio(
    portfolio: Portfolio,
    config: ScreenConfig,
    book: RuleBook | None = None,
    timings: dict[str, float] | None = None,
) -> ScreeningResult:
    """Screen an already validated portfolio (the in-process entry point)."""
    book = book or load_rulebook(config.rules)
    waivers = load_waivers(config.waivers) if config.waivers is not None else None  # fail fast
    timings = dict(timings or {})
    members = group_resolver(book)
    covered_origin = members("covered", "origin")
    covered_jurisdiction = members("covered", "jurisdiction")
    as_of = config.as_of
    horizon_end = add_months(as_of, config.horizon_months)
    issues: list[Issue] = []

    with _timed(timings, "chains"):
        chains = build_chains(portfolio)
    issues += chains.issues

    with _timed(timings, "matching"):
        outcome, list_sources, match_issues = _load_matches(portfolio, config, book)
    issues += match_issues
    owner_matches = {}
    listed_owner_names: set[str] = set()
    if outcome is not None:
        for name, found in outcome.by_owner.items():
            owner_matches[normalise_owner(name)] = found
            if any(
                m.get("status") == "match" and str(m.get("list", "")).upper() in SFE_LISTS
                for m in found
            ):
                listed_owner_names.add(name)

    graph = OwnershipGraph(
        portfolio, covered_jurisdiction, str(book.settings["indirect_method"]), listed_owner_names
    )
    issues += graph.warnings

    allied_groups = {g: members(g, "origin") for g in sorted(book.groups) if g != "covered"}
    supplier_rows = [
        {key: _plain(value) for key, value in record.items()}
        for record in portfolio.suppliers.sort_values("supplier_id", kind="stable").to_dict(
            "records"
        )
    ]
    sourcing_locs = portfolio.sourcing[["_file", "_sheet", "_row"]].to_dict("records")
    weights = book.scoring["severity_weights"]
    suppliers: list[dict[str, Any]] = []
    findings_by_supplier: dict[str, list[dict[str, Any]]] = {}
    with _timed(timings, "evaluating", total=len(supplier_rows)) as handle:
        for record in supplier_rows:
            sid = str(record["supplier_id"])
            entity = graph.entity(sid)
            subject = _subject(
                portfolio,
                record,
                chains,
                sourcing_locs,
                members,
                entity,
                outcome,
                owner_matches,
                graph,
            )
            verdict = evaluate_supplier(book, subject, sid, as_of, horizon_end)
            exposure, unverified = stage_figures(chains, sid, covered_origin)
            findings_by_supplier[sid] = verdict.findings
            suppliers.append(
                _supplier_entry(
                    record,
                    verdict,
                    entity,
                    chains,
                    exposure,
                    unverified,
                    book,
                    allied_groups,
                    outcome,
                )
            )
            handle.advance(1)

    waiver_report = WaiverReport()
    if waivers is not None:
        waiver_report = apply_waivers(waivers, findings_by_supplier, as_of, str(config.waivers))
        issues += waiver_report.issues

    for supplier in suppliers:
        supplier["score"] = score_findings(supplier["findings"], weights)
        supplier["tier"] = tier(
            supplier["findings"],
            book.scoring["tiers"],
            midstream_unverified(supplier["stage_unverified"]),
        )

    for ruleset in book.rulesets:
        if as_of > add_months(ruleset.last_reviewed, STALE_AFTER_MONTHS):
            issues.append(
                make_issue(
                    "rules-stale",
                    "warning",
                    f"ruleset {ruleset.id} was last reviewed on {ruleset.last_reviewed.isoformat()}, "
                    f"over {STALE_AFTER_MONTHS} months before {as_of.isoformat()}: the law may have moved",
                    file=ruleset.path,
                )
            )

    all_issues = [*portfolio.issues, *issues]
    data = _result(
        portfolio,
        config,
        book,
        suppliers,
        chains,
        covered_origin,
        list_sources,
        waiver_report,
        all_issues,
        timings,
        outcome,
    )
    validate_result(data)
    gate = None
    if config.fail_on is not None:
        gate = evaluate_gate(data, config.fail_on, config.fail_on_upcoming)
    return ScreeningResult(data, portfolio, book, gate, all_issues)


def _supplier_entry(
    record: dict[str, Any],
    verdict: Any,
    entity: Any,
    chains: Chains,
    exposure: dict[str, float | None],
    unverified: dict[str, float | None],
    book: RuleBook,
    allied_groups: dict[str, frozenset[str]],
    outcome: Any,
) -> dict[str, Any]:
    """One supplier of the result (score and tier are set after waivers)."""
    sid = str(record["supplier_id"])
    feoc = any(v is True for k, v in verdict.prongs.items() if k.startswith("feoc_"))
    pfe = any(v is True for k, v in verdict.prongs.items() if k.startswith("pfe_"))
    spend = record.get("annual_spend_usd")
    return {
        "supplier_id": sid,
        "supplier_name": _text(record.get("supplier_name")),
        "country": _text(record.get("country")),
        "incorporation_country": _text(record.get("incorporation_country")),
        "hq_country": _text(record.get("hq_country")),
        "stage": _text(record.get("stage")),
        "supplies_stage": _text(record.get("supplies_stage")),
        "material": _text(record.get("material")) or "ndfeb",
        "dfars_exception": _text(record.get("dfars_exception")),
        "annual_spend_usd": None if spend is None or pd.isna(spend) else float(spend),
        "tier": "clear",
        "score": 0.0,
        "feoc": feoc,
        "pfe": pfe,
        "prongs": verdict.prongs,
        "prong_notes": verdict.prong_notes,
        "feoc_pfe_basis": sorted(set(verdict.basis["feoc"]) | set(verdict.basis["pfe"])),
        "covered_government_ownership": entity.covered_government,
        "ownership": entity.to_dict(),
        "midstream_exposure": midstream_index(exposure, book.scoring["stage_weights"]),
        "stage_exposure": exposure,
        "stage_unverified": unverified,
        "stage_country": {
            stage: dict(sorted(shares.items()))
            for stage, shares in chains.stage_country[sid].items()
        },
        "stage_allied": _stage_allied(chains.stage_country[sid], allied_groups),
        "findings": verdict.findings,
        "matches": sorted(
            (outcome.by_supplier.get(sid, []) if outcome is not None else []),
            key=lambda m: (
                str(m.get("field")),
                str(m.get("list")),
                str(m.get("entry")),
            ),
        ),
    }


def _stage_allied(
    stage_country: dict[str, dict[str, float]], groups: dict[str, frozenset[str]]
) -> dict[str, dict[str, float]]:
    """Per chain stage, the share performed in each allied country group."""
    index = _allied_index(groups)
    allied: dict[str, dict[str, float]] = {}
    for stage, shares in stage_country.items():
        distribution = tuple(shares.items())
        totals = index.by_distribution.get(distribution)
        if totals is None:
            totals = index.group_totals(distribution)
            if len(index.by_distribution) >= ALLIED_MEMO_LIMIT:
                index.by_distribution.clear()
            index.by_distribution[distribution] = totals
        allied[stage] = dict(totals)  # each supplier owns its dicts
    return allied


ALLIED_MEMO_LIMIT = 65536  # distinct stage distributions kept; beyond, start again (1M rows)


@dataclass
class _AlliedIndex:
    """The allied groups of a run, grouped by country, and the totals of each stage shape
    seen so far (suppliers repeat the same country shares stage after stage)."""

    groups: dict[str, frozenset[str]]
    groups_of: dict[str, tuple[str, ...]]
    by_distribution: dict[tuple[tuple[str, float], ...], dict[str, float]]

    def group_totals(self, distribution: tuple[tuple[str, float], ...]) -> dict[str, float]:
        """Share per group: one pass over the countries, adding each share to the groups
        holding it in declaration order (the same sums as summing group by group)."""
        totals: dict[str, float] = dict.fromkeys(self.groups, 0)
        for country, share in distribution:
            for group in self.groups_of.get(country, ()):
                totals[group] += share
        return {group: round(total, 10) for group, total in totals.items()}


# The index of the last run's groups (the groups object is held, so the identity test
# cannot match a new object at a reused id).
_ALLIED_INDEX: list[_AlliedIndex] = []


def _allied_index(groups: dict[str, frozenset[str]]) -> _AlliedIndex:
    """The country index of the run's allied groups, built once per run."""
    last = _ALLIED_INDEX[0] if _ALLIED_INDEX else None
    if last is not None and last.groups is groups:
        return last
    groups_of: dict[str, list[str]] = {}
    for group, countries in groups.items():
        for country in countries:
            groups_of.setdefault(country, []).append(group)
    index = _AlliedIndex(groups, {c: tuple(g) for c, g in groups_of.items()}, {})
    _ALLIED_INDEX[:] = [index]  # runs in other threads rebuild their own when it changes
    return index


def _plain(value: Any) -> Any:
    """None for every spelling of a blank cell (NaN, pd.NA, NaT), so rule kinds can test truth."""
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):  # lists and other non-scalars
        return value


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return str(value)


def _subject(
    portfolio: Portfolio,
    record: dict[str, Any],
    chains: Chains,
    sourcing_locs: list[dict[str, Any]],
    members: Any,
    entity: Any,
    outcome: Any,
    owner_matches: dict[str, list[dict[str, Any]]],
    graph: OwnershipGraph,
) -> Subject:
    sid = str(record["supplier_id"])

    cache: dict[tuple[str, str], Any] = {}

    def stage_evidence(
        stage: str, country: str
    ) -> tuple[tuple[dict[str, Any], ...], tuple[tuple[str, ...], ...]]:
        if (stage, country) not in cache:
            cache[(stage, country)] = _stage_evidence(stage, country)
        return cache[(stage, country)]  # type: ignore[no-any-return]

    def _stage_evidence(
        stage: str, country: str
    ) -> tuple[tuple[dict[str, Any], ...], tuple[tuple[str, ...], ...]]:
        rows = list(chains.evidence_rows.get((sid, stage, country), {}))
        evidence = [_evidence(portfolio, sourcing_locs[r], "country") for r in rows]
        if country == UNVERIFIED:
            declared = [] if rows else list(chains.stage_rows.get((sid, stage), {}))
            evidence += [
                _evidence(portfolio, sourcing_locs[r], "share") for r in sorted(set(declared))
            ]
            if not evidence:
                evidence.append(_evidence(portfolio, record, "stage"))
        return tuple(evidence), tuple(chains.paths.get((sid, stage, country), {}))

    def jurisdiction_evidence(column: str) -> tuple[dict[str, Any], ...]:
        item = _evidence(portfolio, record, column)
        if item.get("cell") is None and column != "country":
            item = _evidence(portfolio, record, "country")
        return (item,)

    matches = None
    owners: list[dict[str, Any]] = []
    if outcome is not None:
        matches = outcome.by_supplier.get(sid, [])
        for owner in sorted(graph.ancestors(entity.key)):
            owners += owner_matches.get(owner, [])
    return Subject(
        supplier=record,
        chain=chains.chain(sid),
        stage_country=chains.stage_country[sid],
        group_members=members,
        stage_evidence=stage_evidence,
        jurisdiction_evidence=jurisdiction_evidence,
        ownership=entity,
        matches=matches,
        owner_matches=owners,
    )


def _library_versions() -> dict[str, str]:
    versions = {}
    for name in AUDITED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _result(
    portfolio: Portfolio,
    config: ScreenConfig,
    book: RuleBook,
    suppliers: list[dict[str, Any]],
    chains: Chains,
    covered_origin: frozenset[str],
    list_sources: list[dict[str, Any]],
    waivers: WaiverReport,
    issues: list[Issue],
    timings: dict[str, float],
    outcome: Any,
) -> dict[str, Any]:
    settings = {
        "as_of": config.as_of.isoformat(),
        "horizon_months": config.horizon_months,
        "hk_mo_jurisdiction": bool(book.settings["hk_mo_jurisdiction"]),
        "hk_mo_origin": bool(book.settings["hk_mo_origin"]),
        "indirect_method": book.settings["indirect_method"],
        "taxable_year_start": str(book.settings["taxable_year_start"]),
        "thresholds": dict(book.settings["thresholds"]),
        "covered_origin": sorted(covered_origin),
        "covered_jurisdiction": sorted(group_resolver(book)("covered", "jurisdiction")),
        "severity_weights": dict(book.scoring["severity_weights"]),
        "stage_weights": dict(book.scoring["stage_weights"]),
        "fail_on": config.fail_on,
        "fail_on_upcoming": config.fail_on_upcoming,
        "strict": config.strict,
        "watchlists_loaded": outcome is not None,
        # IRC 45X material-assistance cost ratio needs direct material costs per input,
        # which the supplier sheets do not carry (fact sheet, decisions).
        "macr_45x": "not computed: the input has no direct material cost columns",
    }
    not_screened = [
        {"supplier_id": str(sid), "reasons": [i.to_dict() for i in reasons]}
        for sid, reasons in sorted(portfolio.not_screened.items())
    ]
    ordered_issues = sorted(
        (i.to_dict() for i in issues),
        key=lambda d: (
            str(d["file"] or ""),
            str(d["sheet"] or ""),
            d["row"] or 0,
            d["code"],
            d["message"],
        ),
    )
    summary = portfolio_summary(suppliers, chains.distribution, covered_origin, len(not_screened))
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "feocscreen", "version": __version__},
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "as_of": config.as_of.isoformat(),
        "settings": settings,
        "inputs": sorted(portfolio.inputs, key=lambda i: str(i["path"])),
        "rulesets": [
            {
                "id": rs.id,
                "version": rs.version,
                "sha256": rs.sha256,
                "last_reviewed": rs.last_reviewed.isoformat(),
                "title": rs.title,
                "regime": rs.regime,
                "applicability": rs.applicability,
                "path": _display_path(rs.path),
                "rules": len(rs.rules),
            }
            for rs in book.rulesets
        ],
        "lists": sorted(list_sources, key=lambda s: str(s["path"])),
        "validation": {
            "errors": [i for i in ordered_issues if i["severity"] == "error"],
            "warnings": [i for i in ordered_issues if i["severity"] != "error"],
        },
        "not_screened": not_screened,
        "suppliers": suppliers,
        "summary": summary,
        "waivers": waivers.to_dict(),
        "audit": {
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "libraries": _library_versions(),
            "command_line": config.command_line,
            "settings": settings,
            "rules_files": {k: _display_path(v) for k, v in sorted(book.files.items())},
            "decisions": getattr(outcome, "decisions", None) if outcome is not None else None,
            # Timings differ run to run, so they appear only when asked for (--verbose):
            # the same input and --as-of otherwise give the same result.
            "timings": {k: timings[k] for k in sorted(timings)} if config.verbose else {},
            "files": _audit_files(config),
            "stages": list(STAGES),
            "midstream": list(MIDSTREAM),
        },
    }


def _audit_files(config: ScreenConfig) -> list[dict[str, Any]]:
    """Waivers, decisions and mapping files the run read, with their SHA-256 for the audit."""
    from .ingest import sha256_of

    roles = (
        ("waivers", config.waivers),
        ("decisions", config.decisions),
        ("columns", config.columns),
        ("suppliers_map", config.suppliers_map),
    )
    return [
        {"role": role, "path": str(path), "sha256": sha256_of(Path(path))}
        for role, path in roles
        if path is not None and Path(path).is_file()
    ]


def _display_path(path: str) -> str:
    """Shipped files are shown as builtin:NAME so results do not depend on install location."""
    from .rules.load import shipped_dir

    try:
        relative = os.path.relpath(path, shipped_dir())
    except ValueError:
        return path
    if not relative.startswith(".."):
        return "builtin:" + relative.rsplit(".", 1)[0]
    return path


@lru_cache(maxsize=1)
def result_schema() -> dict[str, Any]:
    """The shipped JSON Schema of the result (schema_version 1)."""
    text = (resources.files("feocscreen") / "data" / "result.schema.json").read_text(
        encoding="utf-8"
    )
    return json.loads(text)


# Validating costs ~2-10 ms per supplier (more than screening it); past this many, a fixed sample is checked at
# run time (the test suite validates every result it produces in full).
VALIDATE_ALL_LIMIT = 300
VALIDATE_SAMPLE = 50


def validate_result(data: dict[str, Any], full: bool = False) -> None:
    """Raise if a produced result does not match the shipped schema (a bug, exit 3)."""
    validator = jsonschema.Draft202012Validator(result_schema())
    suppliers = data["suppliers"]
    if full or len(suppliers) <= VALIDATE_ALL_LIMIT:
        validator.validate(data)
        return
    step = max(1, len(suppliers) // VALIDATE_SAMPLE)
    validator.validate({**data, "suppliers": suppliers[::step]})
