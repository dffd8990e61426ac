"""The state file: journal + snapshot, torn tails, compaction, the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jogg_flow.errors import StateError
from jogg_flow.state import Lock, State, unlock


def test_puts_survive_without_a_save(tmp_path):
    path = str(tmp_path / "s.json")
    state = State.load(path)
    state.put("a", {"status": "new"})
    state.put("b", {"status": "new"})
    state.put("a", {"status": "rendering"})
    state.put("b", None)
    # no save(): as if killed now
    again = State.load(path)
    assert again.videos == {"a": {"status": "rendering"}}
    assert again.lineage == state.lineage


def test_a_torn_last_line_is_ignored_and_cut_before_the_next_write(tmp_path):
    path = str(tmp_path / "s.json")
    state = State.load(path)
    state.put("a", {"n": 1})
    state.close()
    with open(path + ".journal", "ab") as fh:
        fh.write(b'{"lineage": "' + state.lineage.encode() + b'", "key": "b", "rec')
    resumed = State.load(path)
    assert resumed.videos == {"a": {"n": 1}}
    resumed.put("c", {"n": 3})
    assert State.load(path).videos == {"a": {"n": 1}, "c": {"n": 3}}


def test_save_folds_the_journal_into_the_snapshot_and_the_journal_keeps_everything(tmp_path):
    path = str(tmp_path / "s.json")
    state = State.load(path)
    state.put("a", {"n": 1})
    state.save()
    with open(path) as fh:
        snap = json.load(fh)
    assert snap["videos"] == {"a": {"n": 1}} and snap["serial"] == state.serial
    with open(path + ".journal") as fh:
        lines = [json.loads(line) for line in fh]
    assert lines[0]["header"] and lines[0]["serial"] == state.serial
    assert lines[1:] == [{"lineage": state.lineage, "serial": state.serial, "key": "a", "record": {"n": 1}}]


def test_a_journal_from_before_headers_is_still_read(tmp_path):
    path = str(tmp_path / "s.json")
    with open(path, "w") as fh:
        json.dump({"format_version": 1, "lineage": "L", "serial": 2, "videos": {"a": {"n": 1}}}, fh)
    with open(path + ".journal", "w") as fh:
        fh.write(json.dumps({"lineage": "L", "serial": 1, "key": "a", "record": {"n": 0}}) + "\n")
        fh.write(json.dumps({"lineage": "L", "serial": 2, "key": "b", "record": {"n": 2}}) + "\n")
    state = State.load(path)
    assert state.videos == {"a": {"n": 1}, "b": {"n": 2}}
    state.put("c", {"n": 3})  # converts to the new journal
    assert State.load(path).videos == {"a": {"n": 1}, "b": {"n": 2}, "c": {"n": 3}}


def test_journal_bytes_per_put_do_not_grow_with_the_number_of_videos(tmp_path):
    def size(path):
        return os.path.getsize(path) if os.path.exists(path) else 0

    def bytes_per_put(n):
        path = str(tmp_path / f"s{n}.json")
        state = State.load(path)
        for i in range(n):
            state.put(f"v{i}", {"status": "succeeded", "n": i})
        state.save()
        before = size(path + ".journal") + size(path)
        state.put("v0", {"status": "rendering", "n": 0})
        return size(path + ".journal") + size(path) - before
    assert bytes_per_put(10) == bytes_per_put(5000)


def test_lock_names_its_holder_and_frees_on_process_death(tmp_path):
    path = str(tmp_path / "s.json")
    code = ("import sys, time; from jogg_flow.state import Lock; "
            f"l = Lock({path!r}); l.acquire(); print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StateError, match=f"pid {holder.pid} on"):
            Lock(path).acquire()
        with pytest.raises(StateError):
            unlock(path)  # refused while the holder lives
    finally:
        holder.kill()
        holder.communicate()
    lock = Lock(path)
    lock.acquire()
    assert lock.stale is not None and lock.stale["pid"] == holder.pid
    lock.release()
    assert not os.path.exists(path + ".lock")


def test_unlock_command_removes_a_stale_lock(tmp_path, write, run):
    manifest = write("m.yaml", "version: 1\nproducts:\n  - {key: a, url: 'https://x.example/a'}\n")
    state = str(tmp_path / "s.json")
    with open(state + ".lock", "w") as fh:
        json.dump({"pid": 999999, "host": "elsewhere", "started": "then"}, fh)
    result = run("unlock", manifest, "--state", state)
    assert result.exit_code == 0 and "999999" in result.output
    assert not os.path.exists(state + ".lock")


def test_unwritable_state_directory_is_a_state_error(tmp_path, write, run):
    # A file where the state directory should be fails for root too (permissions would not).
    (tmp_path / "blocker").write_text("")
    with pytest.raises(StateError, match="Not a directory"):
        State.load(str(tmp_path / "blocker" / "s.json")).put("a", {})
    manifest = write("m.yaml", "version: 1\nproducts:\n  - {key: a, url: 'https://x.example/a'}\n")
    result = run("apply", manifest, "--sandbox", "--state", str(tmp_path / "blocker" / "s.json"))
    assert result.exit_code == 4 and "Traceback" not in result.stderr


@pytest.fixture
def tiny_disk(tmp_path):
    """A 48 KiB tmpfs: the state fills it within a few dozen videos."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_run_with_exit_4_and_loses_nothing(tiny_disk, tmp_path, write, run):
    from jogg_flow.sandbox import Config, Sandbox

    products = "".join(f"  - key: p{i}\n    url: https://shop.example/{i}\n    details: {{title: T{i}}}\n"
                       for i in range(60))
    manifest = write("m.yaml", f"version: 1\nproducts:\n{products}")
    state = tiny_disk / "s.json"
    env = {"JOGG_API_KEY": "k" * 12}
    fast = ("--post-rate", "40/1s", "--poll-interval", "0.05", "--poll-max", "0.2")
    with Sandbox(Config(time_scale=60.0, render_seconds=10.0)) as sb:
        result = run("apply", manifest, "--api-base", sb.url, "--state", str(state), *fast, env=env)
        assert result.exit_code == 4, result.output
        assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
        recorded = State.load(str(state)).videos  # still readable
        assert recorded
        # Move the state to a roomy disk and finish: one render per video, none paid twice.
        roomy = tmp_path / "roomy"
        roomy.mkdir()
        for name in os.listdir(tiny_disk):
            if not name.endswith(".lock"):
                with open(tiny_disk / name, "rb") as src, open(roomy / name, "wb") as dst:
                    dst.write(src.read())
        moved = str(roomy / "s.json")
        fast = ("--post-rate", "20/1s", *fast[2:])  # within the sandbox's own budget: no 429 storm
        result = run("apply", manifest, "--api-base", sb.url, "--state", moved, *fast, env=env)
        if result.exit_code == 1:
            # A render's in-flight mark can reach the disk while its put still fails (the
            # journal line written, then the compaction that put starts refused on the full
            # disk): that render was never sent, but the state cannot say so, so the next
            # run asks for a check instead of paying twice.
            records = State.load(moved).videos
            checks = {k for k, r in records.items() if r.get("status") == "needs-check"}
            assert checks and f"{len(checks)} needs-check" in result.stdout, result.stdout[-3000:]
            rendered = {str(records[k]["project_id"]) for k in checks}
            assert not rendered & set(sb.stats()["renders_per_project"])  # truly never sent
            for key in checks:  # as a user would after looking at the dashboard
                assert run("state", "rerender", manifest, key, "--state", moved).exit_code == 0
            result = run("apply", manifest, "--api-base", sb.url, "--state", moved, *fast, env=env)
        assert result.exit_code == 0, result.stdout[-3000:] + result.stderr
        stats = sb.stats()
    assert set(stats["renders_per_product"].values()) == {1}
    assert sum(stats["renders_per_product"].values()) == 60


def test_a_read_only_state_directory_is_a_state_error(tiny_disk, write, run):
    manifest = write("m.yaml", "version: 1\nproducts:\n  - {key: a, url: 'https://x.example/a'}\n")
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    result = run("apply", manifest, "--sandbox", "--state", str(tiny_disk / "s.json"))
    assert result.exit_code == 4
    assert "Read-only file system" in result.stderr and "Traceback" not in result.stderr


def test_a_run_that_changed_nothing_writes_no_state(tmp_path, write, run):
    manifest = write("m.yaml", "version: 1\nproducts:\n  - {key: a, url: 'https://x.example/a'}\n")
    result = run("apply", manifest, "--state", str(tmp_path / "st" / "s.json"), env={})
    assert result.exit_code == 3  # no key
    assert not (tmp_path / "st" / "s.json").exists()
