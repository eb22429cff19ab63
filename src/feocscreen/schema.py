"""The input sheets: canonical fields, the header alias table, and pandera models.

Header matching ignores case, spaces, punctuation and the `%`/`pct` spelling;
the aliases below are the documented ones (README "Input columns"), and a
``--columns MAP.yaml`` adds any others.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandera.pandas as pa

from .models import MATERIALS, OWNER_TYPES, SOURCE_STAGES, STAGES, SUPPLIER_STAGES


def header_key(text: str) -> str:
    """'Share %' → 'sharepct'; 'HQ-Country' → 'hqcountry'; 'Equity (pct)' → 'equitypct'."""
    folded = unicodedata.normalize("NFKD", str(text))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    folded = folded.replace("%", "pct").replace("percent", "pct").replace("percentage", "pct")
    return re.sub(r"[^0-9a-z]+", "", folded)


@dataclass(frozen=True)
class SheetSpec:
    """A sheet kind: its name aliases, fields with header aliases, and required fields."""

    name: str
    sheet_aliases: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]
    required: tuple[str, ...]

    def alias_table(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for name, aliases in self.fields.items():
            table[header_key(name)] = name
            for alias in aliases:
                table[header_key(alias)] = name
        return table


FLAT_STAGE_FIELDS: dict[str, str] = {f"{stage}_country": stage for stage in STAGES}

SUPPLIERS = SheetSpec(
    name="Suppliers",
    sheet_aliases=("suppliers", "supplier", "supplier list", "vendors", "vendor list"),
    fields={
        "supplier_id": (
            "Supplier ID",
            "Supplier No",
            "Supplier Number",
            "Vendor ID",
            "Vendor No",
            "Vendor Number",
            "Supplier Code",
            "Vendor Code",
            "ID",
        ),
        "supplier_name": (
            "Supplier Name",
            "Vendor Name",
            "Supplier",
            "Vendor",
            "Legal Name",
            "Company Name",
            "Company",
            "Name",
        ),
        "country": ("Country", "Supplier Country", "Vendor Country", "Country Code"),
        "incorporation_country": (
            "Incorporation Country",
            "Country of Incorporation",
            "Incorporated In",
            "Place of Incorporation",
        ),
        "hq_country": (
            "HQ Country",
            "Headquarters Country",
            "Head Office Country",
            "Principal Place of Business",
        ),
        "stage": ("Stage", "Supplier Stage", "Value Chain Stage", "Activity", "Tier Stage"),
        "supplies_stage": ("Supplies Stage", "Supplied Stage", "Stage Supplied"),
        "material": ("Material", "Magnet Type", "Magnet Material"),
        "annual_spend_usd": (
            "Annual Spend (USD)",
            "Annual Spend",
            "Spend USD",
            "Spend",
            "Annual Spend USD",
            "Spend (USD)",
        ),
        "annual_volume_kg": ("Annual Volume (kg)", "Annual Volume", "Volume kg", "Volume (kg)"),
        "parent_name": ("Parent Name", "Parent Company", "Parent", "Ultimate Parent"),
        "parent_country": ("Parent Country", "Parent Company Country"),
        "lei": ("LEI", "Legal Entity Identifier", "LEI Code"),
        "dfars_exception": ("DFARS Exception", "DFARS 225.7018-3 Exception", "Exception"),
        **{
            field: (f"{stage.title()} Country", f"{stage} origin", f"{stage} country of origin")
            for field, stage in FLAT_STAGE_FIELDS.items()
        },
    },
    required=("supplier_id", "supplier_name", "stage"),
)

SOURCING = SheetSpec(
    name="Sourcing",
    sheet_aliases=("sourcing", "chain of custody", "chain", "supply chain", "origins"),
    fields={
        "supplier_id": ("Supplier ID", "Supplier No", "Vendor ID", "Vendor No", "Supplier Code"),
        "stage": ("Stage", "Process Stage", "Activity"),
        "country": (
            "Country",
            "Country of Origin",
            "Origin Country",
            "Origin",
            "Stage Country",
            "Location Country",
        ),
        "share_pct": (
            "Share %",
            "Share",
            "Share Pct",
            "Percent",
            "Share of Material",
            "Share (%)",
            "Pct",
            "Proportion",
        ),
        "facility": ("Facility", "Plant", "Site", "Facility Name"),
        "operator": ("Operator", "Facility Operator", "Operator Name", "Smelter", "Refiner"),
        "upstream_supplier_id": (
            "Upstream Supplier ID",
            "Upstream Supplier",
            "Upstream ID",
            "Sourced From Supplier ID",
        ),
    },
    required=("supplier_id", "stage"),
)

OWNERSHIP = SheetSpec(
    name="Ownership",
    sheet_aliases=("ownership", "owners", "shareholders", "shareholding"),
    fields={
        "entity": ("Entity", "Supplier ID", "Owned Entity", "Company"),
        "owner": ("Owner", "Owner Name", "Shareholder", "Holder"),
        "owner_country": ("Owner Country", "Shareholder Country", "Holder Country"),
        "owner_type": ("Owner Type", "Shareholder Type", "Holder Type"),
        "equity_pct": (
            "Equity %",
            "Equity",
            "Equity Pct",
            "Shareholding %",
            "Ownership %",
            "Stake %",
            "Stake",
        ),
        "voting_pct": ("Voting %", "Voting", "Voting Rights %", "Votes %"),
        "board_pct": ("Board %", "Board", "Board Seats %", "Board Share"),
        "debt_pct": ("Debt %", "Debt", "Debt Share %", "Debt Held %"),
        "appoints_officer": (
            "Appoints Officer",
            "Can Appoint Officer",
            "Appoints Director",
            "Officer Appointment",
        ),
    },
    required=("entity", "owner"),
)

SHEETS: tuple[SheetSpec, ...] = (SUPPLIERS, SOURCING, OWNERSHIP)
PERCENT_FIELDS: frozenset[str] = frozenset(
    {"share_pct", "equity_pct", "voting_pct", "board_pct", "debt_pct"}
)
COUNTRY_FIELDS: frozenset[str] = frozenset(
    {
        "country",
        "incorporation_country",
        "hq_country",
        "parent_country",
        "owner_country",
        *FLAT_STAGE_FIELDS,
    }
)

# Spellings of stages seen in supplier sheets → canonical stage.
STAGE_ALIASES: dict[str, str] = {
    "mine": "mining",
    "mining": "mining",
    "miner": "mining",
    "extraction": "mining",
    "ore": "mining",
    "concentrate": "mining",
    "beneficiation": "mining",
    "separation": "separation",
    "separator": "separation",
    "refining": "separation",
    "refiner": "separation",
    "oxide": "separation",
    "oxides": "separation",
    "cracking": "separation",
    "solventextraction": "separation",
    "metal": "metal",
    "metals": "metal",
    "metalmaking": "metal",
    "reduction": "metal",
    "smelting": "metal",
    "metallization": "metal",
    "metallisation": "metal",
    "alloy": "alloy",
    "alloying": "alloy",
    "stripcasting": "alloy",
    "alloymaking": "alloy",
    "magnet": "magnet",
    "magnets": "magnet",
    "magnetmaking": "magnet",
    "magnetmanufacturing": "magnet",
    "magnetmaker": "magnet",
    "sintering": "magnet",
    "distributor": "distributor",
    "distribution": "distributor",
    "trader": "distributor",
    "trading": "distributor",
    "reseller": "distributor",
    "recycling": "recycling",
    "recycled": "recycling",
    "recycler": "recycling",
    "scrap": "recycling",
}


def canonical_stage(text: str) -> str | None:
    """Canonical stage name of a cell, or None when it is not a stage we know."""
    return STAGE_ALIASES.get(header_key(text))


SUPPLIERS_MODEL = pa.DataFrameSchema(
    {
        "supplier_id": pa.Column(str, nullable=False, unique=True),
        "supplier_name": pa.Column(str, nullable=False),
        "stage": pa.Column(str, pa.Check.isin(SUPPLIER_STAGES), nullable=False),
        "supplies_stage": pa.Column(str, pa.Check.isin(STAGES), nullable=True),
        "material": pa.Column(str, pa.Check.isin(MATERIALS), nullable=True),
        "annual_spend_usd": pa.Column(float, pa.Check.ge(0), nullable=True),
        "annual_volume_kg": pa.Column(float, pa.Check.ge(0), nullable=True),
    },
    strict=False,
    coerce=False,
)

SOURCING_MODEL = pa.DataFrameSchema(
    {
        "supplier_id": pa.Column(str, nullable=False),
        "stage": pa.Column(str, pa.Check.isin(SOURCE_STAGES), nullable=False),
        "share": pa.Column(float, [pa.Check.ge(0), pa.Check.le(1.0)], nullable=True),
    },
    strict=False,
    coerce=False,
)

OWNERSHIP_MODEL = pa.DataFrameSchema(
    {
        "entity": pa.Column(str, nullable=False),
        "owner": pa.Column(str, nullable=False),
        "owner_type": pa.Column(str, pa.Check.isin(OWNER_TYPES), nullable=True),
        **{
            name: pa.Column(float, [pa.Check.ge(0), pa.Check.le(1.0)], nullable=True)
            for name in ("equity", "voting", "board", "debt")
        },
    },
    strict=False,
    coerce=False,
)
