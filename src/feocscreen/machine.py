"""What this machine lets a run use."""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.context import BaseContext
from pathlib import Path


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
    """
    try:
        if path.is_file() and not path.is_symlink() and os.access(path, os.W_OK):
            path.unlink()
    except OSError:
        pass  # opening it reports what is wrong
