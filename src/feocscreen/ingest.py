"""The only module that opens input files: xlsx (calamine) and csv, behind hostile-file guards.

Every sheet comes back as a ``RawSheet``: the header texts, the rows as Python
values and the Excel row number of each row. Calamine trims empty leading rows
and columns, so positions are anchored on the sheet range's start, never on a
list index. openpyxl is used only for what calamine cannot tell: the number
format of a few cells (percent-formatted shares).
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
class RawSheet:
    """One sheet as read: headers, rows of cell values, and where they sit in the file."""

    file: str
    sheet: str
    headers: list[str]
    header_row: int  # Excel row number of the header line
    first_col: int  # 0-based index of the first column (A = 0)
    rows: list[list[Any]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)  # Excel row of each row
    path: Path | None = None
    kind: str = "workbook"

    def letter(self, index: int) -> str:
        """Column letter of the index-th header."""
        return column_letter(self.first_col + index)


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


def open_input(path: Path) -> InputFile:
    """Check a file and list its sheets, without reading cell data yet."""
    kind = sniff_kind(path)
    digest = sha256_of(path)
    if kind == "csv":
        return InputFile(path, path.name, digest, "csv", [path.stem])
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
