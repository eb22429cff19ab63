"""The Excel audit report: eight sheets a procurement lead can act on and an auditor can replay.

Sheets, in DESIGN order: Summary, Suppliers, Findings, Midstream, Ownership,
Matches, Validation, Audit. The workbook is written in openpyxl's write-only
mode so memory stays bounded however many rows a sheet has; a sheet that
would pass Excel's row limit stops one row short, names the CSV beside the
report that holds the rest, and the CSV gets the remaining rows.

Safety: text that came from the input is never written as a formula. A value
starting with ``=``, ``+``, ``-`` or ``@`` is stored as a string with Excel's
quote prefix, and the overflow CSVs prefix such text with an apostrophe.
Only http(s) citation URLs become hyperlinks.

Reproducibility: cells depend only on the result's data, never on the clock
(``generated_at`` goes to the workbook properties, not to a cell), so the same
input and ``--as-of`` give the same cell values.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.marker import DataPoint
from openpyxl.formatting.rule import ColorScaleRule
from openpyxl.styles import Alignment, Font, NamedStyle, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from ..machine import clear_for_writing
from ..models import MIDSTREAM, STAGES, TIERS
from .package import Deflating, save_workbook
from .sheetdata import (
    LINK_MARK,
    Fragment,
    SheetRows,
    blank_fragment,
    cell_starts,
    number_fragment,
    text_fragment,
)
from .view import (
    DISCLAIMER,
    Result,
    citation_text,
    citation_url,
    clean_text,
    evidence_refs,
    finding_counts,
    finding_state,
    issues,
    money,
    portfolio_stage_exposure,
    split_result,
    waiver_label,
    waiver_lists,
)

SHEETS: tuple[str, ...] = (
    "Summary",
    "Suppliers",
    "Findings",
    "Midstream",
    "Ownership",
    "Matches",
    "Validation",
    "Audit",
)
EXCEL_MAX_ROWS = 1_048_576  # Excel's hard row limit per sheet
EXCEL_MAX_CELL = 32_767  # Excel's hard limit on characters in one cell
# openpyxl holds every hyperlink of a sheet in memory until the sheet closes (about 2 KiB
# each, measured), so past this many per sheet the address is written as text instead;
# Excel itself stops at 65,530 links per sheet.
HYPERLINK_LIMIT = 10_000
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV-injection lead characters
# Text a cell shows exactly as it is, with nothing to escape: no control or markup
# characters (tab and line feed aside), no unpaired surrogates or non-characters, no
# space at either end (``xml:space``), no formula lead. Such text is written as it comes.
_UNWRITTEN = r"\x00-\x08\x0b-\x1f\x7f&<>\ud800-\udfff\ufffe\uffff"
_PLAIN_TEXT = re.compile(rf"(?![=+\-@])[^\s{_UNWRITTEN}](?:[^{_UNWRITTEN}]*[^\s{_UNWRITTEN}])?")
WIDTH_SAMPLE = 300  # rows looked at to size a column; enough for a stable width, cheap on 1M rows
MAX_WIDTH = 60
MIN_WIDTH = 8
COVERED_NATIONS_DEFAULT = ("CN", "IR", "KP", "RU")  # 10 U.S.C. 4872 covered nations
# Tier and severity colours (fill, font). The tier text is always written too,
# so the sheet reads the same in greyscale and for colour-blind readers.
TIER_COLOURS: dict[str, tuple[str, str]] = {
    "critical": ("C00000", "FFFFFF"),
    "high": ("F4B084", "000000"),
    "medium": ("FFE699", "000000"),
    "low": ("DDEBF7", "000000"),
    "info": ("EDEDED", "000000"),
    "clear": ("C6EFCE", "006100"),
}
HEADER_FILL = "1F3864"
CHARS_PER_WIDTH = 1.15  # prose averages narrower than the "0" that defines a width unit
LINE_HEIGHT = 15  # points per wrapped line at the default 11-point font
MAX_ROW_HEIGHT = 409  # Excel's largest row height
ASK_LIMIT = 200  # questions on the Summary sheet; the worst tiers first
ROW_FIT_LIMIT = 5_000  # rows sized to their text; past this (never printed) rows keep the default,
# because every sized row costs a RowDimension object and memory must stay bounded
HEADER_HEIGHT = 45
CELL_CACHE = 20_000  # styled cells kept for reuse (a rule's title recurs on every finding)
SUBHEADER_HEIGHT = 30  # points: three wrapped lines, so narrow numeric columns keep full headers
COVERED_FILL = "FFC7CE"
COVERED_BAR = "C00000"
UNVERIFIED_BAR = "A6A6A6"
ALLIED_SCALE = "5B9BD5"
# Summary columns: labels; values; then the wide "ask" and "why" text of the last table.
SUMMARY_WIDTHS = (50, 16, 14, 50, 50)

Kind = str  # "text" | "int" | "number" | "percent" | "money" | "link" | "tier" | "bool"


@dataclass(frozen=True)
class Column:
    """A column of a table sheet: header text, how its values are formatted, a fixed width."""

    header: str
    kind: Kind = "text"
    width: float | None = None
    wrap: bool = False  # long prose wraps so the printed page stays readable
    distinct: bool = False  # a new value on every row (an id): rendered, never kept


_FORMATS = {"int": "0", "number": "0.0", "percent": "0.0%", "money": "#,##0", "whole": "#,##0"}


def write_report(data: Result, path: Path, *, max_rows: int = EXCEL_MAX_ROWS) -> list[Path]:
    """Write the report workbook; return the files written (the xlsx, then any overflow CSVs).

    `max_rows` is Excel's row limit; tests lower it to exercise the overflow.
    """
    head, screened, tail = split_result(data)
    stream = ReportStream(head, path, max_rows=max_rows)
    for supplier in screened:
        stream.supplier(supplier)
    return stream.finish(tail)


@dataclass(frozen=True)
class SupplierRows:
    """Everything the report takes from one supplier: plain values, cheap to send between
    processes (a run screening on workers builds these there)."""

    counts: dict[str, int]
    supplier: list[Any]
    findings: list[list[Any]]
    ownership: list[list[Any]]
    matches: list[list[Any]]
    asks: list[tuple[str, str, str, str, str]]  # empty when none can reach the Summary
    ask_count: int  # how many questions the supplier has, kept or not


class AskBudget:
    """The questions of the suppliers seen so far, per tier, for ``supplier_rows``.

    The Summary keeps the ASK_LIMIT first questions by tier, worst first, then by order in
    the result. Once ASK_LIMIT questions of a tier as bad or worse came before a supplier,
    none of its questions can be kept: they are counted (the Summary says how many more
    there are), not sent on. A budget must see suppliers in result order, but need not see
    all of them: one per block of a run, or one per run, both keep every question that can
    be shown.
    """

    def __init__(self) -> None:
        self.seen = [0] * (len(TIERS) + 1)  # by _tier_order

    def wants(self, order: int) -> bool:
        """Whether questions of a supplier of this tier order may still be kept."""
        return sum(self.seen[: order + 1]) < ASK_LIMIT

    def add(self, order: int, count: int) -> None:
        self.seen[order] += count


def supplier_rows(supplier: Mapping[str, Any], budget: AskBudget | None = None) -> SupplierRows:
    """One supplier's rows on the Suppliers, Findings, Ownership and Matches sheets, its
    finding counts and its questions for the Summary (none when `budget` tells that none
    can be kept; their number either way)."""
    counts = finding_counts(supplier)
    asks = list(_ReportWriter.supplier_asks(supplier))
    ask_count = len(asks)
    if budget is not None:
        order = _tier_order(clean_text(supplier.get("tier")))
        if not budget.wants(order):
            asks = []
        budget.add(order, ask_count)
    return SupplierRows(
        counts,
        _ReportWriter.supplier_row(supplier, counts),
        list(_ReportWriter.finding_rows(supplier)),
        list(_ReportWriter.ownership_rows(supplier)),
        list(_ReportWriter.match_rows(supplier)),
        asks,
        ask_count,
    )


class ReportStream:
    """The report written in one pass over the suppliers, as a screening run yields them.

    ``head`` is the result without its suppliers and the keys that need them all
    (validation, summary, waivers, audit), which ``finish`` takes. Every sheet is
    written as rows arrive, so memory does not grow with the portfolio.
    """

    def __init__(self, head: Result, path: Path, *, max_rows: int = EXCEL_MAX_ROWS) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = _ReportWriter(head, self.path, max_rows)

    def supplier(self, supplier: Mapping[str, Any]) -> None:
        self.writer.add_supplier(supplier)

    def rows(self, rows: SupplierRows) -> None:
        """A supplier given as its rows, built elsewhere (e.g. where it was screened)."""
        self.writer.add_rows(rows)

    @staticmethod
    def ask_budget() -> AskBudget:
        """A budget for building the rows elsewhere (see ``supplier_rows``)."""
        return AskBudget()

    def finish(self, tail: Result) -> list[Path]:
        """Write the sheets that need the whole run, save, and return the files written."""
        writer = self.writer
        try:
            writer.finish(tail)
            tmp = self.path.with_name(self.path.name + ".tmp")
            save_workbook(writer.workbook, tmp, writer.deflating)
        finally:
            writer.deflating.close()
        os.replace(tmp, self.path)
        return [self.path, *writer.overflow_files]


class _ReportWriter:
    """Builds the write-only workbook sheet by sheet; owns styles and overflow files."""

    def __init__(self, data: Result, path: Path, max_rows: int) -> None:
        self.data = data
        self.path = path
        self.max_rows = max(max_rows, 3)
        self.overflow_files: list[Path] = []
        self.workbook = Workbook(write_only=True)
        self.deflating = Deflating()  # the table sheets are deflated as their rows come
        self._register_styles()
        # Sheets are created in DESIGN order now and filled as their rows are known: each
        # write-only sheet streams to its own temporary file.
        self.sheets = {name: self.workbook.create_sheet(name) for name in SHEETS}
        self._register_table_styles()
        self.screened = 0
        self.counts = {"active": 0, "upcoming": 0, "waived": 0}
        self._asks: list[tuple[int, int, tuple[str, str, str, str, str]]] = []  # max-heap
        self._ask_total = 0
        self._budget = AskBudget()  # for the suppliers added whole, in result order
        self.tables = {
            "Suppliers": _Table(
                self, "Suppliers", SUPPLIER_COLUMNS, "No supplier could be screened."
            ),
            "Findings": _Table(
                self, "Findings", FINDING_COLUMNS, "No rule fired for any supplier."
            ),
            "Ownership": _Table(self, "Ownership", OWNERSHIP_COLUMNS, "No supplier was screened."),
        }
        no_matches = (
            "No name matched or needed review against the loaded lists."
            if data.get("lists")
            else "No watchlist was loaded, so names were not screened against any list "
            "(listing prongs: not tested)."
        )
        self.tables["Matches"] = _Table(self, "Matches", MATCH_COLUMNS, no_matches)
        generated = data.get("generated_at")
        if isinstance(generated, str):
            with contextlib.suppress(ValueError):
                self.workbook.properties.created = datetime.fromisoformat(
                    generated.replace("Z", "+00:00")
                ).replace(tzinfo=None)
        self.workbook.properties.title = "feocscreen supplier screening report"
        self.workbook.properties.description = DISCLAIMER

    # ---- styles -------------------------------------------------------------------------
    def _register_styles(self) -> None:
        named = [
            NamedStyle(
                "fs_header",
                font=Font(bold=True, color="FFFFFF"),
                fill=PatternFill("solid", fgColor=HEADER_FILL),
                alignment=Alignment(wrap_text=True, vertical="top"),
            ),
            NamedStyle("fs_title", font=Font(bold=True, size=14)),
            NamedStyle("fs_section", font=Font(bold=True, size=12, color=HEADER_FILL)),
            NamedStyle("fs_disclaimer", font=Font(italic=True, color="C00000")),
            NamedStyle(
                "fs_link",
                font=Font(color="0563C1", underline="single"),
                alignment=Alignment(wrap_text=True, vertical="top"),
            ),
            NamedStyle("fs_top", alignment=Alignment(vertical="top")),
            NamedStyle(
                "fs_subheader",
                font=Font(bold=True),
                fill=PatternFill("solid", fgColor="D9E1F2"),
                alignment=Alignment(wrap_text=True, vertical="top"),
            ),
            NamedStyle("fs_wrap", alignment=Alignment(wrap_text=True, vertical="top")),
        ]
        for kind, number_format in _FORMATS.items():
            named.append(
                NamedStyle(
                    f"fs_{kind}", number_format=number_format, alignment=Alignment(vertical="top")
                )
            )
        for tier, (fill, font) in TIER_COLOURS.items():
            named.append(
                NamedStyle(
                    f"fs_tier_{tier}",
                    font=Font(bold=True, color=font),
                    fill=PatternFill("solid", fgColor=fill),
                    alignment=Alignment(vertical="top"),
                )
            )
        named.append(
            NamedStyle(
                "fs_covered_header",
                font=Font(bold=True, color="9C0006"),
                fill=PatternFill("solid", fgColor=COVERED_FILL),
                alignment=Alignment(wrap_text=True, vertical="top"),
            )
        )
        for style in named:
            self.workbook.add_named_style(style)
        self._style_arrays: dict[tuple[str, bool], StyleArray] = {}
        self.table_styles: dict[tuple[str, bool], int] = {}
        self._cells: dict[tuple[Any, ...], Any] = {}  # see styled()

    def styled(self, ws: WriteOnlyWorksheet, value: Any, style: str, quote: bool = False) -> Any:
        """An openpyxl cell with a named style (and Excel's quote prefix when `quote`), for
        the sheets openpyxl writes cell by cell (Summary, Midstream; the table sheets are
        rendered by ``RowRenderer``).

        Cells of one style share one cached style array, and equal cells are one object,
        reused: a write-only sheet writes each cell as it is appended (only its position
        changes) and nothing restyles it, so sharing is safe.
        """
        key = (ws.title, style, quote, type(value), value)
        cell = self._cells.get(key)
        if cell is None:
            cell = Cell(ws, row=1, column=1, value=value)  # what WriteOnlyCell builds
            cell._style = self._style_array(ws, style, quote)
            if len(self._cells) >= CELL_CACHE:
                self._cells.clear()
            self._cells[key] = cell
        return cell

    def _style_array(self, ws: WriteOnlyWorksheet, style: str, quote: bool) -> StyleArray:
        cached = self._style_arrays.get((style, quote))
        if cached is None:
            probe = WriteOnlyCell(ws)
            probe.style = style
            probe.quotePrefix = quote
            cached = self._style_arrays[(style, quote)] = StyleArray(probe._style)
        return cached

    # ---- cells --------------------------------------------------------------------------
    def cell(
        self, ws: WriteOnlyWorksheet, value: Any, kind: Kind = "text", wrap: bool = False
    ) -> Any:
        """One cell of a sheet openpyxl writes, formatted by kind; text is never a formula.
        (Table sheets: ``RowRenderer``, which also handles the bool and link kinds.)"""
        if value is None or value == "":
            return None
        if kind in _FORMATS and isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.styled(ws, value, f"fs_{kind}")
        if kind == "tier":
            text = clean_text(value)
            if text in TIER_COLOURS:
                return self.styled(ws, text, f"fs_tier_{text}")
            return self._text_cell(ws, text)
        return self._text_cell(ws, value, wrap)

    def _text_cell(self, ws: WriteOnlyWorksheet, value: Any, wrap: bool = False) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.styled(ws, value, "fs_top")
        text = _cell_text(value)
        if _is_lead(text):
            # a string, not a formula, whatever it starts with; the quote prefix keeps it
            # text when the cell is edited in Excel
            cell = self.styled(ws, text, "fs_wrap" if wrap else "fs_top", quote=True)
            cell.data_type = "s"
            return cell
        return self.styled(ws, text, "fs_wrap" if wrap else "fs_top")

    # ---- table cells, written as XML by sheetdata ----------------------------------------
    def _register_table_styles(self) -> None:
        """Give every named style, with and without the quote prefix, its cell-format index
        now, so that rendering a table cell's style is a look-up (see ``RowRenderer``)."""
        ws = self.sheets["Audit"]  # any sheet: the probe cell only reads the workbook
        for style in self.workbook.named_styles:
            if style.startswith("fs_"):
                for quote in (False, True):
                    array = self._style_array(ws, style, quote)
                    self.table_styles[(style, quote)] = self.workbook._cell_styles.add(array)

    def renderer(self, columns: Sequence[Column]) -> RowRenderer:
        return RowRenderer(tuple(columns), self.table_styles)

    def header_row(
        self, ws: WriteOnlyWorksheet, headers: Sequence[str], styles: Sequence[str] | None = None
    ) -> list[Any]:
        row = []
        for index, header in enumerate(headers):
            row.append(self.styled(ws, header, styles[index] if styles else "fs_header"))
        return row

    # ---- sheets -------------------------------------------------------------------------
    def add_supplier(self, supplier: Mapping[str, Any]) -> None:
        """One screened supplier: its rows on every per-supplier sheet, its counts and asks."""
        self.add_rows(supplier_rows(supplier, self._budget))

    def add_rows(self, rows: SupplierRows) -> None:
        """One screened supplier's rows (see ``supplier_rows``)."""
        self.screened += 1
        for state, n in rows.counts.items():
            self.counts[state] = self.counts.get(state, 0) + n
        self.tables["Suppliers"].add(rows.supplier)
        for table, table_rows in (
            ("Findings", rows.findings),
            ("Ownership", rows.ownership),
            ("Matches", rows.matches),
        ):
            add = self.tables[table].add
            for row in table_rows:
                add(row)
        for ask in rows.asks:
            self._ask(ask)
        if not rows.asks:  # none could be kept (see AskBudget): only their number counts
            self._ask_total += rows.ask_count

    def _ask(self, ask: tuple[str, str, str, str, str]) -> None:
        """Keep the ASK_LIMIT first questions by (tier, order seen): the worst tiers first,
        in result order within a tier; the Summary stays one page however large the run."""
        self._ask_total += 1
        item = (-_tier_order(ask[2]), -self._ask_total, ask)
        if len(self._asks) < ASK_LIMIT:
            heapq.heappush(self._asks, item)
        elif item > self._asks[0]:
            heapq.heapreplace(self._asks, item)

    def finish(self, tail: Result) -> None:
        """The sheets that need every supplier: Summary, Midstream, Validation, Audit."""
        self.data = {**self.data, **tail}
        for entry in self.data.get("not_screened") or []:
            reasons = "; ".join(clean_text(r.get("message")) for r in entry.get("reasons") or [])
            self._ask(
                (
                    clean_text(entry.get("supplier_id")),
                    "",
                    "high",
                    "Correct the input rows so the supplier can be screened",
                    reasons,
                )
            )
        for waiver in waiver_lists(self.data)["expired"]:
            self._ask(
                (
                    clean_text(waiver.get("supplier_id")),
                    "",
                    "",
                    "Renew or resolve the expired waiver",
                    waiver_label(waiver),
                )
            )
        self.summary_sheet()
        for table in self.tables.values():
            table.close()
        self.midstream_sheet()
        self.table_sheet(
            "Validation", VALIDATION_COLUMNS, self.validation_rows(), "No input issue was found."
        )
        self.table_sheet("Audit", AUDIT_COLUMNS, self.audit_rows())

    def new_sheet(
        self, name: str, widths: Sequence[float], header_row: int = 1, repeat_header: bool = True
    ) -> WriteOnlyWorksheet:
        """The named sheet set up: widths, a frozen header, landscape fit-to-width printing."""
        ws = self.sheets[name]
        for index, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(index)].width = width
        ws.freeze_panes = f"A{header_row + 1}"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        if repeat_header:
            ws.print_title_rows = f"{header_row}:{header_row}"
        ws.oddFooter.center.text = "feocscreen — informational, not legal advice — page &P of &N"
        return ws

    def table_sheet(
        self,
        name: str,
        columns: Sequence[Column],
        rows: Iterable[list[Any]],
        empty_note: str = "Nothing to list.",
    ) -> None:
        """A flat table written from an iterable of rows (see ``_Table``)."""
        table = _Table(self, name, columns, empty_note)
        for row in rows:
            table.add(row)
        table.close()

    # ---- Summary ------------------------------------------------------------------------
    def summary_sheet(self) -> None:
        """Headline figures beside their charts, then exposure by stage and what to ask next."""
        data = self.data
        ws = self.new_sheet("Summary", SUMMARY_WIDTHS, header_row=3, repeat_header=False)
        title = WriteOnlyCell(ws, value="feocscreen supplier screening report")
        title.style = "fs_title"
        disclaimer = WriteOnlyCell(ws, value=DISCLAIMER)
        disclaimer.style = "fs_disclaimer"
        ws.append([title])
        ws.append([disclaimer])
        rulesets = ", ".join(
            f"{r.get('id')} {r.get('version')}" for r in data.get("rulesets") or []
        )
        ws.append(
            self.header_row(ws, ["As of", clean_text(data.get("as_of")), "Rulesets", rulesets, ""])
        )
        line = 3

        def section(title_text: str) -> None:
            nonlocal line
            ws.append([])
            cell = WriteOnlyCell(ws, value=title_text)
            cell.style = "fs_section"
            ws.append([cell])
            line += 2

        def put(values: Sequence[Any], kinds: Sequence[Kind], wrap: bool = False) -> None:
            nonlocal line
            height = _fitted_height(values, SUMMARY_WIDTHS, [wrap] * len(values))
            if height:
                ws.row_dimensions[line + 1].height = height
            ws.append([self.cell(ws, v, k, wrap) for v, k in zip(values, kinds, strict=True)])
            line += 1

        def put_header(values: Sequence[str]) -> None:
            nonlocal line
            ws.row_dimensions[line + 1].height = SUBHEADER_HEIGHT
            ws.append(self.header_row(ws, values, ["fs_subheader"] * len(values)))
            line += 1

        summary = data.get("summary") or {}
        counts = self.counts
        waivers = waiver_lists(data)

        section("Key figures")
        key_figures_at = line
        put_header(["Figure", "Value"])
        figures: list[tuple[str, Any, Kind]] = [
            ("Suppliers screened", self.screened, "int"),
            (
                "Suppliers not screened (input errors; count as high)",
                len(data.get("not_screened") or []),
                "int",
            ),
            (
                "Spend with FEOC or PFE suppliers (USD)",
                money(summary.get("spend_feoc_pfe")),
                "money",
            ),
            (
                "Spend passing the 2027 mine-to-magnet test (USD)",
                money(summary.get("spend_passing_2027")),
                "money",
            ),
            (
                "Share of spend with FEOC or PFE suppliers",
                _share(summary.get("spend_feoc_pfe")),
                "percent",
            ),
            (
                "Share of spend passing the 2027 test",
                _share(summary.get("spend_passing_2027")),
                "percent",
            ),
            ("Suppliers that declared spend", _coverage(summary.get("spend_coverage")), "percent"),
            (
                "Portfolio midstream exposure index (spend-weighted)",
                _fraction(summary.get("portfolio_midstream_exposure")),
                "percent",
            ),
            ("Active findings (unwaived)", counts["active"], "int"),
            ("Upcoming findings (shown, not counted)", counts["upcoming"], "int"),
            ("Waived findings", counts["waived"], "int"),
            ("Expired waivers (no longer applied)", len(waivers["expired"]), "int"),
            ("Unused waivers", len(waivers["unused"]), "int"),
        ]
        for label, value, kind in figures:
            put([label, value], ["text", kind])

        by_tier = summary.get("by_tier") or {}
        section("Suppliers by tier")
        tier_header = line + 1
        put_header(["Tier", "Suppliers"])
        for tier in TIERS:
            put([tier, by_tier.get(tier, 0)], ["tier", "int"])
        tier_last = line

        exposure = portfolio_stage_exposure(data)
        by_count = portfolio_stage_exposure(data, "count_based")
        country_share = summary.get("stage_country_share") or {}
        hhi = summary.get("hhi_by_stage") or {}
        section("Covered-nation share by stage")
        stage_header = line + 1
        put_header(
            [
                "Stage",
                "Covered, by spend",
                "Unverified, by spend",
                "Covered, by count",
                "Concentration (HHI)",
            ]
        )
        for stage in STAGES:
            stage_block = (summary.get("stage_exposure") or {}).get(stage)
            unverified = (
                stage_block.get("unverified_spend_weighted")
                if isinstance(stage_block, Mapping) and "unverified_spend_weighted" in stage_block
                else (country_share.get(stage) or {}).get("unverified")
            )
            put(
                [
                    stage,
                    exposure.get(stage),
                    _fraction(unverified),
                    by_count.get(stage),
                    _fraction(hhi.get(stage)),
                ],
                ["text", "percent", "percent", "percent", "whole"],
            )
        stage_last = line

        section("What to ask next")
        ask_header = line + 1
        put_header(["Supplier ID", "Supplier", "Tier", "Ask", "Why"])
        total = self._ask_total
        # The worst tiers first, in result order within a tier; the Summary stays one page
        # of questions however large the portfolio (the rest are in Findings and Validation).
        first = [ask for _, _, ask in sorted(self._asks, reverse=True)]
        for ask in first:
            put(list(ask), ["text", "text", "tier", "text", "text"], wrap=True)
        ws.auto_filter.ref = f"A{ask_header}:E{line}"
        if total > len(first):
            put(
                [
                    f"{total - len(first)} more questions, for lower tiers: see the Findings "
                    "(advice in Message) and Validation sheets."
                ],
                ["text"],
            )

        # Charts sit side by side beside the key-figure and tier tables, whose columns C–E are
        # empty for about twenty rows.
        exposure_chart = BarChart()
        exposure_chart.type = "col"
        exposure_chart.title = "Spend-weighted covered share by stage"
        exposure_chart.y_axis.title = "share of spend"
        exposure_chart.y_axis.numFmt = "0%"
        exposure_chart.y_axis.scaling.min = 0
        exposure_chart.y_axis.scaling.max = 1
        exposure_chart.add_data(
            Reference(ws, min_col=2, max_col=3, min_row=stage_header, max_row=stage_last),
            titles_from_data=True,
        )
        exposure_chart.set_categories(
            Reference(ws, min_col=1, min_row=stage_header + 1, max_row=stage_last)
        )
        for series, colour in zip(
            exposure_chart.series, (COVERED_BAR, UNVERIFIED_BAR), strict=False
        ):
            series.graphicalProperties.solidFill = colour
            series.graphicalProperties.line.solidFill = colour
        exposure_chart.height, exposure_chart.width = 8.0, 12.5
        ws.add_chart(exposure_chart, f"C{key_figures_at}")

        tier_chart = BarChart()
        tier_chart.type = "bar"
        tier_chart.title = "Suppliers by tier"
        tier_chart.legend = None
        tier_chart.add_data(
            Reference(ws, min_col=2, min_row=tier_header, max_row=tier_last), titles_from_data=True
        )
        tier_chart.set_categories(
            Reference(ws, min_col=1, min_row=tier_header + 1, max_row=tier_last)
        )
        for index, tier in enumerate(TIERS):
            point = DataPoint(idx=index)
            point.graphicalProperties.solidFill = TIER_COLOURS[tier][0]
            point.graphicalProperties.line.solidFill = "7F7F7F"
            tier_chart.series[0].dPt.append(point)
        tier_chart.height, tier_chart.width = 8.0, 9.5
        ws.add_chart(tier_chart, f"E{key_figures_at}")

    @staticmethod
    def supplier_asks(supplier: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str, str]]:
        """Questions for one supplier, straight from the result: unverified stages, review
        matches and upcoming failures (input errors and expired waivers come at the end)."""
        sid, name, tier = (
            clean_text(supplier.get(k)) for k in ("supplier_id", "supplier_name", "tier")
        )
        unverified = supplier.get("stage_unverified") or {}
        gaps = [
            f"{stage} ({100 * share:.0f} % unverified)"
            for stage in STAGES
            if isinstance(share := unverified.get(stage), (int, float)) and share > 0
        ]
        if gaps:
            yield (
                sid,
                name,
                tier,
                "Declare the origin of: " + ", ".join(gaps),
                "Unknown is not clean: unverified stages never score as allied.",
            )
        for match in supplier.get("matches") or []:
            if match.get("status") == "review":
                yield (
                    sid,
                    name,
                    tier,
                    f"Confirm identity of {match.get('field')} against {match.get('list')} entry "
                    f"'{clean_text(match.get('entry'))}' (score {match.get('score')})",
                    clean_text(match.get("explanation")),
                )
        advised: set[str] = set()
        upcoming: dict[str, list[str]] = {}
        for finding in supplier.get("findings") or []:
            state = finding_state(finding)
            if state == "upcoming":
                plan = (
                    f"Plan for {finding.get('effective_from')}: {clean_text(finding.get('title'))}"
                )
                upcoming.setdefault(plan, []).append(clean_text(finding.get("message")))
            advice = clean_text(finding.get("advice"))
            if state == "active" and advice and advice not in advised and not gaps:
                advised.add(advice)
                yield (sid, name, tier, advice, clean_text(finding.get("title")))
        for plan, messages in upcoming.items():
            yield (sid, name, tier, plan, " | ".join(messages))

    # ---- Midstream ----------------------------------------------------------------------
    def midstream_sheet(self) -> None:
        summary = self.data.get("summary") or {}
        share = summary.get("stage_country_share") or {}
        totals: dict[str, float] = {}
        for stage in STAGES:
            for country, value in (share.get(stage) or {}).items():
                if country != "unverified" and isinstance(value, (int, float)):
                    totals[country] = totals.get(country, 0.0) + float(value)
        countries = sorted(totals, key=lambda c: (-totals[c], c))
        covered = self.covered_nations()
        headers = [
            "Stage",
            "Midstream",
            *[f"{c} (covered)" if c in covered else c for c in countries],
            "Unverified",
            "Covered (portfolio)",
        ]
        styles = [
            "fs_header",
            "fs_header",
            *["fs_covered_header" if c in covered else "fs_header" for c in countries],
            "fs_header",
            "fs_header",
        ]
        ws = self.new_sheet("Midstream", [14, 11, *[12] * len(countries), 12, 18])
        ws.row_dimensions[1].height = HEADER_HEIGHT
        ws.append(self.header_row(ws, headers, styles))
        exposure = portfolio_stage_exposure(self.data)
        for stage in STAGES:
            values = share.get(stage) or {}
            ws.append(
                [
                    self.cell(ws, stage),
                    self.cell(ws, "yes" if stage in MIDSTREAM else "no"),
                    *[self.cell(ws, _fraction(values.get(c)), "percent") for c in countries],
                    self.cell(ws, _fraction(values.get("unverified")), "percent"),
                    self.cell(ws, exposure.get(stage), "percent"),
                ]
            )
        last_row = len(STAGES) + 1
        ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{last_row}"
        # Intensity heat map per column: red for covered nations, blue for the others, grey for
        # unverified, so red on this sheet always means covered-nation material.
        for offset, country in enumerate([*countries, "unverified"]):
            letter = get_column_letter(3 + offset)
            end_colour = (
                UNVERIFIED_BAR
                if country == "unverified"
                else COVERED_BAR
                if country in covered
                else ALLIED_SCALE
            )
            ws.conditional_formatting.add(
                f"{letter}2:{letter}{last_row}",
                ColorScaleRule(
                    start_type="num",
                    start_value=0,
                    start_color="FFFFFF",
                    end_type="num",
                    end_value=1,
                    end_color=end_colour,
                ),
            )
        ws.append([])
        note = (
            "Spend-weighted share of the portfolio's material at each stage by country of origin. "
            "Covered nations are highlighted in the header; unverified is material whose origin "
            "was not declared and never counts as allied."
        )
        ws.append([self._text_cell(ws, note)])

    def covered_nations(self) -> set[str]:
        settings = self.data.get("settings") or {}
        listed = settings.get("covered_origin") or settings.get("covered_nations")
        if isinstance(listed, Sequence) and not isinstance(listed, str) and listed:
            return {str(c) for c in listed}
        covered = set(COVERED_NATIONS_DEFAULT)
        if settings.get("hk_mo_as_china_origin", True):
            covered |= {"HK", "MO"}
        return covered

    # ---- table rows ---------------------------------------------------------------------
    @staticmethod
    def supplier_row(
        supplier: Mapping[str, Any], counts: Mapping[str, int] | None = None
    ) -> list[Any]:
        """The supplier's row on the Suppliers sheet (``counts``: its ``finding_counts``)."""
        exposure = supplier.get("stage_exposure") or {}
        unverified = supplier.get("stage_unverified") or {}
        if counts is None:
            counts = finding_counts(supplier)
        reviews = sum(1 for m in supplier.get("matches") or [] if m.get("status") == "review")
        basis = supplier.get("feoc_pfe_basis") or []
        return [
            supplier.get("supplier_id"),
            supplier.get("supplier_name"),
            supplier.get("country"),
            supplier.get("stage"),
            supplier.get("tier"),
            supplier.get("score"),
            supplier.get("feoc"),
            supplier.get("pfe"),
            _fraction(supplier.get("covered_government_ownership")),
            *[_fraction(exposure.get(stage)) for stage in STAGES],
            *[_fraction(unverified.get(stage)) for stage in STAGES],
            _fraction(supplier.get("midstream_exposure")),
            counts["active"],
            counts["upcoming"],
            counts["waived"],
            reviews,
            money(supplier.get("annual_spend_usd")),
            "; ".join(clean_text(b) for b in basis) if isinstance(basis, list) else basis,
        ]

    @staticmethod
    def finding_rows(supplier: Mapping[str, Any]) -> Iterator[list[Any]]:
        # the rules that hit a stage and country share its evidence list: written once
        cited: dict[int, tuple[Any, str]] = {}
        for finding in supplier.get("findings") or []:
            waived = finding.get("waived") or {}
            citation = finding.get("citation")
            evidence = finding.get("evidence")
            known = cited.get(id(evidence))
            if known is None:  # the list is kept beside its text, so its id is not reused
                known = cited[id(evidence)] = (evidence, "; ".join(evidence_refs(evidence)))
            yield [
                supplier.get("supplier_id"),
                supplier.get("supplier_name"),
                finding.get("rule_id"),
                finding.get("title"),
                finding.get("severity"),
                finding.get("status"),
                finding.get("effective_from"),
                finding.get("message"),
                known[1],
                _citation_cell(citation),
                finding.get("confidence"),
                finding.get("contribution"),
                waived.get("by"),
                waived.get("why"),
                waived.get("until"),
                finding.get("finding_id"),
            ]

    @staticmethod
    def ownership_rows(supplier: Mapping[str, Any]) -> Iterator[list[Any]]:
        ownership = supplier.get("ownership") or {}
        base = [
            supplier.get("supplier_id"),
            supplier.get("supplier_name"),
            ownership.get("nation"),
            _fraction(ownership.get("equity")),
            _fraction(ownership.get("voting")),
            _fraction(ownership.get("board")),
            _fraction(supplier.get("covered_government_ownership")),
        ]
        paths = ownership.get("paths") or []
        if not paths:
            note = (
                "no ownership rows given for this entity"
                if ownership.get("equity") is None
                else "no covered-government holding found in the ownership rows"
            )
            yield [*base, None, None, note]
            return
        for path in paths:
            if isinstance(path, Mapping):
                steps = path.get("path") or path.get("steps") or []
                text = (
                    " → ".join(clean_text(s) for s in steps) if isinstance(steps, list) else steps
                )
                yield [*base, path.get("measure"), _fraction(path.get("share")), text]
            else:
                yield [*base, None, None, clean_text(path)]

    @staticmethod
    def match_rows(supplier: Mapping[str, Any]) -> Iterator[list[Any]]:
        for match in supplier.get("matches") or []:
            yield [
                supplier.get("supplier_id"),
                supplier.get("supplier_name"),
                match.get("field"),
                match.get("list"),
                match.get("entry"),
                match.get("score"),
                match.get("status"),
                match.get("explanation"),
            ]

    def validation_rows(self) -> Iterator[list[Any]]:
        owners: dict[tuple[Any, ...], list[str]] = {}
        for entry in self.data.get("not_screened") or []:
            for reason in entry.get("reasons") or []:
                owners.setdefault(_issue_key(reason), []).append(str(entry.get("supplier_id")))
        listed: set[tuple[Any, ...]] = set()
        for issue in issues(self.data):
            key = _issue_key(issue)
            listed.add(key)
            yield _issue_row(issue, ", ".join(owners.get(key, [])))
        for entry in self.data.get("not_screened") or []:
            for reason in entry.get("reasons") or []:
                if _issue_key(reason) not in listed:
                    yield _issue_row(reason, str(entry.get("supplier_id")))
        waivers = waiver_lists(self.data)
        reported = {issue.get("code") for issue in issues(self.data)}
        for kind, code, text in (
            ("expired", "waiver-expired", "EXPIRED waiver no longer applies"),
            ("unused", "waiver-unused", "waiver matched no finding"),
        ):
            if code in reported:
                continue  # the run already listed these as validation warnings
            for waiver in waivers[kind]:
                yield [
                    "warning",
                    code,
                    None,
                    waiver.get("file"),
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    f"{text}: {waiver_label(waiver)}",
                ]

    def audit_rows(self) -> Iterator[list[Any]]:
        data = self.data
        audit = data.get("audit") or {}
        tool = data.get("tool") or {}
        yield ["Tool", tool.get("name", "feocscreen"), tool.get("version"), None]
        yield ["Result schema", "schema_version", data.get("schema_version"), None]
        yield ["Python", "version", audit.get("python"), None]
        for name, version in sorted((audit.get("libraries") or {}).items()):
            yield ["Library", name, version, None]
        yield ["Run", "command line", audit.get("command_line"), None]
        yield ["Run", "as of", data.get("as_of"), None]
        for entry in data.get("inputs") or []:
            yield ["Input", entry.get("path"), entry.get("kind"), entry.get("sha256")]
        for entry in data.get("rulesets") or []:
            yield [
                "Ruleset",
                entry.get("id"),
                f"version {entry.get('version')}, last reviewed {entry.get('last_reviewed')}",
                entry.get("sha256"),
            ]
        for entry in data.get("lists") or []:
            counts = entry.get("rows_by_source") or {}
            yield [
                "List",
                entry.get("path"),
                "; ".join(f"{source}: {n} rows" for source, n in counts.items()) or "no rows",
                entry.get("sha256"),
            ]
        if not data.get("lists"):
            yield ["List", "none loaded", "listing prongs were not tested", None]
        for entry in audit.get("files") or []:
            if isinstance(entry, Mapping):
                yield [
                    f"File ({entry.get('role', 'other')})",
                    entry.get("path"),
                    None,
                    entry.get("sha256"),
                ]
        settings: dict[str, Any] = {}
        for source in (data.get("settings") or {}, audit.get("settings") or {}):
            settings.update(_flatten(source))
        for key in sorted(settings):
            yield ["Setting", key, _display(settings[key]), None]
        waivers = waiver_lists(data)
        for kind in ("applied", "expired", "unused"):
            for waiver in waivers[kind]:
                who = waiver.get("approved_by") or waiver.get("by")
                until = waiver.get("expires") or waiver.get("until")
                justification = waiver.get("justification") or waiver.get("why")
                yield [
                    f"Waiver ({kind})",
                    f"{waiver.get('supplier_id', '*')} / {waiver.get('rule_id', '*')}",
                    f"expires {until}; approved by {who}; {clean_text(justification)}",
                    waiver.get("sha256"),
                ]
        # timings are present only with --verbose (they change from run to run)
        for stage, seconds in sorted((audit.get("timings") or {}).items()):
            yield ["Timing (s)", stage, seconds, None]
        known = {"python", "libraries", "command_line", "settings", "files", "timings"}
        for key in sorted(k for k in audit if k not in known):
            for sub, value in sorted(_flatten({key: audit[key]}).items()):
                yield ["Audit", sub, _display(value), None]
        yield ["Notice", "disclaimer", DISCLAIMER, None]


class RowRenderer:
    """Turns a table's rows into SpreadsheetML (see ``sheetdata``), as ``_ReportWriter.cell``
    would format them: number formats by column kind, tier colours, wrapped prose, text
    never a formula.

    A row comes out with its row number left as ``ROW_MARK`` and each linked citation as
    ``LINK_MARK``, which the sheet fills in: where the row lands, and whether the sheet
    still has room for a hyperlink, is known only there. A text column's cells are kept
    per value (``_Cells``), so a recurring title, severity or name costs one look-up.
    """

    def __init__(self, columns: tuple[Column, ...], styles: Mapping[tuple[str, bool], int]):
        self.columns = columns
        self.styles = dict(styles)
        self.starts = cell_starts(len(columns))
        self.links_full = False  # the sheet has no room for more hyperlinks
        self._link_cells: list[_Cells] = []
        self.makers = [
            self._maker(start, column) for start, column in zip(self.starts, columns, strict=True)
        ]

    def render(self, row: Sequence[Any]) -> str:
        if len(row) != len(self.makers):
            raise ValueError(f"a row of {len(row)} cells for {len(self.makers)} columns")
        return "".join(map(operator.call, self.makers, row))

    def cells(self, values: Sequence[Any], style: str = "") -> str:
        """A row of text cells (a header, a note), all in one style."""
        return "".join(
            start + cell
            for start, value in zip(self.starts, values, strict=False)
            if (cell := self.text(value, style=style)) is not None
        )

    def text(self, value: Any, wrap: bool = False, style: str = "") -> Fragment | None:
        """A cell holding `value` as ``_ReportWriter._text_cell`` would write it."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return number_fragment(value, self.styles[(style or "fs_top", False)])
        return self.string(value, wrap, style)

    def stop_links(self) -> None:
        """From now on, a linked citation is written as its label and address in brackets."""
        self.links_full = True
        for cells in self._link_cells:
            cells.reset()  # they held marks for the sheet to link

    def address(self, label: Any, url: str) -> Fragment:
        """A citation past the sheet's hyperlinks: its label, then its address."""
        return self.string(f"{clean_text(label)} <{url}>", True)

    def string(self, value: Any, wrap: bool = False, style: str = "") -> Fragment:
        """A cell holding `value` as text."""
        text = value if _shown_as_is(value) else _cell_text(value)
        style_id = self.styles[(style or ("fs_wrap" if wrap else "fs_top"), _is_lead(text))]
        return text_fragment(text, style_id) if text else blank_fragment(style_id)

    def _maker(self, start: str, column: Column) -> Callable[[Any], str]:
        """The whole cell (``start`` included; '' when empty) for one column's values."""
        kind, wrap = column.kind, column.wrap

        plain_style = "fs_wrap" if wrap else "fs_top"
        plain_ids = (self.styles[(plain_style, False)], self.styles[(plain_style, True)])
        plain = f'{start} s="{plain_ids[0]}" t="inlineStr"><is><t>'

        def text(value: Any, style: str = "") -> str:
            if (
                not style
                and type(value) is str
                and len(value) <= EXCEL_MAX_CELL
                and _PLAIN_TEXT.fullmatch(value)
            ):
                return plain + value + "</t></is></c>"  # the common case: one regex
            if not style and _shown_as_is(value):  # without the layers below
                return start + text_fragment(value, plain_ids[_is_lead(value)])
            if value is None or value == "":
                return ""
            cell = self.text(value, wrap, style)
            return "" if cell is None else start + cell

        if kind in _FORMATS:
            style_id = self.styles[(f"fs_{kind}", False)]
            texts = _Cells(text)
            numbers: dict[float, str] = {}  # shares and counts recur: 0, 1, 0.5 …

            def formatted(value: float) -> str:
                fragment = number_fragment(value, style_id)
                return "" if fragment is None else start + fragment

            def number(value: Any) -> str:
                cls = type(value)
                if cls is float or cls is int:  # not bool: True would be taken for 1
                    cell = numbers.get(value)
                    if cell is None:
                        if len(numbers) >= CELL_CACHE:
                            numbers.clear()
                        cell = numbers[value] = formatted(value)
                    return cell
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    return formatted(value)  # a subclass: not kept
                return texts[value]

            return number
        if kind == "bool":
            yes, no = text("yes"), text("no")
            return lambda value: yes if value is True else no if value is False else text(value)
        if kind == "tier":

            def tier(value: Any) -> str:
                label = clean_text(value)
                return text(label, f"fs_tier_{label}" if label in TIER_COLOURS else "")

            return _Cells(tier).__getitem__
        if kind == "link":
            mark = start + LINK_MARK

            def link(value: Any) -> str:
                if isinstance(value, tuple):
                    label, url = value
                    if url and self.links_full:
                        return start + self.address(label, url)
                    if url:
                        return mark  # the sheet links it while it has room
                    value = label
                return text(value)

            cells = _Cells(link, (str, tuple))  # (label, url) pairs recur
            self._link_cells.append(cells)
            return cells.__getitem__
        if column.distinct:
            return text  # values that never recur: not kept
        return _Cells(text).__getitem__


class _Cells(dict[Any, Any]):
    """One column's rendered cells by value, filled on first use. Only values of the
    `kept` types are kept — text by default: no True/1/1.0 collisions, no unbounded
    floats — at most CELL_CACHE at a time."""

    def __init__(self, render: Callable[[Any], Any], kept: tuple[type, ...] = (str,)) -> None:
        super().__init__({None: "", "": ""})
        self.render = render
        self.kept = kept

    def reset(self) -> None:
        self.clear()
        self[None] = self[""] = ""

    def __missing__(self, value: Any) -> Any:
        cell = self.render(value)
        if type(value) in self.kept:
            if len(self) >= CELL_CACHE:
                self.reset()
            self[value] = cell
        return cell


@dataclass
class _Spill:
    """The CSV beside the report that takes a table's rows past Excel's row limit."""

    path: Path
    handle: Any
    fields: list[Callable[[Any], str]]  # each column's CSV field (see _csv_field)
    rows: int = 0


class _Table:
    """A flat table sheet fed one row at a time; past Excel's row limit the rest goes to a CSV.

    Only the first WIDTH_SAMPLE rows are held (to size the columns before the sheet's
    first row is written); every later row goes straight to the sheet's rows file
    (``sheetdata.SheetRows``), so a sheet of a million findings never sits in memory.
    """

    def __init__(
        self, writer: _ReportWriter, name: str, columns: Sequence[Column], empty_note: str
    ) -> None:
        self.writer, self.name, self.columns, self.empty_note = writer, name, columns, empty_note
        self.renderer = writer.renderer(columns)
        self.head: list[Sequence[Any]] | None = []  # None once the sheet is open
        self.written = 0
        self.room = writer.max_rows - 2  # under the header, one row kept for the overflow note
        self.out: SheetRows | None = None
        self.link_columns = [i for i, c in enumerate(columns) if c.kind == "link"]
        self.wrapped: list[tuple[int, int]] = []
        self.spill: _Spill | None = None  # the overflow CSV, once a row does not fit

    def add(self, row: Sequence[Any]) -> None:
        if self.head is not None:
            self.head.append(row)
            if len(self.head) >= WIDTH_SAMPLE:
                self._open()
            return
        self._write(row)

    def _open(self) -> None:
        head, self.head = self.head or [], None
        columns = self.columns
        widths = _widths(columns, head)
        out = self.out = SheetRows(self.writer.new_sheet(self.name, widths), self.writer.deflating)
        out.write(self.renderer.cells([c.header for c in columns], "fs_header"), HEADER_HEIGHT)
        self.wrapped = _wrapped_columns(widths, [c.wrap for c in columns])
        for row in head:
            self._write(row)

    def _write(self, row: Sequence[Any]) -> None:
        if self.written == self.room:
            self._spill(row)
            return
        out = self.out
        assert out is not None
        height = None
        if self.written < ROW_FIT_LIMIT:
            lines = _wrapped_lines(row, self.wrapped)
            if lines > 1:
                height = _line_height(lines)
        try:
            cells = self.renderer.render(row)
        except TypeError:  # a list or mapping cannot key the cell caches: shown as text
            row = _hashable(row)
            cells = self.renderer.render(row)
        if LINK_MARK in cells:
            cells = self._link(row, cells, out)
        out.write(cells, height)
        self.written += 1

    def _link(self, row: Sequence[Any], cells: str, out: SheetRows) -> str:
        """Fill the row's linked cells: hyperlinks while the sheet has room for them
        (HYPERLINK_LIMIT), the address written out after the label past it."""
        for index in self.link_columns:
            value = row[index]
            if not (isinstance(value, tuple) and value[1]):
                continue  # rendered as plain text
            label, url = value
            if len(out.links) < HYPERLINK_LIMIT:
                cell = self.renderer.string(label or url, style="fs_link")
                out.link(index, out.rows + 1, url)
            else:
                cell = self.renderer.address(label, url)
            cells = cells.replace(LINK_MARK, cell, 1)
        if len(out.links) >= HYPERLINK_LIMIT and not self.renderer.links_full:
            self.renderer.stop_links()  # later rows come with their addresses written out
        return cells

    def _spill(self, row: Sequence[Any]) -> None:
        """A row that does not fit the sheet: to the CSV beside the report."""
        if self.spill is None:
            path = self.writer.path.with_name(f"{self.writer.path.stem}.{self.name}.csv")
            clear_for_writing(path)
            handle = path.open("w", encoding="utf-8", newline="")
            handle.write("\ufeff")  # the BOM tells Excel the file is UTF-8 (accents, CJK)
            fields = [
                _csv_field if c.distinct else _Cells(_csv_field, (str, tuple)).__getitem__
                for c in self.columns
            ]
            self.spill = _Spill(path, handle, fields)
            handle.write(",".join(_csv_field(c.header) for c in self.columns) + "\r\n")
        spill = self.spill
        try:
            line = ",".join(map(operator.call, spill.fields, row))
        except TypeError:  # see _write
            line = ",".join(map(operator.call, spill.fields, _hashable(row)))
        spill.handle.write(line + "\r\n")
        spill.rows += 1

    def close(self) -> None:
        if self.head is not None:
            self._open()
        out = self.out
        assert out is not None
        if self.spill is not None:
            self.spill.handle.close()
            self.writer.overflow_files.append(self.spill.path)
            note = (
                f"{self.spill.rows} more rows did not fit Excel's row limit after these "
                f"{self.written}; they continue in {self.spill.path.name} beside this report."
            )
            out.write(self.renderer.cells([note]))
        if self.written == 0:  # say why the table is empty rather than leave a bare header
            out.write(self.renderer.cells([self.empty_note]))
        # set after the rows: the filter range is only known once they are written
        out.ws.auto_filter.ref = f"A1:{get_column_letter(len(self.columns))}{self.written + 1}"
        out.close()


SUPPLIER_COLUMNS: tuple[Column, ...] = (
    Column("Supplier ID", width=12),
    Column("Supplier", width=30, wrap=True),
    Column("Country", width=8),
    Column("Stage", width=11),
    Column("Tier", "tier", width=9),
    Column("Score", "number", width=7),
    Column("FEOC", "bool", width=6),
    Column("PFE", "bool", width=6),
    Column("Covered-gov. ownership", "percent", width=10),
    *[Column(f"{stage.capitalize()} covered", "percent", width=10) for stage in STAGES],
    *[Column(f"{stage.capitalize()} unverified", "percent", width=10) for stage in STAGES],
    Column("Midstream index", "percent", width=10),
    Column("Active findings", "int", width=8),
    Column("Upcoming findings", "int", width=9),
    Column("Waived findings", "int", width=8),
    Column("Matches to review", "int", width=8),
    Column("Annual spend (USD)", "money", width=13),
    Column("FEOC/PFE basis", width=40, wrap=True),
)
FINDING_COLUMNS: tuple[Column, ...] = (
    Column("Supplier ID", width=12),
    Column("Supplier", width=26, wrap=True),
    Column("Rule", width=22),
    Column("Title", width=30, wrap=True),
    Column("Severity", "tier", width=9),
    Column("Status", width=9),
    Column("Effective from", width=11),
    Column("Message", width=44, wrap=True),
    Column("Evidence (input cells)", width=28, wrap=True),
    Column("Citation", "link", width=26, wrap=True),
    Column("Confidence", width=11),
    Column("Contribution", "number", width=10),
    Column("Waived by", width=18, wrap=True),
    Column("Waiver reason", width=28, wrap=True),
    Column("Waived until", width=11),
    Column("Finding ID", width=18, distinct=True),
)
OWNERSHIP_COLUMNS: tuple[Column, ...] = (
    Column("Entity", width=12),
    Column("Supplier", width=30, wrap=True),
    Column("Covered nation", width=9),
    Column("Equity", "percent", width=9),
    Column("Voting", "percent", width=9),
    Column("Board", "percent", width=9),
    Column("Highest", "percent", width=9),
    Column("Path measure", width=10),
    Column("Path share", "percent", width=9),
    Column("Path (entity → … → owner)", width=60, wrap=True),
)
MATCH_COLUMNS: tuple[Column, ...] = (
    Column("Supplier ID", width=12),
    Column("Supplier", width=30, wrap=True),
    Column("Field", width=16),
    Column("List", width=10),
    Column("List entry", width=32, wrap=True),
    Column("Score", "number", width=8),
    Column("Status", width=9),
    Column("Explanation", width=60, wrap=True),
)
VALIDATION_COLUMNS: tuple[Column, ...] = (
    Column("Severity", width=9),
    Column("Code", width=20),
    Column("Supplier not screened", width=12),
    Column("File", width=18, wrap=True),
    Column("Sheet", width=12),
    Column("Row", "int", width=7),
    Column("Column", width=14),
    Column("Header", width=14),
    Column("Cell", width=7),
    Column("Value", width=20, wrap=True),
    Column("Message", width=60, wrap=True),
)
AUDIT_COLUMNS: tuple[Column, ...] = (
    Column("Section", width=16),
    Column("Item", width=34, wrap=True),
    Column("Value", width=60, wrap=True),
    Column("SHA-256", width=66),
)


def _hashable(row: Sequence[Any]) -> list[Any]:
    """The row with every value that cannot be hashed (a list, a mapping) as its text."""
    kept = []
    for value in row:
        try:
            hash(value)
        except TypeError:
            value = clean_text(value)
        kept.append(value)
    return kept


def _citation_cell(citation: Any) -> tuple[str, str | None]:
    """A citation as (label, link); a rule's citation recurs on every finding it makes."""
    if isinstance(citation, Mapping):
        text, url = citation.get("text"), citation.get("url")
    else:
        text = url = citation  # a bare string is the label, and the link when it is one
    if isinstance(text, (str, type(None))) and isinstance(url, (str, type(None))):
        return _citation_pair(text, url)
    return citation_text(citation), citation_url(citation)


@functools.lru_cache(maxsize=1024)
def _citation_pair(text: str | None, url: str | None) -> tuple[str, str | None]:
    citation = {"text": text, "url": url}
    return citation_text(citation), citation_url(citation)


# Characters a cell's text cannot show as they are: controls and CR (see clean_text).
_UNSHOWN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _shown_as_is(value: Any) -> bool:
    """Text a cell shows as it is: nothing to drop, convert or cut."""
    return type(value) is str and 0 < len(value) <= EXCEL_MAX_CELL and not _UNSHOWN.search(value)


def _cell_text(value: Any) -> str:
    """A value as the text of one cell: no control characters, line breaks as XML keeps
    them (only \\n), cut to Excel's limit."""
    text = clean_text(value).replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > EXCEL_MAX_CELL:
        text = text[: EXCEL_MAX_CELL - 1] + "…"
    return text


def _is_lead(text: str) -> bool:
    """Text Excel would take for a formula if typed in: it keeps the quote prefix."""
    return text.startswith(FORMULA_LEADS)


def _issue_key(issue: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(str(issue.get(k)) for k in ("code", "file", "sheet", "row", "column", "message"))


def _issue_row(issue: Mapping[str, Any], not_screened: str) -> list[Any]:
    value = issue.get("value")
    return [
        issue.get("severity"),
        issue.get("code"),
        not_screened or None,
        issue.get("file"),
        issue.get("sheet"),
        issue.get("row"),
        issue.get("column"),
        issue.get("header"),
        issue.get("cell"),
        value if isinstance(value, (int, float, str)) else clean_text(value),
        issue.get("message"),
    ]


def _fitted_height(
    row: Sequence[Any], widths: Sequence[float], wraps: Sequence[bool]
) -> float | None:
    """Row height (points) that shows every wrapped cell whole; None when one line will do.

    Neither openpyxl nor LibreOffice sizes rows to wrapped text on their own, so
    the report estimates it: about one character per unit of column width.
    """
    lines = _wrapped_lines(row, _wrapped_columns(widths, wraps))
    return _line_height(lines) if lines > 1 else None


def _wrapped_columns(widths: Sequence[float], wraps: Sequence[bool]) -> list[tuple[int, int]]:
    """(index, characters per line) of each wrapped column, worked out once per table."""
    return [
        (index, max(int(width * CHARS_PER_WIDTH), 1))
        for index, (width, wrap) in enumerate(zip(widths, wraps, strict=False))
        if wrap
    ]


def _wrapped_lines(row: Sequence[Any], wrapped: Sequence[tuple[int, int]]) -> int:
    """Lines the tallest wrapped cell of the row needs (1 when every cell fits one line)."""
    lines = 1
    for index, per_line in wrapped:
        if index >= len(row) or (value := row[index]) is None:
            continue
        text = clean_text(value[0] if isinstance(value, tuple) else value)
        if len(text) <= per_line and "\n" not in text:
            continue  # one line, the common case
        lines = max(lines, sum(-(-len(part) // per_line) or 1 for part in text.split("\n")))
    return lines


def _line_height(lines: int) -> float:
    return min(LINE_HEIGHT * lines, MAX_ROW_HEIGHT)


def _tier_order(tier: str) -> int:
    """critical first … clear, then anything else."""
    return TIERS.index(tier) if tier in TIERS else len(TIERS)


def _share(block: Any) -> float | None:
    """The share of a spend block {suppliers, usd, share}."""
    return _fraction(block.get("share")) if isinstance(block, Mapping) else None


def _coverage(value: Any) -> float | None:
    """Share of suppliers that declared spend, given as a number or a coverage block."""
    if isinstance(value, Mapping):
        value = value.get("share_of_suppliers")
    return _fraction(value)


def _fraction(value: Any) -> float | None:
    if isinstance(value, Mapping):
        value = value.get("share", value.get("value"))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _display(value: Any) -> str:
    """Audit values as text, so numbers and words line up in one readable column."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(clean_text(v) for v in value)
    return clean_text(value)


def _widths(columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> list[float]:
    widths = []
    for index, column in enumerate(columns):
        if column.width is not None:
            widths.append(column.width)
            continue
        longest = len(column.header)
        for row in rows[:WIDTH_SAMPLE]:
            value = row[index]
            text = value[0] if isinstance(value, tuple) else value
            longest = max(longest, len(clean_text(text)))
        widths.append(float(min(MAX_WIDTH, max(MIN_WIDTH, longest + 2))))
    return widths


def _csv_field(value: Any) -> str:
    """A value as one field of a row the csv module's Excel dialect writes (minimal
    quoting, quotes doubled, floats as repr): each kept per value, rows joined by hand."""
    value = _csv_value(value)
    text = repr(value) if isinstance(value, float) else str(value)
    return '"' + text.replace('"', '""') + '"' if _CSV_QUOTED.search(text) else text


_CSV_QUOTED = re.compile(r'[,"\r\n]')  # what the dialect quotes a field for


def _csv_value(value: Any) -> Any:
    if type(value) is str:  # most values
        text = clean_text(value)
        return "'" + text if text.startswith(FORMULA_LEADS) else text
    if isinstance(value, tuple):
        label, url = value
        value = f"{label} <{url}>" if url else label
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    text = clean_text(value)
    return "'" + text if text.startswith(FORMULA_LEADS) else text
