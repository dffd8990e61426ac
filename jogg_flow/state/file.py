"""The state file: a JSON snapshot plus an append-only journal that alone holds everything.

Each change to a video appends one line holding that video's whole record to the journal
and syncs it to disk before `put` returns, so the POST it announces is never sent before
the announcement is durable. A compaction writes the snapshot (write, fsync, rename) and
then rewrites the journal as a header plus one line per video, also atomically: the journal
is therefore self-sufficient, and a snapshot that is lost, stale or altered is recovered
from it instead of throwing it away. The snapshot is what people and older versions read
(one video per line).

Records are held as their JSON text (`compact`): `videos` decodes on reading, `get` hands
out a fresh decode, `put` encodes once for both the journal line and what is kept.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import stat
import threading
import time
import uuid
from typing import Any

from ..errors import StateError
from . import identity as ident
from . import platform
from .compact import Records, dump, scan_snapshot
from .records import check_record, check_videos

FORMAT_VERSION = 1
Record = dict[str, Any]
COMPACT_SECONDS = 10.0  # the snapshot never lags the journal by more than this during a run


def default_path(manifest_file: str, name: str) -> str:
    """`.jogg-flow/NAME.state.json` beside the manifest."""
    return os.path.join(os.path.dirname(os.path.abspath(manifest_file)), ".jogg-flow",
                        f"{name}.state.json")


def resolve(path: str) -> str:
    """The file a `--state` path designates: symlinks followed (so writes go through to the
    target and the link stays a link); anything but a regular file is refused."""
    real = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return real
    except OSError as err:
        raise StateError(f"{path}: cannot use as a state file ({_reason(err)})") from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise StateError(f"{path}: cannot use as a state file: it is {kind}")
    return real


class State:
    """Video records by key; `put` makes a change durable before it returns."""

    sync = True  # fsync each journal line; the bench turns it off to measure what it costs

    def __init__(self, path: str) -> None:
        self.path = resolve(path)
        self.journal_path = self.path + ".journal"
        self.lineage = str(uuid.uuid4())
        self.serial = 0
        self._texts: dict[str, str] = {}  # key -> the record's canonical JSON text
        self.identity: dict[str, Any] | None = None
        self.notes: list[str] = []  # what loading repaired, for the run to report
        self.existed = False
        self.took_over: dict[str, Any] | None = None  # the dead run whose lock was taken over
        self._identity_dirty = False
        self._journal_lines = 0
        self._valid_len = 0
        self._has_header = False
        self._repair = False  # the snapshot was lost or altered: rewrite it at the first write
        self._fd: int | None = None
        self._compacted_at = time.monotonic()
        self._mutex = threading.Lock()

    @property
    def videos(self) -> Records:
        """Key -> record, read-only; each read decodes a fresh copy."""
        return Records(self._texts, self.path)

    @classmethod
    def load(cls, path: str) -> State:
        """Read snapshot and journal; a missing file is an empty state."""
        state = cls(path)
        entries = state._read_journal()
        # A snapshot byte for byte as the journal's compaction wrote it (its digest is in the
        # header) holds nothing the journal does not: only its head is read. Anything else
        # is read whole and checked record by record (the videos are not kept).
        snap = state._compacted_snapshot(entries[0]) if entries and entries[0].get("header") else None
        if snap is None:
            snap = state._read_snapshot()
        state.existed = snap is not None or bool(entries)
        if entries and entries[0].get("header"):
            state._from_journal(snap, entries)
        else:
            if snap is not None:
                state._adopt(snap)
            state._replay_legacy(snap, entries)
        return state

    # -- reading -----------------------------------------------------------------------------

    def _read_snapshot(self, keep: dict[str, str] | None = None) -> dict[str, Any] | None:
        """The snapshot's fields, every video checked; with `keep`, its videos' texts too."""
        def video(key: str, record: Any, _: str) -> None:
            check_record(key, record, self.path)
            if keep is not None:
                keep[key] = dump(record)

        try:
            with open(self.path, encoding="utf-8") as fh:
                text = fh.read()
            snap = scan_snapshot(text, video)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise StateError(f"{self.path}: state file is unreadable ({_reason(err)}); "
                             "it was left untouched") from None
        except RecursionError:  # arrays or objects nested thousands deep: no record of ours
            raise StateError(f"{self.path}: state file is unreadable (nested too deeply); "
                             "it was left untouched") from None
        return _check_snapshot(snap, self.path)

    def _compacted_snapshot(self, header: dict[str, Any]) -> dict[str, Any] | None:
        """The snapshot's head fields when the file is the one the header's compaction wrote
        (same SHA-256), without decoding its videos; None when it is not (or cannot tell)."""
        digest = header.get("snapshot")
        if not isinstance(digest, str):
            return None  # a journal from before the digest was kept
        sha, first = hashlib.sha256(), b""
        try:
            with open(self.path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    first = first or chunk
                    sha.update(chunk)
        except OSError:
            return None  # missing or unreadable: the whole read says which
        end = first.find(b'\n "videos": ')
        if sha.hexdigest() != digest or end < 0:
            return None
        try:
            head = json.loads(first[:end] + b'\n "videos": true}')
        except ValueError:
            return None
        return _check_snapshot(head, self.path)

    def _read_journal(self) -> list[dict[str, Any]]:
        """The journal's entries, a line at a time, each record kept as its text at once (the
        file is never held whole, nor its records as objects)."""
        entries: list[dict[str, Any]] = []
        valid = 0  # bytes of whole lines: a torn tail after them is cut at the next write
        try:
            with open(self.journal_path, "rb") as fh:
                for i, raw in enumerate(fh):
                    whole = raw.endswith(b"\n")
                    valid += len(raw) if whole else 0
                    entry = self._entry(raw, i, whole)
                    if entry is not None:
                        entries.append(entry)
        except FileNotFoundError:
            return []
        except OSError as err:
            raise StateError(f"{self.journal_path}: unreadable ({_reason(err)})") from None
        self._valid_len = valid
        return entries

    def _entry(self, raw: bytes, i: int, whole: bool) -> dict[str, Any] | None:
        try:
            entry = json.loads(raw)
        except RecursionError:
            raise StateError(f"{self.journal_path}: line {i + 1} is nested too deeply; the state "
                             "was left untouched") from None
        except ValueError:
            if whole and raw.strip():
                raise StateError(f"{self.journal_path}: line {i + 1} is damaged; the state "
                                 "was left untouched") from None
            return None  # the torn tail of a write cut short by a crash
        if not isinstance(entry, dict):
            raise StateError(f"{self.journal_path}: line {i + 1} is not a journal entry")
        if "record" in entry:
            entry["record"] = _JournalRecord.of(entry, raw, self.journal_path)
        return entry

    def _from_journal(self, snap: dict[str, Any] | None, entries: list[dict[str, Any]]) -> None:
        """The journal holds every record: it wins over whatever the snapshot says."""
        header = entries[0]
        lineage, serial = header.get("lineage"), header.get("serial")
        if not isinstance(lineage, str) or not isinstance(serial, int) or isinstance(serial, bool):
            raise StateError(f"{self.journal_path}: header has no valid lineage and serial")
        self.lineage, self.serial = lineage, serial
        self.identity = ident.check_shape(header.get("identity"), self.journal_path)
        self._has_header = True
        for entry in entries[1:]:
            if entry.get("header") or entry.get("lineage") != lineage:
                raise StateError(f"{self.journal_path}: lines of another state are mixed in; "
                                 "the state was left untouched")
            self._apply(entry)
        base = header.get("records", 0)  # the compacted records: nothing new to fold
        self._journal_lines = max(0, len(entries) - 1 - (base if isinstance(base, int) else 0))
        self._repair = snap is None or snap.get("lineage") != lineage or snap.get("serial") != serial
        if snap is None:
            self.notes.append(f"{self.path} was missing: recovered {len(self.videos)} videos "
                              "from its journal")
        elif snap.get("lineage") == lineage and snap.get("serial", 0) > serial + 1:
            raise StateError(f"{self.path} is newer (serial {snap.get('serial')}) than its journal "
                             f"(serial {serial}): restore the journal that goes with it; both were "
                             "left untouched")
        elif snap.get("lineage") != lineage or snap.get("serial") not in (serial, serial + 1):
            self.notes.append(f"{self.path} does not match its journal (lineage or serial "
                              f"differ): recovered {len(self.videos)} videos from the journal")

    def _apply(self, entry: dict[str, Any]) -> None:
        if "identity" in entry:
            self.identity = ident.check_shape(entry["identity"], self.journal_path)
            return
        key = entry.get("key")
        if entry.get("deleted"):
            self._texts.pop(str(key), None)
            return
        kept = entry.get("record")
        if not isinstance(kept, _JournalRecord):
            check_record(key, kept, self.journal_path)  # no record at all: refused
            return
        if kept.error is not None:
            raise StateError(kept.error)
        self._texts[str(key)] = kept.text

    def _adopt(self, snap: dict[str, Any]) -> None:
        self.lineage = snap.get("lineage") or self.lineage
        self.serial = snap.get("serial", 0)
        self._read_snapshot(keep=self._texts)  # read again, this time keeping the videos
        self.identity = snap.get("identity")

    def _replay_legacy(self, snap: dict[str, Any] | None, entries: list[dict[str, Any]]) -> None:
        """A journal from before it held a header: lines of the snapshot's lineage and serial."""
        if entries and snap is None:
            raise StateError(f"{self.path} is missing but its journal {self.journal_path} is "
                             "not: restore the snapshot; the journal was left untouched")
        for entry in entries:
            if entry.get("lineage") != self.lineage:
                raise StateError(f"{self.journal_path} belongs to another state than {self.path} "
                                 "(lineage differs): restore the matching snapshot; both were "
                                 "left untouched")
            if entry.get("serial") == self.serial:  # older lines are in the snapshot already
                self._journal_lines += 1
                self._apply(entry)

    # -- the interface the executor uses -----------------------------------------------------

    def get(self, key: str) -> Record | None:
        """A copy of the record for `key`, safe to change and `put` back."""
        with self._mutex:
            text = self._texts.get(key)
        return None if text is None else Records({key: text}, self.path)[key]

    def put(self, key: str, record: Record | None) -> None:
        """Record (or with None, forget) one video, durably."""
        text = None if record is None else dump(record)  # outside the lock: the slow part
        with self._mutex:
            if text is None:
                self._append_line(_dump_line({"key": key, "deleted": True,
                                              "lineage": self.lineage, "serial": self.serial}))
                self._texts.pop(key, None)
            else:
                self._append_line(self._record_line(key, text))
                self._texts[key] = text
            if (self._journal_lines > max(1000, 2 * len(self._texts))
                    or time.monotonic() - self._compacted_at > COMPACT_SECONDS):
                self._compact()

    def set_identity(self, identity: dict[str, Any]) -> None:
        """Record the API this state describes; written at once when videos depend on it."""
        with self._mutex:
            if identity == self.identity:
                return
            self.identity = dict(identity)
            if self._texts or self._fd is not None:
                self._append({"identity": self.identity})
            else:
                self._identity_dirty = True  # written with the first record

    def repair(self) -> None:
        """Rewrite a snapshot that loading found lost or altered (only under the lock)."""
        with self._mutex:
            if self._repair:
                self._journal_fd()

    def save(self) -> None:
        """Fold the journal into the snapshot, if anything was journaled."""
        with self._mutex:
            if self._journal_lines or (self._fd is not None and self._identity_dirty):
                self._compact()

    def close(self) -> None:
        """Release the journal's file descriptor."""
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # -- writing -----------------------------------------------------------------------------

    def _append(self, entry: dict[str, Any]) -> None:
        self._journal_fd()  # may compact first, which fixes lineage and serial
        self._append_line(_dump_line({"lineage": self.lineage, "serial": self.serial, **entry}))

    def _record_line(self, key: str, text: str) -> bytes:
        """`{"key":..,"lineage":..,"record":..,"serial":..}`, as json.dumps with sorted keys
        writes it, from the record's text (encoded once, in `put`)."""
        self._journal_fd()  # may compact first, which fixes lineage and serial
        return _record_line_text(key, json.dumps(self.lineage), text, self.serial).encode()

    def _append_line(self, line: bytes) -> None:
        fd = self._journal_fd()
        end = os.fstat(fd).st_size
        try:
            _write_all(fd, line)
            if self.sync:
                platform.sync_data(fd)
        except OSError as err:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)  # never leave half a line for the next one to join
            raise StateError(f"{self.journal_path}: cannot write ({_reason(err)}); "
                             "the state holds everything up to this step") from None
        self._journal_lines += 1

    def _journal_fd(self) -> int:
        if self._fd is None:
            if not self._has_header or self._repair:
                _clean_temp_files(self.path)
                self._compact()  # the header fixes the lineage the lines refer to
                self._repair = False
            else:
                try:
                    self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
                    if os.fstat(self._fd).st_size > self._valid_len:
                        os.ftruncate(self._fd, self._valid_len)  # drop a torn tail from a crash
                except OSError as err:
                    raise StateError(f"{self.journal_path}: cannot write ({_reason(err)})") from None
        assert self._fd is not None
        return self._fd

    def _compact(self) -> None:
        serial = self.serial + 1
        _makedirs(os.path.dirname(self.path))
        snapshot = self._snapshot_text(serial).encode()
        _atomic_write(self.path, snapshot, "the journal beside it still holds every change")
        head = {"header": True, "lineage": self.lineage, "serial": serial, "identity": self.identity,
                "records": len(self._texts), "snapshot": hashlib.sha256(snapshot).hexdigest()}
        lineage = json.dumps(self.lineage)
        data = "".join([_dump_line_text(head)] + [
            _record_line_text(k, lineage, t, serial) for k, t in self._texts.items()]).encode()
        _atomic_write(self.journal_path, data, "the previous journal still holds every change")
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
        except OSError as err:
            raise StateError(f"{self.journal_path}: cannot write ({_reason(err)})") from None
        self.serial = serial
        self._has_header = True
        self._identity_dirty = False
        self._journal_lines = 0
        self._valid_len = len(data)
        self._compacted_at = time.monotonic()

    def _snapshot_text(self, serial: int) -> str:
        """The snapshot as json.dumps(indent=1, sort_keys=True) laid it out, but with each
        video's record on its own line (its kept text: nothing to encode again)."""
        videos = ",\n".join(f"  {json.dumps(k)}: {self._texts[k]}" for k in sorted(self._texts))
        return (f'{{\n "format_version": {FORMAT_VERSION},\n "identity": {dump(self.identity)},\n'
                f' "lineage": {json.dumps(self.lineage)},\n "serial": {serial},\n'
                f' "videos": {{' + (f"\n{videos}\n }}" if videos else "}") + "\n}\n")


class _JournalRecord:
    """A journal line's record as read: its canonical text, or why it was refused (raised
    only if the line is applied, as when records were kept whole)."""

    __slots__ = ("text", "error")

    def __init__(self, text: str, error: str | None) -> None:
        self.text, self.error = text, error

    @classmethod
    def of(cls, entry: dict[str, Any], raw: bytes, where: str) -> _JournalRecord:
        """Check the entry's record now and keep only its text: the line's own bytes when
        the line is laid out as `_record_line` writes it (nothing to encode again), else
        the record encoded anew."""
        key, record = entry.get("key"), entry["record"]
        try:
            check_record(key, record, where)
        except StateError as err:
            return cls("", str(err))
        serial = entry.get("serial")
        if isinstance(key, str) and isinstance(entry.get("lineage"), str) and type(serial) is int:
            head = _record_head(json.dumps(key), json.dumps(entry["lineage"])).encode()
            tail = _record_tail(serial).encode()
            line = raw.rstrip(b"\n")
            if line.startswith(head) and line.endswith(tail) and len(entry) == 4:
                with contextlib.suppress(UnicodeDecodeError):
                    return cls(line[len(head):-len(tail)].decode("utf-8"), None)
        return cls(dump(record), None)


# A record's journal line, laid out as json.dumps(sort_keys=True, separators=(",", ":")) lays
# it out, around the record's kept text: written by `_record_line` and `_compact`, and
# recognised by `_JournalRecord.of` (whose fast read takes the text between head and tail).
def _record_head(key_json: str, lineage_json: str) -> str:
    return f'{{"key":{key_json},"lineage":{lineage_json},"record":'


def _record_tail(serial: int) -> str:
    return f',"serial":{serial}}}'


def _record_line_text(key: str, lineage_json: str, text: str, serial: int) -> str:
    return _record_head(json.dumps(key), lineage_json) + text + _record_tail(serial) + "\n"


def _dump_line_text(entry: dict[str, Any]) -> str:
    return dump(entry) + "\n"


def _dump_line(entry: dict[str, Any]) -> bytes:
    return _dump_line_text(entry).encode()


def _check_snapshot(snap: Any, path: str) -> dict[str, Any]:
    if not isinstance(snap, dict) or "videos" not in snap:
        raise StateError(f"{path}: not a jogg-flow state file")
    version = snap.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StateError(f"{path}: 'format_version' must be a positive integer, not {version!r}")
    if version > FORMAT_VERSION:
        raise StateError(f"{path}: state format {version} is newer than this jogg-flow "
                         f"understands ({FORMAT_VERSION}); upgrade jogg-flow")
    if not isinstance(snap.get("lineage", ""), str):
        raise StateError(f"{path}: 'lineage' must be a string")
    serial = snap.get("serial", 0)
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise StateError(f"{path}: 'serial' must be a non-negative integer, not {serial!r}")
    if snap["videos"] is not True:  # True: an object, each video checked as it was read
        check_videos(snap["videos"], path)
    ident.check_shape(snap.get("identity"), path)
    return snap


def _atomic_write(path: str, data: bytes, still: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        platform.sync_dir(os.path.dirname(path))
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StateError(f"{path}: cannot write the state ({_reason(err)}); {still}") from None


def _clean_temp_files(path: str) -> None:
    """Remove `.tmp.PID` files that dead processes left beside the state (we hold the lock)."""
    for tmp in glob.glob(glob.escape(path) + "*.tmp.*"):
        pid = tmp.rsplit(".", 1)[-1]
        if pid.isdigit() and not platform.alive(int(pid)):
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _makedirs(path: str) -> None:
    try:
        os.makedirs(path or ".", exist_ok=True)
    except OSError as err:
        raise StateError(f"{path}: cannot create the state directory ({_reason(err)})") from None


def _reason(err: BaseException) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)
