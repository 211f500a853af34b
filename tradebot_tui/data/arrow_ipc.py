"""A lean reader for freqtrade's candle files (Arrow IPC "feather" v2, LZ4-compressed).

pyarrow reads any Arrow file, but importing it and its compute kernels costs a replay
about 60 MB of memory and 0.1 s before the first candle. freqtrade's files are always the
same shape: one timestamp column and float64 columns, no nulls, buffers compressed with
LZ4 frames (or not at all). This module reads exactly that shape, straight into
`array.array` columns, with the `lz4` package for decompression, whole or a chunk of
rows at a time (`ArrowFile.chunks`: memory bounded by the chunk, whatever the file's
length); anything else (ZSTD, dictionaries, nulls, other types, big-endian) raises
`Unsupported`, and the caller reads the file with pyarrow instead. Bad values are not
judged here either: the caller checks the columns and, on any doubt, lets pyarrow's path
produce the error message.

The format (arrow.apache.org/docs/format/Columnar.html, "IPC File Format"): magic
`ARROW1`, messages, a flatbuffer footer holding the schema and the record batch blocks,
the footer's length, magic again. Each message is a flatbuffer `Message` whose header is
a `RecordBatch`: per field a node (length, null count) and, for fixed-width types, two
buffers (validity, values) located in the message body; with `BodyCompression`, each
buffer is an int64 uncompressed length (-1: stored raw) followed by one LZ4 frame.
"""

from __future__ import annotations

import functools
import operator
import struct
from array import array
from collections.abc import Iterator, Sequence
from itertools import repeat
from pathlib import Path
from typing import BinaryIO

MAGIC = b"ARROW1"
CONTINUATION = 0xFFFFFFFF
# Type union tags (Schema.fbs).
TYPE_INT, TYPE_FLOAT, TYPE_TIMESTAMP = 2, 3, 10
FLOAT_DOUBLE = 2
RECORD_BATCH = 3  # MessageHeader union tag
LZ4_FRAME = 0  # CompressionType
TIME_UNIT_MS = {0: 1000, 1: 1}  # SECOND, MILLI: factor to ms
TIME_UNIT_DIVISOR = {2: 1000, 3: 1_000_000}  # MICRO, NANO: divisor to ms
READ_BYTES = 32 * 1024  # compressed bytes read from the file at once, per column

_U8 = struct.Struct("<B")
_I8 = struct.Struct("<b")
_U16 = struct.Struct("<H")
_I16 = struct.Struct("<h")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")

Columns = dict[str, "array[float] | array[int]"]


class Unsupported(Exception):
    """Not the shape this reader handles: read the file with pyarrow."""


class _Table:
    """A flatbuffer table: fields looked up through its vtable."""

    __slots__ = ("buf", "pos", "vt", "vt_len")

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self.vt = pos - _I32.unpack_from(buf, pos)[0]
        self.vt_len = _U16.unpack_from(buf, self.vt)[0]

    def _field(self, index: int) -> int:
        at = 4 + 2 * index
        return _U16.unpack_from(self.buf, self.vt + at)[0] if at < self.vt_len else 0

    def scalar(self, index: int, unpack: struct.Struct, default: int) -> int:
        off = self._field(index)
        return unpack.unpack_from(self.buf, self.pos + off)[0] if off else default

    def table(self, index: int) -> _Table | None:
        off = self._field(index)
        if not off:
            return None
        at = self.pos + off
        return _Table(self.buf, at + _U32.unpack_from(self.buf, at)[0])

    def vector(self, index: int) -> tuple[int, int]:
        """(start of the elements, count); (0, 0) when absent."""
        off = self._field(index)
        if not off:
            return 0, 0
        at = self.pos + off
        at += _U32.unpack_from(self.buf, at)[0]
        return at + 4, _U32.unpack_from(self.buf, at)[0]

    def tables(self, index: int) -> list[_Table]:
        start, count = self.vector(index)
        out = []
        for i in range(count):
            at = start + 4 * i
            out.append(_Table(self.buf, at + _U32.unpack_from(self.buf, at)[0]))
        return out

    def string(self, index: int) -> str:
        start, count = self.vector(index)
        return self.buf[start : start + count].decode("utf-8")


def _column_kind(field: _Table) -> tuple[str, int, int]:
    """(array typecode, time unit or -1, type tag) of a field this reader handles."""
    if field.table(4) is not None:
        raise Unsupported("dictionary-encoded column")
    if field.vector(5)[1]:
        raise Unsupported("nested column")
    tag = field.scalar(2, _U8, 0)
    kind = field.table(3)
    if kind is None:
        raise Unsupported("column without a type")
    if tag == TYPE_FLOAT:
        if kind.scalar(0, _I16, 0) != FLOAT_DOUBLE:
            raise Unsupported("float column that is not float64")
        return "d", -1, tag
    if tag == TYPE_TIMESTAMP:
        unit = kind.scalar(0, _I16, 0)
        if unit not in TIME_UNIT_MS and unit not in TIME_UNIT_DIVISOR:
            raise Unsupported(f"time unit {unit}")
        return "q", unit, tag
    if tag == TYPE_INT:
        if kind.scalar(0, _I32, 0) != 64 or not kind.scalar(1, _U8, 0):
            raise Unsupported("integer column that is not int64")
        return "q", -1, tag
    raise Unsupported(f"column type {tag}")


class _Buffer:
    """One column buffer of a record batch, its bytes handed out in order, read from the
    file and decompressed as they are asked for."""

    def __init__(self, file: BinaryIO, start: int, length: int, compressed: bool) -> None:
        self.file, self.pos, self.end = file, start, start + length
        self.pending = bytearray()
        self.decompressor = None
        if compressed and length:
            expected = _I64.unpack(self._read(8))[0]
            if expected != -1:  # -1: this buffer was stored raw
                import lz4.frame  # type: ignore[import-untyped]

                self.decompressor = lz4.frame.LZ4FrameDecompressor()

    def _read(self, limit: int) -> bytes:
        n = min(limit, self.end - self.pos)
        if n <= 0:
            return b""
        self.file.seek(self.pos)
        data = self.file.read(n)
        if len(data) != n:
            raise Unsupported("the file ends inside a column")
        self.pos += n
        return data

    def take(self, nbytes: int) -> bytes:
        d = self.decompressor
        while len(self.pending) < nbytes:
            want = nbytes - len(self.pending)
            if d is None:
                more = self._read(want)
            elif d.needs_input:
                if d.eof:
                    break
                more = d.decompress(self._read(READ_BYTES), max_length=want)
            else:
                more = d.decompress(b"", max_length=want)
            if not more and (d is None or (d.needs_input and self.pos >= self.end) or d.eof):
                break
            self.pending += more
        if len(self.pending) < nbytes:
            raise Unsupported("a column is shorter than its batch")
        out = bytes(self.pending[:nbytes])
        del self.pending[:nbytes]
        return out


class ArrowFile:
    """An Arrow IPC file of fixed-width columns, read a chunk of rows at a time.

    Raises (on open):
        Unsupported: anything this reader does not handle (see the module docstring).
        OSError: the file cannot be read.
    """

    def __init__(self, path: Path, names: Sequence[str]) -> None:
        self.path, self.names = path, tuple(names)
        # The step of the last chunk's times when they rose evenly (0: they did not, or
        # not checked): a chunk of candles without gaps needs no other order check.
        self.time_step = 0
        with path.open("rb") as f:
            try:
                self._read_footer(f)
            except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
                raise Unsupported(f"unreadable: {exc}") from None

    def _read_footer(self, f: BinaryIO) -> None:
        size = f.seek(0, 2)
        f.seek(0)
        if size < 22 or f.read(6) != MAGIC:
            raise Unsupported("not an Arrow IPC file")
        f.seek(size - 10)
        tail = f.read(10)
        if tail[4:] != MAGIC:
            raise Unsupported("not an Arrow IPC file (no footer)")
        footer_len = _I32.unpack_from(tail, 0)[0]
        if not 0 < footer_len < size:
            raise Unsupported("bad footer length")
        f.seek(size - 10 - footer_len)
        buf = f.read(footer_len)
        footer = _Table(buf, _U32.unpack_from(buf, 0)[0])
        schema = footer.table(1)
        if schema is None:
            raise Unsupported("no schema")
        if schema.scalar(0, _I16, 0) != 0:
            raise Unsupported("big-endian file")
        fields = schema.tables(1)
        self.n_fields = len(fields)
        self.index = {field.string(0): i for i, field in enumerate(fields)}
        missing = [n for n in self.names if n not in self.index]
        if missing:
            raise Unsupported(f"no column {missing[0]!r}")
        self.kinds = {n: _column_kind(fields[self.index[n]]) for n in self.names}
        if footer.vector(2)[1]:
            raise Unsupported("dictionary batches")
        start, count = footer.vector(3)
        # Block: offset int64, metaDataLength int32, padding, bodyLength int64.
        self.blocks = [
            (_I64.unpack_from(buf, start + 24 * b)[0], _I32.unpack_from(buf, start + 24 * b + 8)[0])
            for b in range(count)
        ]
        self.rows = sum(self._batch(f, offset, meta)[0] for offset, meta in self.blocks)

    def _batch(
        self, f: BinaryIO, offset: int, meta_len: int
    ) -> tuple[int, dict[str, tuple[int, int]], bool]:
        """(rows, {column: (start, length) of its values in the file}, compressed)."""
        f.seek(offset)
        buf = f.read(meta_len)
        at = 8 if _U32.unpack_from(buf, 0)[0] == CONTINUATION else 4  # pre-1.0: no marker
        message = _Table(buf, at + _U32.unpack_from(buf, at)[0])
        if message.scalar(1, _U8, 0) != RECORD_BATCH:
            raise Unsupported("a block that is not a record batch")
        batch = message.table(2)
        if batch is None:
            raise Unsupported("empty record batch message")
        rows = batch.scalar(0, _I64, 0)
        nodes_at, n_nodes = batch.vector(1)
        buffers_at, n_buffers = batch.vector(2)
        if n_nodes != self.n_fields or n_buffers != 2 * self.n_fields:
            raise Unsupported("columns that are not all fixed-width")
        compression = batch.table(3)
        codec = None if compression is None else compression.scalar(0, _I8, LZ4_FRAME)
        if codec is not None and codec != LZ4_FRAME:
            raise Unsupported("compression other than LZ4")
        body = offset + meta_len
        where = {}
        for name in self.names:
            i = self.index[name]
            node = nodes_at + 16 * i
            if _I64.unpack_from(buf, node)[0] != rows or _I64.unpack_from(buf, node + 8)[0]:
                raise Unsupported(f"column {name!r} has nulls")
            spec = buffers_at + 16 * (2 * i + 1)  # the values buffer (after validity)
            start, length = _I64.unpack_from(buf, spec)[0], _I64.unpack_from(buf, spec + 8)[0]
            where[name] = (body + start, length)
        return rows, where, codec is not None

    def chunks(self, rows: int) -> Iterator[Columns]:
        """The columns, `rows` rows at a time (fewer at the end of each record batch);
        timestamps in epoch milliseconds.

        Raises:
            Unsupported: the file turned out corrupt or truncated.
        """
        with self.path.open("rb") as f:
            for offset, meta_len in self.blocks:
                try:
                    count, where, compressed = self._batch(f, offset, meta_len)
                    buffers = {
                        n: _Buffer(f, start, length, compressed)
                        for n, (start, length) in where.items()
                    }
                except (struct.error, IndexError, ValueError, RuntimeError) as exc:
                    raise Unsupported(f"unreadable: {exc}") from None
                done = 0
                while done < count:
                    n = min(rows, count - done)
                    yield {name: self._column(name, buffers[name], n) for name in self.names}
                    done += n

    def _column(self, name: str, buffer: _Buffer, n: int) -> array[float] | array[int]:
        code, unit, tag = self.kinds[name]
        column = array(code)
        try:
            column.frombytes(buffer.take(n * column.itemsize))
        except RuntimeError as exc:  # lz4: a corrupt frame
            raise Unsupported(f"unreadable: {exc}") from None
        if tag != TYPE_TIMESTAMP:
            return column
        ms, self.time_step = _to_ms(column, unit)
        return ms

    def columns(self) -> Columns:
        """Every row of the columns."""
        out: Columns = {n: array(self.kinds[n][0]) for n in self.names}
        parts = 0
        for chunk in self.chunks(max(self.rows, 1)):
            parts += 1
            for name, values in chunk.items():
                out[name].extend(values)  # type: ignore[arg-type]
        if parts > 1:  # several record batches: time_step speaks for the last one only
            self.time_step = 0
        return out


def _to_ms(values: array[int], unit: int) -> tuple[array[int], int]:
    """The times in ms, and their step when they rise evenly (else 0)."""
    factor = TIME_UNIT_MS.get(unit)
    if factor == 1:
        return values, evenly_spaced(values)
    if factor is not None:
        out = array("q", map(operator.mul, values, repeat(factor)))
        return out, evenly_spaced(out)
    divisor = TIME_UNIT_DIVISOR.get(unit)
    if divisor is None:
        raise Unsupported(f"time unit {unit}")
    step = evenly_spaced(values)
    if step and values[0] % divisor == 0 and step % divisor == 0:  # candles without gaps
        first, step = values[0] // divisor, step // divisor
        return array("q", _progression(first, step, len(values))), step
    if any(map(operator.mod, values, repeat(divisor))):
        raise Unsupported("timestamps finer than a millisecond")
    return array("q", map(operator.floordiv, values, repeat(divisor))), 0


def evenly_spaced(values: array[int]) -> int:
    """The step when `values` rise by one positive step throughout (compared in C), else 0."""
    if len(values) < 2:
        return 0
    first, step = values[0], values[1] - values[0]
    if step <= 0:
        return 0
    return step if values.tobytes() == _progression(first, step, len(values)) else 0  # memcmp


@functools.lru_cache(maxsize=32)
def _progression(first: int, step: int, count: int) -> bytes:
    """`count` int64 from `first` by `step`, as bytes. Cached: the files of one replay
    share their times (read once to scan, once to replay), and building them is most of
    the cost of reading a time column."""
    return array("q", range(first, first + count * step, step)).tobytes()
