"""Saving the report's workbook: openpyxl writes the package, and its large parts are
deflated on every CPU the run may use.

A report at Excel's row limit holds about 1.6 GB of sheet XML, and zlib deflates about
200 MB a second on this machine class: eight seconds on one core after the last
supplier, while the other core waits. The large parts are deflated as pigz does: cut
into chunks, each chunk primed with the 32 KiB before it and ended with a sync flush, so
the chunks join into one deflate stream that any unzip reads, within a few bytes per
chunk of what zlib makes of the whole at the same level. zlib lets go of the GIL while it
works, so threads suffice. The bytes do not depend on the number of threads.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from zipfile import ZIP64_LIMIT, ZIP_DEFLATED, LargeZipFile, ZipFile, ZipInfo

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from ..machine import usable_cpus

DEFLATE_CHUNK = 8 << 20  # bytes deflated by one task
PARALLEL_FROM = 2 * DEFLATE_CHUNK  # smaller parts are deflated by zipfile itself
WINDOW = 32 << 10  # deflate's window: what a chunk may refer back to


def save_workbook(workbook: Workbook, path: Path) -> None:
    """What ``Workbook.save`` does, into a zip that deflates large parts on threads."""
    if workbook.write_only and not workbook.worksheets:
        workbook.create_sheet()
    archive = _Package(path, "w", ZIP_DEFLATED, allowZip64=True)
    workbook.properties.modified = datetime.now(tz=UTC).replace(tzinfo=None)
    try:
        ExcelWriter(workbook, archive).save()  # closes the archive
    finally:
        archive.close()  # a no-op once closed; after a failure, frees the file


class _Package(ZipFile):
    """A zip whose members of PARALLEL_FROM bytes or more are deflated chunk by chunk on
    threads (openpyxl adds each sheet's file with ``write``)."""

    def write(
        self,
        filename: Any,
        arcname: Any = None,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        deflated = (
            compress_type if compress_type is not None else self.compression
        ) == ZIP_DEFLATED
        path = Path(filename)
        seekable = self.fp is not None and self.fp.seekable()
        if not (deflated and seekable and path.is_file()) or path.stat().st_size < PARALLEL_FROM:
            super().write(filename, arcname, compress_type, compresslevel)
            return
        level = compresslevel if compresslevel is not None else self.compresslevel
        self._write_deflated(path, arcname, zlib.Z_DEFAULT_COMPRESSION if level is None else level)

    def _write_deflated(self, path: Path, arcname: Any, level: int) -> None:
        """The member's local header, its chunks as they are deflated, then the header
        again with the CRC and sizes: what zipfile does for a member of unknown size."""
        if getattr(self, "_writing", False):
            raise ValueError("cannot write a member while another is open for writing")
        info = ZipInfo.from_file(path, arcname)
        if info.filename in self.NameToInfo:  # openpyxl names every part once
            raise ValueError(f"{info.filename} is written twice into the workbook")
        info.compress_type = ZIP_DEFLATED
        info.flag_bits = 0
        info.CRC = info.compress_size = 0  # until the data is written
        if not info.external_attr:
            info.external_attr = 0o600 << 16
        zip64 = info.file_size * 1.05 > ZIP64_LIMIT  # zipfile's own margin for growth
        fp = self.fp
        assert fp is not None
        fp.seek(self.start_dir)
        info.header_offset = fp.tell()
        fp.write(info.FileHeader(zip64))
        crc = size = packed = 0
        with path.open("rb") as source:
            for chunk, deflated in _deflate_chunks(source, level):
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
                packed += len(deflated)
                fp.write(deflated)
        if not zip64 and max(size, packed) > ZIP64_LIMIT:
            raise LargeZipFile(f"{path.name} grew past 4 GiB while it was written")
        info.CRC, info.file_size, info.compress_size = crc, size, packed
        self.start_dir = fp.tell()
        fp.seek(info.header_offset)
        fp.write(info.FileHeader(zip64))
        fp.seek(self.start_dir)
        self.filelist.append(info)
        self.NameToInfo[info.filename] = info


def _deflate_chunks(source: IO[bytes], level: int) -> Iterator[tuple[bytes, bytes]]:
    """Each chunk of `source` with its raw deflate data, in order; a few chunks in flight."""
    threads = min(usable_cpus(), 8)
    in_flight: deque[tuple[bytes, Future[bytes]]] = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="deflate") as pool:
        primer = b""
        chunk = source.read(DEFLATE_CHUNK)
        if not chunk:  # nothing to read: still a whole (empty) stream
            yield chunk, _deflate(chunk, primer, True, level)
        while chunk:
            following = source.read(DEFLATE_CHUNK)
            in_flight.append((chunk, pool.submit(_deflate, chunk, primer, not following, level)))
            primer = chunk[-WINDOW:]
            chunk = following
            if len(in_flight) > 2 * threads:
                done, work = in_flight.popleft()
                yield done, work.result()
        while in_flight:
            done, work = in_flight.popleft()
            yield done, work.result()


def _deflate(chunk: bytes, primer: bytes, last: bool, level: int) -> bytes:
    """One chunk as raw deflate: primed with the data before it, ended so the next chunk's
    blocks can follow (or, for the last, as the stream's end)."""
    if primer:
        packer = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=primer)
    else:
        packer = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(chunk) + packer.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
