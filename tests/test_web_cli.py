"""`feocscreen serve`: loopback by default, a token to bind anything else, and a real start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from feocscreen.cli import main

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "a-long-enough-token-0123456789"


def test_binding_beyond_loopback_needs_a_token() -> None:
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0"], env={"FEOCSCREEN_TOKEN": ""})
    assert result.exit_code == 2
    assert "--token" in result.output and "FEOCSCREEN_TOKEN" in result.output


def test_short_tokens_are_refused() -> None:
    result = CliRunner().invoke(
        main, ["serve", "--host", "0.0.0.0"], env={"FEOCSCREEN_TOKEN": "short"}
    )
    assert result.exit_code == 2
    assert "at least 16 characters" in result.output


def test_help_names_the_limits() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--token",
        "--max-upload-mb",
        "--time-limit",
        "--report-expiry",
    ):
        assert option in result.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def served_with_token() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from feocscreen.cli import main; main()",
            "serve",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env={**os.environ, "FEOCSCREEN_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while _probe(base) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("serve did not start: " + process.stderr.read().decode()[-2000:])  # type: ignore[union-attr]
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def _probe(base: str) -> int | None:
    try:
        return _get(base + "/healthz")[0]
    except OSError:
        return None


def test_serve_starts_and_asks_for_its_token(served_with_token: str) -> None:
    status, body = _get(served_with_token + "/healthz")
    assert status == 401
    status, body = _get(served_with_token + "/healthz", TOKEN)
    assert status == 200 and b'"ok"' in body
    status, body = _get(served_with_token + "/", TOKEN)
    assert status == 200 and b"Screen a supplier workbook" in body
