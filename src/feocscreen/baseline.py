"""Baselines for the CI gate: the findings a previous result already had.

``check --baseline OLD.json`` fails only on what is new since OLD.json. Keys are
the stable ``finding_id`` (supplier, rule, stage, country or list entry — never
cell positions, so moving or inserting rows changes nothing) and
``not-screened:<supplier_id>`` for suppliers that could not be screened.

What a baseline absorbs: every unwaived finding of OLD.json, active or
upcoming, and every not-screened supplier. A finding that was *waived* in
OLD.json is not absorbed: it was accepted under a waiver, not baselined, so
when the waiver expires it counts again instead of hiding behind the baseline.
A new finding is never absorbed, because its id is not in OLD.json.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import FeocscreenError

SUPPORTED_SCHEMA_VERSIONS = ("1",)


class BaselineError(FeocscreenError):
    """A --baseline (or diff) file is not a feocscreen JSON result."""


def not_screened_key(supplier_id: Any) -> str:
    """The key a not-screened supplier has in a baseline and in the gate."""
    return f"not-screened:{supplier_id}"


def read_result(path: Path) -> dict[str, Any]:
    """A feocscreen JSON result read from `path`, checked enough to be compared safely."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BaselineError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise BaselineError(f"{path} is not UTF-8 text, so not a feocscreen JSON result") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise BaselineError(
            f"{path} is not a feocscreen JSON result: the top level is not an object"
        )
    version = data.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise BaselineError(
            f"{path} has schema_version {version!r}; this feocscreen reads "
            f"{', '.join(SUPPORTED_SCHEMA_VERSIONS)} (write it with `feocscreen screen --json`)"
        )
    suppliers = data.get("suppliers")
    if not isinstance(suppliers, list):
        raise BaselineError(f"{path} has no 'suppliers' list")
    for index, supplier in enumerate(suppliers):
        where = f"{path}: suppliers[{index}]"
        if not isinstance(supplier, Mapping) or not supplier.get("supplier_id"):
            raise BaselineError(f"{where} has no supplier_id")
        findings = supplier.get("findings", [])
        if not isinstance(findings, list):
            raise BaselineError(f"{where} ({supplier['supplier_id']}): 'findings' is not a list")
        for position, finding in enumerate(findings):
            if not isinstance(finding, Mapping) or not isinstance(finding.get("finding_id"), str):
                raise BaselineError(
                    f"{where} ({supplier['supplier_id']}): findings[{position}] has no finding_id"
                )
    not_screened = data.get("not_screened", [])
    if not isinstance(not_screened, list) or not all(
        isinstance(entry, Mapping) and entry.get("supplier_id") for entry in not_screened
    ):
        raise BaselineError(f"{path}: 'not_screened' must be a list of entries with a supplier_id")
    return data


def baseline_keys(data: Mapping[str, Any]) -> set[str]:
    """The keys a result contributes as a baseline (see the module docstring)."""
    keys = {
        str(finding["finding_id"])
        for supplier in data.get("suppliers") or []
        for finding in supplier.get("findings") or []
        if not finding.get("waived")
    }
    keys.update(not_screened_key(entry["supplier_id"]) for entry in data.get("not_screened") or [])
    return keys


def load_baseline(path: Path) -> set[str]:
    """Finding ids and ``not-screened:<id>`` keys of the result at `path`; malformed → BaselineError."""
    return baseline_keys(read_result(path))
