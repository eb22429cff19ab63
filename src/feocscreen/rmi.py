"""Read RMI reporting templates (AMRT, EMRT) as suppliers' chain-of-custody reports.

Most suppliers answer procurement with the Responsible Minerals Initiative's
templates, not with our workbook. This module turns one filled template into the
parts of a ``Portfolio``: one supplier (the reporting company), its sourcing rows
(rare-earth or cobalt smelters/refiners at ``separation``, their mines at
``mining``, recycled feedstock at ``recycling``) and Checker-like issues, each
located by sheet and A1 cell.

What the templates taught us (AMRT 1.3 and EMRT 2.1, ``../shared/reference/rmi``):

- Every label is a formula (``=OFFSET(L!$C$1, …)``) rendered in the language picked
  in Declaration!D3; a file saved by a tool that does not compute formulas has no
  header text at all. So everything is read by absolute position (sheet name,
  header row 4, data from row 5, fixed columns), never by header text. The hidden
  ``L`` sheet maps ``<sheet><cell>`` to the label in each language; its English
  column tells us which Declaration row holds which field in this version.
- Readers that trim empty leading rows (python-calamine does by default) would
  shift positions, so sheets are read padded from A1.
- The Smelter List columns E (country) and F (RMI CID) are look-up formulas; when
  their cached values are missing the template's own ``Smelter Look-up`` sheet
  resolves the smelter picked in C (or the id typed in A).
- Dropdown values (metals, "Smelter not listed", "Smelter not yet identified",
  RMI country names) are English whatever the language; only Yes/No in column P
  is translated.

RMI templates declare no shares: the listed sources of a stage split it equally
(``share_basis = "assumed_equal"``). Presence rules (DFARS has no de minimis) fire
on any covered-nation source regardless of that split.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import python_calamine

from . import errors
from .countries import to_alpha2
from .ingest import check_zip, column_letter, sniff_kind
from .models import DFARS_EXCEPTIONS, MATERIALS, SUPPLIER_STAGES, Issue
from .portfolio import SUPPLIER_COLUMNS, SheetLayout

# --------------------------------------------------------------------------- issue codes

RMI_CMRT = errors.register(
    "rmi-cmrt-out-of-scope",
    "CMRT is out of scope",
    "A Conflict Minerals Reporting Template (tin, tantalum, tungsten, gold) has no magnet "
    "chain; it is recognised and not screened.",
)
RMI_UNSUPPORTED_VERSION = errors.register(
    "rmi-unsupported-version",
    "RMI template version not supported",
    "AMRT 1.1–1.3 and EMRT 1.x–2.x are read; other versions are read by the nearest layout.",
)
RMI_UNKNOWN_TEMPLATE = errors.register(
    "rmi-unknown-template",
    "RMI template not recognised",
    "The workbook has RMI sheets but no AMRT/EMRT/CMRT marker; read with the AMRT layout.",
)
RMI_MISSING_FIELD = errors.register(
    "rmi-missing-declaration-field",
    "Required Declaration field missing",
    "A field the RMI Checker requires on the Declaration sheet is blank.",
)
RMI_SMELTER_NO_COUNTRY = errors.register(
    "rmi-smelter-no-country",
    "Smelter without a country",
    "A smelter/refiner row has no country; that source is unverified.",
)
RMI_SMELTER_UNNAMED = errors.register(
    "rmi-smelter-unnamed",
    "Smelter not listed, without a name",
    "'Smelter not listed' needs the name typed in column D; the source is unverified.",
)
RMI_UNKNOWN_METAL = errors.register(
    "rmi-unknown-metal",
    "Unknown metal",
    "A Smelter/Mine List row names a metal no RMI template offers; the row is ignored.",
)
RMI_METAL_MISSING = errors.register(
    "rmi-metal-missing",
    "Metal missing",
    "A Smelter/Mine List row has no metal and the Declaration does not settle it.",
)
RMI_DUPLICATE_SMELTER = errors.register(
    "rmi-duplicate-smelter",
    "Smelter listed twice",
    "The same smelter/refiner appears on several rows; it counts once.",
)
RMI_MINERAL_IGNORED = errors.register(
    "rmi-mineral-ignored",
    "Mineral outside the magnet chain",
    "The mineral is read and reported but no magnet rule uses it.",
)
RMI_NO_MAGNET_MINERALS = errors.register(
    "rmi-no-magnet-minerals",
    "No magnet minerals declared",
    "The template declares no rare earths, samarium or cobalt; every stage is unverified.",
)
RMI_NO_SMELTERS = errors.register(
    "rmi-no-smelters",
    "No smelters listed",
    "No rare-earth/cobalt smelter or refiner is listed; the refining stage is unverified.",
)
RMI_MINE_NO_COUNTRY = errors.register(
    "rmi-mine-no-country",
    "Mine without a country",
    "A mine row has no country; that source is unverified.",
)
RMI_MINES_UNPAIRED = errors.register(
    "rmi-mines-unpaired",
    "Mine names and countries do not pair",
    "Columns N and O list different numbers of mines and countries; names are kept unscreened.",
)
RMI_NO_COMPANY_COUNTRY = errors.register(
    "rmi-no-company-country",
    "Reporting company's country unknown",
    "The Declaration has no country field; give one in --suppliers MAP.csv.",
)
RMI_NOT_IN_MAP = errors.register(
    "rmi-not-in-suppliers-map",
    "File not in the suppliers map",
    "A suppliers map was given but does not name this file; defaults apply.",
)
RMI_BAD_DATE = errors.register(
    "rmi-bad-date",
    "Effective date unreadable",
    "The RMI Checker wants the effective date as DD-MMM-YYYY (or a date cell).",
)
RMI_LIST_TRUNCATED = errors.register(
    "rmi-list-truncated",
    "List sheet truncated",
    "A Smelter/Mine List is far longer than any real report; only its first rows are read.",
)
BAD_SUPPLIERS_MAP = errors.register(
    "bad-suppliers-map",
    "Bad suppliers map",
    "The --suppliers file (RMI file → supplier) is malformed.",
)

# Issue severities of the public JSON contract (result.schema.json: error | warning). An
# ignored mineral is informational but still a warning there, so that it is listed.
ERROR, WARNING = "error", "warning"

# --------------------------------------------------------------------------- template facts

SMELTER_SHEET = "Smelter List"
MINE_SHEET = "Mine List"
DECLARATION_SHEET = "Declaration"
LOOKUP_SHEET = "Smelter Look-up"
LANGUAGE_SHEET = "L"
COUNTRY_SHEET = "C"
REVISION_SHEET = "Revision"
FIRST_DATA_ROW = 5  # header row 4 in every AMRT/EMRT/CMRT version studied

# Smelter List columns (0-based): A id input, B metal, C look-up, D name, E country,
# F RMI id, G id source, H–J address, N mine names, O mine countries, P 100 % recycled.
SL_ID_INPUT, SL_METAL, SL_LOOKUP, SL_NAME, SL_COUNTRY, SL_CID = 0, 1, 2, 3, 4, 5
SL_MINES, SL_MINE_COUNTRIES, SL_RECYCLED, SL_STANDARD_NAME = 13, 14, 15, 17
# Mine List columns: A metal, B smelter, C mine name, D mine id, E id source, F country.
ML_METAL, ML_SMELTER, ML_NAME, ML_ID, ML_COUNTRY = 0, 1, 2, 3, 5
# Smelter Look-up: A metal, B name as listed in the dropdown, C standard name, D country, E CID.
LU_METAL, LU_ALIAS, LU_STANDARD, LU_COUNTRY, LU_CID = 0, 1, 2, 3, 4

# Far beyond the 2,500 rows the templates hold; bounds memory on hostile files.
MAX_LIST_ROWS = 50_000
# Rows read per sheet: the fixed-layout sheets are short; the lists get MAX_LIST_ROWS.
ROW_LIMITS: dict[str, int] = {
    DECLARATION_SHEET: 300,  # the EMRT 2.1 Declaration ends at row 188
    REVISION_SHEET: 60,
    LANGUAGE_SHEET: 5000,  # AMRT 1.3: 945 rows
    COUNTRY_SHEET: 400,  # ISO 3166 has 249 entries
}
NOT_IDENTIFIED = "smelter not yet identified"
NOT_LISTED = "smelter not listed"
YES_WORDS = frozenset({"yes", "y", "是", "はい", "예", "oui", "ja", "sim", "sí", "si"})
RECYCLED_WORDS = frozenset({"recycled", "scrap", "recycle", "recycling", "回收", "报废"})

# Metal families as the chain sees them. Dropdown values are English in every language.
REE_NAMES = frozenset(
    {
        "rare earth elements",
        "rare earth element",
        "rare earths",
        "rare earth",
        "ree",
        "rees",
        "neodymium",
        "praseodymium",
        "didymium",
        "ndpr",
        "dysprosium",
        "terbium",
        "lanthanum",
        "cerium",
        "gadolinium",
        "yttrium",
    }
)
SAMARIUM_NAMES = frozenset({"samarium", "sm"})
COBALT_NAMES = frozenset({"cobalt", "co"})
# Every other mineral an RMI template (CMRT 6, EMRT 2, AMRT 1.3) offers.
OTHER_RMI_MINERALS = frozenset(
    {
        "aluminum",
        "aluminium",
        "copper",
        "graphite",
        "natural graphite",
        "iridium",
        "lime",
        "lithium",
        "manganese",
        "mica",
        "nickel",
        "palladium",
        "platinum",
        "rhodium",
        "ruthenium",
        "silver",
        "soda ash",
        "zinc",
        "gold",
        "tin",
        "tantalum",
        "tungsten",
        "iron",
        "boron",
    }
)
# Which families feed each magnet chain (DFARS 225.7018-2: SmCo from samarium and
# cobalt ore or feedstock; NdFeB from neodymium — RMI has no iron/boron smelter list).
CHAIN_FAMILIES: dict[str, frozenset[str]] = {
    "ndfeb": frozenset({"ree"}),
    "smco": frozenset({"ree", "samarium", "cobalt"}),
}

# Declaration field → cell, per template family, from AMRT 1.3 and EMRT 2.1. The L
# sheet, when present, overrides the rows (older versions moved them).
DECLARATION_FIELDS: dict[str, dict[str, str]] = {
    "AMRT": {
        "company_name": "D8",
        "scope": "D9",
        "scope_description": "D10",
        "unique_id": "D17",
        "unique_id_authority": "D18",
        "address": "D19",
        "contact_name": "D20",
        "contact_email": "D21",
        "contact_phone": "D22",
        "authorizer": "D23",
        "authorizer_title": "D24",
        "authorizer_email": "D25",
        "authorizer_phone": "D26",
        "effective_date": "D27",
    },
    "EMRT": {
        "company_name": "D8",
        "scope": "D9",
        "scope_description": "D10",
        "unique_id": "D16",
        "unique_id_authority": "D17",
        "address": "D18",
        "contact_name": "D19",
        "contact_email": "D20",
        "contact_phone": "D21",
        "authorizer": "D22",
        "authorizer_title": "D23",
        "authorizer_email": "D24",
        "authorizer_phone": "D25",
        "effective_date": "D26",
    },
}
DECLARATION_FIELDS["CMRT"] = DECLARATION_FIELDS["EMRT"]
# Mineral pick cells on the Declaration (E:F and … are merged pairs in the template).
MINERAL_CELLS: dict[str, tuple[str, ...]] = {
    "AMRT": ("D12", "E12", "G12", "H12", "I12", "D13", "E13", "G13", "H13", "I13"),
    "EMRT": ("D12", "E12", "G12", "D13", "E13", "G13"),
    "CMRT": (),
}
AMRT_OTHER_OFFSET = 3  # "Other [specify below]" in D12 is named in D15
# English L-sheet label (lower case, dashes folded) → Declaration field; most specific first.
LABEL_FIELDS: tuple[tuple[str, str], ...] = (
    ("company unique id authority", "unique_id_authority"),
    ("company unique id", "unique_id"),
    ("company name", "company_name"),
    ("declaration scope or class", "scope"),
    ("description of scope", "scope_description"),
    ("address", "address"),
    ("contact name", "contact_name"),
    ("email - contact", "contact_email"),
    ("phone - contact", "contact_phone"),
    ("title - authorizer", "authorizer_title"),
    ("email - authorizer", "authorizer_email"),
    ("phone - authorizer", "authorizer_phone"),
    ("authorizer", "authorizer"),
    ("effective date", "effective_date"),
)
# What the RMI Checker requires on the Declaration, with the English label for messages.
REQUIRED_FIELDS: dict[str, str] = {
    "company_name": "Company Name",
    "scope": "Declaration Scope or Class",
    "contact_name": "Contact Name",
    "contact_email": "Email – Contact",
    "contact_phone": "Phone – Contact",
    "authorizer": "Authorizer",
    "authorizer_email": "Email - Authorizer",
    "effective_date": "Effective Date",
}
SUPPORTED_VERSIONS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    # (lowest, highest) as (major, minor); AMRT 1.21 counts as 1.2.
    "AMRT": ((1, 1), (1, 3)),
    "EMRT": ((1, 0), (2, 99)),
}
TEMPLATE_MARKERS: tuple[tuple[str, str], ...] = (
    ("(AMRT)", "AMRT"),
    ("ADDITIONAL MINERALS REPORTING TEMPLATE", "AMRT"),
    ("PILOT REPORTING TEMPLATE", "AMRT"),
    ("(PRT)", "AMRT"),
    ("(EMRT)", "EMRT"),
    ("EXTENDED MINERALS REPORTING TEMPLATE", "EMRT"),
    ("EXTENDED MINERAL REPORTING TEMPLATE", "EMRT"),
    ("COBALT REPORTING TEMPLATE", "EMRT"),
    ("(CRT)", "EMRT"),
    ("(CMRT)", "CMRT"),
    ("CONFLICT MINERALS REPORTING TEMPLATE", "CMRT"),
)
SMELTER_STAGES: tuple[str, ...] = ("separation", "metal")

SOURCE_LAYOUTS: dict[str, dict[str, tuple[str, str]]] = {
    SMELTER_SHEET: {
        "stage": ("Metal", "B"),
        "operator": ("Smelter Name", "D"),
        "country": ("Smelter Country", "E"),
        "facility": ("Smelter Identification", "F"),
        "mine_country": ("Location (Country) of Mine(s)", "O"),
        "recycled": ("100% recycled or scrap feedstock?", "P"),
    },
    MINE_SHEET: {
        "stage": ("Metal", "A"),
        "operator": ("Mine Facility (Site) Name", "C"),
        "facility": ("Mine Identification", "D"),
        "country": ("Mine Facility Country", "F"),
    },
}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TemplateInfo:
    """Which RMI template a workbook is: family, revision, and whether we read it."""

    kind: str  # "AMRT" | "EMRT" | "CMRT" | "unknown"
    version: str | None
    language: str | None = None

    @property
    def label(self) -> str:
        """How reports name it: "AMRT 1.3"."""
        return f"{self.kind} {self.version}" if self.version else self.kind

    @property
    def supported(self) -> bool:
        """True for the versions this reader was built against (AMRT 1.1–1.3, EMRT 1.x–2.x)."""
        bounds = SUPPORTED_VERSIONS.get(self.kind)
        parsed = _version_tuple(self.version)
        if bounds is None or parsed is None:
            return False
        low, high = bounds
        return low <= parsed <= high


@dataclass
class RmiReport:
    """One RMI file read as one supplier: its row, its sourcing rows, its issues.

    ``suppliers`` and ``sourcing`` hold plain records with the Portfolio's columns
    plus ``_file``/``_sheet``/``_row``; ``layouts`` give the A1 column of each field
    on the Declaration, Smelter List and Mine List, for evidence cells.
    """

    file: str
    template: str
    info: TemplateInfo
    suppliers: list[dict[str, Any]] = field(default_factory=list)
    sourcing: list[dict[str, Any]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    minerals_ignored: list[str] = field(default_factory=list)
    layouts: list[SheetLayout] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        """Errors block screening of this file's supplier (there is at most one)."""
        return [i for i in self.issues if i.is_error]

    @property
    def supplier_id(self) -> str | None:
        """The one supplier this file stands for (None for a CMRT); every issue belongs to it."""
        return self.suppliers[0]["supplier_id"] if self.suppliers else None


# --------------------------------------------------------------------------- workbook access


class _Grid:
    """A sheet's cached values, padded from A1 so that positions are absolute."""

    def __init__(self, rows: list[list[Any]]) -> None:
        self.rows = rows

    def value(self, row: int, col: int) -> Any:
        """Cell at 1-based row, 0-based column; None when outside the used area."""
        if row < 1 or row > len(self.rows):
            return None
        cells = self.rows[row - 1]
        return cells[col] if 0 <= col < len(cells) else None

    def text(self, row: int, col: int) -> str:
        return _text(self.value(row, col))

    def cell(self, a1: str) -> Any:
        col, row = _split_a1(a1)
        return self.value(row, col)

    @property
    def height(self) -> int:
        return len(self.rows)


class _Workbook:
    """The sheets of one RMI file, found by name whatever their case or spacing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.book = python_calamine.CalamineWorkbook.from_path(str(path))
        self.names = {_sheet_key(n): n for n in self.book.sheet_names}
        self._cache: dict[str, _Grid | None] = {}
        self.truncated: list[str] = []

    def has(self, name: str) -> bool:
        return _sheet_key(name) in self.names

    def real_name(self, name: str) -> str:
        return self.names.get(_sheet_key(name), name)

    def grid(self, name: str) -> _Grid | None:
        """The sheet read once, up to its row limit (see ROW_LIMITS); None when absent."""
        if name in self._cache:
            return self._cache[name]
        real = self.names.get(_sheet_key(name))
        grid = None
        if real is not None:
            try:
                sheet = self.book.get_sheet_by_name(real)
            except Exception as exc:  # calamine raises several types for damaged sheet XML
                detail = f"sheet {real!r} cannot be read: {exc}"
                raise errors.InputError(
                    f"{self.path.name}: {detail}",
                    [
                        errors.make_issue(
                            "corrupt-file", ERROR, detail, file=self.path.name, sheet=real
                        )
                    ],
                ) from exc
            limit = ROW_LIMITS.get(name, MAX_LIST_ROWS)
            width = max(sheet.end[1] + 1, 1) if sheet.end else 1
            cell_cap = MAX_LIST_ROWS * 64  # bounds memory when a sheet is absurdly wide
            if width * limit > cell_cap:
                limit = max(cell_cap // width, FIRST_DATA_ROW)
            rows_from_a1 = sheet.end[0] + 1 if sheet.end else 0
            if name in (SMELTER_SHEET, MINE_SHEET) and rows_from_a1 > limit:
                self.truncated.append(real)
            grid = _Grid(sheet.to_python(skip_empty_area=False, nrows=limit))
        self._cache[name] = grid
        return grid


def _sheet_key(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name).lower()


def _split_a1(a1: str) -> tuple[int, int]:
    match = re.fullmatch(r"([A-Z]+)(\d+)", a1)
    if match is None:
        raise ValueError(f"not an A1 reference: {a1}")
    col = 0
    for ch in match.group(1):
        col = col * 26 + (ord(ch) - 64)
    return col - 1, int(match.group(2))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _fold(text: str) -> str:
    """Lower case, dashes and spaces folded: for comparing labels and names."""
    text = text.lower().replace("–", "-").replace("—", "-")
    text = re.sub(r"\(\*\)|[:：]", " ", text)
    return " ".join(text.split())


def _name_key(text: str) -> str:
    return re.sub(r"[^0-9a-z\u00c0-\uffff]+", "", text.lower())


def _version_tuple(version: str | None) -> tuple[int, int] | None:
    if not version:
        return None
    parts = version.split(".")
    try:
        major = int(parts[0])
        minor = int(parts[1][:1]) if len(parts) > 1 and parts[1] else 0
    except ValueError:
        return None
    return major, minor


def _guard_container(path: Path) -> None:
    """Refuse files that are not an xlsx container, or that inflate like a bomb (intake's guards)."""
    if sniff_kind(path) != "xlsx":
        detail = "not an xlsx workbook"
        raise errors.InputError(
            f"{path.name}: {detail}",
            [errors.make_issue("not-a-spreadsheet", ERROR, detail, file=path.name)],
        )
    check_zip(path)


def _open(path: Path) -> _Workbook:
    _guard_container(path)
    try:
        return _Workbook(path)
    except Exception as exc:  # calamine raises several types for damaged parts
        detail = f"cannot read the workbook: {exc}"
        raise errors.InputError(
            f"{path.name}: {detail}",
            [errors.make_issue("corrupt-file", ERROR, detail, file=path.name)],
        ) from exc


# --------------------------------------------------------------------------- detection


def is_rmi_workbook(path: Path) -> bool:
    """True when the file has the sheets every RMI template has (CMRT included).

    Cheap (sheet names only) and never raises: intake uses it to dispatch.
    """
    try:
        if not zipfile.is_zipfile(path):
            return False
        names = {
            _sheet_key(n) for n in python_calamine.CalamineWorkbook.from_path(str(path)).sheet_names
        }
    except Exception:
        return False
    return _sheet_key(DECLARATION_SHEET) in names and _sheet_key(SMELTER_SHEET) in names


def detect_template(path: Path) -> TemplateInfo:
    """Family (AMRT/EMRT/CMRT), revision and chosen language of an RMI workbook."""
    return _detect(_open(path))


def _detect(book: _Workbook) -> TemplateInfo:
    declaration = book.grid(DECLARATION_SHEET)
    labels = _language_table(book)
    texts: list[str] = []
    if labels:
        texts.extend(labels.get("DeclarationD2", [])[:1])
    revision = book.grid(REVISION_SHEET)
    if revision is not None:
        texts.extend(revision.text(r, c) for r in range(1, 6) for c in range(0, 4))
    if declaration is not None:
        texts.extend(declaration.text(r, c) for r in range(1, 4) for c in range(0, 12))
    kind = "unknown"
    for text in texts:
        upper = unicodedata.normalize("NFKC", text).upper()  # （AMRT） in Japanese
        found = next((k for marker, k in TEMPLATE_MARKERS if marker in upper), None)
        if found:
            kind = found
            break
    if kind == "unknown":
        if book.has("Minerals Scope"):
            kind = "AMRT"
        elif book.has(MINE_SHEET):
            kind = "EMRT"
    version = _find_version(book, declaration, revision)
    language = declaration.text(3, 3) if declaration is not None else None
    return TemplateInfo(kind, version, language or None)


def _find_version(book: _Workbook, declaration: _Grid | None, revision: _Grid | None) -> str | None:
    pattern = re.compile(r"revision\s*:?\s*(\d+(?:\.\d+)*)", re.IGNORECASE)
    for grid in (declaration, book.grid(SMELTER_SHEET)):
        if grid is None:
            continue
        for row in range(1, 5):
            for col in range(0, 26):
                match = pattern.search(grid.text(row, col))
                if match:
                    return match.group(1)
    if revision is not None:  # the revision history table: the highest number listed
        found: list[tuple[tuple[int, int], str]] = []
        for row in range(1, revision.height + 1):
            text = revision.text(row, 1)
            if re.fullmatch(r"\d+(\.\d+)?", text):
                parsed = _version_tuple(text)
                if parsed is not None:
                    found.append((parsed, text if "." in text else f"{text}.0"))
        if found:
            return max(found)[1]
    return None


def _language_table(book: _Workbook) -> dict[str, list[str]]:
    """The L sheet: key ``<sheet><cell>`` → labels in each language (English first)."""
    grid = book.grid(LANGUAGE_SHEET)
    if grid is None:
        return {}
    table: dict[str, list[str]] = {}
    for row in grid.rows[1:]:
        key = _text(row[0]) if row else ""
        if key:
            table[key] = [_text(v) for v in row[3:]]
    return table


# --------------------------------------------------------------------------- suppliers map

MAP_FIELDS: tuple[str, ...] = (
    "file",
    "supplier_id",
    "supplier_name",
    "country",
    "stage",
    "supplies_stage",
    "material",
    "annual_spend_usd",
    "annual_volume_kg",
    "parent_name",
    "parent_country",
    "lei",
    "dfars_exception",
    "smelter_stage",
)
MAP_ALIASES: dict[str, str] = {
    "filename": "file",
    "file_name": "file",
    "path": "file",
    "rmi_file": "file",
    "id": "supplier_id",
    "name": "supplier_name",
    "spend": "annual_spend_usd",
    "annual_spend": "annual_spend_usd",
    "spend_usd": "annual_spend_usd",
    "volume_kg": "annual_volume_kg",
    "refiner_stage": "smelter_stage",
}


def load_suppliers_map(path: Path) -> dict[str, dict[str, Any]]:
    """Read ``--suppliers MAP.csv``: RMI file name → supplier id, stage, spend and more.

    Columns (header names matched loosely): file (required), supplier_id,
    supplier_name, country, stage, supplies_stage, material, annual_spend_usd,
    annual_volume_kg, parent_name, parent_country, lei, dfars_exception, and
    smelter_stage (``separation`` by default, ``metal`` when the smelters listed
    make metal). A malformed map stops the run (exit 2) with every problem listed.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise errors.InputError(
            f"{path.name}: cannot read the suppliers map ({exc.strerror})"
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    reader = csv.reader(io.StringIO(text))
    rows = list(reader)
    issues: list[Issue] = []
    name = path.name

    def problem(row: int | None, column: str | None, message: str, value: Any = None) -> None:
        issues.append(
            errors.make_issue(
                BAD_SUPPLIERS_MAP.code,
                ERROR,
                message,
                file=name,
                row=row,
                column=column,
                value=value,
            )
        )

    if not rows:
        problem(None, None, "the suppliers map is empty")
        raise errors.InputError(f"{path.name}: the suppliers map is empty", issues)
    header = [_map_header(h) for h in rows[0]]
    if "file" not in header:
        problem(1, "file", "the suppliers map needs a 'file' column naming each RMI file")
        raise errors.InputError(f"{path.name}: no 'file' column", issues)
    mapping: dict[str, dict[str, Any]] = {}
    for line, values in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        entry: dict[str, Any] = {}
        for column, value in zip(header, values, strict=False):
            if column in MAP_FIELDS and value.strip():
                entry[column] = value.strip()
        file_name = entry.pop("file", None)
        if not file_name:
            problem(line, "file", "file is required")
            continue
        _check_map_entry(entry, line, problem)
        key = Path(file_name).name
        if key in mapping:
            problem(line, "file", f"{key} is mapped twice", file_name)
        mapping[key] = entry
    if issues:
        raise errors.InputError(
            f"{path.name}: the suppliers map has {len(issues)} problem(s)", issues
        )
    return mapping


def _map_header(text: str) -> str:
    key = re.sub(r"[^0-9a-z]+", "_", text.strip().lower()).strip("_")
    return MAP_ALIASES.get(key, key)


def _check_map_entry(entry: dict[str, Any], line: int, problem: Any) -> None:
    stage = entry.get("stage")
    if stage is not None:
        entry["stage"] = stage = stage.lower()
        if stage not in SUPPLIER_STAGES:
            problem(
                line, "stage", f"stage '{stage}' is not one of {', '.join(SUPPLIER_STAGES)}", stage
            )
    supplies = entry.get("supplies_stage")
    if supplies is not None:
        entry["supplies_stage"] = supplies = supplies.lower()
        if supplies not in SUPPLIER_STAGES[:-1]:
            problem(
                line,
                "supplies_stage",
                f"supplies_stage '{supplies}' is not a chain stage",
                supplies,
            )
    material = entry.get("material")
    if material is not None:
        entry["material"] = material = material.lower()
        if material not in MATERIALS:
            problem(line, "material", f"material '{material}' is not ndfeb or smco", material)
    smelter_stage = entry.get("smelter_stage")
    if smelter_stage is not None:
        entry["smelter_stage"] = smelter_stage = smelter_stage.lower()
        if smelter_stage not in SMELTER_STAGES:
            problem(
                line, "smelter_stage", "smelter_stage must be separation or metal", smelter_stage
            )
    exception = entry.get("dfars_exception")
    if exception is not None:
        entry["dfars_exception"] = exception = exception.lower()
        if exception not in DFARS_EXCEPTIONS:
            problem(
                line,
                "dfars_exception",
                f"dfars_exception '{exception}' is not one of {', '.join(DFARS_EXCEPTIONS)}",
                exception,
            )
    for number in ("annual_spend_usd", "annual_volume_kg"):
        if number in entry:
            cleaned = re.sub(r"[,$\s]|USD|kg", "", entry[number], flags=re.IGNORECASE)
            try:
                value = float(cleaned)
            except ValueError:
                problem(line, number, f"{number} '{entry[number]}' is not a number", entry[number])
                continue
            if value < 0 or math.isnan(value):
                problem(line, number, f"{number} must be ≥ 0", entry[number])
            entry[number] = value
    for country_field in ("country", "parent_country"):
        if country_field in entry:
            result = to_alpha2(entry[country_field])
            if result.status == "ok":
                entry[country_field] = result.code
            elif result.status == "undeclared":
                entry[country_field] = None
            else:
                problem(line, country_field, result.message, entry[country_field])


# --------------------------------------------------------------------------- reading


@dataclass
class _Smelter:
    """One Smelter List row, resolved through the template's own look-up."""

    row: int
    metal: str
    family: str
    name: str | None
    country_text: str  # as written (or from the look-up); resolved only if in the chain
    cid: str | None
    status: str  # "identified" | "not_identified" | "not_listed"
    mine_names: list[str]
    mine_countries: list[str]
    recycled: bool
    aliases: frozenset[str] = frozenset()  # name keys a Mine List row may use for it
    country: str | None = None  # ISO alpha-2 once resolved; None = unverified


@dataclass
class _Source:
    """A sourcing row before the equal split."""

    stage: str
    country: str | None
    operator: str | None
    facility: str | None
    sheet: str
    row: int
    placeholder: bool = False
    field: str = "country"  # the field whose cell is the evidence (see SOURCE_LAYOUTS)

    def key(self) -> tuple[Any, ...] | None:
        if self.placeholder:
            return None
        if self.operator:
            return (self.stage, _name_key(self.operator), self.country)
        return (self.stage, None, self.country, self.facility)


class _Reader:
    """Reads one RMI workbook into an RmiReport; collects issues as it goes."""

    def __init__(self, path: Path, mapping: dict[str, Any] | None) -> None:
        self.path = path
        self.file = path.name
        self.mapping = mapping or {}
        self.book = _open(path)
        self.issues: list[Issue] = []
        self.country_codes: dict[str, str] = {}

    # -- issues
    def issue(
        self,
        code: errors.IssueCode,
        severity: str,
        message: str,
        sheet: str | None = None,
        cell: str | None = None,
        column: str | None = None,
        header: str | None = None,
        value: Any = None,
    ) -> None:
        row = _split_a1(cell)[1] if cell else None
        self.issues.append(
            errors.make_issue(
                code.code,
                severity,
                message,
                file=self.file,
                sheet=self.book.real_name(sheet) if sheet else None,
                row=row,
                column=column,
                header=header,
                cell=cell,
                value=value if value not in ("", None) else None,
            )
        )

    # -- countries
    def country(self, text: str, sheet: str, cell: str, column: str, header: str) -> str | None:
        """ISO alpha-2 for an RMI country cell; None (unverified) when not declared."""
        result = to_alpha2(text)
        if result.status == "ok":
            return result.code
        if result.status == "undeclared":
            return None
        # An exact value of the template's own country dropdown is unambiguous there
        # ("CONGO" is CG beside "CONGO, DEMOCRATIC REPUBLIC OF THE").
        code = self.country_codes.get(" ".join(text.upper().split()))
        if code:
            return code
        code_name = "ambiguous-country" if result.status == "ambiguous" else "unknown-country"
        self.issues.append(
            errors.make_issue(
                code_name,
                ERROR,
                result.message,
                file=self.file,
                sheet=self.book.real_name(sheet),
                row=_split_a1(cell)[1],
                column=column,
                header=header,
                cell=cell,
                value=text,
            )
        )
        return None

    def load_country_codes(self) -> None:
        grid = self.book.grid(COUNTRY_SHEET)
        if grid is None:
            return
        for row in grid.rows[1:]:
            if len(row) >= 2:
                code, name = _text(row[0]).upper(), " ".join(_text(row[1]).upper().split())
                if re.fullmatch(r"[A-Z]{2}", code) and code != "ZZ" and name:
                    self.country_codes[name] = code

    # -- main
    def read(self) -> RmiReport:
        info = _detect(self.book)
        report = RmiReport(file=self.file, template=info.label, info=info)
        if info.kind == "CMRT":
            self.issue(
                RMI_CMRT,
                WARNING,
                f"{info.label} is a Conflict Minerals Reporting Template (tin, tantalum, tungsten, "
                "gold): no magnet chain, so it is not screened. Ask this supplier for an AMRT "
                "(rare earths) or EMRT (cobalt). Tantalum and tungsten are DFARS 225.7018 covered "
                "materials too, but outside feocscreen's magnet model.",
                sheet=DECLARATION_SHEET,
                cell="D2",
            )
            report.issues = self.issues
            return report
        if info.kind == "unknown":
            self.issue(
                RMI_UNKNOWN_TEMPLATE,
                WARNING,
                "no AMRT/EMRT marker found (Declaration!D2, Revision sheet); read as an AMRT",
                sheet=DECLARATION_SHEET,
                cell="D2",
            )
        elif not info.supported:
            self.issue(
                RMI_UNSUPPORTED_VERSION,
                WARNING,
                f"{info.label} is not a version feocscreen was built against "
                "(AMRT 1.1–1.3, EMRT 1.x–2.x); read with the nearest layout, check the result",
                sheet=DECLARATION_SHEET,
                cell="J3",
                value=info.version,
            )
        family = info.kind if info.kind in DECLARATION_FIELDS else "AMRT"
        self.load_country_codes()
        declaration = self.read_declaration(family, info)
        smelters = self.read_smelters(declaration["minerals"])
        mines = self.read_mines(declaration["minerals"])
        for sheet in self.book.truncated:
            self.issue(
                RMI_LIST_TRUNCATED,
                WARNING,
                f"only the first {MAX_LIST_ROWS:,} rows of {sheet} were read",
                sheet=sheet,
            )
        supplier = self.supplier(declaration, smelters, mines)
        report.suppliers = [supplier]
        material = supplier["material"]
        relevant = CHAIN_FAMILIES[material]
        report.sourcing = self.sourcing(supplier, smelters, mines, relevant)
        report.minerals_ignored = self.report_ignored(
            declaration, smelters, mines, relevant, material
        )
        if not any(_family(m) in relevant for m, _ in declaration["minerals"]) and not any(
            s.family in relevant for s in smelters
        ):
            self.issue(
                RMI_NO_MAGNET_MINERALS,
                WARNING,
                f"no {'rare earths' if material == 'ndfeb' else 'samarium or cobalt'} declared; "
                "every stage of this supplier's chain is unverified",
                sheet=DECLARATION_SHEET,
                cell=(MINERAL_CELLS.get(family) or ("D12",))[0],
            )
        elif not any(s.family in relevant for s in smelters):
            self.issue(
                RMI_NO_SMELTERS,
                WARNING,
                "no smelter or refiner of a magnet mineral is listed; the refining stage is "
                "unverified",
                sheet=SMELTER_SHEET,
                cell=f"D{FIRST_DATA_ROW}",
            )
        report.layouts = self.layouts(supplier)
        report.issues = self.issues
        return report

    # -- Declaration
    def read_declaration(self, family: str, info: TemplateInfo) -> dict[str, Any]:
        """Company fields (rows located through the L sheet), Checker gaps, minerals in scope."""
        grid = self.book.grid(DECLARATION_SHEET) or _Grid([])
        # EMRT 1.x fixed its minerals (cobalt, mica) instead of offering picks in D12:G13.
        parsed = _version_tuple(info.version)
        picks = () if family == "EMRT" and parsed and parsed < (2, 0) else MINERAL_CELLS[family]
        cells = dict(DECLARATION_FIELDS[family])
        for key, labels in _language_table(self.book).items():
            match = re.fullmatch(r"DeclarationB(\d+)", key)
            if not match or not labels:
                continue
            english = _fold(labels[0])
            for prefix, field_name in LABEL_FIELDS:
                if english.startswith(prefix):
                    cells[field_name] = f"D{match.group(1)}"
                    break
        values: dict[str, Any] = {"cells": cells}
        for field_name, cell in cells.items():
            values[field_name] = _text(grid.cell(cell))
        effective = grid.cell(cells["effective_date"])
        if isinstance(effective, str) and effective.strip() and not _is_date_text(effective):
            self.issue(
                RMI_BAD_DATE,
                WARNING,
                f"effective date '{effective.strip()}' is not a date (DD-MMM-YYYY, e.g. 01-OCT-2026)",
                sheet=DECLARATION_SHEET,
                cell=cells["effective_date"],
                column="effective_date",
                header="Effective Date",
                value=effective.strip(),
            )
        for field_name, label in REQUIRED_FIELDS.items():
            if values.get(field_name):
                continue
            if field_name == "company_name" and not self.mapping.get("supplier_name"):
                severity = ERROR
                message = (
                    f"{label} (Declaration!{cells[field_name]}) is blank: the reporting company "
                    "cannot be named; give supplier_id and supplier_name in --suppliers MAP.csv"
                )
            else:
                severity = WARNING
                message = (
                    f"{label} is required by the RMI Checker (Declaration!{cells[field_name]})"
                )
            self.issue(
                RMI_MISSING_FIELD,
                severity,
                message,
                sheet=DECLARATION_SHEET,
                cell=cells[field_name],
                column=field_name,
                header=label,
            )
        minerals: list[tuple[str, str]] = []  # (mineral, cell)
        for cell in picks:
            text = _text(grid.cell(cell))
            if not text or text.startswith("(Delete") or text.startswith("(删除"):
                continue
            if text.lower().startswith("other"):
                col, row = _split_a1(cell)
                other_cell = f"{column_letter(col)}{row + AMRT_OTHER_OFFSET}"
                other = _text(grid.cell(other_cell))
                for part in re.split(r"[,;/\n]+", other):
                    if part.strip():
                        minerals.append((part.strip(), other_cell))
                continue
            minerals.append((text, cell))
        if not minerals and picks:
            self.issue(
                RMI_MISSING_FIELD,
                WARNING,
                "no mineral/metal selected in scope (the RMI Checker requires at least one)",
                sheet=DECLARATION_SHEET,
                cell=MINERAL_CELLS[family][0],
                column="minerals",
                header="Select Minerals/Metals in Scope",
            )
        values["minerals"] = minerals
        return values

    # -- Smelter List
    def read_smelters(self, declared: list[tuple[str, str]]) -> list[_Smelter]:
        grid = self.book.grid(SMELTER_SHEET)
        if grid is None:
            return []
        by_cid, by_name = self.lookup_tables()
        default_metal = _single_declared_metal(declared)
        smelters: list[_Smelter] = []
        for row in range(FIRST_DATA_ROW, grid.height + 1):
            cells = [grid.text(row, c) for c in range(0, SL_RECYCLED + 1)]
            if not any(cells):
                continue
            cid_input = cells[SL_ID_INPUT]
            entry = by_cid.get(cid_input.upper()) if cid_input else None
            metal = cells[SL_METAL] or (entry["metal"] if entry else "")
            lookup = cells[SL_LOOKUP] or (entry["alias"] if entry else "")
            typed_name = cells[SL_NAME]
            folded = {_fold(lookup), _fold(typed_name)}
            if NOT_IDENTIFIED in folded:
                status = "not_identified"
            elif NOT_LISTED in folded:
                status = "not_listed"
            else:
                status = "identified"
            if not metal:
                if not (lookup or typed_name or cid_input):
                    if cells[SL_MINES] or cells[SL_MINE_COUNTRIES]:
                        self.issue(
                            RMI_METAL_MISSING,
                            WARNING,
                            "mines are typed on a row with no metal and no smelter; the row is "
                            "ignored (list the mine on the Mine List, or name its smelter)",
                            sheet=SMELTER_SHEET,
                            cell=f"N{row}",
                            column="metal",
                            header="Metal",
                        )
                    continue
                if default_metal is None:
                    self.issue(
                        RMI_METAL_MISSING,
                        WARNING,
                        "metal (column B) is blank and the Declaration names several minerals; "
                        "the row is ignored",
                        sheet=SMELTER_SHEET,
                        cell=f"B{row}",
                        column="metal",
                        header="Metal",
                    )
                    continue
                metal = default_metal
            family = _family(metal)
            if family == "unknown":
                self.issue(
                    RMI_UNKNOWN_METAL,
                    WARNING,
                    f"'{metal}' is not a metal of any RMI template; the row is ignored",
                    sheet=SMELTER_SHEET,
                    cell=f"B{row}",
                    column="metal",
                    header="Metal",
                    value=metal,
                )
                continue
            if entry is None and lookup and status == "identified":
                entry = by_name.get((family, _name_key(lookup)))
            name: str | None
            if status == "not_identified":
                name = None
            elif typed_name and status == "not_listed":
                name = typed_name
            else:
                name = (
                    typed_name
                    or grid.text(row, SL_STANDARD_NAME)
                    or (entry["standard"] if entry else "")
                    or (lookup if status == "identified" else "")
                    or None
                )
            country_text = cells[SL_COUNTRY] or (entry["country"] if entry else "")
            cid = (
                cells[SL_CID]
                or (entry["cid"] if entry else "")
                or (cid_input if re.fullmatch(r"CID\d+", cid_input.upper()) else "")
            )
            aliases = {_name_key(n) for n in (name, lookup, typed_name) if n}
            if entry:
                aliases |= {_name_key(entry["alias"]), _name_key(entry["standard"])}
            smelters.append(
                _Smelter(
                    row=row,
                    metal=metal,
                    family=family,
                    name=name,
                    country_text=country_text,
                    cid=cid.upper() or None,
                    status=status,
                    mine_names=_split_list(cells[SL_MINES]),
                    mine_countries=[cells[SL_MINE_COUNTRIES]] if cells[SL_MINE_COUNTRIES] else [],
                    recycled=_fold(cells[SL_RECYCLED]) in YES_WORDS,
                    aliases=frozenset(aliases - {""}),
                )
            )
        return smelters

    def resolve_smelter(self, smelter: _Smelter) -> None:
        """Country of a smelter in the chain, with the Checker's complaints about it."""
        if smelter.status == "not_identified":
            return
        row = smelter.row
        errors_before = len(self.issues)
        smelter.country = self.country(
            smelter.country_text, SMELTER_SHEET, f"E{row}", "country", "Smelter Country"
        )
        if smelter.status == "not_listed" and not smelter.name:
            self.issue(
                RMI_SMELTER_UNNAMED,
                WARNING,
                "'Smelter not listed' needs the smelter's name in column D; counted as an "
                "unverified source",
                sheet=SMELTER_SHEET,
                cell=f"D{row}",
                column="operator",
                header="Smelter Name",
            )
        elif smelter.country is None and len(self.issues) == errors_before:
            self.issue(
                RMI_SMELTER_NO_COUNTRY,
                WARNING,
                f"{smelter.name or 'this smelter'} has no country; counted as an unverified source",
                sheet=SMELTER_SHEET,
                cell=f"E{row}",
                column="country",
                header="Smelter Country",
            )

    def lookup_tables(
        self,
    ) -> tuple[dict[str, dict[str, str]], dict[tuple[str, str], dict[str, str]]]:
        grid = self.book.grid(LOOKUP_SHEET)
        by_cid: dict[str, dict[str, str]] = {}
        by_name: dict[tuple[str, str], dict[str, str]] = {}
        if grid is None:
            return by_cid, by_name
        for row in range(FIRST_DATA_ROW, grid.height + 1):
            entry = {
                "metal": grid.text(row, LU_METAL),
                "alias": grid.text(row, LU_ALIAS),
                "standard": grid.text(row, LU_STANDARD),
                "country": grid.text(row, LU_COUNTRY),
                "cid": grid.text(row, LU_CID),
            }
            if not entry["metal"] or not entry["alias"]:
                continue
            if re.fullmatch(r"CID\d+", entry["cid"].upper()):
                by_cid.setdefault(entry["cid"].upper(), entry)
            by_name.setdefault((_family(entry["metal"]), _name_key(entry["alias"])), entry)
        return by_cid, by_name

    # -- Mine List
    def read_mines(self, declared: list[tuple[str, str]]) -> list[dict[str, Any]]:
        grid = self.book.grid(MINE_SHEET)
        if grid is None:
            return []
        default_metal = _single_declared_metal(declared)
        mines: list[dict[str, Any]] = []
        for row in range(FIRST_DATA_ROW, grid.height + 1):
            metal = grid.text(row, ML_METAL)
            smelter = grid.text(row, ML_SMELTER)
            name = grid.text(row, ML_NAME)
            mine_id = grid.text(row, ML_ID)
            country_text = grid.text(row, ML_COUNTRY)
            if not (name or country_text or mine_id):
                continue
            metal = metal or (default_metal or "")
            family = _family(metal) if metal else "unknown"
            if not metal:
                self.issue(
                    RMI_METAL_MISSING,
                    WARNING,
                    "metal (column A) is blank and the Declaration names several minerals; "
                    "the mine is ignored",
                    sheet=MINE_SHEET,
                    cell=f"A{row}",
                    column="metal",
                    header="Metal",
                )
                continue
            if family == "unknown":
                self.issue(
                    RMI_UNKNOWN_METAL,
                    WARNING,
                    f"'{metal}' is not a metal of any RMI template; the mine is ignored",
                    sheet=MINE_SHEET,
                    cell=f"A{row}",
                    column="metal",
                    header="Metal",
                    value=metal,
                )
                continue
            recycled = _is_recycled(name) or _is_recycled(country_text)
            mines.append(
                {
                    "row": row,
                    "metal": metal,
                    "family": family,
                    "smelter": smelter,
                    "name": name or None,
                    "id": mine_id or None,
                    "country_text": country_text,
                    "recycled": recycled,
                }
            )
        return mines

    # -- supplier
    def supplier(
        self, declaration: dict[str, Any], smelters: list[_Smelter], mines: list[dict[str, Any]]
    ) -> dict[str, Any]:
        mapping = self.mapping
        name = mapping.get("supplier_name") or declaration["company_name"] or None
        supplier_id = (
            mapping.get("supplier_id")
            or declaration["unique_id"]
            or declaration["company_name"]
            or self.path.stem
        )
        country = mapping.get("country")
        if country is None and "country" not in mapping:
            country = self.country_from_address(declaration)
        if country is None:
            self.issue(
                RMI_NO_COMPANY_COUNTRY,
                WARNING,
                f"the country of {name or supplier_id} is unknown (the Declaration has no "
                "country field and the address does not end in one): its jurisdiction is not "
                "tested; give 'country' in --suppliers MAP.csv",
                sheet=DECLARATION_SHEET,
                cell=declaration["cells"]["address"],
                column="country",
                header="Address",
            )
        stage = mapping.get("stage", "magnet")
        supplies_stage = mapping.get("supplies_stage") or (
            stage if stage != "distributor" else "magnet"
        )
        material = mapping.get("material") or _infer_material(
            declaration["minerals"], smelters, mines
        )
        record: dict[str, Any] = {column: None for column in SUPPLIER_COLUMNS}
        record.update(
            {
                "supplier_id": str(supplier_id),
                "supplier_name": name,
                "country": country,
                "incorporation_country": country,
                "hq_country": country,
                "stage": stage,
                "supplies_stage": supplies_stage,
                "material": material,
                "annual_spend_usd": float(mapping.get("annual_spend_usd", math.nan)),
                "annual_volume_kg": float(mapping.get("annual_volume_kg", math.nan)),
                "parent_name": mapping.get("parent_name"),
                "parent_country": mapping.get("parent_country"),
                "lei": mapping.get("lei"),
                "dfars_exception": mapping.get("dfars_exception"),
                "kind": "rmi",
                "_file": self.file,
                "_sheet": self.book.real_name(DECLARATION_SHEET),
                "_row": _split_a1(declaration["cells"]["company_name"])[1],
            }
        )
        return record

    def country_from_address(self, declaration: dict[str, Any]) -> str | None:
        """The country an address ends with ("…, Baotou, Inner Mongolia, CHINA"), if any."""
        address = declaration["address"]
        if not address:
            return None
        parts = [p.strip() for p in re.split(r"[,\n;]+", address) if p.strip()]
        candidates = [", ".join(parts[-size:]) for size in (3, 2, 1) if len(parts) >= size]
        if parts:  # "Shenzhen 518000 P.R. China": the last words of the last part
            words = re.sub(r"\d+", " ", parts[-1]).split()
            candidates += [" ".join(words[-size:]) for size in (4, 3, 2, 1) if len(words) > size]
        for candidate in candidates:
            result = to_alpha2(re.sub(r"\d+", "", candidate).strip(" ,-"))
            if result.status == "ok":
                return result.code
        return None

    # -- sourcing
    def sourcing(
        self,
        supplier: dict[str, Any],
        smelters: list[_Smelter],
        mines: list[dict[str, Any]],
        relevant: frozenset[str],
    ) -> list[dict[str, Any]]:
        refining_stage = self.mapping.get("smelter_stage", "separation")
        refiners: list[_Source] = []
        seen: dict[tuple[Any, ...], int] = {}
        in_chain = [s for s in smelters if s.family in relevant]
        for smelter in in_chain:
            self.resolve_smelter(smelter)
        for smelter in in_chain:
            if smelter.status == "not_identified":
                refiners.append(
                    _Source(
                        refining_stage,
                        None,
                        None,
                        "Smelter not yet identified",
                        SMELTER_SHEET,
                        smelter.row,
                    )
                )
                continue
            source = _Source(
                refining_stage,
                smelter.country,
                smelter.name,
                smelter.cid,
                SMELTER_SHEET,
                smelter.row,
            )
            key = ("cid", smelter.cid) if smelter.cid else source.key()
            if key is not None and smelter.name and key in seen:
                self.issue(
                    RMI_DUPLICATE_SMELTER,
                    WARNING,
                    f"{smelter.name} is already listed on row {seen[key]}; counted once",
                    sheet=SMELTER_SHEET,
                    cell=f"D{smelter.row}",
                    column="operator",
                    header="Smelter Name",
                    value=smelter.name,
                )
                continue
            if key is not None and smelter.name:
                seen[key] = smelter.row
            refiners.append(source)
        feedstock = self.feedstock(in_chain, [m for m in mines if m["family"] in relevant])
        rows: list[dict[str, Any]] = []
        for group in (refiners, feedstock):
            if not group:
                continue
            share = 1.0 / len(group)
            for source in group:
                rows.append(
                    {
                        "supplier_id": supplier["supplier_id"],
                        "stage": source.stage,
                        "country": source.country,
                        "share": share,
                        "facility": source.facility,
                        "operator": source.operator,
                        "upstream_supplier_id": None,
                        "share_basis": "assumed_equal",
                        "_file": self.file,
                        "_sheet": self.book.real_name(source.sheet),
                        "_row": source.row,
                        "_field": source.field,
                    }
                )
        return rows

    def feedstock(self, smelters: list[_Smelter], mines: list[dict[str, Any]]) -> list[_Source]:
        """Mining-position sources: declared mines, recycled feed, one unknown per silent smelter."""
        sources: list[_Source] = []
        linked: set[int] = set()
        for smelter in smelters:
            own: list[_Source] = []
            for mine in mines:
                if mine["smelter"] and _name_key(mine["smelter"]) in smelter.aliases:
                    linked.add(mine["row"])
                    own.append(self.mine_source(mine, smelter))
            if smelter.recycled:
                own.append(
                    _Source(
                        "recycling",
                        smelter.country,
                        smelter.name,
                        "100% recycled or scrap feedstock",
                        SMELTER_SHEET,
                        smelter.row,
                        field="recycled",
                    )
                )
            own.extend(self.column_mines(smelter))
            if not own:
                own.append(
                    _Source(
                        "mining",
                        None,
                        None,
                        f"mines of {smelter.name or 'an unidentified smelter'} not declared",
                        SMELTER_SHEET,
                        smelter.row,
                        placeholder=True,
                        field="mine_country",
                    )
                )
            sources.extend(own)
        for mine in mines:
            if mine["row"] not in linked:
                sources.append(self.mine_source(mine, None))
        if all(s.placeholder for s in sources):
            return []  # nothing declared: the stage has no rows and is unverified as a whole
        unique: list[_Source] = []
        keys: set[tuple[Any, ...]] = set()
        for source in sources:
            key = source.key()
            if key is not None:
                if key in keys:
                    continue
                keys.add(key)
            unique.append(source)
        return unique

    def mine_source(self, mine: dict[str, Any], smelter: _Smelter | None) -> _Source:
        """A Mine List row as a mining (or recycling) source; its country resolved once."""
        if "country" not in mine and not mine["recycled"]:
            row, text = mine["row"], mine["country_text"]
            mine["country"] = self.country(
                text, MINE_SHEET, f"F{row}", "country", "Mine Facility Country"
            )
            if mine["country"] is None and not text:
                self.issue(
                    RMI_MINE_NO_COUNTRY,
                    WARNING,
                    f"mine {mine['name'] or mine['id']} has no country; counted as an unverified "
                    "source",
                    sheet=MINE_SHEET,
                    cell=f"F{row}",
                    column="country",
                    header="Mine Facility Country",
                )
        if mine["recycled"]:
            country = smelter.country if smelter else None
            return _Source(
                "recycling",
                country,
                smelter.name if smelter else None,
                "recycled or scrap feedstock",
                MINE_SHEET,
                mine["row"],
            )
        return _Source("mining", mine["country"], mine["name"], mine["id"], MINE_SHEET, mine["row"])

    def column_mines(self, smelter: _Smelter) -> list[_Source]:
        """Mines typed in Smelter List columns N (names) and O (countries)."""
        names = [n for n in smelter.mine_names if not _is_recycled(n)]
        raw_countries = smelter.mine_countries[0] if smelter.mine_countries else ""
        recycled = any(_is_recycled(n) for n in smelter.mine_names) or _is_recycled(raw_countries)
        sources: list[_Source] = []
        if recycled:
            sources.append(
                _Source(
                    "recycling",
                    smelter.country,
                    smelter.name,
                    "recycled or scrap feedstock",
                    SMELTER_SHEET,
                    smelter.row,
                    field="mine_country",
                )
            )
        countries: list[str | None] = []
        if raw_countries and not _is_recycled(raw_countries):
            for part in split_countries(raw_countries):
                countries.append(
                    self.country(
                        part,
                        SMELTER_SHEET,
                        f"O{smelter.row}",
                        "country",
                        "Location (Country) of Mine(s)",
                    )
                )
        if not names and not countries:
            return sources
        if not countries:
            pairs: list[tuple[str | None, str | None]] = [(n, None) for n in names]
        elif not names:
            pairs = [(None, c) for c in countries]
        elif len(names) == len(countries):
            pairs = list(zip(names, countries, strict=True))
        elif len(countries) == 1:
            pairs = [(n, countries[0]) for n in names]
        elif len(names) == 1:
            pairs = [(names[0], c) for c in countries]
        else:
            self.issue(
                RMI_MINES_UNPAIRED,
                WARNING,
                f"{len(names)} mine names and {len(countries)} countries cannot be paired; the "
                "countries are kept, the names are not screened",
                sheet=SMELTER_SHEET,
                cell=f"N{smelter.row}",
                column="operator",
                header="Name of Mine(s)",
            )
            pairs = [(None, c) for c in countries]
        for name, country in pairs:
            sources.append(
                _Source(
                    "mining", country, name, None, SMELTER_SHEET, smelter.row, field="mine_country"
                )
            )
        return sources

    # -- ignored minerals
    def report_ignored(
        self,
        declaration: dict[str, Any],
        smelters: list[_Smelter],
        mines: list[dict[str, Any]],
        relevant: frozenset[str],
        material: str,
    ) -> list[str]:
        first_seen: dict[str, tuple[str, str]] = {}
        for mineral, cell in declaration["minerals"]:
            if _family(mineral) not in relevant:
                first_seen.setdefault(mineral.title(), (DECLARATION_SHEET, cell))
        for smelter in smelters:
            if smelter.family not in relevant:
                first_seen.setdefault(smelter.metal.title(), (SMELTER_SHEET, f"B{smelter.row}"))
        for mine in mines:
            if mine["family"] not in relevant:
                first_seen.setdefault(mine["metal"].title(), (MINE_SHEET, f"A{mine['row']}"))
        chain = "NdFeB (rare earths)" if material == "ndfeb" else "SmCo (samarium, cobalt)"
        for mineral, (sheet, cell) in sorted(first_seen.items()):
            self.issue(
                RMI_MINERAL_IGNORED,
                WARNING,
                f"{mineral} is read and ignored: this supplier is screened for the {chain} "
                "magnet chain",
                sheet=sheet,
                cell=cell,
                column="metal",
                value=mineral,
            )
        return sorted(first_seen)

    def layouts(self, supplier: dict[str, Any]) -> list[SheetLayout]:
        company_cell = f"D{supplier['_row']}"
        result = [
            SheetLayout(
                self.file,
                self.book.real_name(DECLARATION_SHEET),
                {
                    "supplier_name": ("Company Name", company_cell[0]),
                    "supplier_id": ("Company Name", "D"),
                },
            )
        ]
        for sheet, columns in SOURCE_LAYOUTS.items():
            if self.book.has(sheet):
                result.append(SheetLayout(self.file, self.book.real_name(sheet), dict(columns)))
        return result


def _family(metal: str) -> str:
    """rare earth ('ree'), 'samarium', 'cobalt', another RMI mineral ('other'), or 'unknown'."""
    key = " ".join(re.sub(r"[^a-z ]+", " ", metal.lower()).split())
    if key in REE_NAMES or key.startswith("rare earth"):
        return "ree"
    if key in SAMARIUM_NAMES:
        return "samarium"
    if key in COBALT_NAMES:
        return "cobalt"
    if key in OTHER_RMI_MINERALS:
        return "other"
    return "unknown"


def _single_declared_metal(declared: list[tuple[str, str]]) -> str | None:
    metals = {m for m, _ in declared}
    return next(iter(metals)) if len(metals) == 1 else None


def _infer_material(
    declared: list[tuple[str, str]], smelters: list[_Smelter], mines: list[dict[str, Any]]
) -> str:
    """SmCo when the file speaks of samarium or cobalt and of no other rare earth; else NdFeB."""
    families = {_family(m) for m, _ in declared}
    families |= {s.family for s in smelters}
    families |= {m["family"] for m in mines}
    if families & {"samarium", "cobalt"} and "ree" not in families:
        return "smco"
    return "ndfeb"


def _is_date_text(text: str) -> bool:
    """DD-MMM-YYYY as the Checker asks, or an ISO date; anything else is not a date."""
    for form in ("%d-%b-%Y", "%Y-%m-%d", "%d-%B-%Y", "%d/%m/%Y", "%m/%d/%Y"):
        try:
            datetime.strptime(text.strip(), form)
        except ValueError:
            continue
        return True
    return False


def _is_recycled(text: str) -> bool:
    words = set(re.split(r"[\s/,;]+", text.strip().lower()))
    return bool(words & RECYCLED_WORDS) and len(text) < 40


def _split_list(text: str) -> list[str]:
    return (
        [p.strip() for p in re.split(r"[;\n|]+|,(?=\s*[^\s])", text) if p.strip()] if text else []
    )


def split_countries(text: str) -> list[str]:
    """Split a free-text list of countries, keeping RMI names that contain commas.

    "CHINA; AUSTRALIA" → two; "KOREA, REPUBLIC OF" stays one; "China, Myanmar" → two.
    Parts are returned as written; the country normaliser decides what they mean.
    """
    parts: list[str] = []
    for chunk in re.split(r"[;\n|/]+", text):
        pieces = [p.strip() for p in chunk.split(",") if p.strip()]
        i = 0
        while i < len(pieces):
            if i + 1 < len(pieces):
                joined = f"{pieces[i]}, {pieces[i + 1]}"
                if to_alpha2(joined).status == "ok" and to_alpha2(pieces[i + 1]).status != "ok":
                    parts.append(joined)
                    i += 2
                    continue
            parts.append(pieces[i])
            i += 1
    return parts


def read_rmi(path: Path, suppliers_map: dict[str, dict[str, Any]] | None = None) -> RmiReport:
    """Read one AMRT/EMRT file as one supplier with its sourcing rows and Checker-like issues.

    ``suppliers_map`` (from :func:`load_suppliers_map`) is looked up by file name.
    A CMRT is recognised and explained (a warning), with no supplier. Unreadable
    files raise ``InputError`` (exit 2); everything else is an ``Issue``.
    """
    path = Path(path)
    mapping = _mapping_for(path, suppliers_map)
    reader = _Reader(path, mapping)
    report = reader.read()
    if suppliers_map is not None and mapping is None and report.suppliers:
        report.issues.append(
            errors.make_issue(
                RMI_NOT_IN_MAP.code,
                WARNING,
                f"{path.name} is not in the suppliers map; the reporting company is taken as a "
                "magnet supplier with no spend",
                file=path.name,
            )
        )
    return report


def _mapping_for(
    path: Path, suppliers_map: dict[str, dict[str, Any]] | None
) -> dict[str, Any] | None:
    if not suppliers_map:
        return None
    for key in (path.name, str(path), path.stem):
        if key in suppliers_map:
            return suppliers_map[key]
    folded = {k.lower(): v for k, v in suppliers_map.items()}
    for key in (path.name.lower(), path.stem.lower()):
        if key in folded:
            return folded[key]
    return None
