"""Redis's wire protocol (RESP) laid out by hand, and the thread that ships write batches.

A command is ``*<n>\\r\\n`` then ``$<len>\\r\\n<bytes>\\r\\n`` per argument. The writer builds a
whole batch of commands as one Arrow binary column (one row per command, built column-wise), so the
constant parts of a command are merged into byte strings between the per-row columns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def bulk(argument: bytes) -> bytes:
    """One argument as a RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(argument), argument)


def pipeline(commands: list[list[bytes]]) -> bytes:
    """RESP arrays of bulk strings, the wire form of a pipeline."""
    return b"".join(b"*%d\r\n" % len(command) + b"".join(map(bulk, command)) for command in commands)


def constant_bulk(value: bytes) -> bytes:
    """A constant argument, after a ``$``; ends with ``$`` for the next argument."""
    return b"%d\r\n%s\r\n$" % (len(value), value)


def bulk_column(values: pa.Array) -> list[pa.Array | bytes]:
    """A RESP bulk string per row, after the ``$`` the preceding constant ends with."""
    lengths = pc.binary_length(values).cast(pa.string()).cast(pa.binary())
    return [lengths, b"\r\n", values, b"\r\n$"]


def merge_constants(parts: list[pa.Array | bytes]) -> list[pa.Array | bytes]:
    """Adjacent byte strings joined, so a row-wise join concatenates as few pieces as possible."""
    merged: list[pa.Array | bytes] = []
    for part in parts:
        if isinstance(part, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def data(stream: pa.Array) -> memoryview:
    """A binary array's bytes, back to back: the batch's commands, sent as they are (no copy)."""
    _, offsets, buffer = stream.buffers()
    first, last = np.frombuffer(offsets, np.int32)[[stream.offset, stream.offset + len(stream)]].tolist()
    return memoryview(buffer)[first:last]


class Sender:
    """One background thread running ``work(stream, replies)`` per batch, in order, one batch ahead.

    ``submit`` blocks while a batch is still queued, so at most three batches exist at once (one
    being encoded, one queued, one on the wire); an error in the thread surfaces on the next call.
    """

    def __init__(self, work: Callable[[pa.Array, int], None]) -> None:
        self._work = work
        self._queue: queue.Queue[tuple[pa.Array, int] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="online-write-sender", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is not None and self._error is None:
                    self._work(*item)
            except BaseException as exc:
                self._error = exc
            finally:
                self._queue.task_done()
            if item is None:
                return

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, stream: pa.Array, replies: int) -> None:
        self._raise()
        self._queue.put((stream, replies))

    def wait(self) -> None:
        self._queue.join()
        self._raise()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
