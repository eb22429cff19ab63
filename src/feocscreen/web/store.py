"""Where generated reports wait for their download, under unguessable ids, until they expire.

A report holds a supplier list's findings, so its address is a capability: a
256-bit random id (``secrets.token_urlsafe``) that is never derived from user
input, checked against a strict pattern before it touches the file system, and
forgotten (directory deleted) once ``ttl_seconds`` have passed since creation.
"""

from __future__ import annotations

import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPORT_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32): 32 random bytes, base64url
# The only files a report directory holds; download names are looked up here, never joined raw.
REPORT_FILES: dict[str, str] = {
    "report.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "result.json": "application/json",
}


@dataclass(frozen=True)
class StoredReport:
    """One screening's outputs and when they stop being served."""

    report_id: str
    directory: Path
    created_at: float
    expires_at: float


class ReportStore:
    """Report directories under ``root``, each removed once its expiry has passed."""

    def __init__(
        self, root: Path, ttl_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = root
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._reports: dict[str, StoredReport] = {}
        self._lock = threading.Lock()
        self.root.mkdir(parents=True, exist_ok=True)

    def reserve(self) -> StoredReport:
        """A fresh, empty directory under a new random id; its clock starts now."""
        self.sweep()
        report_id = secrets.token_urlsafe(32)
        directory = self.root / report_id
        directory.mkdir(mode=0o700)
        now = self._clock()
        entry = StoredReport(report_id, directory, now, now + self.ttl_seconds)
        with self._lock:
            self._reports[report_id] = entry
        return entry

    def get(self, report_id: str) -> StoredReport | None:
        """The live report with this id, or None when unknown, malformed or expired."""
        if not REPORT_ID.fullmatch(report_id):
            return None
        self.sweep()
        with self._lock:
            return self._reports.get(report_id)

    def file(self, report_id: str, name: str) -> Path | None:
        """The path of one of a live report's files, or None; ``name`` must be a known file."""
        if name not in REPORT_FILES:
            return None
        entry = self.get(report_id)
        if entry is None:
            return None
        path = entry.directory / name
        return path if path.is_file() else None

    def discard(self, report_id: str) -> None:
        """Forget a report now (a failed run's reserved directory, or an expired one)."""
        with self._lock:
            entry = self._reports.pop(report_id, None)
        if entry is not None:
            shutil.rmtree(entry.directory, ignore_errors=True)

    def sweep(self) -> int:
        """Delete every expired report; returns how many went."""
        now = self._clock()
        with self._lock:
            expired = [rid for rid, entry in self._reports.items() if entry.expires_at <= now]
        for report_id in expired:
            self.discard(report_id)
        return len(expired)

    def close(self) -> None:
        """Delete every report (server shutdown): nothing outlives the process that made it."""
        with self._lock:
            ids = list(self._reports)
        for report_id in ids:
            self.discard(report_id)
