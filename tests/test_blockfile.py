"""Blocks written into one file at their offsets, by the processes that made them.

A large run's workers write their blocks of the JSON result themselves (``BlockFile``):
the file must read as if one process had written the blocks in order, whatever order
they finish in; a block that fails must fail the run, not leave the others waiting.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from feocscreen.blockfile import BlockFile
from feocscreen.cli import main
from feocscreen.cli import screen as screen_cli
from feocscreen.machine import can_fork, process_context

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo_suppliers.xlsx"
AS_OF = "2026-06-01"
WAIT_S = 120  # the run takes a few seconds

needs_fork = pytest.mark.skipif(not can_fork(), reason="workers are forked only on Linux")


def _place_late(blocks: BlockFile, index: int, parts: list[bytes], delay: float) -> None:
    time.sleep(delay)
    blocks.place(index, parts)


@needs_fork
def test_blocks_finished_in_any_order_land_in_block_order(tmp_path: Path) -> None:
    parts = [[f'"b{i}s{j}"'.encode() for j in range(i + 1)] for i in range(6)]
    path = tmp_path / "out.json"
    with open(path, "wb", buffering=1 << 20) as handle:
        handle.write(b"[")  # still in the handle's buffer: it must land first
        blocks = BlockFile(handle, len(parts), separator=b",")
        context = process_context()
        # the last block is started first and the first last: each waits for the one before
        workers = [
            context.Process(target=_place_late, args=(blocks, i, parts[i], 0.05 * (6 - i)))
            for i in reversed(range(len(parts)))
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
            assert worker.exitcode == 0
        handle.seek(blocks.end())
        handle.write(b"]")
    assert json.loads(path.read_bytes()) == [p.decode().strip('"') for ps in parts for p in ps]


def test_the_end_is_known_once_every_block_is_placed(tmp_path: Path) -> None:
    with open(tmp_path / "out.json", "wb") as handle:
        handle.write(b"[")
        blocks = BlockFile(handle, 2, separator=b",")
        blocks.place(0, [b"1", b"2"])
        with pytest.raises(RuntimeError, match="not all written"):
            blocks.end()
        blocks.place(1, [b"3"])
        assert blocks.end() == len(b"[1,2,3")


@pytest.mark.parametrize("separator", [b",", b""])
def test_short_writes_and_many_parts_go_on_where_they_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, separator: bytes
) -> None:
    # more parts than one system call takes, and a system that writes at most 7 bytes a call
    parts = [f"part-{i}".encode() * (i % 3) for i in range(3000)]
    real = os.pwritev
    calls = []

    def short(fd: int, buffers: list[bytes], offset: int) -> int:
        calls.append(offset)
        assert len(calls) < 20_000, "the write does not move on"
        head, size = [], 0
        for buffer in buffers:
            piece = bytes(buffer)[: 7 - size]
            head.append(piece)
            size += len(piece)
            if size == 7:
                break
        return real(fd, head, offset)

    monkeypatch.setattr(os, "pwritev", short)
    with open(tmp_path / "out.bin", "wb") as handle:
        handle.write(b"<")
        blocks = BlockFile(handle, 2, separator=separator)
        blocks.place(0, parts[:1500])
        blocks.place(1, parts[1500:])
        handle.seek(blocks.end())
        handle.write(b">")
    expected = b"<" + separator.join(parts) + b">"
    assert (tmp_path / "out.bin").read_bytes() == expected


def test_a_write_that_fails_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "read-only.json"
    path.write_bytes(b"")
    with open(path, "rb") as handle:  # not open for writing: pwrite fails
        blocks = BlockFile(handle, 1)  # type: ignore[arg-type]
        with pytest.raises(OSError) as raised:
            blocks.place(0, [b"x"])
    assert raised.value.filename == str(path)


def test_only_regular_files_not_appended_to_take_blocks(tmp_path: Path) -> None:
    with open(tmp_path / "w.json", "wb") as handle:
        assert BlockFile.can_take(handle)
    with open(tmp_path / "a.json", "ab") as handle:  # `>>`: every write lands at the end
        assert not BlockFile.can_take(handle)
    read, write = os.pipe()
    with os.fdopen(read, "rb") as r, os.fdopen(write, "wb") as w:
        assert not BlockFile.can_take(w) and not BlockFile.can_take(r)


@needs_fork
def test_json_written_by_workers_equals_json_written_through_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--json FILE` is written by the workers at offsets; `--json -` (not a regular
    file here) comes back through the parent: the same result."""
    from feocscreen import api

    monkeypatch.setattr(screen_cli, "PRETTY_JSON_LIMIT", 0)
    monkeypatch.setattr(api, "SUPPLIER_BLOCK", 3)  # the demo's 32 suppliers in 11 blocks
    monkeypatch.setenv("FEOCSCREEN_WORKERS", "2")
    args = ["screen", str(DEMO), "--as-of", AS_OF, "-q", "--json"]
    out = tmp_path / "r.json"
    to_file = CliRunner().invoke(main, [*args, str(out)])
    to_stdout = CliRunner().invoke(main, [*args, "-"])
    assert to_file.exit_code == to_stdout.exit_code == 0, to_file.output
    written = out.read_bytes()
    assert written.count(b"\n") == 1 and written.endswith(b"}\n")
    got, want = json.loads(written), json.loads(to_stdout.stdout_bytes)
    for data in (got, want):
        data.pop("generated_at")
        data["audit"].pop("command_line")
    assert got == want
    assert [s["supplier_id"] for s in got["suppliers"]] == sorted(
        s["supplier_id"] for s in got["suppliers"]
    )

    # `--json - > FILE`: stdout is a regular file, written at offsets too
    redirected = tmp_path / "redirected.json"
    with open(redirected, "wb") as stdout:
        done = subprocess.run(
            [sys.executable, "-c", _script(["--json", "-"])],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=WAIT_S,
        )
    assert done.returncode == 0, done.stderr
    again = json.loads(redirected.read_bytes())
    again.pop("generated_at")
    again["audit"].pop("command_line")
    assert again == want


def _script(args: list[str], prelude: str = "") -> str:
    """A Python program running the demo's screen in 11 blocks on 2 forked workers."""
    return (
        textwrap.dedent(
            """
        import os
        import sys
        from feocscreen import api
        from feocscreen.cli import main
        from feocscreen.cli import screen as screen_cli
        """
        )
        + textwrap.dedent(prelude)
        + textwrap.dedent(
            f"""
        screen_cli.PRETTY_JSON_LIMIT = 0
        api.SUPPLIER_BLOCK = 3
        sys.argv = ["feocscreen", "screen", {str(DEMO)!r}, "--as-of", "{AS_OF}", "-q", *{args!r}]
        os.environ["FEOCSCREEN_WORKERS"] = "2"
        sys.exit(main())
        """
        )
    )


@needs_fork
def test_a_worker_that_fails_stops_the_run_without_waiting(tmp_path: Path) -> None:
    """A block that raises on a worker: the run ends with the error instead of hanging
    (the blocks after it wait for its end until the workers are ended)."""
    script = _script(
        ["--json", str(tmp_path / "r.json")],
        prelude="""
        encode = screen_cli.encode_outputs
        def failing(supplier, text, rows, **more):
            if supplier["supplier_id"] == "S010":
                raise ValueError("cannot encode S010")
            return encode(supplier, text, rows, **more)
        screen_cli.encode_outputs = failing
        """,
    )
    # its own process group: on a hang, the forked workers are killed with it
    run = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = run.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        pytest.fail(f"the run still waited after {WAIT_S} s")
    assert run.returncode == 3, stderr  # an internal error, reported
    assert "cannot encode S010" in stderr, stderr
