"""Waivers: accepted findings with a justification, an approver and an expiry.

Applied before scoring: a waived finding stays visible with
``waived: {by, why, until}`` but no longer counts toward score, tier or gate.
An expired waiver does not apply and is reported (warning); so is one that
matched nothing. A malformed file stops the run (``WaiverError``, exit 2) naming
the file and the entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import WaiverError, make_issue, register
from .models import Issue

register("waiver-expired", "Waiver expired", "An expired waiver no longer applies.")
register("waiver-unused", "Waiver unused", "A waiver matched no finding.")
register("waiver-invalid", "Invalid waiver", "A waivers file entry fails the schema.")


@dataclass(frozen=True)
class Waiver:
    supplier_id: str
    rule_id: str
    justification: str
    approved_by: str
    expires: date
    finding_id: str | None
    index: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "supplier_id": self.supplier_id,
            "rule_id": self.rule_id,
            "justification": self.justification,
            "approved_by": self.approved_by,
            "expires": self.expires.isoformat(),
            "finding_id": self.finding_id,
        }


@dataclass
class WaiverReport:
    applied: list[dict[str, Any]] = field(default_factory=list)
    expired: list[dict[str, Any]] = field(default_factory=list)
    unused: list[dict[str, Any]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "expired": self.expired, "unused": self.unused}


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    text = (resources.files("feocscreen") / "data" / "waivers.schema.json").read_text(
        encoding="utf-8"
    )
    return json.loads(text)


def load_waivers(path: Path) -> list[Waiver]:
    """Read and validate a waivers YAML file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WaiverError(f"cannot read waivers file {path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise WaiverError(f"{path} is not valid YAML: {exc}") from None
    if raw is None:
        raw = {"waivers": []}
    raw = _plain(raw)
    errors = sorted(
        jsonschema.Draft202012Validator(_schema()).iter_errors(raw),
        key=lambda e: list(map(str, e.path)),
    )
    if errors:
        issues = []
        for error in errors:
            parts = [str(p) for p in error.absolute_path]
            entry = (
                f"entry {int(parts[1]) + 1}"
                if len(parts) >= 2 and parts[0] == "waivers"
                else "file"
            )
            issues.append(
                make_issue(
                    "waiver-invalid",
                    "error",
                    f"{entry} (/{'/'.join(parts)}): {error.message}",
                    file=str(path),
                )
            )
        detail = f": {issues[0].message}" if len(issues) == 1 else f": {len(issues)} problems"
        raise WaiverError(f"invalid waivers file {path}{detail}", issues)
    waivers = []
    for index, entry in enumerate(raw["waivers"]):
        try:
            expires = date.fromisoformat(entry["expires"])
        except ValueError:
            raise WaiverError(
                f"{path}: entry {index + 1}: expires {entry['expires']!r} is not a date"
            ) from None
        waivers.append(
            Waiver(
                entry["supplier_id"],
                entry["rule_id"],
                entry["justification"],
                entry["approved_by"],
                expires,
                entry.get("finding_id"),
                index,
            )
        )
    return waivers


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


class WaiverBook:
    """Waivers applied one supplier at a time as findings are produced; ``report()`` at the
    end says which applied, expired or matched nothing. A screening run streams its
    suppliers, so no run needs every finding at once to apply them."""

    def __init__(self, waivers: list[Waiver] | None, as_of: date, source: str = "") -> None:
        self.waivers = list(waivers or [])
        self.as_of = as_of
        self.source = source
        self._by_supplier: dict[str, list[Waiver]] = {}
        for waiver in self.waivers:
            self._by_supplier.setdefault(waiver.supplier_id, []).append(waiver)
        self._matched: dict[int, list[str]] = {}  # waiver index -> finding ids, in finding order

    def apply(
        self, supplier_id: str, findings: list[dict[str, Any]]
    ) -> list[tuple[int, list[str]]]:
        """Mark this supplier's matching findings as waived (in place), in waiver order.

        Returns what each waiver matched, for ``record`` (kept apart so that findings
        screened in another process can be recorded here).
        """
        found: list[tuple[int, list[str]]] = []
        for waiver in self._by_supplier.get(supplier_id, ()):
            matched = [
                f
                for f in findings
                if f["rule_id"] == waiver.rule_id and (waiver.finding_id in (None, f["finding_id"]))
            ]
            found.append((waiver.index, [f["finding_id"] for f in matched]))
            if waiver.expires < self.as_of:
                continue
            for finding in matched:
                finding["waived"] = {
                    "by": waiver.approved_by,
                    "why": waiver.justification,
                    "until": waiver.expires.isoformat(),
                }
        return found

    def record(self, matched: list[tuple[int, list[str]]]) -> None:
        """Note the finding ids each waiver matched (see ``apply``)."""
        for index, finding_ids in matched:
            self._matched.setdefault(index, []).extend(finding_ids)

    def report(self) -> WaiverReport:
        """Applied, expired and unused waivers, in file order, with their issues."""
        report = WaiverReport()
        for waiver in self.waivers:
            matched = self._matched.get(waiver.index, [])
            where = {"file": self.source or None, "row": waiver.index + 1}
            if waiver.expires < self.as_of:
                report.expired.append({**waiver.to_dict(), "findings": list(matched)})
                report.issues.append(
                    make_issue(
                        "waiver-expired",
                        "warning",
                        f"waiver {waiver.index + 1} ({waiver.supplier_id} / {waiver.rule_id}) "
                        f"expired on {waiver.expires.isoformat()} and no longer applies",
                        **where,
                    )
                )
            elif not matched:
                report.unused.append(waiver.to_dict())
                report.issues.append(
                    make_issue(
                        "waiver-unused",
                        "warning",
                        f"waiver {waiver.index + 1} ({waiver.supplier_id} / {waiver.rule_id}) "
                        "matched no finding",
                        **where,
                    )
                )
            else:
                report.applied.append({**waiver.to_dict(), "findings": sorted(matched)})
        return report
