"""Generate realistic supplier workbooks for the scale benchmarks.

    python benchmarks/make_workbook.py [--sizes 10k,100k,1m] [--out benchmarks/data]
                                       [--formats xlsx,csv,parquet] [--seed 7]

Each size is the number of rows on the Sourcing sheet; ``1m`` means Excel's limit,
1,048,575 data rows under one header row. The Suppliers and Ownership sheets are
sized to match (about one supplier per 6.7 Sourcing rows, 0.6 Ownership rows per
supplier), so the workbook looks like a large OEM's magnet supplier map:

- suppliers at every stage (mining … magnet, and distributors), each declaring the
  countries of its own chain stage by stage, one to three countries per stage with
  shares summing to 100 % (2 % of stages short of 100 %, 3 % of countries left
  blank or "unknown", as questionnaire answers are);
- 8 % of midstream Sourcing rows name an ``upstream_supplier_id`` at the same stage,
  always a supplier generated earlier, so the links form a DAG several tiers deep;
- countries written the way people write them ("P.R. China", "CHN", "Viet Nam",
  "Korea, Republic of", "Hong Kong SAR", "U.S.A." …), with per-stage weights
  shaped like the real market (China dominant in the midstream);
- headers as exports spell them ("Supplier ID", "Share %", "Annual Spend (USD)"),
  which the intake matches ignoring case, spaces, punctuation and ``%``/``pct``,
  plus a "Notes" column the intake keeps and ignores;
- ownership chains: holding companies that appear as owners of suppliers and as
  entities with owners of their own, state-owned and government holders.

The output is deterministic for a given seed and size. xlsx is written with
xlsxwriter; sizes above ``--stream-above`` rows use its constant_memory mode
(inline strings, rows streamed to disk), smaller ones the default layout with a
shared-strings table, as Excel itself saves. csv and parquet write one file per
sheet into a directory (the Dask engine's input).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sizes import parse_size, size_label, workbook_path  # noqa: E402

STAGES = ("mining", "separation", "metal", "alloy", "magnet")

# Headers as a procurement export writes them; the intake maps them to canonical fields.
SUPPLIER_HEADERS = {
    "supplier_id": "Supplier ID",
    "supplier_name": "Supplier Name",
    "country": "Country",
    "incorporation_country": "Incorporation Country",
    "stage": "Stage",
    "supplies_stage": "Supplies Stage",
    "material": "Material",
    "annual_spend_usd": "Annual Spend (USD)",
    "annual_volume_kg": "Annual Volume kg",
    "parent_name": "Parent Name",
    "parent_country": "Parent Country",
    "notes": "Notes",
}
SOURCING_HEADERS = {
    "supplier_id": "Supplier ID",
    "stage": "Stage",
    "country": "Country",
    "share_pct": "Share %",
    "facility": "Facility",
    "operator": "Operator",
    "upstream_supplier_id": "Upstream Supplier ID",
}
OWNERSHIP_HEADERS = {
    "entity": "Entity",
    "owner": "Owner",
    "owner_country": "Owner Country",
    "owner_type": "Owner Type",
    "equity_pct": "Equity %",
    "voting_pct": "Voting %",
    "appoints_officer": "Appoints Officer",
}

# Spellings of each country seen in supplier sheets and RMI templates.
SPELLINGS: dict[str, tuple[str, ...]] = {
    "CN": (
        "China",
        "China",
        "CN",
        "P.R. China",
        "PRC",
        "CHINA",
        "People's Republic of China",
        "CHN",
    ),
    "JP": ("Japan", "JP", "JPN"),
    "US": ("USA", "United States", "US", "United States of America", "U.S.A."),
    "AU": ("Australia", "AU"),
    "VN": ("Viet Nam", "Vietnam", "VN"),
    "MY": ("Malaysia", "MY"),
    "KR": ("South Korea", "Korea, Republic of", "KR", "Republic of Korea"),
    "DE": ("Germany", "DE"),
    "EE": ("Estonia", "EE"),
    "HK": ("Hong Kong SAR", "Hong Kong", "HK"),
    "MM": ("Myanmar", "Burma"),
    "TH": ("Thailand", "TH"),
    "TW": ("Taiwan", "TAIWAN, PROVINCE OF CHINA"),
    "PH": ("Philippines", "PH"),
    "LA": ("Laos",),
    "BR": ("Brazil",),
    "IN": ("India", "IN"),
    "GB": ("United Kingdom", "UK"),
    "FR": ("France",),
    "SG": ("Singapore", "SG"),
    "CA": ("Canada",),
    "SI": ("Slovenia",),
    "RU": ("Russian Federation",),
}
UNDECLARED_SPELLINGS = ("", "unknown", "TBD", "N/A", "not declared")

# Where each stage is performed, roughly as the market is shaped (China dominant midstream).
STAGE_COUNTRY_WEIGHTS: dict[str, dict[str, float]] = {
    "mining": {
        "CN": 45,
        "AU": 12,
        "US": 12,
        "MM": 10,
        "LA": 4,
        "BR": 4,
        "IN": 3,
        "TH": 3,
        "CA": 4,
        "RU": 3,
    },
    "separation": {"CN": 70, "MY": 10, "EE": 5, "JP": 5, "US": 4, "FR": 3, "IN": 3},
    "metal": {"CN": 75, "VN": 8, "JP": 8, "TH": 4, "GB": 3, "US": 2},
    "alloy": {"CN": 70, "JP": 14, "VN": 6, "DE": 4, "KR": 3, "US": 3},
    "magnet": {
        "CN": 55,
        "JP": 12,
        "DE": 6,
        "US": 5,
        "KR": 5,
        "VN": 4,
        "PH": 3,
        "TH": 3,
        "SI": 3,
        "HK": 2,
        "TW": 2,
    },
}
HQ_COUNTRY_WEIGHTS = {
    "CN": 45,
    "JP": 12,
    "US": 10,
    "DE": 5,
    "KR": 4,
    "AU": 4,
    "VN": 3,
    "MY": 2,
    "HK": 3,
    "SG": 3,
    "TW": 2,
    "GB": 2,
    "FR": 1,
    "EE": 1,
    "TH": 1,
    "PH": 1,
    "CA": 1,
}

# What suppliers perform, as shares of the supplier list.
SUPPLIER_STAGE_WEIGHTS = {
    "magnet": 38,
    "alloy": 14,
    "metal": 10,
    "separation": 10,
    "mining": 12,
    "distributor": 16,
}

CITIES = (
    "Baotou",
    "Ganzhou",
    "Ningbo",
    "Xiamen",
    "Shanghai",
    "Beijing",
    "Chengdu",
    "Longnan",
    "Changting",
    "Sichuan",
    "Tianjin",
    "Hangzhou",
    "Osaka",
    "Tokyo",
    "Shin-Etsu",
    "Hanau",
    "Tallinn",
    "Kuantan",
    "Haiphong",
    "Lynas",
    "Mountain Pass",
    "Sillamae",
    "Gyeonggi",
)
SYLLABLES = (
    "jin",
    "xin",
    "rui",
    "hua",
    "tian",
    "long",
    "sheng",
    "da",
    "hong",
    "feng",
    "kai",
    "yuan",
    "tai",
    "bao",
    "li",
    "an",
    "heng",
    "yong",
    "xing",
    "zhong",
    "mei",
    "neo",
    "magna",
    "ferro",
    "terra",
    "nova",
    "star",
    "core",
)
INDUSTRY = (
    "Magnetics",
    "Rare Earth",
    "New Materials",
    "Magnet Technology",
    "Metals",
    "Advanced Materials",
    "Permanent Magnet",
    "Resources",
    "Mining",
    "High-Tech",
)
SUFFIXES = (
    "Co., Ltd.",
    "Co Ltd",
    "Ltd.",
    "Inc.",
    "Corporation",
    "GmbH",
    "K.K.",
    "JSC",
    "Pte. Ltd.",
    "S.A.",
    "LLC",
    "Limited",
    "有限公司",
)


def _pick(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(weights))
    p = np.array(list(weights.values()), dtype=float)
    return keys[rng.choice(len(keys), size=n, p=p / p.sum())]


def _spell(rng: np.random.Generator, codes: np.ndarray) -> np.ndarray:
    """Write ISO codes the way users do, picking one spelling per cell."""
    out = np.empty(len(codes), dtype=object)
    for code in np.unique(codes):
        where = np.flatnonzero(codes == code)
        spellings = np.array(SPELLINGS[str(code)], dtype=object)
        out[where] = spellings[rng.integers(0, len(spellings), size=len(where))]
    return out


def _company_names(rng: np.random.Generator, n: int) -> np.ndarray:
    city = np.array(CITIES, dtype=object)[rng.integers(0, len(CITIES), n)]
    syl = np.array(SYLLABLES, dtype=object)
    first = syl[rng.integers(0, len(syl), n)]
    second = syl[rng.integers(0, len(syl), n)]
    industry = np.array(INDUSTRY, dtype=object)[rng.integers(0, len(INDUSTRY), n)]
    suffix = np.array(SUFFIXES, dtype=object)[rng.integers(0, len(SUFFIXES), n)]
    serial = rng.integers(1, 999, n)
    return np.array(
        [
            f"{c} {a.capitalize()}{b} {i} {s}" if k % 3 else f"{a.capitalize()}{b} {i} {k} {s}"
            for c, a, b, i, s, k in zip(city, first, second, industry, suffix, serial, strict=True)
        ],
        dtype=object,
    )


def _split_shares(rng: np.random.Generator, parts: np.ndarray) -> list[np.ndarray]:
    """Integer percent shares summing to 100 for each group of 1–3 countries."""
    shares: list[np.ndarray] = []
    for k in parts:
        if k == 1:
            shares.append(np.array([100]))
        elif k == 2:
            a = int(rng.integers(2, 19)) * 5
            shares.append(np.array([a, 100 - a]))
        else:
            a = int(rng.integers(2, 12)) * 5
            b = int(rng.integers(1, (100 - a) // 5)) * 5
            shares.append(np.array([a, b, 100 - a - b]))
    return shares


def build_portfolio(sourcing_rows: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    """The three sheets as frames under their export headers; exactly ``sourcing_rows`` Sourcing rows."""
    rng = np.random.default_rng(seed)
    stage_index = {s: i for i, s in enumerate(STAGES)}

    # Enough suppliers that their chains fill the Sourcing sheet; the overshoot is cut below.
    n_suppliers = max(10, int(sourcing_rows / 6.0) + 10)
    sup_stage = _pick(rng, SUPPLIER_STAGE_WEIGHTS, n_suppliers)
    supplies = np.where(sup_stage == "distributor", "magnet", sup_stage)
    chain_len = np.array([stage_index[s] + 1 for s in supplies])
    ids = np.array([f"SUP-{i:07d}" for i in range(1, n_suppliers + 1)], dtype=object)

    # One group per (supplier, chain stage); 1–3 countries per group.
    group_supplier = np.repeat(np.arange(n_suppliers), chain_len)
    group_stage = np.concatenate([np.arange(k) for k in chain_len])
    parts = rng.choice([1, 2, 3], size=len(group_supplier), p=[0.55, 0.33, 0.12])
    row_group = np.repeat(np.arange(len(parts)), parts)
    if len(row_group) < sourcing_rows:
        raise ValueError("not enough generated chain rows; raise the supplier estimate")
    row_group = row_group[:sourcing_rows]
    row_supplier = group_supplier[row_group]
    row_stage_idx = group_stage[row_group]
    used_suppliers = int(row_supplier.max()) + 1

    shares = np.concatenate(_split_shares(rng, parts[: int(row_group.max()) + 1]))[:sourcing_rows]
    # 2 % of rows declare less than they should: the stage's remainder is unverified.
    short = rng.random(sourcing_rows) < 0.02
    shares = np.where(short, np.maximum(shares - 10 * rng.integers(1, 4, sourcing_rows), 5), shares)

    row_stage = np.array(STAGES, dtype=object)[row_stage_idx]
    codes = np.empty(sourcing_rows, dtype=object)
    for stage in STAGES:
        where = np.flatnonzero(row_stage == stage)
        codes[where] = _pick(rng, STAGE_COUNTRY_WEIGHTS[stage], len(where))
    country = _spell(rng, codes)
    blank = rng.random(sourcing_rows) < 0.03
    country[blank] = np.array(UNDECLARED_SPELLINGS, dtype=object)[
        rng.integers(0, len(UNDECLARED_SPELLINGS), int(blank.sum()))
    ]

    # Upstream links: a midstream row names an earlier supplier performing that same stage.
    upstream = np.full(sourcing_rows, None, dtype=object)
    performers = {s: np.flatnonzero(sup_stage[:used_suppliers] == s) for s in STAGES}
    linked = (rng.random(sourcing_rows) < 0.08) & (row_stage_idx >= 1)
    for stage in STAGES[1:]:
        rows = np.flatnonzero(linked & (row_stage == stage))
        candidates = performers[stage]
        if len(rows) == 0 or len(candidates) == 0:
            continue
        before = np.searchsorted(candidates, row_supplier[rows])  # candidates with a smaller index
        ok = before > 0
        pick = (rng.random(int(ok.sum())) * before[ok]).astype(int)
        upstream[rows[ok]] = ids[candidates[pick]]
    has_upstream = upstream != None  # noqa: E711 - elementwise test on an object array
    country[has_upstream & (rng.random(sourcing_rows) < 0.5)] = ""

    facility = np.array([f"Plant {n}" for n in rng.integers(1, 60, sourcing_rows)], dtype=object)
    facility[rng.random(sourcing_rows) < 0.4] = None
    operators = _company_names(rng, 3_000)
    operator = operators[rng.integers(0, len(operators), sourcing_rows)]
    operator[rng.random(sourcing_rows) < 0.7] = None

    sourcing = pd.DataFrame(
        {
            SOURCING_HEADERS["supplier_id"]: ids[row_supplier],
            SOURCING_HEADERS["stage"]: row_stage,
            SOURCING_HEADERS["country"]: country,
            SOURCING_HEADERS["share_pct"]: shares.astype(float),
            SOURCING_HEADERS["facility"]: facility,
            SOURCING_HEADERS["operator"]: operator,
            SOURCING_HEADERS["upstream_supplier_id"]: upstream,
        }
    )

    # Suppliers: every supplier that has Sourcing rows, plus 2 % with none (unverified chain).
    n_kept = min(n_suppliers, used_suppliers + max(1, used_suppliers // 50))
    stage_kept = sup_stage[:n_kept]
    hq_codes = _pick(rng, HQ_COUNTRY_WEIGHTS, n_kept)
    spend = np.round(rng.lognormal(mean=12.0, sigma=1.6, size=n_kept), 2)
    spend_blank = rng.random(n_kept) < 0.1
    volume = np.round(rng.lognormal(mean=8.0, sigma=1.2, size=n_kept), 1)
    incorporation = np.full(n_kept, None, dtype=object)
    offshore = rng.random(n_kept) < 0.03
    incorporation[offshore] = "Cayman Islands"
    parents = _company_names(rng, max(50, n_kept // 20))
    has_parent = rng.random(n_kept) < 0.25
    parent_pick = rng.integers(0, len(parents), n_kept)
    parent_name = np.where(has_parent, parents[parent_pick], None)
    parent_codes = _pick(rng, HQ_COUNTRY_WEIGHTS, n_kept)
    parent_country = np.where(has_parent, _spell(rng, parent_codes), None)
    notes = np.where(rng.random(n_kept) < 0.05, "questionnaire pending", None)
    suppliers = pd.DataFrame(
        {
            SUPPLIER_HEADERS["supplier_id"]: ids[:n_kept],
            SUPPLIER_HEADERS["supplier_name"]: _company_names(rng, n_kept),
            SUPPLIER_HEADERS["country"]: _spell(rng, hq_codes),
            SUPPLIER_HEADERS["incorporation_country"]: incorporation,
            SUPPLIER_HEADERS["stage"]: stage_kept,
            SUPPLIER_HEADERS["supplies_stage"]: np.where(
                stage_kept == "distributor", "magnet", None
            ),
            SUPPLIER_HEADERS["material"]: np.where(rng.random(n_kept) < 0.1, "smco", "ndfeb"),
            SUPPLIER_HEADERS["annual_spend_usd"]: np.where(spend_blank, np.nan, spend),
            SUPPLIER_HEADERS["annual_volume_kg"]: volume,
            SUPPLIER_HEADERS["parent_name"]: parent_name,
            SUPPLIER_HEADERS["parent_country"]: parent_country,
            SUPPLIER_HEADERS["notes"]: notes,
        }
    )

    ownership = _ownership(rng, ids[:n_kept], hq_codes)
    return {"Suppliers": suppliers, "Sourcing": sourcing, "Ownership": ownership}


def _ownership(rng: np.random.Generator, ids: np.ndarray, hq_codes: np.ndarray) -> pd.DataFrame:
    """Owners of 40 % of suppliers; some owners are holding companies with owners of their own."""
    n = len(ids)
    holdings = _company_names(rng, max(20, n // 25))
    holding_codes = _pick(rng, HQ_COUNTRY_WEIGHTS, len(holdings))
    owned = np.flatnonzero(rng.random(n) < 0.4)
    entity: list[Any] = []
    owner: list[Any] = []
    owner_country: list[Any] = []
    owner_type: list[Any] = []
    equity: list[float] = []
    voting: list[Any] = []
    appoints: list[Any] = []
    kinds = rng.choice(
        ["company", "individual", "state_owned", "government", "public_float"],
        size=len(owned),
        p=[0.55, 0.15, 0.12, 0.05, 0.13],
    )
    first_stake = rng.integers(5, 71, len(owned))
    for supplier_index, kind, stake in zip(owned, kinds, first_stake, strict=True):
        remaining = 100
        for holder in range(int(rng.integers(1, 4))):
            pct = int(stake) if holder == 0 else int(rng.integers(1, max(2, remaining + 1)))
            pct = min(pct, remaining)
            if pct <= 0:
                break
            remaining -= pct
            if kind in {"company", "state_owned"}:
                h = int(rng.integers(0, len(holdings)))
                name, code = holdings[h], holding_codes[h]
            elif kind == "government":
                code = hq_codes[supplier_index]
                name = f"Government of {SPELLINGS[str(code)][0]}"
            elif kind == "public_float":
                name, code = "Public float", None
            else:
                name = f"{SYLLABLES[int(rng.integers(0, len(SYLLABLES)))].capitalize()} Wei"
                code = hq_codes[supplier_index]
            entity.append(ids[supplier_index])
            owner.append(name)
            owner_country.append(None if code is None else SPELLINGS[str(code)][0])
            owner_type.append(kind)
            equity.append(float(pct))
            voting.append(float(pct) if rng.random() < 0.3 else None)
            appoints.append("yes" if pct >= 25 and rng.random() < 0.5 else "no")
            kind = "company"  # further holders of the same entity are private companies
    # Holding companies' own owners: one level up, some of them governments.
    for h in np.flatnonzero(rng.random(len(holdings)) < 0.3):
        code = holding_codes[h]
        government = rng.random() < 0.4
        entity.append(holdings[h])
        owner.append(f"Government of {SPELLINGS[str(code)][0]}" if government else "Public float")
        owner_country.append(SPELLINGS[str(code)][0] if government else None)
        owner_type.append("government" if government else "public_float")
        pct = float(rng.integers(10, 81))
        equity.append(pct)
        voting.append(None)
        appoints.append("yes" if government and pct >= 25 else "no")
    return pd.DataFrame(
        {
            OWNERSHIP_HEADERS["entity"]: entity,
            OWNERSHIP_HEADERS["owner"]: owner,
            OWNERSHIP_HEADERS["owner_country"]: owner_country,
            OWNERSHIP_HEADERS["owner_type"]: owner_type,
            OWNERSHIP_HEADERS["equity_pct"]: equity,
            OWNERSHIP_HEADERS["voting_pct"]: voting,
            OWNERSHIP_HEADERS["appoints_officer"]: appoints,
        }
    )


def _rows(frame: pd.DataFrame) -> Iterable[list[Any]]:
    columns = [frame[c].to_numpy(dtype=object) for c in frame.columns]
    for row in zip(*columns, strict=True):
        yield [None if (v is None or (isinstance(v, float) and v != v)) else v for v in row]


def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path, stream: bool) -> None:
    """Write the sheets with xlsxwriter: header row bold and frozen, share/spend number formats."""
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": stream})
    bold = book.add_format({"bold": True})
    for name, frame in sheets.items():
        sheet = book.add_worksheet(name)
        sheet.freeze_panes(1, 0)
        sheet.write_row(0, 0, list(frame.columns), bold)
        for r, row in enumerate(_rows(frame), start=1):
            for c, value in enumerate(row):
                if value is None or value == "":
                    continue
                if isinstance(value, str):
                    sheet.write_string(r, c, value)
                else:
                    sheet.write_number(r, c, float(value))
    book.close()


def write_tables(sheets: dict[str, pd.DataFrame], directory: Path, fmt: str) -> None:
    """One file per sheet (suppliers.csv, sourcing.csv, …) for the Dask engine."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in sheets.items():
        target = directory / f"{name.lower()}.{fmt}"
        if fmt == "csv":
            frame.to_csv(target, index=False)
        else:
            frame.astype(
                {c: "string" for c in frame.columns if frame[c].dtype == object}
            ).to_parquet(target, index=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,100k", help="comma list: 10k,100k,1m or row counts")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--formats", default="xlsx", help="comma list of xlsx, csv, parquet")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--stream-above",
        type=int,
        default=200_000,
        help="use xlsxwriter constant_memory above this many Sourcing rows",
    )
    parser.add_argument("--force", action="store_true", help="rewrite files that already exist")
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    for text in args.sizes.split(","):
        rows = parse_size(text)
        started = time.perf_counter()
        sheets: dict[str, pd.DataFrame] | None = None
        for fmt in formats:
            target = (
                workbook_path(args.out, rows)
                if fmt == "xlsx"
                else args.out / f"portfolio_{size_label(rows)}_{fmt}"
            )
            if target.exists() and not args.force:
                print(f"{target} exists (use --force to rewrite)", file=sys.stderr)
                continue
            if sheets is None:
                sheets = build_portfolio(rows, seed=args.seed)
            if fmt == "xlsx":
                write_xlsx(sheets, target, stream=rows > args.stream_above)
            elif fmt in {"csv", "parquet"}:
                write_tables(sheets, target, fmt)
            else:
                parser.error(f"unknown format {fmt!r}")
            counts = ", ".join(f"{k} {len(v):,}" for k, v in sheets.items())
            print(
                f"wrote {target} ({counts}) in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
