"""Blocks of bytes written into one file in block order, by whichever process made them.

A large run is encoded on forked workers, a block of suppliers at a time. Sending each
block's bytes back through a pipe for the parent to write costs a copy into the pipe,
one out of it and one into the file: at Excel's row limit that is 2 GB of JSON three
times over, and the parent's share alone took about 5 CPU seconds from a machine whose
cores were all busy screening. Instead each block is written where it belongs, with
``os.pwrite`` on the file descriptor the workers inherited.

A block starts where the block before it ends. That end is published in shared memory
as soon as the block's length is known, before its bytes are written, so a worker
waits only for the block before its own to finish encoding (blocks are handed out in
order, so it nearly always has), never for its write. Should a block fail, the blocks
after it wait until the caller, taking the blocks' results in order, meets the error
and ends the workers.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: blocks come back to be written
    fcntl = None  # type: ignore[assignment]

from .machine import process_context

PENDING = -1  # the block's end is not known yet
try:
    _IOV_MAX = max(1, os.sysconf("SC_IOV_MAX"))  # pieces one pwritev takes
except (AttributeError, ValueError, OSError):  # pragma: no cover - no such setting
    _IOV_MAX = 16


class BlockFile:
    """``blocks`` blocks of ``handle``'s file, from its current position, joined by
    ``separator``: ``place(index, parts)`` from any process forked after this is made."""

    def __init__(self, handle: BinaryIO, blocks: int, separator: bytes = b"") -> None:
        handle.flush()  # what the handle holds goes first, at the offsets it was meant for
        self.path = getattr(handle, "name", None)
        self.fd = handle.fileno()
        self.start = handle.tell()
        self.separator = separator
        context = process_context()
        self._ends = context.RawArray("q", [PENDING] * blocks)
        self._changed = context.Condition()

    @staticmethod
    def can_take(handle: BinaryIO) -> bool:
        """Whether ``handle`` is a regular file written at offsets: not a pipe or terminal,
        and not opened to append (``>>``), where every write lands at the end."""
        if fcntl is None:  # pragma: no cover
            return False
        try:
            fd = handle.fileno()
            return (
                handle.seekable()
                and stat.S_ISREG(os.fstat(fd).st_mode)
                and not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND
            )
        except (OSError, ValueError, AttributeError):
            return False

    def place(self, index: int, parts: list[bytes]) -> None:
        """Write block ``index``: ``parts`` (one or more) joined by the separator, also put
        before them unless this is the first block.

        The parts go to the file as they are, with ``os.pwritev``: joining a block first
        would copy it twice more in memory (about 23 MB a block, 4 GB over a 1M-row run).
        """
        separator = self.separator
        pieces: list[bytes | memoryview] = list(parts)
        if separator:  # before every part, the first block's first aside
            pieces = [separator] * (2 * len(parts))
            pieces[1::2] = parts
            if not index:
                del pieces[0]
        size = sum(map(len, pieces))
        ends = self._ends
        with self._changed:
            if index:
                self._changed.wait_for(lambda: ends[index - 1] != PENDING)
                offset = ends[index - 1]
            else:
                offset = self.start
            ends[index] = offset + size
            self._changed.notify_all()
        try:
            _write_at(self.fd, pieces, offset)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, self.path) from None

    def end(self) -> int:
        """Where the last block ends: where what follows the blocks is written."""
        ends = self._ends
        if not len(ends):
            return self.start
        if ends[-1] == PENDING:
            raise RuntimeError("the file's blocks were not all written")
        return int(ends[-1])


def _write_at(fd: int, pieces: list[bytes | memoryview], offset: int) -> None:
    """Write ``pieces`` one after another from ``offset``, as many per system call as the
    system takes, going on after a short write from where it stopped."""
    first = 0
    while first < len(pieces):
        written = os.pwritev(fd, pieces[first : first + _IOV_MAX], offset)
        offset += written
        while first < len(pieces) and written >= len(pieces[first]):
            written -= len(pieces[first])
            first += 1
        if written:  # part of a piece went out
            pieces[first] = memoryview(pieces[first])[written:]
