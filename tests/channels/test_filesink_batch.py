"""The file sink's batch path writes exactly what sending one by one writes."""

from __future__ import annotations

from pathlib import Path

from shopcrm.channels.base import ChannelKind, Message
from shopcrm.channels.filesink import FileSinkChannel


def _messages(start: int, count: int) -> list[Message]:
    return [Message(key=f"c1:s0:{i}", to=f"+86139{i:08d}", body=f"【好物小店】会员{i}，回T退订",
                    metadata={"campaign": "1", "variant": "A", "customer": str(i)},
                    url="https://shop.example.cn/x" if i % 2 else None)
            for i in range(start, start + count)]


def test_a_batch_is_the_same_lines_as_one_by_one(tmp_path: Path) -> None:
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    with FileSinkChannel(one, kind=ChannelKind.SMS) as sink:
        singles = [sink.send(m) for m in _messages(1, 5) + _messages(6, 3)]
    with FileSinkChannel(many, kind=ChannelKind.SMS) as sink:
        batched = sink.send_batch(_messages(1, 5)) + sink.send_batch(_messages(6, 3))
        assert sink.send_batch([]) == []
    assert many.read_bytes() == one.read_bytes()
    assert [r.provider_message_id for r in batched] == [f"many.jsonl:{n}" for n in range(1, 9)]
    assert [r.provider_message_id for r in singles] == [f"one.jsonl:{n}" for n in range(1, 9)]
    assert all(r.ok for r in batched)


def test_numbers_continue_after_reopening_and_keys_are_found(tmp_path: Path) -> None:
    path = tmp_path / "sink.jsonl"
    with FileSinkChannel(path) as sink:
        sink.send_batch(_messages(1, 4))
    with FileSinkChannel(path) as sink:
        results = sink.send_batch(_messages(5, 2))
        found = sink.find_sent({"c1:s0:2", "c1:s0:6", "c1:s0:99"})
    assert [r.provider_message_id for r in results] == ["sink.jsonl:5", "sink.jsonl:6"]
    assert found == {"c1:s0:2": "sink.jsonl:2", "c1:s0:6": "sink.jsonl:6"}
