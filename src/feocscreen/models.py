"""Shared vocabulary of every pipeline stage: stages, severities, issues, evidence, settings.

Standard library only, so that every module (and the CLI) can import it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

STAGES: tuple[str, ...] = ("mining", "separation", "metal", "alloy", "magnet")
MIDSTREAM: tuple[str, ...] = ("separation", "metal", "alloy", "magnet")
SUPPLIER_STAGES: tuple[str, ...] = (*STAGES, "distributor")
# Recycled feedstock stands at the mining position of the chain.
SOURCE_STAGES: tuple[str, ...] = (*STAGES, "recycling")
MATERIALS: tuple[str, ...] = ("ndfeb", "smco")
OWNER_TYPES: tuple[str, ...] = (
    "government",
    "state_owned",
    "party_or_official",
    "company",
    "individual",
    "public_float",
)
DFARS_EXCEPTIONS: tuple[str, ...] = (
    "cots_below_50pct",
    "electronic_device",
    "recycled_us_milled_sintered",
    "nonavailability",
)

# Finding severities, worst first.
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
TIERS: tuple[str, ...] = ("critical", "high", "medium", "low", "clear")


SEVERITY_RANKS: dict[str, int] = {s: len(SEVERITIES) - 1 - i for i, s in enumerate(SEVERITIES)}


def severity_rank(severity: str) -> int:
    """Higher is worse: critical=4 … info=0; an unknown severity is a ValueError."""
    rank = SEVERITY_RANKS.get(severity)
    if rank is None:
        raise ValueError(f"{severity!r} is not a severity ({', '.join(SEVERITIES)})")
    return rank


def chain_stages(stage: str) -> tuple[str, ...]:
    """The stage a supplier supplies and every stage upstream of it."""
    return STAGES[: STAGES.index(stage) + 1]


@dataclass(frozen=True)
class Evidence:
    """A cell of an input file that a figure or finding rests on."""

    file: str
    sheet: str
    row: int
    column: str | None = None
    cell: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "cell": self.cell,
        }


@dataclass(frozen=True)
class Issue:
    """One located problem with the input: an error (blocks screening) or a warning."""

    code: str
    severity: str  # "error" | "warning"
    message: str
    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    header: str | None = None
    cell: str | None = None
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        # by hand, not dataclasses.asdict: its deep copy is most of a 1M-row run's tail
        value = self.value
        if value is not None and not isinstance(value, (str, int, float, bool)):
            value = str(value)
        return {
            "code": self.code,
            "severity": self.severity,
            "file": self.file,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "header": self.header,
            "cell": self.cell,
            "value": value,
            "message": self.message,
        }

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True)
class ScreenConfig:
    """Everything a screening run depends on; the CLI and the web page both build one."""

    inputs: tuple[Path, ...]
    rules: tuple[str, ...] = ()  # paths or builtin:NAME; empty = every shipped ruleset
    lists: tuple[Path, ...] = ()
    waivers: Path | None = None
    decisions: Path | None = None
    columns: Path | None = None
    suppliers_map: Path | None = None  # RMI file -> supplier mapping
    as_of: date = field(default_factory=date.today)
    horizon_months: int = 24
    fail_on: str | None = None
    fail_on_upcoming: bool = False
    strict: bool = False
    verbose: bool = False  # per-stage timings in the result and the Audit sheet
    command_line: str = ""
