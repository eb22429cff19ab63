"""The only module that opens input files: xlsx (fastexcel, calamine) and csv, behind hostile-file guards.

Every sheet comes back as a ``RawSheet``: the header texts and the Excel row
number of each data row, with the cells either column by column as Arrow arrays
(fastexcel, the usual way) or as rows of Python values (calamine, csv). Readers
trim empty leading rows and columns, so positions are anchored on absolute
indices (fastexcel's ``absolute_index``, calamine's full grid), never on a list
index. fastexcel is used only where it gives the very values calamine would:
columns of one cell type (text, number or boolean) under a header row that is
plain text; any other sheet (dates, columns mixing types, unusual headers) is
read through calamine. openpyxl is used only for what neither can tell: the
number format of a few cells (percent-formatted shares).
"""

from __future__ import annotations

import atexit
import csv
import hashlib
import io
import logging
import os
import pickle
import posixpath
import sys
import threading
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

import numpy as np
import numpy.typing as npt

from .errors import InputError, make_issue
from .models import Issue

# A real xlsx member inflates 5-30x; bombs inflate 1000x. 250x leaves headroom
# for very repetitive but genuine sheets while refusing a 1 MB -> 1 GB file.
MAX_COMPRESSION_RATIO = 250
# Only members this large are ratio-checked: tiny XML parts compress oddly.
RATIO_CHECK_MIN_BYTES = 8 * 1024 * 1024
# A workbook at Excel's row limit with ~20 columns inflates to about 1.5 GB.
MAX_TOTAL_UNCOMPRESSED = 3 * 1024**3
# Excel itself refuses more than 32,767 characters in a cell.
MAX_CELL_CHARS = 32_767
MAX_CSV_BYTES = 2 * 1024**3

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class ColumnCells:
    """A sheet's data rows column by column: one Arrow array per column index, blank rows dropped.

    A null stands for an empty cell, which calamine hands over as ``""``.
    """

    arrays: dict[int, Any]  # column index (as in RawSheet.headers) -> pyarrow Array
    row_numbers: npt.NDArray[np.int64]  # Excel row of each data row


@dataclass
class RawSheet:
    """One sheet as read: headers, the cells (by rows or by columns), and where they sit."""

    file: str
    sheet: str
    headers: list[str]
    header_row: int  # Excel row number of the header line
    first_col: int  # 0-based index of the first column (A = 0)
    rows: list[list[Any]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)  # Excel row of each row
    path: Path | None = None
    kind: str = "workbook"
    columns: ColumnCells | None = None  # set instead of rows/row_numbers by the Arrow reader

    def letter(self, index: int) -> str:
        """Column letter of the index-th header."""
        return column_letter(self.first_col + index)

    @property
    def height(self) -> int:
        """Number of data rows (blank rows not counted)."""
        return len(self.columns.row_numbers) if self.columns is not None else len(self.rows)


@dataclass
class InputFile:
    """A readable input: its sheets, hash and kind."""

    path: Path
    name: str
    sha256: str
    kind: str  # workbook | csv | rmi
    sheet_names: list[str]
    sheets: dict[str, RawSheet] = field(default_factory=dict)
    workbook: Any = None  # the open CalamineWorkbook, reused for every sheet
    arrow_reader: Any = None  # the open fastexcel reader, made on first use


def column_letter(index: int) -> str:
    """0-based column index → Excel letters (0 → A, 27 → AB)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fail(code: str, path: Path, message: str, **where: Any) -> InputError:
    issue = make_issue(code, "error", message, file=path.name, **where)
    return InputError(f"{path.name}: {message}", [issue])


def sniff_kind(path: Path) -> str:
    """'xlsx' or 'csv', or an InputError saying what the file really is."""
    if not path.exists():
        raise _fail("not-a-spreadsheet", path, "file not found")
    if path.is_dir():
        raise _fail("not-a-spreadsheet", path, "is a directory, not a spreadsheet")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(ZIP_MAGIC):
        return "xlsx"
    if head.startswith(OLE2_MAGIC):
        with path.open("rb") as handle:
            blob = handle.read(4 * 1024 * 1024)
        if "EncryptionInfo".encode("utf-16-le") in blob or b"EncryptedPackage" in blob:
            raise _fail(
                "encrypted-file",
                path,
                "the workbook is password-protected (encrypted); remove the password in Excel "
                "(File > Info > Protect Workbook) and save it again as .xlsx",
            )
        raise _fail(
            "legacy-xls",
            path,
            "this is a legacy .xls (Excel 97-2003) file; open it in Excel and save it as .xlsx",
        )
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return "csv"
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise _fail(
            "corrupt-file", path, "not a valid xlsx file (no zip container): damaged or mis-named"
        )
    raise _fail(
        "not-a-spreadsheet",
        path,
        "not a spreadsheet: expected an .xlsx workbook or a .csv file",
    )


def check_zip(path: Path) -> list[str]:
    """Refuse corrupt containers and zip bombs before any parser sees them; return member names."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _fail(
            "corrupt-file", path, f"the xlsx container is damaged or truncated ({exc})"
        ) from None
    except NotImplementedError as exc:  # e.g. a zip version the standard library cannot read
        raise _fail("corrupt-file", path, f"unsupported zip container ({exc})") from None
    with archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
            raise _fail(
                "not-a-spreadsheet",
                path,
                "a zip archive but not an Excel workbook (no xl/ part)",
            )
        total = sum(i.file_size for i in infos)
        if total > MAX_TOTAL_UNCOMPRESSED:
            raise _fail(
                "zip-bomb",
                path,
                f"refused: the workbook would inflate to {total / 1024**3:.1f} GiB "
                f"(limit {MAX_TOTAL_UNCOMPRESSED / 1024**3:.0f} GiB)",
            )
        for info in infos:
            if info.file_size >= RATIO_CHECK_MIN_BYTES:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > MAX_COMPRESSION_RATIO:
                    raise _fail(
                        "zip-bomb",
                        path,
                        f"refused: member {info.filename} inflates {ratio:.0f}x "
                        f"({info.compress_size} → {info.file_size} bytes); real workbooks "
                        f"stay under {MAX_COMPRESSION_RATIO}x",
                    )
        # Sizes in the directory can lie: inflate each member with a hard cap.
        for info in infos:
            cap = info.file_size
            seen = 0
            try:
                with archive.open(info) as member:
                    while chunk := member.read(1 << 20):
                        seen += len(chunk)
                        if seen > cap:
                            raise _fail(
                                "zip-bomb",
                                path,
                                f"refused: member {info.filename} inflates beyond its declared size",
                            )
            except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
                raise _fail(
                    "corrupt-file", path, f"the xlsx container is damaged ({info.filename}: {exc})"
                ) from None
            except NotImplementedError as exc:
                raise _fail("corrupt-file", path, f"unsupported compression ({exc})") from None
    return names


# Workbooks at least this large are checked ahead (see ``check_ahead``); a smaller one is
# checked in a few milliseconds, less than starting a process costs.
AHEAD_MIN_BYTES = 8 << 20


class _Ahead:
    """A workbook's digest and container check, done by a forked child process while this
    one goes on (``check_ahead``); ``result`` waits for it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        read, write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child: its coverage is not collected
            try:
                os.close(read)
                try:
                    payload: tuple[Any, ...] = ("ok", sha256_of(path), check_zip(path))
                except InputError as exc:
                    payload = ("refused", exc.issues[0].code, exc.issues[0].message)
                except Exception:
                    payload = ("again",)  # whatever went wrong, the parent checks itself
                with os.fdopen(write, "wb") as pipe:
                    pipe.write(pickle.dumps(payload))
            finally:
                os._exit(0)  # never back into the parent's code
        os.close(write)
        self.pipe: int | None = read

    def result(self) -> tuple[str, list[str]] | None:
        """(digest, member names) from the child; an InputError if it refused the file; None
        if it could not tell (the caller checks the file itself)."""
        if self.pipe is None:
            return None
        with os.fdopen(self.pipe, "rb") as pipe:
            data = pipe.read()
        self.pipe = None
        os.waitpid(self.pid, 0)
        try:
            payload = pickle.loads(data)
        except Exception:  # the child died before it could report
            return None
        if payload[0] == "refused":
            raise _fail(payload[1], self.path, payload[2])
        return (payload[1], payload[2]) if payload[0] == "ok" else None

    def cancel(self) -> None:
        """Let the child go unheard (its report is not needed)."""
        if self.pipe is not None:
            os.close(self.pipe)  # a child still writing gets a broken pipe and leaves
            self.pipe = None
            os.waitpid(self.pid, 0)


_AHEAD: dict[Path, _Ahead] = {}


def check_ahead(paths: Sequence[Path | str]) -> None:
    """Start the digest and zip check of each large workbook among ``paths`` now, on a child
    process, so that they run beside what comes before reading (importing the validation
    and screening libraries takes about as long). ``open_input`` takes the answer instead
    of checking again; nothing is parsed before the check has passed. Only where a process
    can be forked safely (Linux) and before any thread is started."""
    if sys.platform != "linux" or threading.active_count() > 1:
        return
    for item in paths:
        path = Path(item)
        try:
            if not path.is_file() or path.stat().st_size < AHEAD_MIN_BYTES:
                continue
            with path.open("rb") as handle:
                if not handle.read(4).startswith(ZIP_MAGIC):
                    continue
        except OSError:
            continue  # opening it reports what is wrong
        if path.resolve() not in _AHEAD:
            _AHEAD[path.resolve()] = _Ahead(path)


def _cancel_ahead() -> None:
    while _AHEAD:
        _AHEAD.popitem()[1].cancel()


atexit.register(_cancel_ahead)


def _checked(path: Path) -> tuple[str, list[str]] | None:
    """The answer of a check started ahead for this file, if one was."""
    try:
        ahead = _AHEAD.pop(path.resolve(), None)
    except OSError:
        return None
    return ahead.result() if ahead is not None else None


def open_input(path: Path) -> InputFile:
    """Check a file and list its sheets, without reading cell data yet."""
    kind = sniff_kind(path)
    checked = _checked(path) if kind == "xlsx" else None
    digest = checked[0] if checked is not None else sha256_of(path)
    if kind == "csv":
        return InputFile(path, path.name, digest, "csv", [path.stem])
    if checked is None:
        check_zip(path)
    try:
        from python_calamine import CalamineWorkbook

        workbook = CalamineWorkbook.from_path(str(path))
        names = list(workbook.sheet_names)
    except Exception as exc:  # calamine raises its own types for every malformed part
        raise _fail("corrupt-file", path, f"cannot be read as a workbook ({exc})") from None
    return InputFile(path, path.name, digest, "workbook", names, workbook=workbook)


def read_sheet(source: InputFile, sheet: str) -> RawSheet:
    """Read one sheet: header = first non-empty row; rows keep their Excel row numbers."""
    if source.kind == "csv":
        return read_csv(source.path)
    columnar = read_sheet_columns(source, sheet)
    if columnar is not None:
        return columnar
    return read_sheet_rows(source, sheet)


def read_sheet_rows(source: InputFile, sheet: str) -> RawSheet:
    """Read one sheet through calamine as rows of Python values (every workbook it can open)."""
    from python_calamine import CalamineWorkbook

    try:
        workbook = source.workbook or CalamineWorkbook.from_path(str(source.path))
        data = workbook.get_sheet_by_name(sheet)
        # Without skipping the empty area the rows start at A1, so list positions are
        # absolute: index 0 is Excel row 1 and column A, whatever calamine trimmed.
        values = data.to_python(skip_empty_area=False)
        start_row, start_col = 0, 0
    except Exception as exc:
        raise _fail(
            "corrupt-file", source.path, f"sheet {sheet!r} cannot be read ({exc})"
        ) from None
    # Skip leading blank lines inside the range; the first non-blank row is the header.
    offset = 0
    while offset < len(values) and all(v in ("", None) for v in values[offset]):
        offset += 1
    if offset >= len(values):
        raise _fail("empty-sheet", source.path, f"sheet {sheet!r} is empty", sheet=sheet)
    header_values = values[offset]
    headers = [_header_text(v) for v in header_values]
    first_row = start_row + offset + 1
    raw = RawSheet(
        file=source.name,
        sheet=sheet,
        headers=headers,
        header_row=first_row,
        first_col=start_col,
        path=source.path,
    )
    for index, row in enumerate(values[offset + 1 :], start=first_row + 1):
        if all(v in ("", None) for v in row):
            continue
        _check_cells(raw, row, index)
        raw.rows.append(row)
        raw.row_numbers.append(index)
    return raw


def _header_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_cells(raw: RawSheet, row: list[Any], excel_row: int) -> None:
    for col, value in enumerate(row):
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            _refuse_large_cell(raw, col, excel_row, value)


def _refuse_large_cell(raw: RawSheet, col: int, excel_row: int, value: str) -> None:
    path = raw.path or Path(raw.file)
    raise _fail(
        "cell-too-large",
        path,
        f"cell {raw.letter(col)}{excel_row} on sheet {raw.sheet!r} holds "
        f"{len(value):,} characters; Excel's own limit is {MAX_CELL_CHARS:,}",
        sheet=raw.sheet,
        row=excel_row,
        cell=f"{raw.letter(col)}{excel_row}",
        header=raw.headers[col] if col < len(raw.headers) else None,
    )


# ---------------------------------------------------------------- Arrow reader

# Column types fastexcel hands over exactly as calamine's Python values would be: text,
# numbers (Excel keeps every number as a float) and booleans. Dates, durations and columns
# mixing types go through calamine instead.
ARROW_DTYPES = frozenset({"string", "float", "boolean"})
# The header is looked for in the sheet XML; this many rows without one means a sheet
# shaped unlike a table, left to calamine.
HEADER_SEARCH_ROWS = 1000
SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


class _Found(Exception):
    """Stops an XML scan once it has what it looked for."""


def _local(name: str) -> str:
    return name.rsplit("|", 1)[-1]


def _parse_xml(data: bytes) -> Any:
    import xml.etree.ElementTree as ET

    return ET.fromstring(data)


def _sheet_member(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member holding a worksheet, from workbook.xml and its relationships."""
    try:
        book = _parse_xml(archive.read("xl/workbook.xml"))
        rels = _parse_xml(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, OSError, zipfile.BadZipFile, zlib.error, SyntaxError):
        return None
    rel_id = None
    for node in book.iter(f"{{{SHEET_NS}}}sheet"):
        if node.get("name") == sheet:
            rel_id = node.get(f"{{{REL_NS}}}id")
    for rel in rels.iter(f"{{{PKG_REL_NS}}}Relationship"):
        if rel_id is not None and rel.get("Id") == rel_id:
            target = rel.get("Target", "")
            member = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
            member = posixpath.normpath(member)
            return member if member in archive.namelist() else None
    return None


def _column_index(reference: str) -> int | None:
    letters = reference.rstrip("0123456789")
    if not letters or not letters.isascii() or not letters.isupper() or len(letters) > 3:
        return None
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index - 1


def header_cells(path: Path, sheet: str) -> tuple[int, set[int]] | None:
    """The first row of a sheet that has a cell with a value, if all those cells hold text.

    Returns (0-based row, the columns of its cells), read from the start of the sheet XML
    only: calamine's range, and fastexcel's header, start at that row. None when it cannot
    be told exactly (a cell without its reference, a number or date in it, odd XML).
    """
    parser = expat.ParserCreate(namespace_separator="|")
    state: dict[str, Any] = {"row": None, "cell": None, "kind": None, "valued": False, "rows": 0}
    cells: dict[int, str] = {}
    found: list[int] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        if tag == "row":
            state["row"] = attrs.get("r")
            cells.clear()
            state["rows"] += 1
            if state["rows"] > HEADER_SEARCH_ROWS or state["row"] is None:
                raise _Found
        elif tag == "c":
            reference = attrs.get("r", "")
            column = _column_index(reference)
            if column is None or reference != f"{column_letter(column)}{state['row']}":
                raise _Found  # implicit or inconsistent positions: leave the sheet to calamine
            state["cell"], state["kind"], state["valued"] = column, attrs.get("t", "n"), False
        elif tag in ("v", "is") and state["cell"] is not None:
            state["valued"] = True

    def end(name: str) -> None:
        tag = _local(name)
        if tag == "c":
            if state["valued"]:
                cells[state["cell"]] = state["kind"]
            state["cell"] = None
        elif tag == "row" and cells:
            found.append(int(state["row"]) - 1)
            raise _Found

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        with zipfile.ZipFile(path) as archive:
            member = _sheet_member(archive, sheet)
            if member is None:
                return None
            with archive.open(member) as stream:
                while chunk := stream.read(1 << 16):
                    parser.Parse(chunk, False)
    except _Found:
        pass
    except (expat.ExpatError, OSError, zipfile.BadZipFile, zlib.error, ValueError, EOFError):
        return None
    if not found or any(kind not in ("s", "inlineStr", "str") for kind in cells.values()):
        return None
    return found[0], set(cells)


class _QuietFastexcel:
    """fastexcel logs a warning for every column without a value; the reader decides
    instead. Reads on several threads share one quiet spell, and the logger's level comes
    back after the last of them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reads = 0
        self.level = logging.NOTSET

    @contextmanager
    def __call__(self) -> Iterator[None]:
        logger = logging.getLogger("fastexcel")
        with self.lock:
            if self.reads == 0:
                self.level = logger.level
                logger.setLevel(logging.ERROR)
            self.reads += 1
        try:
            yield
        finally:
            with self.lock:
                self.reads -= 1
                if self.reads == 0:
                    logger.setLevel(self.level)


_quiet_fastexcel = _QuietFastexcel()


def read_sheets(source: InputFile, sheets: Sequence[str]) -> Iterator[tuple[int, RawSheet]]:
    """The named sheets as ``read_sheet`` reads them, each with its position in ``sheets``,
    as soon as it is read: the fastexcel reads of all of them start at once, on threads
    with a reader each (a read lets go of the GIL), so the small sheets are checked while
    the large one is read. A sheet only calamine can read exactly is read here, in turn."""
    if source.kind != "workbook" or len(sheets) < 2:
        for index, sheet in enumerate(sheets):
            yield index, read_sheet(source, sheet)
        return
    pool = ThreadPoolExecutor(len(sheets), thread_name_prefix="read-sheet")
    try:
        reads = {
            pool.submit(read_sheet_columns, source, sheet, own_reader=True): index
            for index, sheet in enumerate(sheets)
        }
        for read in as_completed(reads):
            index = reads[read]
            raw = read.result()
            yield index, raw if raw is not None else read_sheet_rows(source, sheets[index])
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def read_sheet_columns(source: InputFile, sheet: str, own_reader: bool = False) -> RawSheet | None:
    """Read one sheet into Arrow with fastexcel, or None when only calamine can read it exactly.

    Cells come out as calamine would give them (a null is calamine's ``""``); rows keep their
    Excel numbers and wholly blank rows are dropped, as the row reader does.
    """
    if source.path is None or source.kind != "workbook":
        return None
    head = header_cells(source.path, sheet)
    if head is None:
        return None
    header_index, text_columns = head
    try:
        import fastexcel

        if own_reader:  # a read on a thread of its own (see read_sheets)
            reader = fastexcel.read_excel(str(source.path))
        else:
            if source.arrow_reader is None:
                source.arrow_reader = fastexcel.read_excel(str(source.path))
            reader = source.arrow_reader
        with _quiet_fastexcel():
            loaded = reader.load_sheet(
                sheet,
                header_row=header_index,  # absolute: the rows above it are blank
                schema_sample_rows=None,  # every row decides a column's type: none is coerced
                dtype_coercion="strict",  # a column mixing types is left to calamine
            )
            # every column is selected: the same as available_columns(), which infers every
            # column's type again (0.23 s for a Sourcing sheet at Excel's row limit)
            infos = loaded.selected_columns
            table = loaded.to_arrow()
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException:  # noqa: B036 - fastexcel panics (pyo3) derive from BaseException
        return None
    if table.num_columns != len(infos):
        return None
    arrays: dict[int, Any] = {}
    texts: dict[int, str] = {}
    for position, info in enumerate(infos):
        if info.dtype not in ARROW_DTYPES:
            return None
        if info.column_name_from == "looked_up":
            if info.absolute_index not in text_columns:
                return None
            texts[info.absolute_index] = info.name
        column = table.column(position)  # a RecordBatch column; a Table's would be chunked
        arrays[info.absolute_index] = (
            column.combine_chunks() if hasattr(column, "combine_chunks") else column
        )
    if not text_columns <= set(arrays) or not any(texts.values()) or _renamed(texts):
        return None  # every header cell empty text (calamine skips such a row), or names renamed
    width = max(arrays, default=-1) + 1
    headers = [_header_text(texts.get(i)) for i in range(width)]
    raw = RawSheet(
        file=source.name,
        sheet=sheet,
        headers=headers,
        header_row=header_index + 1,
        first_col=0,
        path=source.path,
    )
    numbers = np.arange(header_index + 2, header_index + 2 + table.num_rows, dtype=np.int64)
    keep = _filled_rows(arrays, table.num_rows)
    _check_lengths(raw, arrays, keep, numbers)
    if not keep.all():
        import pyarrow as pa

        mask = pa.array(keep)
        arrays = {i: a.filter(mask) for i, a in arrays.items()}
        numbers = numbers[keep]
    raw.columns = ColumnCells(arrays, numbers)
    return raw


def _renamed(texts: dict[int, str]) -> bool:
    """Whether fastexcel may have renamed a repeated header ("Notes", "Notes_1"): calamine keeps both."""
    names = set(texts.values())
    return any(
        name.rpartition("_")[0] in names and name.rpartition("_")[2].isdigit() for name in names
    )


def _filled_rows(arrays: dict[int, Any], height: int) -> npt.NDArray[np.bool_]:
    """Rows with at least one cell that is neither empty nor empty text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    filled = np.zeros(height, dtype=bool)
    for array in arrays.values():
        if filled.all():  # most sheets: the first column (an id) is filled on every row
            break
        present = pc.is_valid(array)
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            # not empty text: a length from the offsets, not a comparison of every string
            nonempty = pc.fill_null(pc.greater(pc.binary_length(array), 0), False)
            present = pc.and_(present, nonempty)
        filled |= present.to_numpy(zero_copy_only=False)
    return filled


def _check_lengths(
    raw: RawSheet,
    arrays: dict[int, Any],
    keep: npt.NDArray[np.bool_],
    numbers: npt.NDArray[np.int64],
) -> None:
    """The Arrow reader's `_check_cells`: the first over-long text cell, row by row, refuses the sheet."""
    import pyarrow as pa
    import pyarrow.compute as pc

    worst: tuple[int, int] | None = None
    for col, array in arrays.items():
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            continue
        lengths = pc.utf8_length(array)
        longest = pc.max(lengths).as_py()
        if longest is None or longest <= MAX_CELL_CHARS:
            continue
        over = np.flatnonzero(
            pc.fill_null(pc.greater(lengths, MAX_CELL_CHARS), False).to_numpy(zero_copy_only=False)
            & keep
        )
        if len(over) and (worst is None or (int(over[0]), col) < worst):
            worst = (int(over[0]), col)
    if worst is None:
        return
    index, col = worst
    _refuse_large_cell(raw, col, int(numbers[index]), arrays[col][index].as_py())


def decode_csv(path: Path) -> str:
    """Decode a CSV: UTF-8 (with or without BOM), UTF-16 by BOM, else Windows-1252."""
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise _fail("not-a-spreadsheet", path, f"CSV of {size / 1024**3:.1f} GiB is too large")
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise _fail("bad-encoding", path, f"broken UTF-16 text ({exc.reason})") from None
    if b"\x00" in data[:65536]:
        raise _fail(
            "bad-encoding",
            path,
            "binary data or an unsupported text encoding (NUL bytes); save the file as CSV UTF-8",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _fail(
            "bad-encoding",
            path,
            f"line {line}: byte 0x{data[exc.start]:02x} is neither UTF-8 nor Windows-1252 "
            "text; save the file as CSV UTF-8",
            row=line,
        ) from None


def read_csv(path: Path) -> RawSheet:
    """Read a flat CSV sheet; the delimiter (comma, semicolon, tab) is sniffed."""
    text = decode_csv(path)
    sample = text[:65536]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    raw: RawSheet | None = None
    try:
        for physical, row in enumerate(reader, start=1):
            line = reader.line_num
            if raw is None:
                if not any(cell.strip() for cell in row):
                    continue
                raw = RawSheet(
                    file=path.name,
                    sheet=path.stem,
                    headers=[c.strip() for c in row],
                    header_row=line,
                    first_col=0,
                    path=path,
                    kind="csv",
                )
                continue
            if not any(cell.strip() for cell in row):
                continue
            _check_cells(raw, list(row), line)
            raw.rows.append(list(row))
            raw.row_numbers.append(line)
            del physical
    except csv.Error as exc:
        raise _fail("not-a-spreadsheet", path, f"malformed CSV ({exc})") from None
    if raw is None:
        raise _fail("empty-sheet", path, "the CSV file is empty", sheet=path.stem)
    return raw


# Excel's built-in number formats 9 ("0%") and 10 ("0.00%").
BUILTIN_PERCENT_FORMATS = frozenset({9, 10})


def has_percent_styles(path: Path) -> bool:
    """Whether any cell style of the workbook uses a percent format (reads styles.xml only)."""
    import xml.etree.ElementTree as ET

    try:
        with zipfile.ZipFile(path) as archive:
            styles = archive.read("xl/styles.xml")
    except (KeyError, zipfile.BadZipFile, OSError):
        return False
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    root = ET.fromstring(styles)
    percent_ids = set(BUILTIN_PERCENT_FORMATS)
    for fmt in root.iter(f"{ns}numFmt"):
        if "%" in fmt.get("formatCode", ""):
            percent_ids.add(int(fmt.get("numFmtId", "-1")))
    cell_xfs = root.find(f"{ns}cellXfs")
    if cell_xfs is None:
        return False
    return any(int(xf.get("numFmtId", "0")) in percent_ids for xf in cell_xfs)


def percent_formatted(path: Path, sheet: str, cells: list[str]) -> set[str]:
    """Which of these cells carry a percent number format (openpyxl: calamine cannot tell).

    The whole-sheet openpyxl pass runs only when the workbook defines a percent style.
    """
    if not cells or not has_percent_styles(path):
        return set()
    from openpyxl import load_workbook
    from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

    wanted = set(cells)
    rows = sorted({coordinate_from_string(c)[1] for c in wanted})
    cols = sorted({column_index_from_string(coordinate_from_string(c)[0]) for c in wanted})
    found: set[str] = set()
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = workbook[sheet]
        for row in ws.iter_rows(
            min_row=rows[0], max_row=rows[-1], min_col=cols[0], max_col=cols[-1]
        ):
            for cell in row:
                coordinate = getattr(cell, "coordinate", None)
                if coordinate in wanted and "%" in str(getattr(cell, "number_format", "")):
                    found.add(coordinate)
    finally:
        workbook.close()
    return found


def issue_at(
    raw: RawSheet,
    code: str,
    severity: str,
    message: str,
    row: int | None,
    col: int | None,
    column: str | None,
    value: Any = None,
) -> Issue:
    """A located Issue on a raw sheet (header text and A1 cell filled in)."""
    header = raw.headers[col] if col is not None and col < len(raw.headers) else None
    cell = f"{raw.letter(col)}{row}" if col is not None and row is not None else None
    return make_issue(
        code,
        severity,
        message,
        file=raw.file,
        sheet=raw.sheet,
        row=row,
        column=column,
        header=header,
        cell=cell,
        value=value,
    )
