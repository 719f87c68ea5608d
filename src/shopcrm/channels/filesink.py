"""A file sink: every message as one JSON line, for the demo and for benchmarks.

It exercises dispatch end to end without a provider: what would have been sent is
there to read (``jq``, a spreadsheet). It is also the channel the dispatch benchmark
drives at full speed, so it buffers writes and leaves durability points to the caller
(``flush(sync=True)`` before recording a batch as delivered).

A process killed while writing can leave a torn last line; opening the sink cuts it
off (those messages were never recorded as sent, so dispatch sends them again). After
such a crash dispatch asks :meth:`FileSinkChannel.find_sent` which keys the file
already holds, so a message that did reach the file is not written twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shopcrm.channels.base import ChannelKind, Message, SendResult


def message_record(message: Message) -> dict[str, Any]:
    """The JSON-able form of a message (absent optional fields left out)."""
    record: dict[str, Any] = {"key": message.key, "to": message.to, "body": message.body,
                              "language": message.language}
    for name in ("subject", "html", "template_id", "url", "unsubscribe_url"):
        value = getattr(message, name)
        if value is not None:
            record[name] = value
    if message.params:
        record["params"] = dict(message.params)
    if message.metadata:
        record["metadata"] = dict(message.metadata)
    return record


class FileSinkChannel:
    """Appends messages to a JSON-lines file; the provider message ID is ``<file>:<line>``
    counted from the lines already in the file when it was opened."""

    kind = ChannelKind.FILE
    max_batch = 100_000
    """Messages per :meth:`send_batch` call: whatever batch the dispatcher claimed."""

    def __init__(self, path: Path, *, kind: ChannelKind = ChannelKind.FILE,
                 buffer_bytes: int = 1 << 20) -> None:
        self.kind = kind
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_line(path)
        self._line = _count_lines(path)
        self._handle = path.open("a", encoding="utf-8", buffering=buffer_bytes)
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def send(self, message: Message) -> SendResult:
        if self._handle.closed:
            raise RuntimeError(f"file sink {self.path} is closed")
        self._handle.write(self._encode(message_record(message)))
        self._handle.write("\n")
        self._line += 1
        return SendResult.accepted(f"{self.path.name}:{self._line}")

    def send_batch(self, messages: Sequence[Message]) -> list[SendResult]:
        """Append a whole batch with one write (the dispatcher then makes it durable
        with one ``flush(sync=True)``): the same lines as :meth:`send` one by one."""
        if self._handle.closed:
            raise RuntimeError(f"file sink {self.path} is closed")
        encode = self._encode
        lines = [encode(message_record(message)) for message in messages]
        lines.append("")
        self._handle.write("\n".join(lines))
        first, name = self._line, self.path.name
        self._line += len(messages)
        accepted = SendResult.accepted
        return [accepted(f"{name}:{number}")
                for number in range(first + 1, first + len(messages) + 1)]

    def find_sent(self, keys: set[str]) -> dict[str, str]:
        """Which of ``keys`` the file already holds, with their provider message IDs
        (``<file>:<line>``) — read back after a crash, before anything is re-sent."""
        self.flush()
        found: dict[str, str] = {}
        if not keys or not self.path.exists():
            return found
        decode = json.JSONDecoder().decode
        with self.path.open("r", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if '"key":' not in line:
                    continue
                try:
                    key = decode(line).get("key")
                except ValueError:
                    continue
                if key in keys and key not in found:
                    found[key] = f"{self.path.name}:{number}"
        return found

    def flush(self, *, sync: bool = False) -> None:
        """Hand buffered lines to the OS; with ``sync`` also to the disk."""
        self._handle.flush()
        if sync:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if not self._handle.closed:
            self.flush()
            self._handle.close()

    def __enter__(self) -> FileSinkChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_torn_line(path: Path) -> None:
    """Truncate a last line without its newline (a write cut short by a crash)."""
    if not path.exists():
        return
    size = path.stat().st_size
    if size == 0:
        return
    with path.open("rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        position = size
        block = 1 << 16
        while position > 0:
            start = max(0, position - block)
            handle.seek(start)
            chunk = handle.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                handle.truncate(start + newline + 1)
                return
            position = start
        handle.truncate(0)


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return count
