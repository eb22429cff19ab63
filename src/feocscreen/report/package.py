"""Saving the report's workbook: openpyxl writes the package, and its large parts are
deflated on every CPU the run may use.

A report at Excel's row limit holds about 1.6 GB of sheet XML, and zlib deflates about
200 MB a second on this machine class: eight seconds on one core after the last
supplier, while the other core waited. zlib-ng deflates the same XML a third faster and
7 % smaller at the same level, and the large parts are deflated as pigz does: cut
into chunks, each chunk primed with the 32 KiB before it and ended with a sync flush, so
the chunks join into one deflate stream that any unzip reads, within a few bytes per
chunk of what the whole makes at the same level. zlib-ng lets go of the GIL while it
works, so threads suffice. The bytes do not depend on the number of threads.

Large parts are deflated at zlib-ng's level 5 (LEVEL), not the default 6: on the report's
sheet XML it deflates a quarter faster for 0.4 % more bytes (1.4 CPU s of a report at the
row limit).

The report's table sheets go further: their rows are deflated as they are written
(``Deflater``), so the sheet reaches the disk already compressed (120 MB, not 1.6 GB, at
the row limit) and the save only copies it into the zip.
"""

from __future__ import annotations

import shutil
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from zipfile import ZIP64_LIMIT, ZIP_DEFLATED, LargeZipFile, ZipFile, ZipInfo

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter
from zlib_ng import zlib_ng as zlib  # zlib's interface, zlib-ng's speed

from ..machine import clear_for_writing, usable_cpus

DEFLATE_CHUNK = 2 << 20  # bytes deflated by one task (2 MiB: a few in flight stay small)
PARALLEL_FROM = 2 * DEFLATE_CHUNK  # smaller parts are deflated by zipfile itself
WINDOW = 32 << 10  # deflate's window: what a chunk may refer back to
# zlib-ng's level 5 against its default 6 on 227 MB of a report's sheet XML (2 MiB
# chunks): 0.59 against 0.80 CPU s, 16.81 against 16.74 MB; level 4 is 13 % larger.
LEVEL = 5


Deflated = tuple[int, int, int]  # CRC-32, size and deflated size of a part


def save_workbook(workbook: Workbook, path: Path, deflating: Deflating | None = None) -> None:
    """What ``Workbook.save`` does, into a zip that deflates large parts on threads and
    stores the parts `deflating` already deflated as they are."""
    if workbook.write_only and not workbook.worksheets:
        workbook.create_sheet()
    own = deflating is None
    deflating = deflating or Deflating()
    clear_for_writing(Path(path))
    archive = _Package(path, "w", ZIP_DEFLATED, allowZip64=True, deflating=deflating)
    workbook.properties.modified = datetime.now(tz=UTC).replace(tzinfo=None)
    try:
        ExcelWriter(workbook, archive).save()  # closes the archive
    finally:
        archive.close()  # a no-op once closed; after a failure, frees the file
        if own:
            deflating.close()


class Deflating:
    """The threads that deflate a workbook's parts, and the parts already deflated (by
    the path openpyxl will add them from), for ``save_workbook`` to store as they are."""

    def __init__(self) -> None:
        self.threads = min(usable_cpus(), 8)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="deflate")
        self.parts: dict[str, Deflated] = {}

    def deflater(self, target: IO[bytes], level: int = LEVEL) -> Deflater:
        return Deflater(target, self, level)

    def close(self) -> None:
        self.pool.shutdown()


class Deflater:
    """A part's bytes deflated as they are written, chunk by chunk on the threads of
    `deflating`, into `target` as raw deflate data. Whatever the pieces written, the chunks
    are the same: DEFLATE_CHUNK bytes each, the rest last."""

    def __init__(self, target: IO[bytes], deflating: Deflating, level: int) -> None:
        self.target, self.deflating, self.level = target, deflating, level
        self.buffer = bytearray()
        self.primer = b""
        self.crc = self.size = self.packed = 0
        self.in_flight: deque[Future[bytes]] = deque()

    def write(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        self.buffer += data
        while len(self.buffer) > DEFLATE_CHUNK:  # more follows: not the last chunk
            with memoryview(self.buffer) as view:  # one copy, not a slice and then a copy
                chunk = bytes(view[:DEFLATE_CHUNK])
            del self.buffer[:DEFLATE_CHUNK]
            self._submit(chunk, last=False)

    def close(self) -> Deflated:
        """End the stream; its CRC-32, size and deflated size."""
        self._submit(bytes(self.buffer), last=True)
        self.buffer.clear()
        self._drain(0)
        return self.crc, self.size, self.packed

    def _submit(self, chunk: bytes, last: bool) -> None:
        pool = self.deflating.pool
        self.in_flight.append(pool.submit(_deflate, chunk, self.primer, last, self.level))
        self.primer = chunk[-WINDOW:]
        self._drain(2 * self.deflating.threads)

    def _drain(self, keep: int) -> None:
        """Write the finished chunks in order; wait while more than `keep` are in flight."""
        in_flight = self.in_flight
        while in_flight and (len(in_flight) > keep or in_flight[0].done()):
            packed = in_flight.popleft().result()
            self.target.write(packed)
            self.packed += len(packed)


class _Package(ZipFile):
    """A zip that stores parts deflated beforehand as they are and deflates other parts of
    PARALLEL_FROM bytes or more on threads (openpyxl adds each sheet's file with ``write``)."""

    def __init__(self, *args: Any, deflating: Deflating, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deflating = deflating

    def write(
        self,
        filename: Any,
        arcname: Any = None,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        kind = self.compression if compress_type is None else compress_type
        deflated = self.deflating.parts.pop(str(filename), None)
        seekable = self.fp is not None and self.fp.seekable()
        if deflated is not None and kind == ZIP_DEFLATED and seekable:
            self._write_part(Path(filename), arcname, deflated)
            return
        path = Path(filename)
        if deflated is not None:  # stored otherwise: the plain part is needed, not at hand
            raise ValueError(f"{path.name} was deflated beforehand but cannot be stored so")
        if kind != ZIP_DEFLATED or not seekable or path.stat().st_size < PARALLEL_FROM:
            super().write(filename, arcname, compress_type, compresslevel)
            return
        level = compresslevel if compresslevel is not None else self.compresslevel
        self._write_part(path, arcname, None, LEVEL if level is None else level)

    def _write_part(
        self, path: Path, arcname: Any, deflated: Deflated | None, level: int = 0
    ) -> None:
        """The member's local header, its deflate data (copied when `deflated` gives its
        CRC and sizes, else deflated now), then the header again with the CRC and sizes:
        what zipfile does for a member of unknown size."""
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
        expected = deflated[1] if deflated is not None else info.file_size
        zip64 = expected * 1.05 > ZIP64_LIMIT  # zipfile's own margin for growth
        fp = self.fp
        assert fp is not None
        fp.seek(self.start_dir)
        info.header_offset = fp.tell()
        fp.write(info.FileHeader(zip64))
        with path.open("rb") as source:
            if deflated is not None:
                shutil.copyfileobj(source, fp, 1 << 20)
                crc, size, packed = deflated
            else:
                deflater = self.deflating.deflater(fp, level)
                while piece := source.read(DEFLATE_CHUNK):
                    deflater.write(piece)
                crc, size, packed = deflater.close()
        if not zip64 and max(size, packed) > ZIP64_LIMIT:
            raise LargeZipFile(f"{path.name} grew past 4 GiB while it was written")
        info.CRC, info.file_size, info.compress_size = crc, size, packed
        self.start_dir = fp.tell()
        fp.seek(info.header_offset)
        fp.write(info.FileHeader(zip64))
        fp.seek(self.start_dir)
        self.filelist.append(info)
        self.NameToInfo[info.filename] = info


def _deflate(chunk: bytes, primer: bytes, last: bool, level: int) -> bytes:
    """One chunk as raw deflate: primed with the data before it, ended so the next chunk's
    blocks can follow (or, for the last, as the stream's end)."""
    if primer:
        packer = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=primer)
    else:
        packer = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(chunk) + packer.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
