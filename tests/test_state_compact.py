"""The file store keeps each record as its JSON text: what it reads back, what it
writes, and what loading costs in memory, on real files."""

from __future__ import annotations

import json
import os
import tracemalloc
from typing import Any

import pytest

from jogg_flow.errors import StateError
from jogg_flow.state import State


def _record(i: int) -> dict[str, Any]:
    return {"key": f"p{i}", "tags": ["shop"], "status": "succeeded", "product_id": i,
            "project_id": f"{i:032x}", "steps": {"create": "done", "update": "done", "render": "done"},
            "inputs": {"url": f"https://shop.example/{i}", "details": {"title": f"Acme product {i}"},
                       "render": {"aspect_ratio": 0, "lang": "english", "avatar_id": 37}},
            "history": [], "outputs": {"video_url": f"https://res.example/{i}.mp4",
                                       "cover_url": f"https://res.example/{i}.png", "duration": 3.0}}


def _state(tmp_path, n: int) -> str:
    path = str(tmp_path / "s.json")
    state = State.load(path)
    state.sync = False
    for i in range(n):
        state.put(f"p{i}", _record(i))
    state.save()
    state.close()
    return path


def test_records_read_back_as_written_and_each_read_is_a_fresh_copy(tmp_path):
    path = _state(tmp_path, 3)
    state = State.load(path)
    assert state.videos == {f"p{i}": _record(i) for i in range(3)}
    got = state.get("p1")
    assert got is not None
    got["steps"]["render"] = "inflight"
    state.videos["p2"]["status"] = "failed"
    assert state.get("p1") == _record(1) and state.videos["p2"] == _record(2)
    assert "p1" in state.videos and "p9" not in state.videos and len(state.videos) == 3


def test_the_snapshot_holds_one_video_per_line_and_any_json_layout_is_read(tmp_path):
    path = _state(tmp_path, 3)
    with open(path) as fh:
        lines = fh.read().splitlines()
    assert [line.split(":", 1)[0].strip() for line in lines if line.startswith("  ")] == ['"p0"', '"p1"', '"p2"']
    with open(path) as fh:
        snap = json.load(fh)
    os.unlink(path + ".journal")  # the snapshot alone, as an older jogg-flow wrote it
    for layout in ({}, {"indent": 3}, {"separators": (",", ":")}):
        with open(path, "w") as fh:
            json.dump(snap, fh, **layout)
        assert State.load(path).videos == {f"p{i}": _record(i) for i in range(3)}


@pytest.mark.parametrize("text, message", [
    ('{"format_version": 1, "videos": {"a": {"status": 5}}}', "field 'status' must be a string"),
    ('{"format_version": 1, "videos": {"a": {}}} trailing', "unreadable"),
    ('{"format_version": 1, "videos": {"a": {}}', "unreadable"),
    ('{"format_version": 1, "videos": [1]}', "'videos' must be an object"),
    ('{"format_version": 1, "videos": {"a": []}}', "record must be an object"),
])
def test_a_damaged_snapshot_is_refused_with_one_precise_line(tmp_path, text, message):
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(StateError, match=message):
        State.load(str(path))


def test_loading_holds_the_records_as_text_not_as_objects(tmp_path):
    path = _state(tmp_path, 2000)
    size = os.path.getsize(path + ".journal")
    tracemalloc.start()
    try:
        state = State.load(path)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(state.videos) == 2000
    # As dicts the same records took about 8 times the journal's bytes, held after loading.
    assert held < 2 * size and peak < 4 * size, (held / size, peak / size)


def test_the_journal_header_names_the_snapshot_it_was_compacted_with(tmp_path):
    import hashlib

    path = _state(tmp_path, 3)
    with open(path + ".journal") as fh:
        header = json.loads(fh.readline())
    with open(path, "rb") as fh:
        assert header["snapshot"] == hashlib.sha256(fh.read()).hexdigest()
    state = State.load(path)  # the snapshot is the one compacted: its head is all it reads
    assert state.videos == {f"p{i}": _record(i) for i in range(3)} and state.serial == header["serial"]


def test_a_snapshot_changed_after_its_compaction_is_read_whole_and_checked(tmp_path):
    path = _state(tmp_path, 3)
    with open(path) as fh:
        text = fh.read()
    with open(path, "w") as fh:  # same lineage and serial, one field of the wrong type
        fh.write(text.replace('"status":"succeeded"', '"status":5', 1))
    with pytest.raises(StateError, match="field 'status' must be a string"):
        State.load(path)


def test_a_journal_line_laid_out_by_hand_is_read_as_its_record(tmp_path):
    path = _state(tmp_path, 2)
    with open(path + ".journal") as fh:
        lines = fh.readlines()
    entry = json.loads(lines[2])
    lines[2] = json.dumps(entry, indent=None) + "\n"  # spaces after ':' and ','
    entry["record"]["status"] = "failed"
    lines.append(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
    with open(path + ".journal", "w") as fh:
        fh.writelines(lines)
    state = State.load(path)
    assert state.videos["p1"] == {**_record(1), "status": "failed"}
    assert state.videos["p0"] == _record(0)
    state.save()  # the kept texts are written back as one video per line
    state.close()
    with open(path) as fh:
        snapshot = json.load(fh)
    assert snapshot["videos"]["p1"]["status"] == "failed"
