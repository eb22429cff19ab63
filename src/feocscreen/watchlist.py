"""Restricted-party lists as data: readers, dated snapshots, and a drift guard.

Three formats load into one ``WatchlistSet`` of ``WatchlistEntry``:

* the US Consolidated Screening List (CSL) CSV exactly as published at
  api.trade.gov (header in ../shared/reference/peers-and-formats.md §2; multi-valued
  fields joined with ``;``, ``source`` a long name such as
  "Entity List (EL) - Bureau of Industry and Security");
* OFAC's legacy ``sdn.csv`` with its ``alt.csv`` (and ``add.csv`` for countries) from
  the same folder: no header row, ``-0-`` for null, joined on ``ent_num``, sometimes a
  trailing ``\\x1a`` byte;
* a simple CSV ``name, aliases, country, list, source_url`` (optional ``id``, ``lei``,
  ``uscc``, ``note``; lines starting with ``#`` are comments) for lists the CSL does not
  carry: UFLPA, DoD 1260H, FY2024 NDAA §154, or an organisation's own.

Every loaded file is recorded (path, SHA-256, rows per list) for the result and the
audit trail. ``fetch_csl`` downloads the official CSL into a dated, hashed snapshot;
``list_drift`` compares two snapshots, because the CSL once silently lost ~15,000
SDN rows (InternationalTradeAdministration/developerportal#146).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from .countries import to_alpha2
from .errors import WatchlistError, make_issue, register
from .models import Issue
from .names import clean_identifier, identifier_kind

register("bad-watchlist", "Unreadable watchlist", "A list file is not in a format we read.")
register("list-drop", "List shrank sharply", "A source lost many rows between two snapshots.")

LISTS_DIR_ENV = "FEOCSCREEN_LISTS_DIR"
CSL_URL_ENV = "FEOCSCREEN_CSL_URL"
# The bulk CSV the ITA rebuilds daily (developerportal#114; no key needed).
CSL_URL = "https://api.trade.gov/static/consolidated_screening_list/consolidated.csv"
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024  # the CSL is ~30 MB; anything this big is not it
DEFAULT_MAX_DROP = 0.10  # a source losing more than 10 % between daily snapshots is news

CSL_HEADER: tuple[str, ...] = (
    "_id",
    "source",
    "entity_number",
    "type",
    "programs",
    "name",
    "title",
    "addresses",
    "federal_register_notice",
    "start_date",
    "end_date",
    "standard_order",
    "license_requirement",
    "license_policy",
    "call_sign",
    "vessel_type",
    "gross_tonnage",
    "gross_registered_tonnage",
    "vessel_flag",
    "vessel_owner",
    "remarks",
    "source_list_url",
    "alt_names",
    "citizenships",
    "dates_of_birth",
    "nationalities",
    "places_of_birth",
    "source_information_url",
    "ids",
)

# Short list ids. The CSL ones are the `sources` values of the CSL API v1 (ITA developer
# portal; peers-and-formats.md §2), keyed here by the long `source` name the CSV carries.
# FTO, UFLPA, 1260H and NDAA154 are not on the CSL: they come from simple-CSV lists, and
# their ids follow the list names in ../shared/reference/regulation.md §5 and §9.
CSL_SOURCES: dict[str, str] = {
    "Entity List (EL) - Bureau of Industry and Security": "EL",
    "Military End User (MEU) List - Bureau of Industry and Security": "MEU",
    "Unverified List (UVL) - Bureau of Industry and Security": "UVL",
    "Denied Persons List (DPL) - Bureau of Industry and Security": "DPL",
    "Nonproliferation Sanctions (ISN) - State Department": "ISN",
    "ITAR Debarred (DTC) - State Department": "DTC",
    "Specially Designated Nationals (SDN) - Treasury Department": "SDN",
    "Foreign Sanctions Evaders (FSE) - Treasury Department": "FSE",
    "Sectoral Sanctions Identifications List (SSI) - Treasury Department": "SSI",
    "Palestinian Legislative Council List (PLC) - Treasury Department": "PLC",
    "Correspondent Account or Payable-Through Account Sanctions (CAPTA) - Treasury Department": "CAP",
    "Capta List (CAP) - Treasury Department": "CAP",
    "Non-SDN Chinese Military-Industrial Complex Companies List (CMIC) - Treasury Department": "CMIC",
    "Non-SDN Menu-Based Sanctions List (NS-MBS List) - Treasury Department": "MBS",
}
LIST_IDS: tuple[str, ...] = (
    "SDN",
    "FTO",
    "EL",
    "MEU",
    "UVL",
    "DPL",
    "ISN",
    "DTC",
    "FSE",
    "SSI",
    "PLC",
    "CAP",
    "CMIC",
    "MBS",
    "1260H",
    "UFLPA",
    "NDAA154",
)
# Spellings of list ids accepted in simple CSVs: regulation.md §9's ids and common names.
LIST_ID_ALIASES: dict[str, str] = {
    "OFAC_SDN": "SDN",
    "OFAC SDN": "SDN",
    "SPECIALLY DESIGNATED NATIONALS": "SDN",
    "BIS_ENTITY": "EL",
    "ENTITY LIST": "EL",
    "BIS ENTITY LIST": "EL",
    "DOD_1260H": "1260H",
    "SECTION 1260H": "1260H",
    "UFLPA ENTITY LIST": "UFLPA",
    "NDAA24_S154": "NDAA154",
    "NDAA 154": "NDAA154",
    "NS-MBS": "MBS",
    "CAPTA": "CAP",
}
_ABBREVIATION_IN_SOURCE = re.compile(r"\((?:NS-)?([A-Z0-9]+)(?: List)?\)")


def short_list_id(source: str) -> str | None:
    """The short id (EL, SDN, …) of a CSL long source name or a list id as users write it."""
    text = " ".join(str(source or "").split())
    if text in CSL_SOURCES:
        return CSL_SOURCES[text]
    upper = text.upper()
    if upper in LIST_IDS:
        return upper
    if upper in LIST_ID_ALIASES:
        return LIST_ID_ALIASES[upper]
    # A long name the table does not know yet: its parenthesised abbreviation.
    found = _ABBREVIATION_IN_SOURCE.search(text)
    if found:
        abbreviation = {"CAPTA": "CAP"}.get(found.group(1), found.group(1))
        if abbreviation in LIST_IDS:
            return abbreviation
    return None


@dataclass(frozen=True)
class WatchlistEntry:
    """One listed party: its names, list, country and where it came from."""

    entry_id: str
    list_id: str
    name: str
    aliases: tuple[str, ...] = ()
    country: str | None = None  # ISO alpha-2, the first country the list gives
    countries: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()  # cleaned LEI / USCC
    source_url: str | None = None
    entity_type: str | None = None
    programs: str | None = None
    file: str = ""
    row: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        """Primary name first, then every alias."""
        return (self.name, *self.aliases)


@dataclass
class WatchlistSet:
    """Every entry of the loaded lists and, per file, its hash and rows by list."""

    entries: list[WatchlistEntry] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    _index: Any = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def loaded(self) -> bool:
        """False when no list was given: listing prongs are then *not tested*."""
        return bool(self.sources)

    def rows_by_source(self) -> dict[str, int]:
        """Entry counts per short list id over every file."""
        return dict(sorted(Counter(e.list_id for e in self.entries).items()))


# --- reading files ---------------------------------------------------------------------


def _error(path: Path, message: str, row: int | None = None, value: Any = None) -> WatchlistError:
    issue = make_issue("bad-watchlist", "error", message, file=str(path), row=row, value=value)
    where = f"{path}" + (f", row {row}" if row else "")
    return WatchlistError(f"{where}: {message}", [issue])


def _read_text(path: Path) -> tuple[str, str]:
    """File text (UTF-8, else Windows-1252 as OFAC's legacy files are) and its SHA-256."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _error(path, f"cannot read the file: {exc.strerror or exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    data = data.rstrip(b"\x1a\r\n\t ")  # OFAC files may end with a DOS end-of-file byte
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise _error(path, "binary content: not a CSV list")
    return text, digest


def _null(value: str | None) -> str:
    value = (value or "").strip()
    return "" if value == "-0-" else value


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(";") if part.strip())


def _country(text: str | None) -> str | None:
    if not text:
        return None
    result = to_alpha2(text.strip())
    return result.code if result.status == "ok" else None


def _identifiers(text: str) -> tuple[str, ...]:
    """LEIs and USCCs found anywhere in a free-text ids field (checked, not guessed)."""
    found = []
    for candidate in re.findall(r"\b[0-9A-Za-z]{18,20}\b", text or ""):
        if identifier_kind(candidate):
            found.append(clean_identifier(candidate))
    return tuple(dict.fromkeys(found))


def _address_countries(addresses: str) -> tuple[str, ...]:
    """Countries at the end of each `;`-joined flattened CSL address ("…, Beijing, CN")."""
    codes = []
    for address in _split(addresses):
        code = _country(address.rsplit(",", 1)[-1])
        if code:
            codes.append(code)
    return tuple(dict.fromkeys(codes))


def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def read_csl(path: Path, text: str) -> list[WatchlistEntry]:
    """Entries of a Consolidated Screening List CSV as published (header row required)."""
    rows = _csv_rows(text)
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ("source", "name") if c not in header]
    if missing:
        raise _error(path, f"CSL header lacks {', '.join(missing)}", row=1)
    at = {h: i for i, h in enumerate(header)}
    entries = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise _error(path, f"{len(row)} fields where the header has {len(header)}", line)
        record = {h: row[i] for h, i in at.items()}
        list_id = short_list_id(record["source"])
        if list_id is None:
            raise _error(path, f"unknown CSL source {record['source']!r}", line, record["source"])
        name = record["name"].strip()
        if not name:
            raise _error(path, "blank name", line)
        countries = _address_countries(record.get("addresses", ""))
        countries += tuple(
            c
            for c in (_country(x) for x in _split(record.get("nationalities", "")))
            if c and c not in countries
        )
        entries.append(
            WatchlistEntry(
                entry_id=record.get("_id") or record.get("entity_number") or f"{path.name}:{line}",
                list_id=list_id,
                name=name,
                aliases=tuple(a for a in _split(record.get("alt_names")) if a != name),
                country=countries[0] if countries else None,
                countries=countries,
                identifiers=_identifiers(record.get("ids", "")),
                source_url=record.get("source_list_url") or record.get("source_information_url"),
                entity_type=record.get("type") or None,
                programs=record.get("programs") or None,
                file=str(path),
                row=line,
            )
        )
    return entries


def read_simple(path: Path, text: str) -> list[WatchlistEntry]:
    """Entries of a simple list CSV: name, aliases (`;`), country, list, source_url."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)]
    data = [(n, line) for n, line in lines if not line.lstrip().startswith("#") and line.strip()]
    if not data:
        raise _error(path, "no header row")
    parsed = list(csv.reader([line for _, line in data]))
    header = [h.strip().lower() for h in parsed[0]]
    missing = [c for c in ("name", "list") if c not in header]
    if missing:
        raise _error(path, f"header lacks {', '.join(missing)}", row=data[0][0])
    entries = []
    for (line, _), row in zip(data[1:], parsed[1:], strict=True):
        record = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}
        if not record["name"]:
            raise _error(path, "blank name", line)
        list_id = short_list_id(record["list"])
        if list_id is None:
            raise _error(
                path,
                f"unknown list {record['list']!r}; use one of {', '.join(LIST_IDS)}",
                line,
                record["list"],
            )
        country = None
        if record.get("country"):
            result = to_alpha2(record["country"])
            if result.status != "ok":
                raise _error(path, result.message or "unknown country", line, record["country"])
            country = result.code
        ids = tuple(
            clean_identifier(record[k]) for k in ("lei", "uscc") if record.get(k)
        ) + _identifiers(record.get("ids", ""))
        entries.append(
            WatchlistEntry(
                entry_id=record.get("id") or f"{path.stem}:{line}",
                list_id=list_id,
                name=record["name"],
                aliases=_split(record.get("aliases")),
                country=country,
                countries=(country,) if country else (),
                identifiers=tuple(dict.fromkeys(ids)),
                source_url=record.get("source_url") or None,
                entity_type=record.get("type") or None,
                file=str(path),
                row=line,
            )
        )
    return entries


def _ofac_rows(path: Path, text: str, width: int) -> list[tuple[int, list[str]]]:
    rows = []
    for line, row in enumerate(_csv_rows(text), start=1):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise _error(path, f"{len(row)} fields; OFAC's {path.name} rows have {width}", line)
        rows.append((line, row))
    return rows


def read_ofac(path: Path, text: str, companions: dict[str, str]) -> list[WatchlistEntry]:
    """Entries of OFAC's legacy sdn.csv, with aliases from alt.csv and countries from add.csv."""
    aliases: dict[str, list[str]] = {}
    if "alt" in companions:
        alt_path = path.with_name("alt.csv")
        for _line, row in _ofac_rows(alt_path, companions["alt"], 5):
            if _null(row[3]):
                aliases.setdefault(row[0].strip(), []).append(_null(row[3]))
    countries: dict[str, list[str]] = {}
    if "add" in companions:
        add_path = path.with_name("add.csv")
        for _line, row in _ofac_rows(add_path, companions["add"], 6):
            code = _country(_null(row[4]))
            if code:
                countries.setdefault(row[0].strip(), []).append(code)
    entries = []
    for line, row in _ofac_rows(path, text, 12):
        ent_num, name = row[0].strip(), _null(row[1])
        if not ent_num.isdigit():
            raise _error(path, f"ent_num {ent_num!r} is not a number", line, ent_num)
        if not name:
            raise _error(path, "blank SDN_Name", line)
        found = tuple(dict.fromkeys(countries.get(ent_num, [])))
        entries.append(
            WatchlistEntry(
                entry_id=f"SDN-{ent_num}",
                list_id="SDN",
                name=name,
                aliases=tuple(aliases.get(ent_num, [])),
                country=found[0] if found else None,
                countries=found,
                identifiers=_identifiers(_null(row[11])),
                source_url="https://sanctionslist.ofac.treas.gov/Home/SdnList",
                entity_type=_null(row[2]) or "entity",
                programs=_null(row[3]) or None,
                file=str(path),
                row=line,
            )
        )
    return entries


def detect_format(path: Path, text: str) -> str:
    """'csl', 'simple', 'ofac-sdn', 'ofac-alt' or 'ofac-add', from the content itself."""
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "")
    header = [h.strip().lower() for h in next(csv.reader([first]), [])]
    if "source" in header and "name" in header and ("alt_names" in header or "_id" in header):
        return "csl"
    if "name" in header and "list" in header:
        return "simple"
    if header and header[0].isdigit():
        width = len(next(csv.reader([first])))
        stem = path.stem.lower()
        if width == 12:
            return "ofac-sdn"
        if width == 5 and "alt" in stem:
            return "ofac-alt"
        if width == 6 and "add" in stem:
            return "ofac-add"
    raise _error(
        path,
        "not a list we read: expected the CSL CSV header, a simple CSV with name and list "
        "columns, or OFAC's sdn.csv / alt.csv / add.csv",
        row=1,
    )


def resolve_list_paths(paths: Sequence[Path | str]) -> list[Path]:
    """The list files to load: the given paths (folders searched for *.csv, subfolders
    included), else every list in $FEOCSCREEN_LISTS_DIR.

    In a folder, dated CSL snapshots (csl-YYYY-MM-DD.csv) count once: the newest.
    """
    given = [Path(p) for p in paths]
    if not given and os.environ.get(LISTS_DIR_ENV):
        given = [Path(os.environ[LISTS_DIR_ENV])]
    files: list[Path] = []
    for path in given:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".csv" and p.is_file())
            snapshots = [p for p in found if SNAPSHOT_NAME.fullmatch(p.name)]
            newest = max(snapshots, key=lambda p: p.name) if snapshots else None
            files.extend(p for p in found if p not in snapshots or p == newest)
        else:
            files.append(path)
    return files


def load_lists(paths: Sequence[Path | str]) -> WatchlistSet:
    """Read every list file (CSL, OFAC legacy, simple CSV) into one set, recording each file."""
    files = resolve_list_paths(paths)
    texts: dict[Path, tuple[str, str, str]] = {}
    queue = list(files)
    while queue:
        path = queue.pop(0)
        if path in texts:
            continue
        if not path.exists():
            raise _error(path, "no such file")
        text, digest = _read_text(path)
        if not text.strip():
            raise _error(path, "empty file")
        texts[path] = (text, digest, detect_format(path, text))
        if texts[path][2] == "ofac-sdn":
            # OFAC publishes aliases and addresses beside sdn.csv: read them with it.
            queue.extend(
                sibling
                for sibling in (path.with_name("alt.csv"), path.with_name("add.csv"))
                if sibling.is_file() and sibling not in texts
            )
    listed = WatchlistSet()
    for path, (text, digest, kind) in texts.items():
        if kind in ("ofac-alt", "ofac-add"):
            if not any(p.parent == path.parent and texts[p][2] == "ofac-sdn" for p in texts):
                raise _error(path, f"OFAC {path.name} needs its sdn.csv in the same folder")
            listed.sources.append({"path": str(path), "sha256": digest, "rows_by_source": {}})
            continue
        if kind == "csl":
            entries = read_csl(path, text)
        elif kind == "simple":
            entries = read_simple(path, text)
        else:
            companions = {
                part: texts[p][0]
                for part in ("alt", "add")
                for p in texts
                if p.parent == path.parent and texts[p][2] == f"ofac-{part}"
            }
            entries = read_ofac(path, text, companions)
        listed.entries.extend(entries)
        counts = Counter(e.list_id for e in entries)
        listed.sources.append(
            {"path": str(path), "sha256": digest, "rows_by_source": dict(sorted(counts.items()))}
        )
    return listed


# --- snapshots and drift -------------------------------------------------------------

SNAPSHOT_NAME = re.compile(r"csl-\d{4}-\d{2}-\d{2}\.csv")


@dataclass(frozen=True)
class Snapshot:
    """A downloaded list saved under a dated name with its SHA-256 beside it."""

    path: Path
    sha256: str
    rows_by_source: dict[str, int]
    previous: Path | None


def fetch_csl(
    directory: Path,
    url: str | None = None,
    *,
    today: date | None = None,
    timeout: float = 60.0,
) -> Snapshot:
    """Download the CSL CSV into DIRECTORY/csl-DATE.csv (+ .sha256) and check it reads."""
    url = url or os.environ.get(CSL_URL_ENV) or CSL_URL
    if not url.startswith(("https://", "http://")):
        raise WatchlistError(f"{url}: only http(s) URLs can be fetched")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"csl-{(today or date.today()).isoformat()}.csv"
    earlier = sorted(p for p in directory.iterdir() if SNAPSHOT_NAME.fullmatch(p.name))
    previous = next((p for p in reversed(earlier) if p.name < target.name), None)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".part", delete=False) as part:
        part_path = Path(part.name)
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "feocscreen"})
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                size = 0
                while chunk := response.read(1 << 20):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise WatchlistError(f"{url}: more than {MAX_DOWNLOAD_BYTES} bytes")
                    digest.update(chunk)
                    part.write(chunk)
        except (OSError, ValueError) as exc:
            part.close()
            part_path.unlink(missing_ok=True)
            raise WatchlistError(f"{url}: download failed: {exc}") from exc
        except WatchlistError:
            part.close()
            part_path.unlink(missing_ok=True)
            raise
    try:
        text, _ = _read_text(part_path)
        if detect_format(target, text) != "csl":
            raise _error(target, "the download is not a Consolidated Screening List CSV", row=1)
        entries = read_csl(target, text)
    except WatchlistError:
        part_path.unlink(missing_ok=True)
        raise
    part_path.replace(target)
    sha = digest.hexdigest()
    target.with_name(target.name + ".sha256").write_text(f"{sha}  {target.name}\n")
    counts = dict(sorted(Counter(e.list_id for e in entries).items()))
    return Snapshot(path=target, sha256=sha, rows_by_source=counts, previous=previous)


@dataclass(frozen=True)
class SourceDrift:
    """How one list's row count moved between two snapshots."""

    list_id: str
    old: int
    new: int
    sharp_drop: bool

    @property
    def change(self) -> float:
        return (self.new - self.old) / self.old if self.old else 0.0


def list_drift(
    old: dict[str, int], new: dict[str, int], *, max_drop: float = DEFAULT_MAX_DROP
) -> list[SourceDrift]:
    """Row counts per list in both snapshots; a drop beyond max_drop (0–1) is sharp."""
    drifts = []
    for list_id in sorted(set(old) | set(new)):
        before, after = old.get(list_id, 0), new.get(list_id, 0)
        sharp = before > 0 and (before - after) / before > max_drop
        drifts.append(SourceDrift(list_id, before, after, sharp))
    return drifts


def drift_issues(drifts: Iterable[SourceDrift], old: Path, new: Path) -> list[Issue]:
    """One located issue per sharp drop, for the CLI and the audit trail."""
    return [
        make_issue(
            "list-drop",
            "error",
            f"{d.list_id} fell from {d.old} to {d.new} rows ({d.change:+.1%}) between "
            f"{old.name} and {new.name}",
            file=str(new),
            value=d.list_id,
        )
        for d in drifts
        if d.sharp_drop
    ]
