"""What this machine lets a run use."""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
import threading
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Whether worker processes can be forked, sharing a prepared run without copying it:
    only where fork is safe."""
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


def process_context() -> BaseContext:
    """The context workers are started from: fork where it is safe (see ``can_fork``),
    else the platform's default (runs there stay in one process)."""
    return multiprocessing.get_context("fork" if can_fork() else None)


def clear_for_writing(path: Path) -> None:
    """Remove the regular file at ``path`` that is about to be written anew.

    Truncating a file and writing it again makes ext4 (``auto_da_alloc``) start writing
    it to disk when it is closed, and the close waits: half a second for a 2 GB result.
    A new file costs nothing at close. Symbolic links are written through, and files
    this process may not write are left for opening to refuse, as truncation would.

    Removing a large file is itself slow: the kernel frees its cached pages when the
    last reference goes (a third of a second for a 2 GB result). So the name is removed
    here, while the file is held open, and the file is let go on a thread that the
    interpreter waits for at exit; the run goes on meanwhile. Were the process killed,
    the kernel lets it go all the same: nothing is left behind.
    """
    try:
        if path.is_file() and not path.is_symlink() and os.access(path, os.W_OK):
            try:
                held: int | None = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                held = None  # unreadable: removed here and now
            try:
                path.unlink()
            finally:
                if held is not None:
                    threading.Thread(target=os.close, args=(held,), name="let-go").start()
    except OSError:
        pass  # opening it reports what is wrong


def release_freed_memory() -> None:
    """Hand memory freed so far back to the system, so the next stages have it.

    Reading a million rows allocates and frees several hundred MB of arrays; glibc keeps
    freed heap (its mmap threshold rises after the first large free, and see
    ``keep_freed_memory``) and Arrow's pool keeps freed blocks, which show as resident
    memory (about 200 MiB at 1M rows) until trimmed. Called after reading and before
    workers are forked. Best effort: a no-op where the C library has no malloc_trim.
    """
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - an Arrow build without this pool call
        pass
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


# mallopt(3) parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory() -> None:
    """Have the C allocator keep the memory a run frees for the run's next allocations.

    A run at Excel's row limit makes and drops arrays of tens of MB, step after step. By
    default glibc maps each large one afresh and unmaps it when freed, and hands freed
    heap back above 128 KiB, so each step faults its pages in again: at 1M rows about
    100,000 more page faults and half a second more before the first supplier is
    screened. Arrays up to 32 MiB (the most glibc allows) now come from the heap, and
    what is freed stays there until ``release_freed_memory`` hands it back at chosen
    points. For one-run processes (the CLI): a server would hold on to what its largest
    run freed. Best effort: a no-op where the C library is not glibc.
    """
    libc = _glibc()
    if libc is None:
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    libc.mallopt(_M_TOP_PAD, 64 << 20)


@functools.cache
def _glibc() -> Any:
    """The C library when it is glibc (it has malloc_trim and mallopt), else None (macOS,
    Windows, musl)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 - glibc's own calls, or AttributeError
    except (OSError, AttributeError):
        return None
    return libc
