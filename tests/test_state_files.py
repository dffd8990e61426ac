"""The state file against a hostile or broken filesystem: lost or altered snapshots, links,
devices, bare names, tampered fields, stale temp files, and the lock under contention."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jogg_flow.errors import StateError
from jogg_flow.state import State, file, locked

MANIFEST = "version: 1\nproducts:\n  - {key: a, url: 'https://x.example/a'}\n"


def _filled(path: str, n: int = 3) -> State:
    state = State.load(path)
    state.put("seed", {"status": "succeeded", "outputs": {"video_url": "https://v/seed"}})
    state.save()
    for i in range(n):
        state.put(f"v{i}", {"status": "rendering", "project_id": f"p{i}", "steps": {"render": "done"}})
    state.close()  # as if killed: the snapshot holds only "seed"
    return state


def test_a_missing_snapshot_is_recovered_from_the_journal(tmp_path):
    path = str(tmp_path / "s.json")
    _filled(path)
    os.unlink(path)
    state = State.load(path)
    assert sorted(state.videos) == ["seed", "v0", "v1", "v2"]
    assert "recovered 4 videos" in state.notes[0]
    assert not os.path.exists(path)  # reading alone writes nothing
    with locked(path, "s") as held:
        assert os.path.exists(path) and held.notes  # the run that locks it rewrites it
    with open(path) as fh:
        assert sorted(json.load(fh)["videos"]) == ["seed", "v0", "v1", "v2"]


@pytest.mark.parametrize("tamper", ["lineage", "videos", "serial_back"])
def test_an_altered_snapshot_is_overruled_by_the_journal(tmp_path, tamper):
    path = str(tmp_path / "s.json")
    _filled(path)
    with open(path) as fh:
        snap = json.load(fh)
    if tamper == "lineage":
        snap["lineage"] = snap["lineage"][:-1] + ("0" if snap["lineage"][-1] != "0" else "1")
    elif tamper == "videos":
        snap["videos"] = {}
    else:
        snap["serial"] = 0
    with open(path, "w") as fh:
        json.dump(snap, fh)
    assert sorted(State.load(path).videos) == ["seed", "v0", "v1", "v2"]


def test_a_snapshot_newer_than_its_journal_is_refused(tmp_path):
    path = str(tmp_path / "s.json")
    _filled(path)
    with open(path) as fh:
        snap = json.load(fh)
    snap["serial"] += 5
    with open(path, "w") as fh:
        json.dump(snap, fh)
    with pytest.raises(StateError, match="newer .* than its journal"):
        State.load(path)


def test_the_snapshot_follows_the_journal_during_a_long_run(tmp_path, monkeypatch):
    monkeypatch.setattr(file, "COMPACT_SECONDS", 0.0)
    path = str(tmp_path / "s.json")
    state = State.load(path)
    for i in range(3):
        state.put(f"v{i}", {"status": "new"})
    with open(path) as fh:
        assert len(json.load(fh)["videos"]) >= 2  # not an empty shell while the run goes on


def test_a_symlinked_state_is_written_through_and_stays_a_link(tmp_path, write, run):
    manifest = write("m.yaml", MANIFEST)
    target = tmp_path / "real" / "s.json"
    target.parent.mkdir()
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = run("apply", manifest, "--sandbox", "--state", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and target.is_file()
    assert "a" in State.load(str(target)).videos
    assert run("plan", manifest, "--sandbox", "--state", str(link)).output.count("up-to-date") >= 1


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_a_state_that_is_not_a_regular_file_is_refused(tmp_path, write, run, kind):
    manifest = write("m.yaml", MANIFEST)
    if kind == "device":
        target = "/dev/full"
    elif kind == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    else:
        target = str(tmp_path / "dir")
        os.mkdir(target)
    result = run("apply", manifest, "--sandbox", "--state", target)
    assert result.exit_code == 4, result.output
    assert "cannot use as a state file" in result.stderr and "Traceback" not in result.stderr


def test_a_bare_state_file_name_works(tmp_path, write, run, monkeypatch):
    manifest = write("m.yaml", MANIFEST)
    monkeypatch.chdir(tmp_path)
    result = run("apply", manifest, "--sandbox", "--state", "st.json")
    assert result.exit_code == 0, result.stderr
    assert "a" in State.load(str(tmp_path / "st.json")).videos


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.update(format_version="1"), "'format_version' must be a positive integer"),
    (lambda s: s.update(format_version=None), "'format_version' must be a positive integer"),
    (lambda s: s["videos"]["a"].update(outputs={"video_url": ["x"]}),
     "video 'a': field 'outputs.video_url' must be a string or null, not a list"),
    (lambda s: s["videos"].update(a=[1]), "video 'a': record must be an object, not a list"),
    (lambda s: s["videos"].update({"../../../escaped": {}}), "'../../../escaped' is not a valid key"),
    (lambda s: s["videos"]["a"].update(steps={"render": 1}), "'steps.render' must be a string"),
    (lambda s: s.update(serial="7"), "'serial' must be a non-negative integer"),
])
def test_tampered_fields_are_a_precise_exit_4(tmp_path, write, run, change, message):
    manifest = write("m.yaml", MANIFEST)
    state = str(tmp_path / "s.json")
    assert run("apply", manifest, "--sandbox", "--state", state).exit_code == 0
    os.unlink(state + ".journal")  # the snapshot alone speaks
    with open(state) as fh:
        snap = json.load(fh)
    change(snap)
    with open(state, "w") as fh:
        json.dump(snap, fh)
    for command in ("plan", "apply"):
        result = run(command, manifest, "--sandbox", "--state", state)
        assert result.exit_code == 4, result.output
        assert message in result.stderr and "Traceback" not in result.stderr


def test_stale_temp_files_of_dead_processes_are_cleaned(tmp_path):
    path = str(tmp_path / "s.json")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = [f"{path}.tmp.{dead}", f"{path}.journal.tmp.{dead}"]
    live = f"{path}.tmp.{os.getppid()}"
    for name in [*stale, live]:
        with open(name, "w") as fh:
            fh.write("{")
    state = State.load(path)
    state.put("a", {"status": "new"})
    state.close()
    assert not any(os.path.exists(name) for name in stale)
    assert os.path.exists(live)


LOCKER = """
import os, sys, time
from jogg_flow.errors import StateError
from jogg_flow.state import Lock
path, marker, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
overlaps = done = 0
while done < rounds:
    lock = Lock(path)
    try:
        lock.acquire()
    except StateError:
        continue
    with open(marker, "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(0.0005)
    with open(marker) as fh:
        overlaps += fh.read() != str(os.getpid())
    lock.release()
    done += 1
print(overlaps)
"""


def test_the_lock_is_never_held_twice_under_contention(tmp_path):
    path, marker = str(tmp_path / "s.json"), str(tmp_path / "holder")
    procs = [subprocess.Popen([sys.executable, "-c", LOCKER, path, marker, "150"],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    overlaps = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert overlaps == [0, 0, 0, 0]


def test_snapshot_tampering_between_kills_never_pays_twice(tmp_path):
    from bench.state_campaigns import tamper

    figures = tamper(str(tmp_path), kills=5, seed=3, n=8)
    assert figures["duplicate_renders"] == 0 and figures["forgotten_urls"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_snapshot_tampering_campaign(tmp_path, seed):
    from bench.state_campaigns import tamper

    figures = tamper(str(tmp_path), kills=25, seed=seed, n=30)
    assert figures["duplicate_renders"] == 0 and figures["forgotten_urls"] == 0


def test_a_refused_lock_names_the_ci_run_of_its_holder(tmp_path):
    from jogg_flow.state import Lock

    path = str(tmp_path / "s.json")
    code = ("import time; from jogg_flow.state import Lock; "
            f"l = Lock({path!r}); l.acquire(); print('locked', flush=True); time.sleep(60)")
    env = {**os.environ, "GITHUB_RUN_ID": "4242", "GITHUB_REPOSITORY": "shop/videos"}
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StateError, match=r"pid \d+ on .*\(https://github.com/shop/videos/actions/runs/4242\)"):
            Lock(path).acquire()
    finally:
        holder.kill()
        holder.communicate()
