"""``screen(config) -> ScreeningResult``: the stages of a screening run, in order.

intake → chains (graph) → matches (watchlists, when given) → ownership →
rules → waivers → scores → result dict (DESIGN's JSON v1 plus the report's
additions), validated against the shipped JSON Schema. Deterministic: the same
inputs and ``as_of`` give the same dict apart from ``generated_at``.

``open_screening(config) -> Screening`` runs the same stages as a stream: the
result's head, then each supplier once, in id order (on forked workers for large
runs), then what needs them all. The CLI writes its outputs from that stream, so
memory does not grow with the result; ``screen`` collects it.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Protocol

import jsonschema
import numpy as np
import pandas as pd

from . import __version__, progress
from .errors import FeocscreenError, make_issue
from .gate import GateCounter, GateOutcome
from .graph import (
    UNVERIFIED,
    Chains,
    SupplierChain,
    build_chains,
    midstream_index,
    stage_shares,
)
from .machine import can_fork, process_context, release_freed_memory, usable_cpus
from .models import MIDSTREAM, STAGES, Issue, ScreenConfig
from .ownership import SFE_LISTS, OwnershipGraph, normalise_owner
from .portfolio import Portfolio
from .rules.evaluate import evaluate_supplier
from .rules.kinds import Subject
from .rules.load import RuleBook, load_rulebook
from .score import SummaryFigures, midstream_unverified, score_and_tier
from .waivers import WaiverBook, WaiverReport, load_waivers

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

    A whole result (``screen``) holds one dict per finding, so each generation-2 pass
    rescans everything built so far: measured at 100k Sourcing rows, 2-3 s of a 10 s run.
    Screening creates no reference cycles (tests/test_scale_stream.py holds it to that),
    so nothing waits for the collector; collection resumes on exit.
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
    book = load_rulebook(config.rules)
    with _collector_paused():
        return open_screening(config, book).result()


def open_screening(
    config: ScreenConfig,
    book: RuleBook | None = None,
    workers: int | None = 1,
    gate_keep: int | None = None,
) -> Screening:
    """Read and validate the inputs and prepare the run; suppliers are screened as
    ``Screening.suppliers()`` is consumed (what the CLI streams to its outputs).

    ``workers=None`` screens a large portfolio on forked worker processes, one per CPU
    (see ``default_workers``); results are the same, in the same order. ``gate_keep``
    bounds what the gate lists (see ``GateCounter``); it still counts everything."""
    from .validate import load_portfolio

    book = book or load_rulebook(config.rules)
    start = time.perf_counter()
    portfolio = load_portfolio(
        config.inputs, columns_map=config.columns, suppliers_map=config.suppliers_map
    )
    timings = {"intake": round(time.perf_counter() - start, 4)}
    return Screening(portfolio, config, book, timings, workers, gate_keep)


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
    return Screening(portfolio, config, book, timings).result()


SUPPLIER_BLOCK = 2048  # suppliers whose chains and records are built together


class Screening:
    """One screening run, in three parts: ``head`` (what the result says before its
    suppliers), ``suppliers()`` (each supplier screened, waived and scored, once, in id
    order) and ``finish()`` (validation, summary, waivers and audit, once every supplier
    is out). Writers stream the suppliers, so no supplier list need be held: memory is
    bounded by the portfolio's frames, not by the result.
    """

    def __init__(
        self,
        portfolio: Portfolio,
        config: ScreenConfig,
        book: RuleBook | None = None,
        timings: dict[str, float] | None = None,
        workers: int | None = 1,
        gate_keep: int | None = None,
    ) -> None:
        book = book or load_rulebook(config.rules)
        self.portfolio, self.config, self.book = portfolio, config, book
        self._waivers = WaiverBook(
            load_waivers(config.waivers) if config.waivers is not None else None,  # fail fast
            config.as_of,
            str(config.waivers),
        )
        self.timings = dict(timings or {})
        self.members = members = group_resolver(book)
        self.covered_origin = members("covered", "origin")
        covered_jurisdiction = members("covered", "jurisdiction")
        self.horizon_end = add_months(config.as_of, config.horizon_months)
        issues: list[Issue] = []

        with _timed(self.timings, "chains"):
            self.chains = build_chains(portfolio)
        issues += self.chains.issues

        with _timed(self.timings, "matching"):
            self.outcome, list_sources, match_issues = _load_matches(portfolio, config, book)
        issues += match_issues
        self.owner_matches: dict[str, list[dict[str, Any]]] = {}
        listed_owner_names: set[str] = set()
        if self.outcome is not None:
            for name, found in self.outcome.by_owner.items():
                self.owner_matches[normalise_owner(name)] = found
                if any(
                    m.get("status") == "match" and str(m.get("list", "")).upper() in SFE_LISTS
                    for m in found
                ):
                    listed_owner_names.add(name)

        self.graph = OwnershipGraph(
            portfolio,
            covered_jurisdiction,
            str(book.settings["indirect_method"]),
            listed_owner_names,
        )
        issues += self.graph.warnings
        self._shapes = _StageShapes(
            self.covered_origin,
            {g: members(g, "origin") for g in sorted(book.groups) if g != "covered"},
        )
        for ruleset in book.rulesets:
            if config.as_of > add_months(ruleset.last_reviewed, STALE_AFTER_MONTHS):
                issues.append(
                    make_issue(
                        "rules-stale",
                        "warning",
                        f"ruleset {ruleset.id} was last reviewed on "
                        f"{ruleset.last_reviewed.isoformat()}, over {STALE_AFTER_MONTHS} months "
                        f"before {config.as_of.isoformat()}: the law may have moved",
                        file=ruleset.path,
                    )
                )
        self.issues = issues
        self.count = len(self.chains.ids)
        # processes screening blocks (see _screened_blocks); None: as many as pay off
        self.workers = default_workers(self.count) if workers is None else workers
        self.figures = SummaryFigures()
        self._sample_step = _sample_step(self.count)
        self._consumed = False
        self._blocks: BlockSink | None = None  # set by encoded()
        self._gate = (
            GateCounter(config.fail_on, config.fail_on_upcoming, keep=gate_keep)
            if config.fail_on is not None
            else None
        )
        self.gate: GateOutcome | None = None  # set by finish() when gating
        self.head = _head(portfolio, config, book, list_sources, self.covered_origin, self.outcome)
        release_freed_memory()  # what building the chains freed (hundreds of MB at 1M rows)

    def suppliers(self) -> Iterator[dict[str, Any]]:
        """Screen every supplier, in id order; a run can be consumed once."""
        for entry, _ in self._stream(None):
            yield entry

    def encoded(
        self,
        encode: Callable[[dict[str, Any]], Any],
        blocks: BlockSink | None = None,
    ) -> Iterator[tuple[dict[str, Any], Any]]:
        """Screen every supplier as ``suppliers()`` does, giving each as (its figures,
        ``encode(entry)``): for writers that need only what ``encode`` makes of a supplier
        (the JSON text, the report's rows).

        With ``workers`` > 1 the suppliers are screened and encoded on forked worker
        processes, and only what ``encode`` made, each block's figures for the run's
        summary, and what the gate and the caller's digest need come back (an entry without
        findings, matches, prongs, basis, ownership and per-stage detail; whole every so
        often for validation, and with the findings the gate counts when gating). ``encode``
        must be a module-level function.

        ``blocks`` sees each block's encodings where they were made, before they come back:
        what it returns comes back instead (a writer that puts the block in its file there
        sends nothing of it back). There are ``block_count`` blocks, numbered in order.
        """
        self._blocks = blocks
        return self._stream(encode)

    @property
    def block_count(self) -> int:
        """How many blocks the suppliers are screened in (see ``encoded``)."""
        return len(range(0, self.count, SUPPLIER_BLOCK))

    def _stream(
        self, encode: Callable[[dict[str, Any]], Any] | None
    ) -> Iterator[tuple[dict[str, Any], Any]]:
        if self._consumed:
            raise RuntimeError("a screening run's suppliers can be read once")
        self._consumed = True
        portfolio = self.portfolio
        frame = portfolio.suppliers.assign(_id=portfolio.suppliers["supplier_id"].astype(str))
        self._frame = frame.set_index("_id").loc[self.chains.ids] if len(frame) else frame
        self._locations = _Locations(portfolio)
        starts = range(0, self.count, SUPPLIER_BLOCK)
        position = 0  # of the supplier in the run: every _sample_step-th is schema-checked
        with _timed(self.timings, "evaluating", total=self.count) as handle:
            for entries, texts, matched, figures in self._screened_blocks(starts, encode):
                self._waivers.record(matched)
                self.figures.extend(figures)
                for entry, text in zip(entries, texts, strict=True):
                    if self._gate is not None:
                        self._gate.add_supplier(entry)
                    if position % self._sample_step == 0:
                        validate_supplier(entry)  # now, not at the end: its tail is one core
                    position += 1
                    yield entry, text
                handle.advance(len(entries))  # a block at a time: the display needs no more

    def _screened_blocks(
        self, starts: range, encode: Callable[[dict[str, Any]], Any] | None
    ) -> Iterator[_Block]:
        """Each block's entries, texts and waiver matches, in order: here, or on workers.

        Workers (only when encoding) are forked from this process once the run is
        prepared, so they share its frames and chains without copying them. At most one
        block per worker and the one being written are in flight, so a slow writer holds
        the workers back instead of letting finished blocks pile up in memory.
        """
        workers = self.workers if encode is not None and len(starts) > 1 and can_fork() else 1
        if workers <= 1:
            for start in starts:
                entries, matched = self._screen_block(start)
                texts = [encode(e) for e in entries] if encode else [None] * len(entries)
                if self._blocks is not None:
                    texts = self._blocks.done(start // SUPPLIER_BLOCK, texts)
                yield entries, texts, matched, SummaryFigures.of(entries)
            return
        _FORKED_RUN[:] = [self]
        try:
            with process_context().Pool(workers) as pool:
                pending: deque[Any] = deque()
                for start in starts:
                    pending.append(pool.apply_async(_screen_forked_block, (start, encode)))
                    if len(pending) > workers:
                        yield pending.popleft().get()
                while pending:
                    yield pending.popleft().get()
        finally:
            _FORKED_RUN.clear()

    def _slim(self, entry: dict[str, Any], position: int) -> dict[str, Any]:
        """What of an entry crosses back from a worker (see ``encoded``)."""
        if position % self._sample_step == 0:
            return entry  # checked against the schema as it comes (_stream): sent whole
        slim = {k: v for k, v in entry.items() if k not in SLIM_DROPPED}
        gate = self._gate
        if gate is not None:  # only what the gate counts, and only what it reads of it
            slim["findings"] = [
                {k: finding.get(k) for k in GATE_READS}
                for finding in entry["findings"]
                if gate.counts(finding)
            ]
        return slim

    def _screen_block(self, start: int) -> tuple[list[dict[str, Any]], list[tuple[int, list[str]]]]:
        """The entries of the SUPPLIER_BLOCK suppliers from ``start``: screened, waived, scored."""
        matched: list[tuple[int, list[str]]] = []
        return list(self._screened(start, matched)), matched

    def _screened(
        self, start: int, matched: list[tuple[int, list[str]]]
    ) -> Iterator[dict[str, Any]]:
        """Each supplier of the block from ``start`` as it is screened, waived and scored
        (adding its waiver matches to `matched`), so a worker can encode it and let it go."""
        portfolio, chains, book = self.portfolio, self.chains, self.book
        weights = book.scoring["severity_weights"]
        tiers = book.scoring["tiers"]
        stop = min(start + SUPPLIER_BLOCK, self.count)
        shapes = self._shapes
        records = _records(self._frame.iloc[start:stop])
        for record, chain in zip(records, chains.block(start, stop), strict=True):
            sid = str(record["supplier_id"])
            entity = self.graph.entity(sid)
            subject = _subject(
                portfolio,
                record,
                sid,
                chains,
                chain,
                self._locations,
                self.members,
                entity,
                self.outcome,
                self.owner_matches,
                self.graph,
            )
            verdict = evaluate_supplier(book, subject, sid, self.config.as_of, self.horizon_end)
            entry = _supplier_entry(
                record,
                verdict,
                entity,
                shapes.figures(chain),
                book,
                self.outcome,
            )
            matched += self._waivers.apply(sid, entry["findings"])
            entry["score"], entry["tier"] = score_and_tier(
                entry["findings"],
                weights,
                tiers,
                midstream_unverified(entry["stage_unverified"]),
            )
            yield entry

    def finish(self) -> dict[str, Any]:
        """The result after its suppliers: validation, summary, waivers, audit (and the gate)."""
        if not self._consumed:
            for _ in self.suppliers():
                pass
        waiver_report = self._waivers.report()
        issues = [*self.portfolio.issues, *self.issues, *waiver_report.issues]
        self.all_issues = issues
        tail = _tail(
            self.portfolio,
            self.config,
            self.book,
            self.figures,
            self.chains,
            self.covered_origin,
            waiver_report,
            issues,
            self.timings,
            self.outcome,
        )
        # What the run produced is checked against the schema: every part of a small result;
        # of a large one, a fixed sample of the long lists (each item is built the same way).
        # The sampled suppliers were checked as they came (see _stream).
        validate_result(
            {
                **self.head,
                "not_screened": _sampled(self.head["not_screened"]),
                "suppliers": [],
                **tail,
                "validation": {k: _sampled(v) for k, v in tail["validation"].items()},
            },
            full=True,
        )
        if self._gate is not None:
            self.gate = self._gate.outcome(self.head["not_screened"])
        return tail

    def result(self) -> ScreeningResult:
        """The whole result in memory (the in-process API, the upload page, ``check``)."""
        suppliers = list(self.suppliers())
        tail = self.finish()
        data = {**self.head, "suppliers": suppliers, **tail}
        return ScreeningResult(data, self.portfolio, self.book, self.gate, self.all_issues)


# The run forked workers screen blocks of (set just before the pool forks; a worker
# inherits it with the rest of the parent's memory).
_FORKED_RUN: list[Screening] = []
# Workers share blocks, so they need two blocks to gain anything; measured on 2 cores, two
# workers screen 5k suppliers 5 % faster than one process and 17k suppliers 19 % faster.
PARALLEL_MIN_SUPPLIERS = 2 * SUPPLIER_BLOCK


# A screened block: entries (or what is left of them), their encoded texts, waiver
# matches, and the block's figures for the portfolio summary.
_Block = tuple[list[dict[str, Any]], list[Any], list[tuple[int, list[str]]], SummaryFigures]
SLIM_DROPPED = frozenset(
    {
        "findings",
        "matches",
        "prongs",
        "prong_notes",
        "ownership",
        "stage_country",
        "stage_allied",
        "stage_exposure",
        "stage_unverified",
        "feoc_pfe_basis",
    }
)
GATE_READS = ("finding_id", "rule_id", "severity", "status", "message", "waived")


class BlockSink(Protocol):
    """Takes a block's encodings where the block was screened (see ``Screening.encoded``)."""

    def done(self, index: int, encoded: list[Any]) -> list[Any]:
        """Block ``index``'s encodings, in supplier order; returns what comes back of them.
        Called for the blocks in any order, on the process that screened the block."""


def _screen_forked_block(start: int, encode: Callable[[dict[str, Any]], Any]) -> _Block:
    """On a worker: one block screened and encoded; its figures and texts go back.

    The memory a block frees is kept by the worker for the next block (no malloc_trim
    here): handing it back after every block cost 0.8 M page faults at 1M rows, 3 CPU s
    of the report run, for 40 MiB less at the peak."""
    run = _FORKED_RUN[0]
    matched: list[tuple[int, list[str]]] = []
    texts, slim, figures = [], [], SummaryFigures()
    # each entry is let go once encoded: a block holds its texts, not its entries
    for position, entry in enumerate(run._screened(start, matched), start=start):
        texts.append(encode(entry))
        figures.add(entry)
        slim.append(run._slim(entry, position))
    if run._blocks is not None:
        texts = run._blocks.done(start // SUPPLIER_BLOCK, texts)
    figures.pack()
    return slim, texts, matched, figures


def default_workers(suppliers: int) -> int:
    """Worker processes for a run of this many suppliers: every CPU this process may use,
    past PARALLEL_MIN_SUPPLIERS (``FEOCSCREEN_WORKERS`` overrides; 1 screens in-process)."""
    configured = os.environ.get("FEOCSCREEN_WORKERS", "").strip()
    if configured:
        if not configured.isdigit() or int(configured) < 1:
            raise FeocscreenError(
                f"FEOCSCREEN_WORKERS={configured!r}: give a whole number of processes, 1 or more"
            )
        return int(configured)
    if suppliers < PARALLEL_MIN_SUPPLIERS:
        return 1
    return usable_cpus()


class _Locations:
    """The evidence cells of Sourcing rows, from compact arrays (one dict per finding is built,
    never one per row): file and sheet as codes, the Excel row as a number."""

    def __init__(self, portfolio: Portfolio) -> None:
        sourcing = portfolio.sourcing
        file_code, files = pd.factorize(sourcing["_file"], use_na_sentinel=True)
        sheet_code, sheets = pd.factorize(sourcing["_sheet"], use_na_sentinel=True)
        rows = pd.to_numeric(sourcing["_row"], errors="coerce").to_numpy(dtype="float64")
        # Read through memoryviews: an item comes out as a Python int or float, without the
        # NumPy scalar an array's item makes first.
        self.file_code = np.ascontiguousarray(file_code, dtype=np.int64).data
        self.sheet_code = np.ascontiguousarray(sheet_code, dtype=np.int64).data
        self.rows = np.ascontiguousarray(rows).data
        self.files = [str(f) for f in files]
        self.sheets = [str(s) for s in sheets]
        self.layouts = portfolio.layouts
        self._letters: dict[tuple[int, int, str], str | None] = {}

    def evidence(self, index: int, column: str) -> dict[str, Any]:
        """What ``_evidence`` gives for that row's cell in ``column``."""
        f, sh, row = self.file_code[index], self.sheet_code[index], self.rows[index]
        if f < 0 or row != row:  # no file, or a NaN row
            return {"file": None, "sheet": None, "row": None, "column": column, "cell": None}
        file, sheet = self.files[f], self.sheets[sh] if sh >= 0 else None
        key = (f, sh, column)
        if key not in self._letters:
            layout = self.layouts.get((file, sheet)) if sheet is not None else None
            self._letters[key] = (
                layout.columns[column][1]
                if layout is not None and column in layout.columns
                else None
            )
        letter, number = self._letters[key], int(row)
        return {
            "file": file,
            "sheet": str(sheet),
            "row": number,
            "column": column,
            "cell": None if letter is None else f"{letter}{number}",
        }


def _supplier_entry(
    record: dict[str, Any],
    verdict: Any,
    entity: Any,
    stage_figures: tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]],
    book: RuleBook,
    outcome: Any,
) -> dict[str, Any]:
    """One supplier of the result (score and tier are set after waivers); ``stage_figures``
    from ``_StageShapes.figures``."""
    sid = str(record["supplier_id"])
    feoc = pfe = False  # whether any prong of each holds
    for name, value in verdict.prongs.items():
        if value is True:
            feoc = feoc or name.startswith("feoc_")
            pfe = pfe or name.startswith("pfe_")
    spend = record.get("annual_spend_usd")
    exposure, unverified, stage_country, stage_allied = stage_figures
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
        "stage_country": stage_country,
        "stage_allied": stage_allied,
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


@dataclass(frozen=True)
class _StageShape:
    """What a supplier's entry says of one stage with these country shares."""

    shares: dict[str, float]  # by country, sorted
    exposure: float  # share in covered nations
    unverified: float
    allied: dict[str, float]  # share in each allied group


class _StageShapes:
    """The stage figures of a run's suppliers, worked out once per distinct stage
    distribution (a large portfolio repeats the same country shares stage after stage).
    Each supplier gets its own dicts."""

    LIMIT = 65536  # distinct distributions kept; beyond, start again (1M rows)

    def __init__(self, covered: frozenset[str], allied: dict[str, frozenset[str]]) -> None:
        self.covered = covered
        self.groups = allied
        groups_of: dict[str, list[str]] = {}
        for group, countries in allied.items():
            for country in countries:
                groups_of.setdefault(country, []).append(group)
        self.groups_of = {c: tuple(g) for c, g in groups_of.items()}
        self.known: dict[tuple[tuple[str, float], ...], _StageShape] = {}

    def figures(
        self, chain: SupplierChain
    ) -> tuple[
        dict[str, float | None],
        dict[str, float | None],
        dict[str, dict[str, float]],
        dict[str, dict[str, float]],
    ]:
        """(stage_exposure, stage_unverified, stage_country, stage_allied) of one supplier:
        the first two over all five stages (None outside the chain, as ``chain_figures``),
        the others over its chain's stages."""
        exposure: dict[str, float | None] = dict.fromkeys(STAGES)
        unverified: dict[str, float | None] = dict.fromkeys(STAGES)
        countries: dict[str, dict[str, float]] = {}
        allied: dict[str, dict[str, float]] = {}
        known = self.known
        distributions = chain.distributions
        for stage, shares in chain.stage_country.items():
            distribution = distributions[stage]
            shape = known.get(distribution)
            if shape is None:
                if len(known) >= self.LIMIT:
                    known.clear()
                shape = known[distribution] = self._shape(shares)
            if stage in exposure:
                exposure[stage] = shape.exposure
                unverified[stage] = shape.unverified
            countries[stage] = dict(shape.shares)
            allied[stage] = dict(shape.allied)
        return exposure, unverified, countries, allied

    def _shape(self, shares: dict[str, float]) -> _StageShape:
        # Per group, one pass over the countries adding each share to the groups holding it
        # in declaration order (the same sums as summing group by group).
        totals: dict[str, float] = dict.fromkeys(self.groups, 0)
        for country, share in shares.items():
            for group in self.groups_of.get(country, ()):
                totals[group] += share
        exposure, unverified = stage_shares(shares, self.covered)
        return _StageShape(
            dict(sorted(shares.items())),
            exposure,
            unverified,
            {group: round(total, 10) for group, total in totals.items()},
        )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts, every blank (NaN, pd.NA, NaT) as None, so rule kinds can test truth.

    Column by column: what ``to_dict("records")`` and ``_plain`` per value give, at a
    fraction of the cost on a million rows.
    """
    names = [str(name) for name in frame.columns]
    columns = []
    for name in frame.columns:
        values = frame[name].tolist()
        blank = frame[name].isna().to_numpy()
        if blank.any():
            for index in blank.nonzero()[0].tolist():
                values[index] = None
        columns.append(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:  # nearly every value
        return value
    if (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return str(value)


def _subject(
    portfolio: Portfolio,
    record: dict[str, Any],
    sid: str,
    chains: Chains,
    chain: SupplierChain,
    locations: _Locations,
    members: Any,
    entity: Any,
    outcome: Any,
    owner_matches: dict[str, list[dict[str, Any]]],
    graph: OwnershipGraph,
) -> Subject:
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
        rows = chain.evidence_rows.get((stage, country), ())
        evidence = [locations.evidence(r, "country") for r in rows]
        if country == UNVERIFIED:
            declared = () if rows else chain.stage_rows(stage)
            evidence += [locations.evidence(r, "share") for r in declared]
            if not evidence:
                evidence.append(_evidence(portfolio, record, "stage"))
        return tuple(evidence), chain.paths.get((stage, country), ())

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
        stage_country=chain.stage_country,
        distributions=chain.distributions,
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


def _settings(
    config: ScreenConfig, book: RuleBook, covered_origin: frozenset[str], outcome: Any
) -> dict[str, Any]:
    return {
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


def _head(
    portfolio: Portfolio,
    config: ScreenConfig,
    book: RuleBook,
    list_sources: list[dict[str, Any]],
    covered_origin: frozenset[str],
    outcome: Any,
) -> dict[str, Any]:
    """The result's keys that come before its suppliers (known before any is screened)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "feocscreen", "version": __version__},
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "as_of": config.as_of.isoformat(),
        "settings": _settings(config, book, covered_origin, outcome),
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
        "not_screened": [
            {"supplier_id": str(sid), "reasons": [i.to_dict() for i in reasons]}
            for sid, reasons in sorted(portfolio.not_screened.items())
        ],
    }


def issue_order(issue: dict[str, Any]) -> tuple[str, str, int, str, str]:
    """Sort key of the result's issues: by file, sheet and row, then code and message."""
    return (
        str(issue["file"] or ""),
        str(issue["sheet"] or ""),
        issue["row"] or 0,
        issue["code"],
        issue["message"],
    )


def _tail(
    portfolio: Portfolio,
    config: ScreenConfig,
    book: RuleBook,
    figures: SummaryFigures,
    chains: Chains,
    covered_origin: frozenset[str],
    waivers: WaiverReport,
    issues: list[Issue],
    timings: dict[str, float],
    outcome: Any,
) -> dict[str, Any]:
    """The result's keys that come after its suppliers (they need every supplier)."""
    ordered_issues = sorted((i.to_dict() for i in issues), key=issue_order)
    # the suppliers come in the chains' order, so the distribution's rows need no look-up
    known = chains.distribution_positions() if figures.ids == chains.ids else None
    summary = figures.summary(
        chains.distribution, covered_origin, len(portfolio.not_screened), known
    )
    return {
        "validation": {
            "errors": [i for i in ordered_issues if i["severity"] == "error"],
            "warnings": [i for i in ordered_issues if i["severity"] != "error"],
        },
        "summary": summary,
        "waivers": waivers.to_dict(),
        "audit": {
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "libraries": _library_versions(),
            "command_line": config.command_line,
            "settings": _settings(config, book, covered_origin, outcome),
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


def _sample_step(count: int) -> int:
    """Every item of a short list is checked; of a long one, about VALIDATE_SAMPLE."""
    return 1 if count <= VALIDATE_ALL_LIMIT else max(1, count // VALIDATE_SAMPLE)


def _sampled(items: list[Any]) -> list[Any]:
    """The items ``validate_result`` checks of a list (see ``_sample_step``)."""
    return items[:: _sample_step(len(items))]


def validate_result(data: dict[str, Any], full: bool = False) -> None:
    """Raise if a produced result does not match the shipped schema (a bug, exit 3)."""
    validator = jsonschema.Draft202012Validator(result_schema())
    validator.validate(data if full else {**data, "suppliers": _sampled(data["suppliers"])})


def validate_supplier(entry: dict[str, Any]) -> None:
    """Raise if one supplier of a produced result does not match the shipped schema."""
    _supplier_validator().validate(entry)


@lru_cache(maxsize=1)
def _supplier_validator() -> Any:
    schema = result_schema()
    return jsonschema.Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/supplier"})
