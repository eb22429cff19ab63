"""One exception tree for runs that cannot go on, and the catalogue of issue codes.

Findings about the data are values (``Issue``); exceptions are only for a run
that cannot continue: unreadable input, invalid rules, lists or waivers. The
CLI catches ``FeocscreenError`` in one place and maps it to exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import Issue


class FeocscreenError(Exception):
    """Base of every error the user can fix; never a bug."""

    exit_code = 2

    def __init__(self, message: str, issues: list[Issue] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.issues = issues or []


class InputError(FeocscreenError):
    """An input file cannot be read as a supplier workbook at all."""


class RulesError(FeocscreenError):
    """A rules file is malformed or fails its schema."""


class WatchlistError(FeocscreenError):
    """A watchlist file cannot be read."""


class WaiverError(FeocscreenError):
    """A waivers or decisions file is malformed."""


@dataclass(frozen=True)
class IssueCode:
    """An entry of the catalogue: a stable slug, a title and a message template."""

    code: str
    title: str
    description: str
    template: str


_CATALOGUE: dict[str, IssueCode] = {}


def _code(code: str, title: str, description: str, template: str) -> IssueCode:
    entry = IssueCode(code, title, description, template)
    _CATALOGUE[code] = entry
    return entry


# File-level: the run cannot read the file (exit 2).
_code("not-a-spreadsheet", "Not a spreadsheet", "The file is neither xlsx nor csv.", "{detail}")
_code("corrupt-file", "Corrupt file", "The xlsx container is damaged or truncated.", "{detail}")
_code(
    "legacy-xls", "Legacy .xls", "Old binary Excel files are not read; save as .xlsx.", "{detail}"
)
_code(
    "encrypted-file",
    "Encrypted workbook",
    "Password-protected workbooks cannot be read.",
    "{detail}",
)
_code(
    "zip-bomb",
    "Suspicious compression",
    "A member inflates far beyond a real workbook.",
    "{detail}",
)
_code("cell-too-large", "Cell too large", "A cell holds more text than any real value.", "{detail}")
_code("missing-sheet", "Missing sheet", "A required sheet is absent.", "{detail}")
_code("empty-sheet", "Empty sheet", "A sheet has no header row.", "{detail}")
_code("missing-column", "Missing column", "A required column is absent.", "{detail}")
_code("duplicate-column", "Duplicate column", "Two headers map to the same field.", "{detail}")
_code(
    "bad-encoding", "Unreadable text encoding", "A CSV is in no encoding we recognise.", "{detail}"
)
_code("bad-columns-map", "Bad columns map", "The --columns file is malformed.", "{detail}")
# Row-level: the supplier concerned is not screened.
_code("missing-value", "Missing value", "A required cell is blank.", "{column} is required")
_code("duplicate-id", "Duplicate id", "A supplier id appears twice.", "{detail}")
_code("unknown-stage", "Unknown stage", "A stage is not one of the canonical names.", "{detail}")
_code("unknown-material", "Unknown material", "Material is not ndfeb or smco.", "{detail}")
_code("unknown-owner-type", "Unknown owner type", "owner_type is not in the list.", "{detail}")
_code("unknown-exception", "Unknown DFARS exception", "Not a 225.7018-3 exception.", "{detail}")
_code("unknown-country", "Unknown country", "A country name or code is not recognised.", "{detail}")
_code("ambiguous-country", "Ambiguous country", "A country name matches several.", "{detail}")
_code("undeclared-country", "Country required", "This country cell cannot be unknown.", "{detail}")
_code("bad-number", "Not a number", "A numeric cell holds text.", "{detail}")
_code("negative-number", "Negative number", "Spend and volume must be ≥ 0.", "{detail}")
_code("share-out-of-range", "Share out of range", "A share is outside 0–100 %.", "{detail}")
_code(
    "shares-over-100",
    "Shares over 100 %",
    "Shares of one stage add to more than 100 %.",
    "{detail}",
)
_code("unknown-reference", "Dangling reference", "An id points to no supplier.", "{detail}")
_code("cycle", "Cycle", "Upstream links or ownership form a loop.", "{detail}")
_code("bad-lei", "Invalid LEI", "The LEI fails the ISO 17442 check digits.", "{detail}")
_code("bad-boolean", "Not yes/no", "A yes/no cell holds something else.", "{detail}")
_code(
    "flat-and-sourcing",
    "Stage given twice",
    "A flat *_country column and Sourcing rows give the same stage.",
    "{detail}",
)
_code(
    "duplicate-supplier-across-files",
    "Supplier in two files",
    "A supplier id is in two input files.",
    "{detail}",
)
_code("cell-too-long", "Cell too long", "A text cell is longer than any real value.", "{detail}")
# Warnings.
_code("shares-under-100", "Shares under 100 %", "The rest of the stage is unverified.", "{detail}")
_code(
    "shares-as-fractions",
    "Shares read as fractions",
    "Every share on the sheet was ≤ 1.",
    "{detail}",
)
_code(
    "state-owned-assumed",
    "State-owned owner assumed wholly government-held",
    "No rows of its own.",
    "{detail}",
)
_code(
    "unused-column",
    "Column ignored",
    "A header matches no field and is kept but ignored.",
    "{detail}",
)
_code("no-watchlist", "Listing prongs not tested", "No watchlist was loaded.", "{detail}")
_code(
    "rules-stale",
    "Rules may be out of date",
    "as-of is over 12 months past last_reviewed.",
    "{detail}",
)


def catalogue() -> dict[str, IssueCode]:
    """Every issue code with its title and description (for docs and `rules explain`)."""
    return dict(_CATALOGUE)


def register(code: str, title: str, description: str, template: str = "{detail}") -> IssueCode:
    """Let a stage module add its own codes to the one catalogue."""
    return _code(code, title, description, template)


def make_issue(code: str, severity: str, message: str, **where: Any) -> Issue:
    """Build an Issue whose code is known to the catalogue."""
    if code not in _CATALOGUE:
        raise KeyError(f"issue code {code!r} is not in the catalogue")
    return Issue(code=code, severity=severity, message=message, **where)
