"""Fuzz the upload API from the OpenAPI description it serves (schemathesis, bounded run).

Every generated request — random files as workbooks, odd dates, unknown
severities, made-up report ids — must get an answer the description allows:
no 5xx, a documented status code and content type, a body matching the schema.
The server runs in token mode, so the fuzzer also exercises the token check.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from feocscreen.web import WebSettings, create_app

TOKEN = "fuzzing-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
WORK_ROOT = Path(tempfile.mkdtemp(prefix="feocscreen-fuzz-"))
atexit.register(shutil.rmtree, WORK_ROOT, True)  # also when the module is collected but not run

app = create_app(WebSettings(token=TOKEN, time_limit_seconds=30, work_root=WORK_ROOT))
schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)


@schema.parametrize()
@settings(
    max_examples=15,  # bounded: each screen case forks a screening process (~0.2 s)
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_as_described(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=AUTH, checks=CHECKS)


def test_uploads_are_gone_after_fuzzing() -> None:
    uploads = WORK_ROOT / "uploads"
    assert uploads.is_dir()
    assert list(uploads.iterdir()) == []
