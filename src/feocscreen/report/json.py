"""The result as JSON (DESIGN's v1 shape), with the gate decision added when `check` made one."""

from __future__ import annotations

import json as _json

from .view import Gate, Result


def render(data: Result, gate: Gate | None = None) -> str:
    """Pretty JSON of the result; `gate` is added as a top-level key, the rest is untouched."""
    payload = dict(data)
    if gate is not None:
        payload["gate"] = dict(gate)
    return _json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n"
