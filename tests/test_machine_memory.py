"""What a CLI process does with its memory: freed memory kept for the next allocation
until ``release_freed_memory`` hands it back (``machine.keep_freed_memory``), and no
last collector pass over every object at exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Resident memory around freeing a 16 MiB buffer: printed as "after_free released" in MiB
# above the level before it was allocated.
_SCRIPT = textwrap.dedent(
    """
    import sys

    import pyarrow  # loaded first: release_freed_memory uses it, and loading it grows memory
    from feocscreen.machine import keep_freed_memory, release_freed_memory

    def rss_mib():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20

    if sys.argv[1] == "keep":
        keep_freed_memory()
    base = rss_mib()
    buffer = bytearray(16 << 20)  # zero-filled: every page touched
    del buffer
    after_free = rss_mib() - base
    release_freed_memory()
    print(f"{after_free:.1f} {rss_mib() - base:.1f}")
    """
)


def _resident_after(mode: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, check=True
    ).stdout
    after_free, released = out.split()
    return float(after_free), float(released)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_memory_is_kept_until_released() -> None:
    after_free, released = _resident_after("keep")
    assert after_free >= 15  # kept for the next allocation, not unmapped
    assert released < 4  # handed back when asked


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_default_allocator_hands_large_buffers_back() -> None:
    after_free, _ = _resident_after("default")
    assert after_free < 4  # what the policy changes: glibc unmaps a large buffer at once


def test_the_cli_leaves_nothing_for_the_collector_to_walk_at_exit() -> None:
    # registered before the CLI's own exit handler, so it runs after it (last in, first out)
    script = textwrap.dedent(
        """
        import atexit, gc
        atexit.register(lambda: print("frozen" if gc.get_freeze_count() else "walked"))
        from feocscreen.cli import main
        for _ in range(2):  # twice in one process, as a test session does
            try:
                main(["rules", "list"])
            except SystemExit:
                pass
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[-1] == "frozen"
