"""`feocscreen screen`: screen inputs, write the JSON result and/or the Excel report, gate.

Exit codes (DESIGN): 0 ok; 1 ``--fail-on`` gate tripped; 2 unreadable input,
invalid rules, lists or waivers, or any input error with ``--strict``; 3 bug.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import sys
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click
import orjson

from ..blockfile import BlockFile
from ..machine import clear_for_writing
from ..report.view import split_result
from .options import config_from_options, screening_options

if TYPE_CHECKING:
    from ..report.excel import AskBudget

TIER_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "clear": "green",
}
TOP_EXPOSURES = 5  # suppliers listed in the terminal summary
PRETTY_JSON_LIMIT = 2000
GATE_SHOWN = 20  # counted findings listed under a tripped gate (the rest are counted)
WARNINGS_SHOWN = 20  # input warnings listed by --verbose (the rest are counted by code)


@click.command("screen")
@screening_options
@click.option(
    "-o",
    "--output",
    "report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the Excel report here (REPORT.xlsx).",
)
@click.option(
    "--json", "json_out", metavar="FILE|-", help="Write the JSON result to FILE, or - for stdout."
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="dask: screen Parquet/CSV tables (suppliers.*, sourcing.*, ownership.*) on Dask "
    "(extra feocscreen[dask]).",
)
@click.option(
    "--scheduler",
    envvar="DASK_SCHEDULER_ADDRESS",
    metavar="ADDRESS",
    help="With --engine dask: an existing cluster's scheduler (tcp://host:8786); "
    "default: local threads.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --engine dask: write suppliers.parquet and summary.json here.",
)
@click.option(
    "--stream",
    "stream_results",
    is_flag=True,
    help="With --engine dask: workers write supplier rows themselves (needs --output-dir on "
    "storage every worker can write); the client keeps only the summary.",
)
@click.pass_context
def screen_command(
    ctx: click.Context,
    report: Path | None,
    json_out: str | None,
    engine: str,
    scheduler: str | None,
    output_dir: Path | None,
    stream_results: bool,
    **options: Any,
) -> None:
    """Screen supplier workbooks against the FEOC, PFE, DFARS and allied rulesets.

    Prints a short summary on stderr; the full result goes to --json and -o.
    Informational only; not legal advice.
    """
    if engine == "local" and (scheduler or output_dir or stream_results):
        raise click.UsageError("--scheduler, --output-dir and --stream go with --engine dask")
    if stream_results and (report is not None or json_out):
        raise click.UsageError(
            "--stream keeps no supplier list on the client: use --output-dir, not -o or --json"
        )
    if engine == "local":  # large workbooks are checked while the libraries below load
        from ..ingest import check_ahead

        check_ahead(options.get("inputs") or ())

    from .. import progress
    from ..api import collector_paused, open_screening
    from ..machine import keep_freed_memory

    config = config_from_options(**options)
    # Screening and writing build millions of small objects: no GC passes until the command ends.
    ctx.with_resource(collector_paused())
    keep_freed_memory()
    digest = Digest()
    with progress.use(progress.configured(quiet=bool(options.get("quiet")))):
        run = None
        if engine == "dask":
            from ..engine_dask import screen_dask

            result = screen_dask(
                config, scheduler=scheduler, output=output_dir, stream=stream_results
            )
            head, gathered, dask_tail = split_result(result.data)
            count = len(gathered)

            def finish() -> dict[str, Any]:
                return dask_tail

            gate = lambda: result.gate  # noqa: E731
        else:
            # forked workers when large; the gate lists only the reasons shown below
            run = open_screening(config, workers=None, gate_keep=GATE_SHOWN)
            head, count, finish = run.head, run.count, run.finish
            gate = lambda: run.gate  # noqa: E731
        # Every supplier goes to each output as it is screened; none is held for the writers.
        with contextlib.ExitStack() as outputs:
            written: list[Path] = []
            try:
                json_sink = (
                    outputs.enter_context(_json_sink(json_out, head, count)) if json_out else None
                )
                report_sink = None
                if report is not None:
                    from ..report.excel import ReportStream

                    report_sink = ReportStream(head, report)
                if run is not None and not (json_sink is not None and json_sink.pretty):
                    # Each supplier is encoded for the outputs where it is screened (on
                    # forked workers when the run is large); only that comes back.
                    # A worker gets its own copy of `asks` with each block: a budget per
                    # block, or one for the run when it is screened here.
                    encode = partial(
                        encode_outputs,
                        text=json_sink is not None,
                        rows=report_sink is not None,
                        asks=report_sink.ask_budget() if report_sink is not None else None,
                    )
                    # the JSON of a block is written into the file where it is encoded
                    placed = json_sink.placed(run.block_count) if json_sink is not None else None
                    for supplier, (text, rows) in run.encoded(encode, placed):
                        digest.add(supplier)
                        if json_sink is not None:
                            json_sink.supplier(supplier, text)
                        if report_sink is not None:
                            report_sink.rows(rows)
                else:
                    suppliers = run.suppliers() if run is not None else iter(gathered)
                    for supplier in suppliers:
                        digest.add(supplier)
                        if json_sink is not None:
                            json_sink.supplier(supplier)
                        if report_sink is not None:
                            report_sink.supplier(supplier)
                tail = finish()
                with progress.stage(progress.WRITING, unit="files"):
                    for sink in (json_sink, report_sink):
                        if sink is not None:
                            written += sink.finish(tail)
            except OSError as exc:
                target = exc.filename or report or json_out
                raise click.UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    data = {**head, **tail}
    if not options.get("quiet"):
        _summary(data, digest, json_out, written, verbose=bool(options.get("verbose")))
    if config.strict and data["validation"]["errors"]:
        click.echo(f"error: --strict: {len(data['validation']['errors'])} input error(s)", err=True)
        ctx.exit(2)
    outcome = gate()
    if outcome is not None:
        for line in outcome.reasons[: 1 if options.get("quiet") else 1 + GATE_SHOWN]:
            click.echo(f"gate: {line}", err=True)
        if outcome.tripped:
            ctx.exit(1)


class Digest:
    """What the terminal summary needs from the suppliers: how many, and the top exposures."""

    def __init__(self) -> None:
        self.screened = 0
        self.top: list[tuple[tuple[float, float, str], dict[str, Any]]] = []

    def add(self, supplier: dict[str, Any]) -> None:
        self.screened += 1
        if supplier["midstream_exposure"] <= 0:
            return
        key = (-supplier["midstream_exposure"], -supplier["score"], supplier["supplier_id"])
        self.top.append((key, supplier))
        if len(self.top) >= 8 * TOP_EXPOSURES:  # trimmed now and then: a handful is kept
            self.top = heapq.nsmallest(TOP_EXPOSURES, self.top, key=lambda item: item[0])

    def exposures(self) -> list[dict[str, Any]]:
        """The suppliers with the largest midstream exposure, largest first."""
        return [s for _, s in heapq.nsmallest(TOP_EXPOSURES, self.top, key=lambda item: item[0])]


class JsonStream:
    """The JSON result written as the suppliers arrive, as UTF-8 bytes.

    Up to PRETTY_JSON_LIMIT suppliers the result is indented for people to read (the
    suppliers are kept until the end); past it, compact, one supplier at a time, so the
    text is never held whole (indented JSON of a 100k-row portfolio is ~300 MB). Compact
    JSON is orjson's bytes as they come, never decoded and encoded again.
    """

    def __init__(self, stream: BinaryIO, head: dict[str, Any], count: int) -> None:
        self.stream, self.head = stream, head
        self.pretty = count <= PRETTY_JSON_LIMIT
        self.kept: list[dict[str, Any]] = []
        self.first = True
        self.blocks: BlockFile | None = None  # set by placed()
        if not self.pretty:
            stream.write(b"{")
            for key, value in head.items():
                stream.write(_compact(key) + b":" + _compact(value) + b",")
            stream.write(b'"suppliers":[')

    def supplier(self, supplier: dict[str, Any], text: bytes | None = None) -> None:
        """Add a supplier; ``text`` is its compact JSON when already encoded (None when
        ``placed`` wrote it)."""
        if self.pretty:
            self.kept.append(supplier)
            return
        if self.blocks is not None:
            return
        if not self.first:
            self.stream.write(b",")
        self.stream.write(text or _compact(supplier))
        self.first = False

    def placed(self, count: int) -> _PlacedJson | None:
        """For ``Screening.encoded``: the compact suppliers' JSON, ``count`` blocks of it,
        written into the file where each block is encoded (see ``BlockFile``). None when the
        result is indented, or the stream is not a regular file."""
        if self.pretty or not self.first or not BlockFile.can_take(self.stream):
            return None
        self.blocks = BlockFile(self.stream, count, separator=b",")
        return _PlacedJson(self.blocks)

    def finish(self, tail: dict[str, Any]) -> list[Path]:
        if self.pretty:
            data = {**self.head, "suppliers": self.kept, **tail}
            self.stream.write((json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())
        else:
            if self.blocks is not None:
                self.stream.seek(self.blocks.end())
            self.stream.write(b"]")
            for key, value in tail.items():
                self.stream.write(b"," + _compact(key) + b":" + _compact(value))
            self.stream.write(b"}\n")
        self.stream.flush()  # a write that failed on the way is raised here
        return []


class _PlacedJson:
    """Writes a block's JSON texts into the result file and sends back the rest of its
    encodings (``encode_outputs``'s pairs, the text taken out)."""

    def __init__(self, blocks: BlockFile) -> None:
        self.blocks = blocks

    def done(self, index: int, encoded: list[tuple[bytes, Any]]) -> list[tuple[None, Any]]:
        self.blocks.place(index, [text for text, _ in encoded])
        return [(None, rows) for _, rows in encoded]


def encode_outputs(
    supplier: dict[str, Any], text: bool, rows: bool, asks: AskBudget | None = None
) -> tuple[Any, Any]:
    """What the outputs need of one supplier: its compact JSON text, its report rows (with
    the questions `asks` says the Summary can still show)."""
    sheet_rows = None
    if rows:
        from ..report.excel import supplier_rows

        sheet_rows = supplier_rows(supplier, asks)
    return (_compact(supplier) if text else None, sheet_rows)


def _compact(value: Any) -> bytes:
    """Compact JSON in UTF-8: orjson, five times the standard encoder on a supplier's 11 KB
    (the same values; floats may be spelled differently, e.g. 8e-6 for 8e-06). Keys are
    text but for rare mappings: those take orjson's slower path for other keys."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


@contextlib.contextmanager
def _json_sink(target: str, head: dict[str, Any], count: int) -> Iterator[JsonStream]:
    """A JsonStream to stdout (``-``) or to a file."""
    if target == "-":
        sys.stdout.flush()  # the bytes go under the text layer: keep what it holds first
        yield JsonStream(sys.stdout.buffer, head, count)  # finish() flushes them
        return
    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clear_for_writing(path)
        # a supplier's JSON is larger than the default buffer: without a larger one every
        # supplier is a write of its own
        handle = open(path, "wb", buffering=1 << 20)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise click.UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        yield JsonStream(handle, head, count)
    except BaseException:
        with contextlib.suppress(OSError):  # a failed write is what is being reported
            handle.close()
        raise
    handle.close()


def write_json(data: dict[str, Any], stream: BinaryIO) -> None:
    """Write a whole result as JSON (see JsonStream for the layout)."""
    head, suppliers, tail = split_result(data)
    sink = JsonStream(stream, head, len(suppliers))
    for supplier in suppliers:
        sink.supplier(supplier)
    sink.finish(tail)


def _summary(
    data: dict[str, Any], digest: Digest, json_out: str | None, written: list[Path], verbose: bool
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    summary = data["summary"]
    tiers = summary["by_tier"]
    line = "  ".join(
        f"[{TIER_STYLE[t]}]{t} {tiers[t]}[/]"
        for t in ("critical", "high", "medium", "low", "clear")
    )
    console.print(
        f"[bold]feocscreen[/] {data['tool']['version']} as of {data['as_of']}: "
        f"{digest.screened} screened, {len(data['not_screened'])} not screened"
    )
    console.print(line)
    feoc_pfe = summary["spend_feoc_pfe"]
    passing = summary["spend_passing_2027"]
    console.print(
        f"FEOC/PFE suppliers: {feoc_pfe['suppliers']}; chains passing the 2027 DFARS test: "
        f"{passing['suppliers']}; portfolio midstream exposure: {_pct(summary['portfolio_midstream_exposure'])}"
    )
    top = digest.exposures()
    if top:
        table = Table(title="Top midstream exposures", title_justify="left")
        for column in ("Supplier", "Name", "Tier", "Midstream", "FEOC", "PFE"):
            table.add_column(column)
        for s in top:
            if s["midstream_exposure"] <= 0:
                break
            table.add_row(
                s["supplier_id"],
                str(s["supplier_name"] or ""),
                f"[{TIER_STYLE[s['tier']]}]{s['tier']}[/]",
                _pct(s["midstream_exposure"]),
                "yes" if s["feoc"] else "no",
                "yes" if s["pfe"] else "no",
            )
        console.print(table)
    validation = data["validation"]
    console.print(
        f"validation: {len(validation['errors'])} error(s), {len(validation['warnings'])} warning(s)"
    )
    if verbose:
        warnings = validation["warnings"]
        for issue in warnings[:WARNINGS_SHOWN]:
            console.print(f"  warning [{issue['code']}] {issue['message']}", markup=False)
        if len(warnings) > WARNINGS_SHOWN:  # a large sheet has tens of thousands
            more = Counter(issue["code"] for issue in warnings[WARNINGS_SHOWN:])
            console.print(
                f"  … {len(warnings) - WARNINGS_SHOWN} more warning(s): "
                + ", ".join(f"{code} {n}" for code, n in more.most_common())
                + " (all in the result's validation.warnings, the report's Validation sheet"
                " and `feocscreen validate`)",
                markup=False,
            )
        for name, seconds in data["audit"]["timings"].items():
            console.print(f"  {name}: {seconds:.3f} s")
    if json_out and json_out != "-":
        console.print(f"JSON result: {json_out}")
    for path in written:
        console.print(f"report: {path}")
    console.print("Informational only; not legal advice.", style="dim")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def register(group: click.Group) -> None:
    group.add_command(screen_command)
