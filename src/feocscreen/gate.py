"""The CI gate: does a result trip ``--fail-on``?

Only active, unwaived findings at or above the severity count, and every
not-screened supplier counts as ``high`` (key ``not-screened:<supplier_id>``);
upcoming findings count only with ``fail_on_upcoming``. With a baseline, only
keys absent from it count, so a build fails on what a change introduced.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import SEVERITIES, severity_rank

NOT_SCREENED_SEVERITY = "high"


def not_screened_key(supplier_id: Any) -> str:
    """Baseline key of a supplier that could not be screened."""
    return f"not-screened:{supplier_id}"


@dataclass
class GateOutcome:
    """Whether the gate tripped, what it counted and why."""

    tripped: bool
    fail_on: str | None
    counted: list[str] = field(default_factory=list)  # finding ids and not-screened keys
    counted_findings: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    total: int = 0  # how many counted; more than ``counted`` holds when the counter kept a few

    @property
    def exit_code(self) -> int:
        return 1 if self.tripped else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tripped": self.tripped,
            "fail_on": self.fail_on,
            "counted": self.counted,
            "counted_findings": self.counted_findings,
            "reasons": self.reasons,
        }


class GateCounter:
    """The gate, fed one supplier at a time (a streamed run never holds every finding).

    With `keep`, only the first `keep` counted findings in the outcome's order are held
    (and listed), and the rest only counted: what ``screen`` shows of a gate on a million
    findings.
    """

    def __init__(
        self,
        fail_on: str,
        fail_on_upcoming: bool,
        baseline_ids: set[str] | None = None,
        keep: int | None = None,
    ) -> None:
        if fail_on not in SEVERITIES:
            raise ValueError(
                f"unknown severity {fail_on!r}; expected one of {', '.join(SEVERITIES)}"
            )
        self.fail_on = fail_on
        self.threshold = severity_rank(fail_on)
        self.statuses = {"active", "upcoming"} if fail_on_upcoming else {"active"}
        self.baseline_ids = baseline_ids
        self.keep = keep
        self.total = 0
        self.counted: list[dict[str, Any]] = []

    def counts(self, finding: Mapping[str, Any]) -> bool:
        """Whether the gate counts this finding."""
        if finding.get("waived") or finding.get("status") not in self.statuses:
            return False
        if severity_rank(finding["severity"]) < self.threshold:
            return False
        return self.baseline_ids is None or finding["finding_id"] not in self.baseline_ids

    def add_supplier(self, supplier: Mapping[str, Any]) -> None:
        for finding in supplier.get("findings") or []:
            if self.counts(finding):
                self._count(
                    {
                        "key": finding["finding_id"],
                        "supplier_id": supplier["supplier_id"],
                        "rule_id": finding["rule_id"],
                        "severity": finding["severity"],
                        "status": finding["status"],
                        "message": finding.get("message", ""),
                    }
                )

    def _count(self, item: dict[str, Any]) -> None:
        self.total += 1
        self.counted.append(item)
        if self.keep is not None and len(self.counted) >= 2 * self.keep + 64:
            self.counted = heapq.nsmallest(self.keep, self.counted, key=_order)

    def outcome(self, not_screened: list[Mapping[str, Any]]) -> GateOutcome:
        """The decision, once every supplier is in; not-screened suppliers count as high."""
        counted = list(self.counted)
        total = self.total
        if severity_rank(NOT_SCREENED_SEVERITY) >= self.threshold:
            for entry in not_screened:
                key = not_screened_key(entry["supplier_id"])
                if self.baseline_ids is not None and key in self.baseline_ids:
                    continue
                counted.append(
                    {
                        "key": key,
                        "supplier_id": entry["supplier_id"],
                        "rule_id": "not-screened",
                        "severity": NOT_SCREENED_SEVERITY,
                        "status": "active",
                        "message": "; ".join(
                            r.get("message", "") for r in entry.get("reasons", [])
                        ),
                    }
                )
                total += 1
        counted.sort(key=_order)
        if self.keep is not None:
            counted = counted[: self.keep]
        reasons = [
            f"{c['supplier_id']}: {c['severity']} {c['rule_id']} ({c['status']})" for c in counted
        ]
        scope = "new " if self.baseline_ids is not None else ""
        if total:
            reasons.insert(0, f"{total} {scope}finding(s) at or above {self.fail_on}")
        else:
            reasons.insert(0, f"no {scope}finding at or above {self.fail_on}")
        return GateOutcome(
            bool(total), self.fail_on, [c["key"] for c in counted], counted, reasons, total
        )


def _order(counted: Mapping[str, Any]) -> tuple[int, Any, Any]:
    """Worst first, then by supplier and key: the order the gate lists what it counted."""
    return (-severity_rank(counted["severity"]), counted["supplier_id"], counted["key"])


def evaluate_gate(
    data: Mapping[str, Any],
    fail_on: str | None,
    fail_on_upcoming: bool,
    baseline_ids: set[str] | None = None,
) -> GateOutcome:
    """Apply the gate to a result dict (see module docstring)."""
    if fail_on is None:
        return GateOutcome(False, None, reasons=["no --fail-on given: not gating"])
    counter = GateCounter(fail_on, fail_on_upcoming, baseline_ids)
    for supplier in data.get("suppliers") or []:
        counter.add_supplier(supplier)
    return counter.outcome(list(data.get("not_screened") or []))
