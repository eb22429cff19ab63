"""Screen supplier tables beyond Excel's row limit on Dask (extra ``feocscreen[dask]``).

A supplier master exported from an ERP can hold tens of millions of Sourcing rows:
more than one sheet can carry and more than one process should parse. This engine
runs the intake on an existing distributed engine instead of a home-made one:

1. **Read** each table (``suppliers``, ``sourcing``, ``ownership`` as Parquet or
   CSV; a single file stands for the Suppliers table) as a Dask DataFrame, one
   partition per block.
2. **Validate per partition**, on the workers, with the very functions the local
   path uses (``validate.sheet_frame`` and ``suppliers_records`` /
   ``sourcing_records`` / ``ownership_records``, which run the pandera models
   lazily): every cell is converted and checked once, in parallel, and every
   problem becomes the same located Issue, with the row a CSV reader would show
   (header = row 1, whatever partition the record fell in).
3. **Whole-table checks on gathered keys**: what needs the whole portfolio
   (supplier ids unique across partitions, references, shares per stage,
   ownership and upstream cycles, who is not screened) runs once, on the
   gathered canonical records, through the intake's own assembly, so the
   Portfolio is the one the local engine builds from the same rows.
4. **Screen in tasks of suppliers** on the workers with the local engine
   (``api.screen_portfolio``): each task gets its suppliers, every supplier
   upstream of them (from the gathered upstream links) and the whole Ownership
   table, so chains and holdings come out as the local engine computes them. The
   summary, the gate and the run's issues are assembled once on the client.
5. **Write** the per-supplier results as Parquet plus the usual JSON summary;
   with ``stream=True`` the workers write their own Parquet parts and the client
   keeps only the figures the summary and the gate need.

Use it when the data no longer fits a workbook, or when a cluster is already
there: ``screen_dask(config, scheduler="tcp://host:8786")`` (a scheduler address,
a ``distributed.Client``, or None for Dask's local threads). docs/scale.md has
the figures and the limits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import progress
from .errors import FeocscreenError, InputError, make_issue
from .ingest import RawSheet
from .models import Issue, ScreenConfig
from .portfolio import Portfolio, SheetLayout
from .schema import OWNERSHIP, SOURCING, SUPPLIERS, SheetSpec, header_key

if TYPE_CHECKING:
    import dask.dataframe as dd

TABLE_SUFFIXES: tuple[str, ...] = (".parquet", ".pq", ".csv")
SPECS: tuple[SheetSpec, ...] = (SUPPLIERS, SOURCING, OWNERSHIP)
# CSV blocks of 64 MiB: about 500k Sourcing rows, a few seconds of conversion per task.
CSV_BLOCKSIZE = "64MB"
HEADER_ROW = 1  # tables have their header on the first line; records start at row 2
# Suppliers screened per task. Shipping a task's rows out and its results back costs about
# as much as screening them (100k Sourcing rows, 16,676 suppliers, 2 local worker processes:
# 8.0 s in one piece on the client, 15.8 s in 2 tasks, 17.2 s in 4), so tasks start at
# 50,000 suppliers, where what one process must hold matters more than that overhead; up
# to that size a portfolio is screened in one piece, as the local engine does.
MIN_SUPPLIERS_PER_TASK = 50_000
MAX_SUPPLIERS_PER_TASK = 100_000


class DaskUnavailable(FeocscreenError):
    """The dask extra is not installed."""


@dataclass(frozen=True)
class Table:
    """One input table: which sheet it stands for, where it is, and how it is stored."""

    spec: SheetSpec
    path: Path
    kind: str  # "parquet" | "csv"

    @property
    def file(self) -> str:
        return self.path.name


@dataclass
class PartitionRecords:
    """What validating one partition gives: canonical records, flat-shortcut rows and issues."""

    records: pd.DataFrame
    flat: pd.DataFrame | None = None
    issues: list[tuple[Issue, Any]] = field(default_factory=list)  # (issue, owner key)
    warnings: list[Issue] = field(default_factory=list)  # header warnings (first partition)
    layout: SheetLayout | None = None


def _require_dask() -> None:
    try:
        import dask.dataframe  # noqa: F401
    except ImportError as exc:
        raise DaskUnavailable(
            "the Dask engine needs the dask extra: pip install 'feocscreen[dask]'"
        ) from exc


def _spec_for(name: str) -> SheetSpec | None:
    key = header_key(name)
    for spec in SPECS:
        if key in {header_key(a) for a in (spec.name, *spec.sheet_aliases)}:
            return spec
    return None


def _table_kind(path: Path) -> str | None:
    if path.is_dir():
        kinds = {_table_kind(p) for p in path.iterdir() if p.is_file()} - {None}
        return kinds.pop() if len(kinds) == 1 else None
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    if suffix == ".csv":
        return "csv"
    return None


def find_tables(inputs: Sequence[Path | str]) -> list[Table]:
    """Which table is which sheet: by file (or dataset folder) name; a lone file is Suppliers."""
    tables: list[Table] = []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        # A folder named after a sheet (sourcing/, sourcing.parquet/) is one dataset;
        # any other folder holds one table per sheet.
        is_dataset = path.is_dir() and _spec_for(path.name.split(".")[0]) is not None
        candidates = (
            sorted(p for p in path.iterdir() if not p.name.startswith((".", "_")))
            if path.is_dir() and not is_dataset
            else [path]
        )
        for candidate in candidates:
            kind = _table_kind(candidate)
            if kind is None:
                continue
            stem = candidate.name.split(".")[0]
            spec = _spec_for(stem)
            if spec is None and len(candidates) == 1:
                spec = SUPPLIERS  # a single table is a supplier master (flat *_country columns)
            if spec is None:
                raise InputError(
                    f"{candidate}: cannot tell which sheet this table is; name it suppliers, "
                    "sourcing or ownership (.parquet or .csv)"
                )
            tables.append(Table(spec, candidate, kind))
    if not any(t.spec is SUPPLIERS for t in tables):
        found = ", ".join(str(t.path) for t in tables) or "none"
        raise InputError(
            f"the Dask engine needs a suppliers table (.parquet or .csv); tables found: {found}",
            [make_issue("missing-sheet", "error", "required table suppliers is missing")],
        )
    return tables


def read_table(table: Table, blocksize: str = CSV_BLOCKSIZE) -> dd.DataFrame:
    """The table as a Dask DataFrame of raw cell values (CSV cells stay text, as locally)."""
    import dask.dataframe as dd

    if table.kind == "parquet":
        return dd.read_parquet(str(table.path))
    return dd.read_csv(
        str(table.path),
        dtype=object,
        keep_default_na=False,
        na_filter=False,
        blocksize=blocksize,
        encoding="utf-8-sig",
    )


def _partition_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """Cell values as the local readers hand them over: missing cells are None."""
    values = frame.astype(object).where(frame.notna(), None)
    return values.to_numpy(dtype=object).tolist()


def validate_partition(
    frame: pd.DataFrame,
    first_row: int,
    table_file: str,
    spec_name: str,
    columns_map: dict[str, dict[str, str]],
    with_warnings: bool,
) -> PartitionRecords:
    """Validate one partition with the local intake's functions; rows numbered from ``first_row``."""
    from . import validate

    spec = {s.name: s for s in SPECS}[spec_name]
    raw = RawSheet(
        file=table_file,
        sheet=spec.name,
        headers=[str(c) for c in frame.columns],
        header_row=HEADER_ROW,
        first_col=0,
        path=None,
        kind="csv",
    )
    for number, row in enumerate(_partition_rows(frame), start=first_row):
        if all(v is None or v == "" for v in row):
            continue
        raw.rows.append(row)
        raw.row_numbers.append(number)
    sf, warnings = validate.sheet_frame(raw, spec, columns_map)
    flat = None
    if spec is SUPPLIERS:
        records, flat = validate.suppliers_records(sf)
    elif spec is SOURCING:
        records = validate.sourcing_records(sf)
    else:
        records = validate.ownership_records(sf)
    return PartitionRecords(
        records=records,
        flat=flat,
        issues=list(sf.issues),
        warnings=warnings if with_warnings else [],
        layout=sf.layout(),
    )


def _validate_table(
    table: Table, columns_map: dict[str, dict[str, str]], blocksize: str
) -> list[PartitionRecords]:
    """Validate every partition of a table on the workers; rows numbered across partitions."""
    import dask

    ddf = read_table(table, blocksize)
    lengths = ddf.map_partitions(len).compute()
    offsets = [HEADER_ROW + 1]
    for length in list(lengths)[:-1]:
        offsets.append(offsets[-1] + int(length))
    tasks = [
        dask.delayed(validate_partition)(
            part, offsets[i], table.file, table.spec.name, columns_map, i == 0
        )
        for i, part in enumerate(ddf.to_delayed())
    ]
    sizes = [int(n) for n in lengths]
    label = f"{progress.VALIDATING} {table.spec.name}"
    with progress.stage(label, total=sum(sizes), unit="rows") as shown:
        client = _current_client()
        if client is None:
            results: list[PartitionRecords] = list(dask.compute(*tasks))
            shown.advance(sum(sizes))
            return results
        from distributed import as_completed

        futures = client.compute(tasks)
        position = {future.key: i for i, future in enumerate(futures)}
        for done in as_completed(futures):  # the bar moves as each partition finishes
            shown.advance(sizes[position[done.key]])
        return list(client.gather(futures))


def _current_client() -> Any:
    """The distributed client in effect (``Client.as_current`` or the default), or None."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _digest(path: Path) -> str:
    """SHA-256 of a file, or of a dataset folder's files in name order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _duplicate_id_issues(
    suppliers: pd.DataFrame, layouts: dict[tuple[str, str], SheetLayout]
) -> list[tuple[Issue, Any, str]]:
    """supplier_id repeated within a table, across partitions: the same issue the local check gives."""
    known = suppliers.dropna(subset=["supplier_id"])
    repeated = known[known.duplicated(["_file", "supplier_id"], keep=False)]
    found: list[tuple[Issue, Any, str]] = []
    for (file, sid), group in repeated.groupby(["_file", "supplier_id"], sort=False):
        rows = group["_row"].astype(int).tolist()
        for row in rows:
            sheet = str(group["_sheet"].iloc[0])
            layout = layouts.get((str(file), sheet))
            header, letter = (
                layout.columns.get("supplier_id", (None, None)) if layout else (None, None)
            )
            found.append(
                (
                    make_issue(
                        "duplicate-id",
                        "error",
                        f"supplier_id {sid!r} appears more than once "
                        f"(rows {', '.join(map(str, sorted(rows)))})",
                        file=str(file),
                        sheet=sheet,
                        row=row,
                        column="supplier_id",
                        header=header,
                        cell=f"{letter}{row}" if letter else None,
                        value=sid,
                    ),
                    sid,
                    SUPPLIERS.name,
                )
            )
    return found


def load_portfolio_dask(
    inputs: Sequence[Path | str],
    columns_map: Path | None = None,
    blocksize: str = CSV_BLOCKSIZE,
) -> Portfolio:
    """Read and validate tables on Dask into the same Portfolio the local intake builds."""
    _require_dask()
    from . import validate

    columns = validate.load_columns_map(columns_map)
    bag = validate.Collected()
    for table in find_tables(inputs):
        parts = _validate_table(table, columns, blocksize)
        for part in parts:
            if table.spec is SUPPLIERS:
                bag.suppliers.append(part.records)
                if part.flat is not None and len(part.flat):
                    bag.sourcing.append(part.flat)
            elif table.spec is SOURCING:
                bag.sourcing.append(part.records)
            else:
                bag.ownership.append(part.records)
            bag.issues.extend((w, None, table.spec.name) for w in part.warnings)
            bag.issues.extend(
                (issue, owner, table.spec.name)
                for issue, owner in part.issues
                # uniqueness is a whole-table property: decided below on the gathered ids
                if not (table.spec is SUPPLIERS and issue.code == "duplicate-id")
            )
            if part.layout is not None:
                bag.layouts[(table.file, table.spec.name)] = part.layout
        if table.spec is SUPPLIERS and parts:
            gathered = pd.concat([p.records for p in parts], ignore_index=True)
            bag.issues.extend(_duplicate_id_issues(gathered, bag.layouts))
        # A table is a flat sheet: "csv" in the result's input kinds, whether CSV or Parquet.
        bag.inputs.append({"path": str(table.path), "sha256": _digest(table.path), "kind": "csv"})
    return validate.assemble(bag)


def _client(scheduler: Any) -> Any:
    """A distributed client for an address, the client itself, or None for local threads."""
    if scheduler is None or not isinstance(scheduler, str):
        return scheduler
    from distributed import Client

    return Client(scheduler)


NUMERIC_COLUMNS = frozenset({"score", "covered_government_ownership", "midstream_exposure"})
# What the portfolio summary and the gate read of a supplier's entry: all a streamed task
# sends back once the full entries are written to Parquet on the worker.
SUMMARY_FIELDS: tuple[str, ...] = (
    "supplier_id",
    "supplier_name",  # and score: the terminal summary's top exposures
    "score",
    "annual_spend_usd",
    "tier",
    "feoc",
    "pfe",
    "midstream_exposure",
    "stage_exposure",
    "stage_unverified",
)
GATE_FINDING_FIELDS: tuple[str, ...] = (
    "finding_id",
    "rule_id",
    "severity",
    "status",
    "message",
    "waived",
)


def supplier_table(data: dict[str, Any]) -> pd.DataFrame:
    """One row per screened supplier, flat columns for Parquet (nested parts as JSON text)."""
    rows = []
    for supplier in data.get("suppliers", []):
        row: dict[str, Any] = {
            key: supplier.get(key)
            for key in (
                "supplier_id",
                "supplier_name",
                "country",
                "stage",
                "tier",
                "score",
                "feoc",
                "pfe",
                "covered_government_ownership",
                "midstream_exposure",
            )
        }
        for stage, value in (supplier.get("stage_exposure") or {}).items():
            row[f"exposure_{stage}"] = value
        for stage, value in (supplier.get("stage_unverified") or {}).items():
            row[f"unverified_{stage}"] = value
        row["findings"] = json.dumps(supplier.get("findings", []), sort_keys=True, default=str)
        row["prongs"] = json.dumps(supplier.get("prongs", {}), sort_keys=True, default=str)
        rows.append(row)
    table = pd.DataFrame(rows)
    # Fixed types, so that the parts written by different tasks form one Parquet dataset
    # even when a column is empty in one of them.
    for column in table.columns:
        if column in {"feoc", "pfe"}:
            table[column] = table[column].astype("boolean")
        elif column in NUMERIC_COLUMNS or column.startswith(("exposure_", "unverified_")):
            table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
        else:
            table[column] = table[column].astype("string")
    return table


def screen_dask(
    config: ScreenConfig,
    scheduler: Any = None,
    output: Path | None = None,
    blocksize: str = CSV_BLOCKSIZE,
    suppliers_per_task: int | None = None,
    stream: bool = False,
) -> Any:
    """Screen Parquet/CSV tables on Dask; returns a ScreeningResult equal to the local engine's.

    ``scheduler`` is a scheduler address (``tcp://host:8786``), a ``distributed.Client``
    or None (Dask's local threads). Suppliers are screened ``suppliers_per_task`` at a
    time on the workers (default: two tasks per worker thread, 50,000 to 100,000 each;
    smaller portfolios are screened in one piece). With ``output``, writes ``suppliers.parquet`` (one row per
    screened supplier) and ``summary.json`` (the result without the supplier list).
    With ``stream`` (needs ``output`` on a filesystem the workers share), the tasks write
    the supplier rows themselves and the client keeps only the summary figures: the way
    to screen more than the client can hold (see ``screen_partitioned``).
    """
    if stream and output is None:
        raise FeocscreenError("streaming the results needs an output folder")
    _require_dask()
    stream_to = Path(output) if (stream and output is not None) else None
    client = _client(scheduler)
    try:
        if client is not None:
            with client.as_current():
                portfolio = load_portfolio_dask(config.inputs, config.columns, blocksize)
                result = screen_partitioned(portfolio, config, suppliers_per_task, stream_to)
        else:
            portfolio = load_portfolio_dask(config.inputs, config.columns, blocksize)
            result = screen_partitioned(portfolio, config, suppliers_per_task, stream_to)
    finally:
        if isinstance(scheduler, str) and client is not None:
            client.close()
    if output is not None and not stream:
        write_outputs(result.data, Path(output))
    return result


def _upstream_links(portfolio: Portfolio) -> dict[str, set[str]]:
    """The gathered edge table of upstream links: supplier → the suppliers it buys a stage from."""
    links: dict[str, set[str]] = {}
    sourcing = portfolio.sourcing
    linked = sourcing[sourcing["upstream_supplier_id"].notna()]
    for sid, upstream in zip(linked["supplier_id"], linked["upstream_supplier_id"], strict=True):
        links.setdefault(str(sid), set()).add(str(upstream))
    return links


def _with_upstream(ids: list[str], links: dict[str, set[str]]) -> set[str]:
    """The suppliers and every supplier upstream of them (their chains propagate in)."""
    seen = set(ids)
    stack = list(ids)
    while stack:
        for upstream in links.get(stack.pop(), ()):
            if upstream not in seen:
                seen.add(upstream)
                stack.append(upstream)
    return seen


def _sub_portfolio(portfolio: Portfolio, ids: set[str]) -> Portfolio:
    """The part of a validated portfolio that screening ``ids`` needs: their rows and every
    Ownership row (the look-through follows owners anywhere on the sheet)."""
    suppliers = portfolio.suppliers
    sourcing = portfolio.sourcing
    return Portfolio(
        suppliers=suppliers[suppliers["supplier_id"].astype(str).isin(ids)].reset_index(drop=True),
        sourcing=sourcing[sourcing["supplier_id"].astype(str).isin(ids)].reset_index(drop=True),
        ownership=portfolio.ownership,
        issues=[],
        not_screened={},
        inputs=portfolio.inputs,
        layouts=portfolio.layouts,
    )


def screen_chunk(
    sub: Portfolio, own: list[str], config: ScreenConfig, part: str | None = None
) -> dict[str, Any]:
    """Screen one task's suppliers with the local engine (on a worker); keep their entries,
    the run's issues and the run-wide blocks of the result.

    With ``part`` (a Parquet file path the worker can write), the full entries go there
    and only what the summary and the gate need comes back.
    """
    from . import api

    data = api.screen_portfolio(sub, config).data
    wanted = set(own)
    mine = [s for s in data["suppliers"] if s["supplier_id"] in wanted]
    if part is not None:
        supplier_table({"suppliers": mine}).to_parquet(part, index=False)
        mine = [_summary_entry(s, config) for s in mine]
    return {
        "suppliers": mine,
        "issues": [*data["validation"]["errors"], *data["validation"]["warnings"]],
        "run": {
            k: v
            for k, v in data.items()
            if k not in {"suppliers", "validation", "summary", "not_screened"}
        },
    }


def _summary_entry(entry: dict[str, Any], config: ScreenConfig) -> dict[str, Any]:
    """A supplier's figures for the portfolio summary, and the findings the gate would count."""
    from .models import severity_rank

    slim = {k: entry.get(k) for k in SUMMARY_FIELDS}
    counted: list[dict[str, Any]] = []
    if config.fail_on is not None:
        threshold = severity_rank(config.fail_on)
        statuses = {"active", "upcoming"} if config.fail_on_upcoming else {"active"}
        counted = [
            {k: f.get(k) for k in GATE_FINDING_FIELDS}
            for f in entry.get("findings", [])
            if not f.get("waived")
            and f.get("status") in statuses
            and severity_rank(f["severity"]) >= threshold
        ]
    slim["findings"] = counted
    return slim


def _merged_issues(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run issues of every task: one copy of what several tasks saw (a run-wide warning, an
    upstream supplier's chain screened in two tasks), as many as one task saw of each."""
    most: dict[str, int] = {}
    first: dict[str, dict[str, Any]] = {}
    for chunk in chunks:
        counts: dict[str, int] = {}
        for issue in chunk["issues"]:
            key = json.dumps(issue, sort_keys=True, default=str)
            counts[key] = counts.get(key, 0) + 1
            first.setdefault(key, issue)
        for key, count in counts.items():
            most[key] = max(most.get(key, 0), count)
    return [first[key] for key, count in most.items() for _ in range(count)]


def _task_size(suppliers: int) -> int:
    """Suppliers per task: two tasks per worker thread, within the bounds above."""
    client = _current_client()
    threads = sum(client.nthreads().values()) if client is not None else (os.cpu_count() or 1)
    wanted = -(-suppliers // max(2 * threads, 1))
    return max(MIN_SUPPLIERS_PER_TASK, min(MAX_SUPPLIERS_PER_TASK, wanted))


def screen_partitioned(
    portfolio: Portfolio,
    config: ScreenConfig,
    suppliers_per_task: int | None = None,
    stream_to: Path | None = None,
) -> Any:
    """Screen a validated portfolio in tasks of suppliers and assemble the local result.

    Graph-wide steps run once on the gathered edge tables: each task gets its suppliers
    plus everything upstream of them (from the upstream links) and the whole Ownership
    table, so the local engine computes the same chains and holdings there. The summary
    is computed once from every supplier's entry and the chain distribution.

    With ``stream_to`` (a folder every worker can write), each task writes its suppliers'
    entries to ``stream_to/suppliers.parquet/part-NNNNN.parquet`` and sends back only
    what the summary and the gate need, so the client never holds the full result: the
    returned ``data["suppliers"]`` then has those summary fields only.
    """
    from . import api
    from .graph import build_chains
    from .rules.load import load_rulebook
    from .score import portfolio_summary

    ids = sorted(str(s) for s in portfolio.suppliers["supplier_id"])
    if suppliers_per_task is None:
        suppliers_per_task = _task_size(len(ids))
    if stream_to is None and (config.waivers is not None or len(ids) <= suppliers_per_task):
        # Waivers are judged across the whole portfolio (an unused waiver is unused
        # everywhere): screen in one piece, as the local engine does.
        return _screen_local(portfolio, config)
    import dask

    links = _upstream_links(portfolio)
    groups = [ids[i : i + suppliers_per_task] for i in range(0, len(ids), suppliers_per_task)]
    if stream_to is not None and config.waivers is not None:
        raise FeocscreenError(
            "waivers are judged across the whole portfolio: screen with --waivers without "
            "streaming (the result is then gathered on the client)"
        )
    parts: list[str | None] = [None] * len(groups)
    if stream_to is not None:
        folder = Path(stream_to) / "suppliers.parquet"
        _clear_previous(folder)
        folder.mkdir(parents=True, exist_ok=True)
        parts = [str(folder / f"part-{i:05d}.parquet") for i in range(len(groups))]
    tasks = [
        dask.delayed(screen_chunk)(
            _sub_portfolio(portfolio, _with_upstream(g, links)), g, config, part
        )
        for g, part in zip(groups, parts, strict=True)
    ]
    with progress.stage(progress.EVALUATING, total=len(ids), unit="suppliers") as shown:
        chunks: list[dict[str, Any]] = list(dask.compute(*tasks))
        shown.advance(len(ids))

    book = load_rulebook(config.rules)
    covered_origin = api.group_resolver(book)("covered", "origin")
    suppliers = [entry for chunk in chunks for entry in chunk["suppliers"]]
    issues = [i.to_dict() for i in portfolio.issues] + _merged_issues(chunks)
    ordered = sorted(issues, key=api.issue_order)
    not_screened = [
        {"supplier_id": str(sid), "reasons": [i.to_dict() for i in reasons]}
        for sid, reasons in sorted(portfolio.not_screened.items())
    ]
    distribution = build_chains(portfolio).distribution
    run = chunks[0]["run"]
    data = {
        **{k: run[k] for k in ("schema_version", "tool", "generated_at", "as_of", "settings")},
        "inputs": run["inputs"],
        "rulesets": run["rulesets"],
        "lists": run["lists"],
        "validation": {
            "errors": [i for i in ordered if i["severity"] == "error"],
            "warnings": [i for i in ordered if i["severity"] != "error"],
        },
        "not_screened": not_screened,
        "suppliers": suppliers,
        "summary": portfolio_summary(suppliers, distribution, covered_origin, len(not_screened)),
        **{
            k: v
            for k, v in run.items()
            if k
            not in {
                "schema_version",
                "tool",
                "generated_at",
                "as_of",
                "settings",
                "inputs",
                "rulesets",
                "lists",
            }
        },
    }
    if stream_to is None:
        api.validate_result(data)  # streamed entries were checked by the tasks that made them
    gate = None
    if config.fail_on is not None:
        from .gate import evaluate_gate

        gate = evaluate_gate(data, config.fail_on, config.fail_on_upcoming)
    if stream_to is not None:
        _write_summary(data, Path(stream_to), "suppliers.parquet")
    return api.ScreeningResult(data, portfolio, book, gate, [Issue(**i) for i in ordered])


def _screen_local(portfolio: Portfolio, config: ScreenConfig) -> Any:
    """The local engine's screening of an already validated Portfolio."""
    try:
        from . import api
    except ImportError as exc:
        raise FeocscreenError(
            "the screening engine (feocscreen.api) is not available in this build"
        ) from exc
    screen_portfolio = getattr(api, "screen_portfolio", None)
    if screen_portfolio is None:
        raise FeocscreenError(
            "feocscreen.api has no screen_portfolio(portfolio, config); the Dask engine "
            "validates on Dask and needs it to screen the validated Portfolio"
        )
    return screen_portfolio(portfolio, config)


def write_outputs(data: dict[str, Any], folder: Path) -> list[Path]:
    """suppliers.parquet and summary.json (everything but the supplier list) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    suppliers = folder / "suppliers.parquet"
    _clear_previous(suppliers)
    supplier_table(data).to_parquet(suppliers, index=False)
    return [suppliers, _write_summary(data, folder, suppliers.name)]


def _clear_previous(path: Path) -> None:
    """Remove what an earlier run wrote at ``path``: one Parquet file (a gathered run) or a
    folder of part files (a streamed one), so a run in either mode can follow the other.
    A folder holding anything else is left alone (and the write then fails, naming it)."""
    if path.is_file():
        path.unlink()
    elif path.is_dir():
        for stale in path.glob("part-*.parquet"):
            stale.unlink()
        with contextlib.suppress(OSError):
            path.rmdir()


def _write_summary(data: dict[str, Any], folder: Path, suppliers_name: str) -> Path:
    summary = folder / "summary.json"
    rest = {k: v for k, v in data.items() if k != "suppliers"}
    rest["suppliers_file"] = suppliers_name
    summary.write_text(json.dumps(rest, indent=2, sort_keys=True, default=str), encoding="utf-8")
    return summary


__all__ = [
    "DaskUnavailable",
    "PartitionRecords",
    "Table",
    "find_tables",
    "load_portfolio_dask",
    "read_table",
    "screen_chunk",
    "screen_dask",
    "screen_partitioned",
    "supplier_table",
    "validate_partition",
    "write_outputs",
]
