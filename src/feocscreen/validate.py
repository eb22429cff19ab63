"""Intake validation: raw sheets → typed, located Portfolio, with every problem as an Issue.

All problems are found in one pass (pandera ``lazy=True`` plus cross-sheet
checks), each located by file, sheet, Excel row, field, header and cell. A
supplier with an error in any of its rows is set aside in ``not_screened`` with
its reasons; nothing is dropped silently. Conversions run once per distinct
cell value, so a million-row sheet costs a few thousand lookups.
"""

from __future__ import annotations

import functools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pandera.pandas as pa
import yaml

from . import progress
from .countries import to_alpha2
from .errors import InputError, make_issue
from .ingest import (
    InputFile,
    RawSheet,
    has_percent_styles,
    issue_at,
    open_input,
    percent_formatted,
    read_sheet,
    read_sheets,
)
from .machine import release_freed_memory
from .models import DFARS_EXCEPTIONS, OWNER_TYPES, STAGES, Issue
from .ownership import normalise_owner
from .portfolio import (
    LOCATION_COLUMNS,
    OWNERSHIP_COLUMNS,
    SOURCING_COLUMNS,
    SUPPLIER_COLUMNS,
    Portfolio,
    SheetLayout,
)
from .schema import (
    FLAT_STAGE_FIELDS,
    OWNERSHIP,
    OWNERSHIP_MODEL,
    SOURCING,
    SOURCING_MODEL,
    STAGE_ALIASES,
    SUPPLIERS,
    SUPPLIERS_MODEL,
    SheetSpec,
    header_key,
)

# Shares of one stage may add to 100.5 % before it is an error: rounding in exports.
SHARE_TOLERANCE = 0.005
INPUT_SUFFIXES = (".xlsx", ".xlsm", ".csv")

MATERIAL_ALIASES = {
    "ndfeb": "ndfeb",
    "ndfebmagnet": "ndfeb",
    "neodymium": "ndfeb",
    "neodymiumironboron": "ndfeb",
    "nd": "ndfeb",
    "smco": "smco",
    "samariumcobalt": "smco",
    "smcomagnet": "smco",
}
TRUE_WORDS = {"yes", "y", "true", "t", "1", "x", "ja", "oui", "si"}
FALSE_WORDS = {"no", "n", "false", "f", "0", "nein", "non"}
EXCEPTION_KEYS = {header_key(e): e for e in DFARS_EXCEPTIONS}


# ---------------------------------------------------------------- columns map


def load_columns_map(path: Path | None) -> dict[str, dict[str, str]]:
    """--columns MAP.yaml: {header: field} for every sheet, or {Sheet: {header: field}}."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{Path(path).name}: cannot read the columns map ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{Path(path).name}: the columns map must be a mapping of header: field")
    sheet_names = {s.name.lower(): s for s in (SUPPLIERS, SOURCING, OWNERSHIP)}
    result: dict[str, dict[str, str]] = {"*": {}}
    for key, value in data.items():
        if isinstance(value, dict) and str(key).lower() in sheet_names:
            spec = sheet_names[str(key).lower()]
            result[spec.name] = {
                header_key(h): _map_target(path, spec, f) for h, f in value.items()
            }
        elif isinstance(value, str):
            result["*"][header_key(key)] = value
        else:
            raise InputError(
                f"{Path(path).name}: entry {key!r} must map a header to a field name "
                "or a sheet name to such a mapping"
            )
    return result


def _map_target(path: Path, spec: SheetSpec, target: Any) -> str:
    if target not in spec.fields:
        raise InputError(
            f"{Path(path).name}: {target!r} is not a field of sheet {spec.name} "
            f"(fields: {', '.join(spec.fields)})"
        )
    return str(target)


# ---------------------------------------------------------------- per-sheet frames


@dataclass
class CellColumn:
    """One field's cells: its distinct raw values, as the reader gives them, and a code per row.

    Converters run once per distinct value and spread the results back to the rows with
    one take, so a million-row column costs as many Python calls as it has values.
    """

    values: list[Any]
    codes: npt.NDArray[np.intp]  # index into values, one per row

    def at(self, index: int) -> Any:
        """The raw value of one row."""
        return self.values[int(self.codes[index])]

    def spread(self, per_value: Sequence[Any]) -> npt.NDArray[np.object_]:
        """Per-value results (scalars) → an object array with one per row."""
        table = np.empty(len(per_value), dtype=object)
        table[:] = list(per_value)
        return table[self.codes]

    def rows_where(self, per_value: Sequence[bool]) -> npt.NDArray[np.intp]:
        """Positions of the rows whose value passes, in row order."""
        if not any(per_value):
            return np.empty(0, dtype=np.intp)
        return np.flatnonzero(np.asarray(per_value, dtype=bool)[self.codes])

    @classmethod
    def blank(cls, height: int, value: Any = None) -> CellColumn:
        """A column the sheet does not have: every row holds ``value``."""
        return cls([value], np.zeros(height, dtype=np.intp))

    @classmethod
    def from_arrow(cls, array: Any) -> CellColumn:
        """An Arrow column of one type; a null is an empty cell, which calamine gives as ``""``."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            encoded = pc.dictionary_encode(array)
            values = encoded.dictionary.to_pylist()
            codes = pc.fill_null(encoded.indices, len(values)).to_numpy(zero_copy_only=False)
            return cls([*values, ""], codes.astype(np.intp))
        if pa.types.is_floating(array.type):
            numbers = array.to_numpy(zero_copy_only=False).astype(np.float64)  # null → NaN
            # Factorised by bit pattern, so -0.0 stays apart from 0.0 as it would cell by cell.
            codes, bits = pd.factorize(numbers.view(np.int64))
            floats = np.asarray(bits, dtype=np.int64).view(np.float64).tolist()
            return cls(["" if f != f else f for f in floats], codes.astype(np.intp))
        if pa.types.is_boolean(array.type):
            truth = pc.fill_null(array, False).to_numpy(zero_copy_only=False)
            present = pc.is_valid(array).to_numpy(zero_copy_only=False)
            codes = np.where(present, truth.astype(np.intp), 2)
            return cls([False, True, ""], codes.astype(np.intp))
        if pa.types.is_null(array.type):
            return cls.blank(len(array), "")
        raise TypeError(f"unexpected cell type {array.type}")

    @classmethod
    def from_values(cls, cells: list[Any]) -> CellColumn:
        """Python cell values (calamine rows, CSV text, Dask partitions)."""
        array = np.empty(len(cells), dtype=object)
        array[:] = cells
        codes, uniques = pd.factorize(array, use_na_sentinel=True)
        values = list(uniques)
        if _values_may_merge(values, codes, array):
            return cls._one_by_one(cells)
        if (codes < 0).any():  # None (and NaN, which every converter reads alike)
            codes = np.where(codes < 0, len(values), codes)
            values.append(None)
        return cls(values, codes.astype(np.intp))

    @classmethod
    def _one_by_one(cls, cells: list[Any]) -> CellColumn:
        """Distinct values by type and value, for columns where == would merge some."""
        index: dict[Any, int] = {}
        values: list[Any] = []
        codes = np.empty(len(cells), dtype=np.intp)
        for i, value in enumerate(cells):
            key = _distinct_key(value)
            code = index.get(key)
            if code is None:
                code = index[key] = len(values)
                values.append(value)
            codes[i] = code
        return cls(values, codes)


_NUMERIC = (bool, int, float, complex, Decimal, np.number, np.bool_)


def _values_may_merge(
    values: list[Any], codes: npt.NDArray[np.intp], array: npt.NDArray[np.object_]
) -> bool:
    """Whether equality merged cells that convert differently (True and 1.0, 0.0 and -0.0)."""
    kinds = {type(v) for v in values if isinstance(v, _NUMERIC)}
    if len(kinds) > 1:
        return True
    for code, value in enumerate(values):
        if isinstance(value, float) and value == 0:
            signs = {math.copysign(1.0, cell) for cell in array[codes == code]}
            if len(signs) > 1:
                return True
    return False


def _distinct_key(value: Any) -> Any:
    if isinstance(value, float):
        return (float, math.copysign(1.0, value), value)
    try:
        hash(value)
    except TypeError:
        return (id, id(value))
    return (value.__class__, value)


@dataclass
class SheetFrame:
    """A sheet mapped to canonical fields: raw values by field, plus where each came from."""

    raw: RawSheet
    spec: SheetSpec
    cells: dict[str, CellColumn]  # every field of the sheet kind (absent ones blank)
    rows: npt.NDArray[np.int64]  # Excel row of each row
    positions: dict[str, int]  # field -> column index in the sheet
    issues: list[tuple[Issue, Any]] = field(default_factory=list)  # (issue, owner key)
    flagged: set[tuple[int, str]] = field(default_factory=set)  # (excel row, field)

    @property
    def index(self) -> pd.RangeIndex:
        return pd.RangeIndex(len(self.rows))

    def row(self, position: int) -> int:
        """Excel row of the row at this position."""
        return int(self.rows[position])

    def add(
        self,
        code: str,
        severity: str,
        message: str,
        row: int | None,
        fieldname: str | None,
        value: Any = None,
        owner: Any = None,
    ) -> None:
        col = self.positions.get(fieldname) if fieldname else None
        self.issues.append(
            (issue_at(self.raw, code, severity, message, row, col, fieldname, _plain(value)), owner)
        )
        if row is not None and fieldname:
            self.flagged.add((row, fieldname))

    def layout(self) -> SheetLayout:
        return SheetLayout(
            file=self.raw.file,
            sheet=self.raw.sheet,
            columns={
                f: (self.raw.headers[i], self.raw.letter(i)) for f, i in self.positions.items()
            },
        )


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    return str(value)


def map_headers(
    raw: RawSheet,
    spec: SheetSpec,
    columns_map: dict[str, dict[str, str]],
) -> tuple[dict[str, int], list[Issue]]:
    """Canonical field → column index; unknown headers are kept aside as warnings."""
    table = spec.alias_table()
    custom = {**columns_map.get("*", {}), **columns_map.get(spec.name, {})}
    positions: dict[str, int] = {}
    warnings: list[Issue] = []
    for index, header in enumerate(raw.headers):
        if not header:
            continue
        key = header_key(header)
        target = custom.get(key) or table.get(key)
        if target is not None and target not in spec.fields:
            target = None
        if target is None:
            warnings.append(
                issue_at(
                    raw,
                    "unused-column",
                    "warning",
                    f"column {header!r} matches no field of {spec.name}; kept and ignored",
                    raw.header_row,
                    index,
                    None,
                    header,
                )
            )
            continue
        if target in positions:
            first = raw.headers[positions[target]]
            raise InputError(
                f"{raw.file}: sheet {raw.sheet!r}: headers {first!r} and {header!r} both mean "
                f"{target}; rename one or map it with --columns",
                [
                    issue_at(
                        raw,
                        "duplicate-column",
                        "error",
                        f"{first!r} and {header!r} both map to {target}",
                        raw.header_row,
                        index,
                        target,
                        header,
                    )
                ],
            )
        positions[target] = index
    return positions, warnings


def sheet_frame(
    raw: RawSheet,
    spec: SheetSpec,
    columns_map: dict[str, dict[str, str]],
) -> tuple[SheetFrame, list[Issue]]:
    """Map a raw sheet to canonical fields, refusing a sheet that lacks a required column."""
    positions, warnings = map_headers(raw, spec, columns_map)
    missing = [f for f in spec.required if f not in positions]
    if (
        spec is SUPPLIERS
        and "country" not in positions
        and not {"incorporation_country", "hq_country"} <= set(positions)
    ):
        missing.append("country")
    if missing:
        found = ", ".join(h for h in raw.headers if h) or "none"
        issues = [
            make_issue(
                "missing-column",
                "error",
                f"required column {m} is missing (headers found: {found})",
                file=raw.file,
                sheet=raw.sheet,
                row=raw.header_row,
                column=m,
            )
            for m in missing
        ]
        raise InputError(
            f"{raw.file}: sheet {raw.sheet!r} lacks required column(s) {', '.join(missing)} "
            f"(headers found on row {raw.header_row}: {found}). See README 'Input columns' or "
            "map them with --columns",
            issues,
        )
    height = raw.height
    cells: dict[str, CellColumn] = {}
    if raw.columns is not None:
        rows = raw.columns.row_numbers.astype(np.int64)
        for name, index in positions.items():
            array = raw.columns.arrays.get(index)
            cells[name] = (
                CellColumn.from_arrow(array) if array is not None else CellColumn.blank(height)
            )
    else:
        rows = np.asarray(raw.row_numbers, dtype=np.int64)
        width = max((len(r) for r in raw.rows), default=0)
        for name, index in positions.items():
            cells[name] = (
                CellColumn.from_values([r[index] if index < len(r) else None for r in raw.rows])
                if index < max(width, 1)
                else CellColumn.blank(height)
            )
    for name in spec.fields:
        if name not in cells:
            cells[name] = CellColumn.blank(height)
    return SheetFrame(raw, spec, cells, rows, positions), warnings


# ---------------------------------------------------------------- cell converters


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).strip()
    return text or None


def _texts(values: list[Any]) -> list[str | None]:
    """``_text`` of many values, with text cells (most of them) handled inline."""
    return [v.strip() or None if v.__class__ is str else _text(v) for v in values]


def _is_float(value: Any) -> bool:
    """A float that is a number (not NaN): ``_number`` would give it back as it is."""
    return value.__class__ is float and value == value


_NUMBER_JUNK = re.compile(r"[\s,_$€£¥]|usd|eur|kg", re.IGNORECASE)


def _number(value: Any) -> tuple[float | None, bool]:
    """(number, ok): '1,200,000' → 1200000.0; blank → (None, True); 'abc' → (None, False)."""
    if value is None or isinstance(value, bool):
        return None, value is None
    if isinstance(value, (int, float)):
        return (
            (None, True) if isinstance(value, float) and math.isnan(value) else (float(value), True)
        )
    text = _NUMBER_JUNK.sub("", str(value))
    if not text:
        return None, True
    try:
        number = float(text)
    except ValueError:
        return None, False
    return (number, True) if math.isfinite(number) else (None, False)


def _percent_text(value: Any) -> tuple[float | None, bool, bool]:
    """(value, explicit_percent, ok): '45%' → (45, True); 0.45 → (0.45, False)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        number, ok = _number(value.strip()[:-1])
        return number, True, ok
    number, ok = _number(value)
    return number, False, ok


def _is_none(values: pd.Series | npt.NDArray[np.object_]) -> npt.NDArray[np.bool_]:
    """Where a column holds None itself (``is None``: NaN is not None)."""
    array = np.asarray(values, dtype=object)
    return np.asarray(array == np.full(len(array), None, dtype=object), dtype=bool)


def _floats(values: Sequence[float | None]) -> npt.NDArray[np.float64]:
    """Per-value numbers (None = blank) as float64 with NaN, bit for bit."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _used(column: CellColumn) -> npt.NDArray[np.bool_]:
    """Which distinct values some row holds (a reader may list one no row uses)."""
    used = np.zeros(len(column.values), dtype=bool)
    used[column.codes] = True
    return used


def convert_percent_column(sf: SheetFrame, name: str, owner_of: Sequence[Any]) -> pd.Series:
    """Percent cells → fractions 0–1 by DESIGN's rule (see README 'Shares')."""
    column = sf.cells[name]
    parsed = [(v, False, True) if _is_float(v) else _percent_text(v) for v in column.values]
    used = _used(column)
    numeric_plain = [
        p[0]
        for p, u in zip(parsed, used, strict=True)
        if u and p[2] and p[0] is not None and not p[1]
    ]
    as_fractions = bool(numeric_plain) and all(abs(n) <= 1 for n in numeric_plain)
    letter = sf.raw.letter(sf.positions[name]) if name in sf.positions else ""
    formatted_rows = np.empty(0, dtype=np.intp)
    if (
        not as_fractions
        and name in sf.positions
        and sf.raw.kind == "workbook"
        and sf.raw.path is not None
    ):
        small = column.rows_where(
            [ok and n is not None and not explicit and 0 < n <= 1 for n, explicit, ok in parsed]
        )
        if len(small) and has_percent_styles(sf.raw.path):
            cells = [f"{letter}{row}" for row in sf.rows[small].tolist()]
            formatted = percent_formatted(sf.raw.path, sf.raw.sheet, cells)
            formatted_rows = small[[cell in formatted for cell in cells]]

    def outcome(number: float | None, explicit: bool, ok: bool, scaled: bool) -> tuple[Any, str]:
        """(fraction or None, problem): problem is '', 'bad-number' or 'share-out-of-range'."""
        if not ok:
            return None, "bad-number"
        if number is None:
            return None, ""
        percent = number * 100 if not explicit and scaled else number
        if percent < 0 or percent > 100 + SHARE_TOLERANCE * 100:
            return None, "share-out-of-range"
        return min(percent, 100.0) / 100, ""

    plain = [outcome(n, explicit, ok, as_fractions) for n, explicit, ok in parsed]
    out = _floats([p[0] for p in plain])[column.codes]
    problem = column.spread([p[1] for p in plain])
    if len(formatted_rows):
        for position in formatted_rows.tolist():
            number, explicit, ok = parsed[column.codes[position]]
            fraction, problem[position] = outcome(number, explicit, ok, True)
            out[position] = np.nan if fraction is None else fraction
    for position in np.flatnonzero(problem != "").tolist():
        raw_value = column.at(position)
        if problem[position] == "bad-number":
            message = f"{name} must be a percentage, got {raw_value!r}"
        else:
            message = f"{name} must be between 0 and 100 %, got {raw_value!r}"
        sf.add(
            problem[position],
            "error",
            message,
            sf.row(position),
            name,
            raw_value,
            owner_of[position],
        )
    if as_fractions:
        sf.add(
            "shares-as-fractions",
            "warning",
            f"every {name} value on sheet {sf.raw.sheet!r} is ≤ 1, so they were read as "
            "fractions (0.45 = 45 %)",
            sf.raw.header_row,
            name,
        )
    return pd.Series(out, index=sf.index, dtype="float64")


def convert_countries(
    sf: SheetFrame, name: str, owner_of: Sequence[Any], required: bool
) -> pd.Series:
    """Country cells → ISO alpha-2 (None = undeclared); unknown or ambiguous → error."""
    column = sf.cells[name]
    results = [to_alpha2(t) for t in _texts(column.values)]
    refused = [
        r.status in ("unknown", "ambiguous") or (r.status == "undeclared" and required)
        for r in results
    ]
    for position in column.rows_where(refused).tolist():
        value = column.at(position)
        result = results[column.codes[position]]
        row, owner = sf.row(position), owner_of[position]
        if result.status in ("unknown", "ambiguous"):
            code = "ambiguous-country" if result.status == "ambiguous" else "unknown-country"
            sf.add(code, "error", f"{name}: {result.message}", row, name, value, owner)
        else:
            sf.add(
                "undeclared-country",
                "error",
                f"{name} is required here and cannot be blank or unknown",
                row,
                name,
                value,
                owner,
            )
    return pd.Series(column.spread([r.code for r in results]), index=sf.index, dtype=object)


def convert_numbers(sf: SheetFrame, name: str, owner_of: Sequence[Any]) -> pd.Series:
    column = sf.cells[name]
    parsed = [(v, True) if _is_float(v) else _number(v) for v in column.values]
    bad = [not ok or (number is not None and number < 0) for number, ok in parsed]
    out = _floats([n if ok and (n is None or n >= 0) else None for n, ok in parsed])
    for position in column.rows_where(bad).tolist():
        value = column.at(position)
        number, ok = parsed[column.codes[position]]
        if not ok:
            code, message = "bad-number", f"{name} must be a number, got {value!r}"
        else:
            code, message = "negative-number", f"{name} must be ≥ 0, got {value!r}"
        sf.add(code, "error", message, sf.row(position), name, value, owner_of[position])
    return pd.Series(out[column.codes], index=sf.index, dtype="float64")


def convert_vocab(
    sf: SheetFrame,
    name: str,
    owner_of: Sequence[Any],
    lookup: dict[str, str],
    code: str,
    allowed: Iterable[str],
) -> pd.Series:
    allowed_text = ", ".join(allowed)
    column = sf.cells[name]
    texts = _texts(column.values)
    found = [lookup.get(header_key(t or "")) for t in texts]
    unknown = [t is not None and f is None for t, f in zip(texts, found, strict=True)]
    for position in column.rows_where(unknown).tolist():
        value = column.at(position)
        sf.add(
            code,
            "error",
            f"{name} {texts[column.codes[position]]!r} is not one of: {allowed_text}",
            sf.row(position),
            name,
            value,
            owner_of[position],
        )
    return pd.Series(
        column.spread([f if t is not None else None for t, f in zip(texts, found, strict=True)]),
        index=sf.index,
        dtype=object,
    )


def convert_text(sf: SheetFrame, name: str) -> pd.Series:
    column = sf.cells[name]
    return pd.Series(column.spread(_texts(column.values)), index=sf.index, dtype=object)


def lei_is_valid(lei: str) -> bool:
    """ISO 17442: 18 alphanumerics + 2 check digits, ISO 7064 MOD 97-10 over the whole code."""
    code = lei.strip().upper()
    if not re.fullmatch(r"[0-9A-Z]{18}[0-9]{2}", code):
        return False
    digits = "".join(str(int(ch, 36)) for ch in code)
    return int(digits) % 97 == 1


# ---------------------------------------------------------------- the three sheets


SUPPLIER_STAGE_LOOKUP = {k: v for k, v in STAGE_ALIASES.items() if v != "recycling"}
SOURCE_STAGE_LOOKUP = {k: v for k, v in STAGE_ALIASES.items() if v != "distributor"}
CHAIN_STAGE_LOOKUP = {k: v for k, v in STAGE_ALIASES.items() if v in STAGES}
OWNER_TYPE_LOOKUP = {header_key(t): t for t in OWNER_TYPES}
OWNER_TYPE_LOOKUP.update(
    {
        "state": "state_owned",
        "soe": "state_owned",
        "stateowned": "state_owned",
        "gov": "government",
        "govt": "government",
        "party": "party_or_official",
        "official": "party_or_official",
        "private": "company",
        "corporate": "company",
        "person": "individual",
        "public": "public_float",
        "float": "public_float",
        "freefloat": "public_float",
    }
)


def suppliers_records(sf: SheetFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Suppliers sheet → supplier frame and the flat-shortcut sourcing rows."""
    ids = convert_text(sf, "supplier_id")
    owners = ids.to_numpy(dtype=object)
    out = pd.DataFrame(index=sf.index)
    out["supplier_id"] = ids
    out["supplier_name"] = convert_text(sf, "supplier_name")
    country = convert_countries(sf, "country", owners, required=False)
    inc = convert_countries(sf, "incorporation_country", owners, required=False)
    hq = convert_countries(sf, "hq_country", owners, required=False)
    out["incorporation_country"] = inc.where(inc.notna(), country)
    out["hq_country"] = hq.where(hq.notna(), country)
    out["country"] = country.where(country.notna(), out["incorporation_country"])
    undeclared = (
        _is_none(out["country"])
        | _is_none(out["incorporation_country"])
        | _is_none(out["hq_country"])
    )
    for position in np.flatnonzero(undeclared).tolist():
        row = sf.row(position)
        if (row, "country") not in sf.flagged:
            sf.add(
                "undeclared-country",
                "error",
                "the supplier's country (or incorporation and HQ country) is required",
                row,
                "country",
                None,
                owners[position],
            )
    out["stage"] = convert_vocab(
        sf,
        "stage",
        owners,
        SUPPLIER_STAGE_LOOKUP,
        "unknown-stage",
        ("mining", "separation", "metal", "alloy", "magnet", "distributor"),
    )
    supplies = convert_vocab(
        sf, "supplies_stage", owners, CHAIN_STAGE_LOOKUP, "unknown-stage", STAGES
    ).to_numpy(dtype=object)
    stage = out["stage"].to_numpy(dtype=object)
    # A distributor supplies the stage it names, a magnet when it names none.
    out["supplies_stage"] = np.where(
        stage == "distributor", np.where(_is_none(supplies), "magnet", supplies), stage
    ).tolist()
    material = convert_vocab(
        sf, "material", owners, MATERIAL_ALIASES, "unknown-material", ("ndfeb", "smco")
    )
    out["material"] = material.fillna("ndfeb")
    out["annual_spend_usd"] = convert_numbers(sf, "annual_spend_usd", owners)
    out["annual_volume_kg"] = convert_numbers(sf, "annual_volume_kg", owners)
    out["parent_name"] = convert_text(sf, "parent_name")
    out["parent_country"] = convert_countries(sf, "parent_country", owners, required=False)
    lei = convert_text(sf, "lei")
    lei_cells = sf.cells["lei"]
    lei_texts = _texts(lei_cells.values)
    for position in lei_cells.rows_where(
        [t is not None and not lei_is_valid(t) for t in lei_texts]
    ).tolist():
        value = lei_texts[lei_cells.codes[position]]
        sf.add(
            "bad-lei",
            "error",
            f"LEI {value!r} fails the ISO 17442 check (20 characters, MOD 97-10 digits)",
            sf.row(position),
            "lei",
            value,
            owners[position],
        )
    out["lei"] = lei.str.upper()
    out["dfars_exception"] = convert_vocab(
        sf, "dfars_exception", owners, EXCEPTION_KEYS, "unknown-exception", DFARS_EXCEPTIONS
    )
    out["kind"] = sf.raw.kind
    _locate(out, sf)
    flat_rows: list[dict[str, Any]] = []
    for fieldname, flat_stage in FLAT_STAGE_FIELDS.items():
        if fieldname not in sf.positions:
            continue
        codes = convert_countries(sf, fieldname, owners, required=False)
        cells = sf.cells[fieldname]
        for idx in cells.rows_where([_text(v) is not None for v in cells.values]).tolist():
            flat_rows.append(
                {
                    "supplier_id": ids[idx],
                    "stage": flat_stage,
                    "country": codes[idx],
                    "share": 1.0,
                    "facility": None,
                    "operator": None,
                    "upstream_supplier_id": None,
                    "share_basis": "flat",
                    "_file": sf.raw.file,
                    "_sheet": sf.raw.sheet,
                    "_row": sf.row(idx),
                    "_field": fieldname,
                }
            )
    flat = pd.DataFrame(flat_rows, columns=[*SOURCING_COLUMNS, "_file", "_sheet", "_row", "_field"])
    _pandera(sf, out, SUPPLIERS_MODEL, owners)
    return out, flat


def sourcing_records(sf: SheetFrame) -> pd.DataFrame:
    ids = convert_text(sf, "supplier_id")
    owners = ids.to_numpy(dtype=object)
    out = pd.DataFrame(index=sf.index)
    out["supplier_id"] = ids
    out["stage"] = convert_vocab(
        sf, "stage", owners, SOURCE_STAGE_LOOKUP, "unknown-stage", (*STAGES, "recycling")
    )
    out["country"] = convert_countries(sf, "country", owners, required=False)
    out["share"] = convert_percent_column(sf, "share_pct", owners)
    out["facility"] = convert_text(sf, "facility")
    out["operator"] = convert_text(sf, "operator")
    out["upstream_supplier_id"] = convert_text(sf, "upstream_supplier_id")
    out["share_basis"] = _label("declared", out.index)
    _locate(out, sf)
    out["_field"] = _label("country", out.index)
    _pandera(sf, out, SOURCING_MODEL, owners)
    return out


def ownership_records(sf: SheetFrame) -> pd.DataFrame:
    entity = convert_text(sf, "entity")
    owners = entity.to_numpy(dtype=object)
    out = pd.DataFrame(index=sf.index)
    out["entity"] = entity
    out["owner"] = convert_text(sf, "owner")
    out["owner_country"] = convert_countries(sf, "owner_country", owners, required=False)
    out["owner_type"] = convert_vocab(
        sf, "owner_type", owners, OWNER_TYPE_LOOKUP, "unknown-owner-type", OWNER_TYPES
    )
    for name in ("equity", "voting", "board", "debt"):
        out[name] = convert_percent_column(sf, f"{name}_pct", owners)
    officer = sf.cells["appoints_officer"]
    flags: list[bool | None] = []
    for value in officer.values:
        text = _text(value)
        if text is None:
            flags.append(None)
        elif text.lower() in TRUE_WORDS:
            flags.append(True)
        elif text.lower() in FALSE_WORDS:
            flags.append(False)
        else:
            flags.append(None)
    unreadable = [
        _text(v) is not None and f is None for v, f in zip(officer.values, flags, strict=True)
    ]
    for position in officer.rows_where(unreadable).tolist():
        value = officer.at(position)
        sf.add(
            "bad-boolean",
            "error",
            f"appoints_officer must be yes or no, got {value!r}",
            sf.row(position),
            "appoints_officer",
            value,
            owners[position],
        )
    out["appoints_officer"] = pd.Series(officer.spread(flags), index=sf.index, dtype=object)
    _locate(out, sf)
    _pandera(sf, out, OWNERSHIP_MODEL, owners)
    return out


def _label(value: str, index: pd.Index) -> pd.Series:
    """One label on every row, as the category it ends up as (see ``_compact``): a byte a
    row instead of a million references to one string."""
    codes = np.zeros(len(index), dtype=np.int8)
    return pd.Series(pd.Categorical.from_codes(codes, categories=[value]), index=index)


def _locate(out: pd.DataFrame, sf: SheetFrame) -> None:
    out["_file"] = _label(sf.raw.file, out.index)
    out["_sheet"] = _label(sf.raw.sheet, out.index)
    out["_row"] = pd.Series(sf.rows, index=sf.index, dtype="int64")


PANDERA_CODES = {
    "not_nullable": "missing-value",
    "field_uniqueness": "duplicate-id",
    "isin": "unknown-stage",
    "greater_than_or_equal_to": "negative-number",
    "less_than_or_equal_to": "share-out-of-range",
}


def _may_fail(out: pd.DataFrame, model: pa.DataFrameSchema) -> bool:
    """Whether some cell could fail the model's checks (its column dtypes never make issues).

    Converters leave few cells for pandera to refuse; when none can fail, its pass over a
    million rows is skipped. Any check not understood here sends the frame to pandera.
    """
    for name, column in model.columns.items():
        if name not in out:
            return True
        series = out[name]
        missing = series.isna()
        if not column.nullable and missing.any():
            return True
        if column.unique and series.duplicated(keep=False).any():
            return True
        present = series[~missing]
        for check in column.checks:
            stats = check.statistics or {}
            if check.name == "isin":
                if not present.isin(stats["allowed_values"]).all():
                    return True
            elif check.name == "greater_than_or_equal_to":
                if not (present >= stats["min_value"]).all():
                    return True
            elif check.name == "less_than_or_equal_to":
                if not (present <= stats["max_value"]).all():
                    return True
            else:
                return True
    return False


def _pandera(
    sf: SheetFrame, out: pd.DataFrame, model: pa.DataFrameSchema, owners: Sequence[Any]
) -> None:
    """Run the sheet's pandera model lazily; each failure case becomes a located Issue."""
    if not _may_fail(out, model):
        return
    try:
        model.validate(out, lazy=True)
        return
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    for case in cases.itertuples(index=False):
        column = getattr(case, "column", None)
        index = getattr(case, "index", None)
        check = str(getattr(case, "check", ""))
        if index is None or (isinstance(index, float) and math.isnan(index)):
            continue
        index = int(index)
        row = int(out.at[index, "_row"])
        if (row, column) in sf.flagged:
            continue  # a converter already said what is wrong with this cell
        check_name = check.split("(")[0]
        code = PANDERA_CODES.get(check_name, "missing-value")
        value = sf.cells[column].at(index) if column in sf.cells else None
        if code == "missing-value":
            message = f"{column} is required"
        elif code == "duplicate-id":
            rows = out.loc[out[column] == out.at[index, column], "_row"].tolist()
            message = (
                f"{column} {out.at[index, column]!r} appears more than once "
                f"(rows {', '.join(map(str, rows))})"
            )
        else:
            message = f"{column} fails {check}"
        sf.add(code, "error", message, row, column, value, owners[index])


# ---------------------------------------------------------------- the portfolio


def expand_inputs(paths: Sequence[Path | str]) -> list[Path]:
    """Files as given; a folder stands for every xlsx/csv inside it (sorted, not hidden)."""
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.suffix.lower() in INPUT_SUFFIXES and not p.name.startswith((".", "~$"))
                )
            )
        else:
            found.append(path)
    return found


def _find_sheet(source: InputFile, spec: SheetSpec) -> str | None:
    aliases = {header_key(a) for a in (spec.name, *spec.sheet_aliases)}
    for name in source.sheet_names:
        if header_key(name) in aliases:
            return name
    return None


@dataclass
class Collected:
    """Rows and issues gathered per file (or per partition) before the portfolio checks."""

    suppliers: list[pd.DataFrame] = field(default_factory=list)
    sourcing: list[pd.DataFrame] = field(default_factory=list)
    ownership: list[pd.DataFrame] = field(default_factory=list)
    issues: list[tuple[Issue, Any, str]] = field(default_factory=list)  # issue, owner, sheet kind
    layouts: dict[tuple[str, str], SheetLayout] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: Collected) -> None:
        """Everything ``other`` collected, after what this one holds."""
        self.suppliers += other.suppliers
        self.sourcing += other.sourcing
        self.ownership += other.ownership
        self.issues += other.issues
        self.layouts.update(other.layouts)
        self.inputs += other.inputs


def _read_workbook(
    source: InputFile,
    columns_map: dict[str, dict[str, str]],
    bag: Collected,
    shown: progress.StageHandle | None = None,
) -> None:
    if source.kind == "csv":
        raw = read_sheet(source, source.sheet_names[0])
        present = {header_key(h) for h in raw.headers}
        specs = [SUPPLIERS]
        if "supplierid" in present and "supplierid" in present and "entity" in present:
            specs = [OWNERSHIP]
        sheets: Iterable[tuple[int, SheetSpec, RawSheet]] = [(0, specs[0], raw)]
    else:
        name = _find_sheet(source, SUPPLIERS)
        if name is None:
            raise InputError(
                f"{source.name}: no 'Suppliers' sheet (sheets found: "
                f"{', '.join(source.sheet_names) or 'none'}); the workbook needs a sheet named "
                "Suppliers — run `feocscreen template OUT.xlsx` for a blank one",
                [
                    make_issue(
                        "missing-sheet",
                        "error",
                        "required sheet Suppliers is missing",
                        file=source.name,
                    )
                ],
            )
        found = [(SUPPLIERS, name)]
        for spec in (SOURCING, OWNERSHIP):
            name = _find_sheet(source, spec)
            if name is not None:
                found.append((spec, name))
        # read together: each sheet is checked as soon as it is read (the small ones while
        # the large one is read), and added to the bag in the order above
        names = [name for _, name in found]
        sheets = ((i, found[i][0], raw) for i, raw in read_sheets(source, names))
    converted: dict[int, Collected] = {}
    for position, spec, raw in sheets:
        if shown is not None:
            shown.advance(len(raw.columns.row_numbers) if raw.columns else len(raw.rows))
        converted[position] = _converted(spec, raw, columns_map)
    for position in sorted(converted):
        bag.add(converted[position])


def _converted(spec: SheetSpec, raw: RawSheet, columns_map: dict[str, dict[str, str]]) -> Collected:
    """One sheet checked and converted, in a bag of its own."""
    part = Collected()
    sf, warnings = sheet_frame(raw, spec, columns_map)
    part.issues.extend((w, None, spec.name) for w in warnings)
    part.layouts[(raw.file, raw.sheet)] = sf.layout()
    if spec is SUPPLIERS:
        suppliers, flat = suppliers_records(sf)
        part.suppliers.append(suppliers)
        if len(flat):
            part.sourcing.append(flat)
    elif spec is SOURCING:
        part.sourcing.append(sourcing_records(sf))
    else:
        frame = ownership_records(sf)
        part.ownership.append(frame)
        # Owner names normalised now, while a larger sheet may still be read (the
        # ownership graph finds them done).
        for column in ("entity", "owner"):
            for name in frame[column].dropna().unique().tolist():
                normalise_owner(name)
    part.issues.extend((issue, owner, spec.name) for issue, owner in sf.issues)
    return part


def _read_rmi(
    source: InputFile, suppliers_map: dict[str, dict[str, Any]] | None, bag: Collected
) -> bool:
    """Read an RMI template through feocscreen.rmi; False when the file is not one."""
    try:
        from . import rmi
    except ImportError:
        return False
    if not rmi.is_rmi_workbook(source.path):
        return False
    report = rmi.read_rmi(source.path, suppliers_map)
    bag.layouts.update({(layout.file, layout.sheet): layout for layout in report.layouts})
    source.kind = "rmi"
    ids = [s["supplier_id"] for s in report.suppliers]
    if report.suppliers:
        bag.suppliers.append(pd.DataFrame(report.suppliers))
    if report.sourcing:
        frame = pd.DataFrame(report.sourcing)
        if "_field" not in frame:
            frame["_field"] = "country"
        frame["_field"] = frame["_field"].fillna("country")
        bag.sourcing.append(frame)
    owner = ids[0] if len(ids) == 1 else None
    bag.issues.extend((issue, owner, "rmi") for issue in report.issues)
    return True


def load_portfolio(
    paths: Sequence[Path | str], columns_map: Path | None = None, suppliers_map: Path | None = None
) -> Portfolio:
    """Read, validate and merge every input into one Portfolio (InputError if unreadable)."""
    columns = load_columns_map(columns_map)
    rmi_map = None
    if suppliers_map is not None:
        from . import rmi

        rmi_map = rmi.load_suppliers_map(Path(suppliers_map))
    bag = Collected()
    files = expand_inputs(paths)
    if not files:
        raise InputError("no input files found")
    # Progress (shown on a terminal only): rows read and converted, then the cross-sheet checks.
    with progress.stage(progress.READING, unit="rows") as reading:
        for path in files:
            source = open_input(path)
            if source.kind == "workbook" and _read_rmi(source, rmi_map, bag):
                pass
            else:
                _read_workbook(source, columns, bag, reading)
            bag.inputs.append({"path": str(path), "sha256": source.sha256, "kind": source.kind})
    with progress.stage(progress.VALIDATING, unit="rows") as validating:
        validating.set_total(sum(len(f) for f in (*bag.suppliers, *bag.sourcing, *bag.ownership)))
        portfolio = assemble(bag)
        validating.advance(validating.total or 0)
    del bag
    release_freed_memory()
    return portfolio


def _concat(frames: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    cols = [*columns, "_file", "_sheet", "_row"]
    usable = [f.reindex(columns=cols) for f in frames if len(f)]
    if not usable:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.concat(usable, ignore_index=True)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records") if len(frame) else []


def assemble(bag: Collected) -> Portfolio:
    """Merge every file's rows, run the cross-sheet checks, and set aside broken suppliers.

    Checks are vectorised over the whole portfolio, on integer codes of supplier ids and
    stages rather than on the strings; Python loops run only over the rows that have a
    problem.
    """
    suppliers = _concat(bag.suppliers, SUPPLIER_COLUMNS)
    sourcing = _concat(bag.sourcing, (*SOURCING_COLUMNS, "_field"))
    ownership = _concat(bag.ownership, OWNERSHIP_COLUMNS)
    issues = list(bag.issues)
    layouts = bag.layouts

    def located(
        code: str,
        severity: str,
        message: str,
        row: dict[str, Any],
        column: str | None,
        value: Any = None,
    ) -> Issue:
        layout = layouts.get((row["_file"], row["_sheet"]))
        header = cell = None
        if layout and column in layout.columns:
            header, letter = layout.columns[column]
            cell = f"{letter}{int(row['_row'])}"
        return make_issue(
            code,
            severity,
            message,
            file=row["_file"],
            sheet=row["_sheet"],
            row=int(row["_row"]),
            column=column,
            header=header,
            cell=cell,
            value=_plain(value),
        )

    # Duplicate ids across files: an error naming both files.
    known = suppliers[suppliers["supplier_id"].notna()]
    if known["_file"].nunique() > 1:
        files_per_id = known.groupby("supplier_id")["_file"].nunique()
        twice = known[known["supplier_id"].isin(files_per_id.index[files_per_id > 1])]
        shared = twice.groupby("supplier_id")["_file"].agg(lambda f: sorted(set(f)))
        for row in _records(twice):
            sid = row["supplier_id"]
            issues.append(
                (
                    located(
                        "duplicate-supplier-across-files",
                        "error",
                        f"supplier_id {sid!r} is in {' and '.join(shared[sid])}; ids must be "
                        "unique across the portfolio",
                        row,
                        "supplier_id",
                        sid,
                    ),
                    sid,
                    "Suppliers",
                )
            )
    supplier_ids = set(known["supplier_id"])

    # Sourcing: references, flat/sheet conflicts, blank shares, sums per stage.
    named = sourcing["supplier_id"].notna()
    if not named.all():
        sourcing = sourcing[named]
    sourcing = sourcing.reset_index(drop=True)
    sid = _Codes(sourcing["supplier_id"])
    upstream_ids = _Codes(sourcing["upstream_supplier_id"])
    is_supplier = sid.member(supplier_ids)
    for row in _records(sourcing[~is_supplier]):
        issues.append(
            (
                located(
                    "unknown-reference",
                    "error",
                    f"supplier_id {row['supplier_id']!r} is not on the Suppliers sheet",
                    row,
                    "supplier_id",
                    row["supplier_id"],
                ),
                None,
                "Sourcing",
            )
        )
    has_upstream = upstream_ids.codes >= 0
    dangling_ref = has_upstream & ~upstream_ids.member(supplier_ids)
    for row in _records(sourcing[dangling_ref]):
        issues.append(
            (
                located(
                    "unknown-reference",
                    "error",
                    f"upstream_supplier_id {row['upstream_supplier_id']!r} is not on the Suppliers sheet",
                    row,
                    "upstream_supplier_id",
                    row["upstream_supplier_id"],
                ),
                row["supplier_id"],
                "Sourcing",
            )
        )
    if len(sourcing):
        stage = _Codes(sourcing["stage"])
        # Recycled feedstock stands at the mining position: their shares add up together.
        position = stage.relabel({"recycling": "mining"})
        pair = sid.pair(position)  # -1 where the stage is blank
        exact = sid.pair(stage)
        is_flat = (sourcing["share_basis"] == "flat").to_numpy(dtype=bool)
        is_declared = (sourcing["share_basis"] == "declared").to_numpy(dtype=bool)
        in_conflict = np.zeros(len(exact), dtype=bool)
        flat_keys = np.unique(exact[is_flat & (exact >= 0)])  # few: flat columns are a shortcut
        if len(flat_keys):
            in_flat = np.isin(exact, flat_keys)
            both = np.unique(exact[is_declared & in_flat])
            in_conflict = in_flat & np.isin(exact, both)
        for row in _records(sourcing[is_declared & in_conflict]):
            issues.append(
                (
                    located(
                        "flat-and-sourcing",
                        "error",
                        f"stage {row['stage']} of {row['supplier_id']} is given both by the "
                        f"{row['stage']}_country column on Suppliers and by Sourcing rows; keep one",
                        row,
                        "stage",
                        row["stage"],
                    ),
                    row["supplier_id"],
                    "Sourcing",
                )
            )
        counts = np.zeros(len(pair), dtype=np.int64)
        staged = pair >= 0
        counts[staged] = np.bincount(pair[staged])[pair[staged]]
        blank = sourcing["share"].isna().to_numpy(dtype=bool)
        if (blank & (counts == 1)).any():
            sourcing.loc[blank & (counts == 1), "share"] = 1.0
        for row in _records(sourcing[blank & (counts > 1) & staged]):
            issues.append(
                (
                    located(
                        "missing-value",
                        "error",
                        f"share_pct is required: {row['supplier_id']} has several {row['stage']} rows",
                        row,
                        "share_pct",
                    ),
                    row["supplier_id"],
                    "Sourcing",
                )
            )
        shares = sourcing["share"].to_numpy(dtype=np.float64)
        valid = np.flatnonzero(staged & ~np.isnan(shares) & is_supplier & ~(is_flat & in_conflict))
        keys = pair[valid]
        # Summed per (supplier, position) in row order, as a group-by on the two columns would.
        totals = pd.Series(shares[valid]).groupby(keys, sort=False).sum()
        off = totals[(totals > 1 + SHARE_TOLERANCE) | (totals < 1 - SHARE_TOLERANCE)]
        if len(off):
            unique_keys, first_rows = np.unique(keys, return_index=True)
            off_keys = off.index.to_numpy()
            # each group's first row, located (only those rows' locations are read)
            firsts = valid[first_rows[np.searchsorted(unique_keys, off_keys)]]
            where = _Locations(sourcing.iloc[firsts])
            groups = sorted(
                (
                    sid.values[key // position.size],
                    position.values[key % position.size],
                    at,
                    total,
                )
                for at, (key, total) in enumerate(zip(off_keys.tolist(), off.tolist(), strict=True))
            )
            for sid_value, stage_value, at, total in groups:
                row = where.row(at)
                if total > 1 + SHARE_TOLERANCE:
                    issues.append(
                        (
                            located(
                                "shares-over-100",
                                "error",
                                f"{stage_value} shares of {sid_value} add to {total * 100:.1f} % "
                                "(over 100 %)",
                                row,
                                "share_pct",
                                round(total * 100, 3),
                            ),
                            sid_value,
                            "Sourcing",
                        )
                    )
                else:
                    issues.append(
                        (
                            located(
                                "shares-under-100",
                                "warning",
                                f"{stage_value} shares of {sid_value} add to {total * 100:.1f} %; "
                                f"the remaining {(1 - total) * 100:.1f} % is unverified",
                                row,
                                "share_pct",
                                round(total * 100, 3),
                            ),
                            sid_value,
                            "Sourcing",
                        )
                    )

    # Upstream cycles: every supplier on the loop is named.
    upstream = sourcing[has_upstream]
    linked = upstream_ids.member(supplier_ids)[has_upstream]
    links = _KeyEdges(
        upstream["supplier_id"].to_numpy(dtype=object)[linked],
        upstream["upstream_supplier_id"].to_numpy(dtype=object)[linked],
    )
    for loop in find_cycles(links.targets_of) if not links.acyclic() else []:
        text = " → ".join([*loop, loop[0]])
        on_loop = upstream[
            upstream["supplier_id"].isin(loop) & upstream["upstream_supplier_id"].isin(loop)
        ]
        for row in _records(on_loop.drop_duplicates("supplier_id")):
            issues.append(
                (
                    located(
                        "cycle",
                        "error",
                        f"upstream links form a loop: {text}",
                        row,
                        "upstream_supplier_id",
                        row["upstream_supplier_id"],
                    ),
                    row["supplier_id"],
                    "Sourcing",
                )
            )

    # Ownership: entity references, owner cycles, state-owned owners with no rows.
    ownership = ownership[ownership["entity"].notna() & ownership["owner"].notna()].copy()
    entities = _Codes(ownership["entity"])
    owners = _Codes(ownership["owner"])
    entity_keys_of = [_entity_key(e, supplier_ids) for e in entities.values]
    owner_keys_of = [_entity_key(o, supplier_ids) for o in owners.values]
    entity_key = entities.spread(entity_keys_of)
    owner_key = owners.spread(owner_keys_of)
    owner_keys = set(owner_keys_of)
    unknown_entity = ~entities.member(supplier_ids) & ~entities.spread_flags(
        [k in owner_keys for k in entity_keys_of]
    )
    for row in _records(ownership[unknown_entity]):
        issues.append(
            (
                located(
                    "unknown-reference",
                    "error",
                    f"entity {row['entity']!r} is neither a supplier_id nor an owner named on this sheet",
                    row,
                    "entity",
                    row["entity"],
                ),
                row["entity"],
                "Ownership",
            )
        )
    holds = _KeyEdges(owner_key, entity_key)  # owner → what it holds
    for loop in find_cycles(holds.targets_of) if not holds.acyclic() else []:
        text = " → ".join([*loop, loop[0]])
        on_loop = set(loop)
        for row in _records(
            ownership[entities.spread_flags([k in on_loop for k in entity_keys_of])].head(1)
        ):
            issues.append(
                (
                    located(
                        "cycle",
                        "error",
                        f"ownership forms a loop: {text} (owner → held)",
                        row,
                        "owner",
                        row["owner"],
                    ),
                    row["entity"],
                    "Ownership",
                )
            )
    entity_keys = set(entity_keys_of)
    state = ownership[
        (ownership["owner_type"] == "state_owned").to_numpy(dtype=bool)
        & ~owners.spread_flags([k in entity_keys for k in owner_keys_of])
    ]
    for row in _records(state.drop_duplicates(subset=["owner"])):
        issues.append(
            (
                located(
                    "state-owned-assumed",
                    "warning",
                    f"state-owned owner {row['owner']!r} has no rows of its own; taken as wholly held "
                    "by its government",
                    row,
                    "owner",
                    row["owner"],
                ),
                None,
                "Ownership",
            )
        )

    # Who is not screened: suppliers with an error in any of their rows.
    blocked: dict[str, list[Issue]] = defaultdict(list)
    all_issues: list[Issue] = []
    for issue, owner, kind in issues:
        all_issues.append(issue)
        if not issue.is_error or owner is None:
            continue
        if kind == "Ownership":
            key = _entity_key(owner, supplier_ids)
            for held in _held_suppliers(key, holds.targets_of, supplier_ids):
                blocked[held].append(issue)
        elif owner in supplier_ids:
            blocked[owner].append(issue)
    screened = supplier_ids - set(blocked)
    is_screened = sid.member(screened)
    # A supplier linked to an unscreened upstream keeps screening; that share becomes unverified.
    dangling = has_upstream & ~upstream_ids.member(screened) & is_screened
    for row in _records(sourcing[dangling]):
        all_issues.append(
            located(
                "unknown-reference",
                "warning",
                f"upstream supplier {row['upstream_supplier_id']!r} is not screened; this "
                f"{row['stage']} share of {row['supplier_id']} is treated as unverified",
                row,
                "upstream_supplier_id",
                row["upstream_supplier_id"],
            )
        )
    if dangling.any():
        sourcing.loc[dangling, ["upstream_supplier_id", "country"]] = None
    final_suppliers = suppliers[suppliers["supplier_id"].isin(screened)].drop_duplicates(
        "supplier_id"
    )
    final_sourcing = sourcing[
        is_screened & sourcing["stage"].notna().to_numpy() & sourcing["share"].notna().to_numpy()
    ]
    above = holds.above(screened)
    if above is None:  # deeper than the array passes go
        above = _ancestors(screened, holds.targets_of)
    final_ownership = ownership[entities.spread_flags([k in above for k in entity_keys_of])]
    return Portfolio(
        suppliers=_compact(final_suppliers),
        sourcing=_compact(final_sourcing),
        ownership=_compact(final_ownership),
        issues=all_issues,
        not_screened={s: blocked[s] for s in sorted(blocked)},
        inputs=bag.inputs,
        layouts=layouts,
    )


# Columns holding a handful of labels repeated on every row (where a row came from, how a
# share was given): kept as categories, a byte or two per row instead of the text.
LABEL_COLUMNS = ("_file", "_sheet", "kind", "share_basis", "_field")


def _compact(frame: pd.DataFrame) -> pd.DataFrame:
    """A final frame renumbered from 0, its label columns as categories (same values)."""
    frame = frame.reset_index(drop=True)
    for name in LABEL_COLUMNS:
        if name in frame:
            frame[name] = frame[name].astype("category")
    return frame


class _Codes:
    """A column as integer codes over its distinct values (-1 = blank), for set tests and keys."""

    def __init__(self, column: pd.Series) -> None:
        codes, uniques = pd.factorize(column.astype(object), use_na_sentinel=True)
        self.codes: npt.NDArray[np.intp] = codes.astype(np.intp)
        self.values: list[Any] = list(uniques)
        self.size = max(len(self.values), 1)

    def member(self, allowed: set[Any]) -> npt.NDArray[np.bool_]:
        """Rows whose value is in the set (blank rows are not)."""
        return self.spread_flags([v in allowed for v in self.values])

    def spread_flags(self, per_value: Sequence[bool]) -> npt.NDArray[np.bool_]:
        table = np.append(np.asarray(per_value, dtype=bool), False)  # code -1 → the last
        return table[self.codes]

    def spread(self, per_value: Sequence[Any]) -> npt.NDArray[np.object_]:
        table = np.empty(len(per_value) + 1, dtype=object)
        table[:-1] = list(per_value)
        return table[self.codes]

    def relabel(self, mapping: dict[Any, Any]) -> _Codes:
        """The same rows with some values renamed (merging codes where names meet)."""
        renamed = [mapping.get(v, v) for v in self.values]
        codes, uniques = pd.factorize(pd.Series(renamed, dtype=object))
        merged = object.__new__(_Codes)
        merged.codes = np.where(self.codes >= 0, codes[self.codes], -1).astype(np.intp)
        merged.values = list(uniques)
        merged.size = max(len(merged.values), 1)
        return merged

    def pair(self, other: _Codes) -> npt.NDArray[np.int64]:
        """One integer per (self, other) value pair; -1 where either is blank."""
        key = self.codes.astype(np.int64) * other.size + other.codes
        return np.where((self.codes >= 0) & (other.codes >= 0), key, -1)


class _Locations:
    """The location fields of a frame's rows, as ``located`` reads them, by position."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.columns = {c: frame[c].to_numpy(dtype=object) for c in LOCATION_COLUMNS}

    def row(self, position: int) -> dict[str, Any]:
        return {c: values[position] for c, values in self.columns.items()}


def _name_key(name: Any) -> str:
    return " ".join(str(name).casefold().split())


def _entity_key(name: Any, supplier_ids: set[str]) -> str:
    return str(name) if name in supplier_ids else _name_key(name)


def _held_suppliers(key: str, holds: dict[str, set[str]], supplier_ids: set[str]) -> set[str]:
    """Suppliers reachable from an entity through 'holds' edges (itself included)."""
    seen: set[str] = set()
    stack = [key]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(holds.get(node, ()))
    return {n for n in seen if n in supplier_ids}


class _KeyEdges:
    """Edges between text keys (owner → held, supplier → upstream) as integer arrays: whole-
    graph passes in numpy, one per level, before any walk in Python. Passes stop after
    PASSES levels (real graphs have a handful); then the Python walks answer."""

    PASSES = 64

    def __init__(self, sources: npt.NDArray[np.object_], targets: npt.NDArray[np.object_]) -> None:
        both = np.concatenate(
            [np.asarray(sources, dtype=object), np.asarray(targets, dtype=object)]
        )
        codes, keys = pd.factorize(both)
        self.source, self.target = codes[: len(sources)], codes[len(sources) :]
        self.keys = np.asarray(keys, dtype=object)

    @functools.cached_property
    def targets_of(self) -> dict[str, set[str]]:
        """Each key and the keys its edges lead to, as the Python walks read them (made
        only when one is needed)."""
        keys = self.keys.tolist()
        found: dict[str, set[str]] = defaultdict(set)
        for source, target in zip(self.source.tolist(), self.target.tolist(), strict=True):
            found[keys[source]].add(keys[target])
        return dict(found)

    def acyclic(self) -> bool:
        """True when no path of edges comes back to where it started; False when one may
        (or the graph is too deep to tell here). Edges into a key with no edge out are
        dropped, level after level: a graph without loops has none left."""
        alive = np.ones(len(self.source), dtype=bool)
        for _ in range(self.PASSES):
            if not alive.any():
                return True
            has_out = np.zeros(len(self.keys), dtype=bool)
            has_out[self.source[alive]] = True
            ends = alive & ~has_out[self.target]
            if not ends.any():
                return False  # every edge left leads on: round a loop
            alive &= ~ends
        return not alive.any()

    def above(self, start: set[str]) -> set[str] | None:
        """``start`` and every key with a path of edges to one of them (``_ancestors``); None
        when that goes deeper than PASSES levels."""
        reached = np.zeros(len(self.keys), dtype=bool)
        at = pd.Index(self.keys).get_indexer(list(start)) if len(self.keys) else np.empty(0, int)
        reached[at[at >= 0]] = True
        for _ in range(self.PASSES):
            more = reached.copy()
            more[self.source[reached[self.target]]] = True
            if (more == reached).all():
                return start | set(self.keys[reached].tolist())
            reached = more
        return None


def _ancestors(start: set[str], holds: dict[str, set[str]]) -> set[str]:
    """Every owner key above these suppliers, themselves included."""
    parents: dict[str, set[str]] = defaultdict(set)
    for owner, held in holds.items():
        for h in held:
            parents[h].add(owner)
    seen = set(start)
    stack = list(start & parents.keys())  # the others add only themselves
    while stack:
        for parent in parents[stack.pop()]:
            if parent not in seen:
                seen.add(parent)
                if parent in parents:
                    stack.append(parent)
    return seen


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each elementary loop once, as the node list starting at its smallest member."""
    loops: set[tuple[str, ...]] = set()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                loop = path[path.index(nxt) :]
                start = loop.index(min(loop))
                loops.add(tuple(loop[start:] + loop[:start]))
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return [list(loop) for loop in sorted(loops)]


def summarize(portfolio: Portfolio) -> dict[str, Any]:
    """Counts for the validate command: suppliers, rows per sheet, errors and warnings."""
    return {
        "inputs": [i["path"] for i in portfolio.inputs],
        "suppliers_screenable": int(len(portfolio.suppliers)),
        "suppliers_not_screened": len(portfolio.not_screened),
        "sourcing_rows": int(len(portfolio.sourcing)),
        "ownership_rows": int(len(portfolio.ownership)),
        "errors": len(portfolio.errors),
        "warnings": len(portfolio.warnings),
    }
