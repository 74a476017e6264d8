"""Take a foreign log's new records into Keel's prediction log, exactly once.

`take_foreign(settings, log_root)` lists the source (`[serving] source`: a file, a folder read
recursively, a glob, or a URL that `pyarrow.fs.FileSystem.from_uri` opens, `file://`, `s3://`,
`gs://`, `abfs://`), reads what is new with the format's reader (`keel.log.foreign.<format>`)
and writes it as closed segments of Keel's own log, which the roll-up and the intake then take
like any other.

What is new, per file:
- JSON lines (SageMaker, BentoML, CloudEvents, a table's `.jsonl`): the complete lines after the
  last byte taken (a file still being written is taken up to its last newline, the rest next
  time). A file is known by its name and the hash of its first bytes: a log rotated to a new
  name (BentoML's `data.0.log` -> `data.0.log.2026-10-01`) keeps its place; a file whose taken
  bytes changed is warned about once and never taken again.
- Parquet and CSV: a whole file once, known by (name, size, mtime); a taken file that changed
  is warned about once and never taken twice.

How: a format with a columnar reader (SageMaker: `sagemaker_columns.read_table`) turns a whole
chunk into one Arrow table of records, written straight as rolled Parquet parts
(`keel.log.foreign.parts`), with no segment for the roll-up to parse again; a chunk that reader
does not take (an unreadable line, an unusual payload) is read line by line by the format's
reader into a segment, as every other format is.

Exactly once, whatever is killed when: a batch of records is written to
`segments/seg-import-<hash>.importing` (a name the roll-up ignores) and its parts to
`rolled/…/part-seg-import-<hash>-columns.parquet.importing`, fsynced; then the journal,
`imported/state.json` (every file's place, and the batch as pending), is replaced atomically;
then the segment is renamed to `.seg` and the parts to `.parquet`. On start, a leftover
`.importing` file is renamed when the journal holds its batch (it was taken) and deleted
otherwise (its records are read again). One importer at a time per log (a lock file in
`imported/`).

Paired formats (CloudEvents: a request and its response are two lines, perhaps in two chunks
or files): the events a chunk leaves unpaired are kept in the journal (`held`, as structured
event lines) and put in front of the next chunk's (`cloudevents.read_paired`), journalled with
the places and the batch, so exactly once holds for them too.

A row the reader cannot read (a line that is not JSON, a missing time) is counted and named in
`ImportRun.warnings` with its file and line; a row served by a version Keel cannot tell raises
KeelError before anything of that batch is written.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import fnmatch
import hashlib
import importlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.atomic import write_text_atomic
from keel.errors import KeelError
from keel.log.foreign import ForeignSettings, Reader, parts
from keel.log.foreign._common import Unreadable
from keel.log.record import check_record
from keel.log.segments import CLOSED_SUFFIX, encode_record, fsync_dir
from keel.log.writer import rolled_dir

STAGED_SUFFIX = ".importing"  # a segment written but not yet journalled: never rolled
PREFIX = "seg-import-"
HEAD_BYTES = 1024  # the first bytes of a JSON-lines file that identify it
CHUNK_BYTES = 32 * 1024 * 1024  # read a JSON-lines file this much at a time
BATCH_RECORDS = 50_000  # records per segment (one journal entry each)
MAX_LISTED = 20  # unreadable rows named one by one in the warnings, per run
WHOLE = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
GLOB = set("*?[")
Check = Callable[[dict[str, Any]], list[str]]  # a row's inputs -> its problems, as logged
TableReader = Callable[[bytes, str, ForeignSettings, Check | None], Any]  # Arrow table or None
COLUMNAR = {"sagemaker": "keel.log.foreign.sagemaker_columns"}  # format -> read_table's module
PAIRED = {"cloudevents"}  # formats whose reader pairs lines (`read_paired`), across chunks


@dataclass
class ImportRun:
    """What one import took: files read, records written, rows unreadable, and warnings (each
    unreadable row with its file and line, each changed file once)."""

    files: int = 0
    records: int = 0
    unreadable: int = 0
    segments: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Listed:
    """One file of the source: its path in its filesystem, size and mtime (ns)."""

    path: str
    size: int
    mtime_ns: int


def reader_of(fmt: str) -> Reader:
    """The reader of `fmt` (`keel.log.foreign.<fmt>.read`)."""
    try:
        module = importlib.import_module(f"keel.log.foreign.{fmt}")
    except ModuleNotFoundError:
        raise KeelError(f'[serving] format "{fmt}": this Keel has no reader for it') from None
    return module.read


def _paired(fmt: str, batch: _Batch) -> Reader:
    """The reader of a paired format over the batch's held events: each chunk read after
    them, and what stays unpaired held for the next."""
    module = importlib.import_module(f"keel.log.foreign.{fmt}")

    def read(data: bytes, name: str, settings: ForeignSettings) -> Iterator[Any]:
        items, batch.held = module.read_paired(data, name, settings, batch.held)
        return iter(items)

    return read


def table_reader_of(fmt: str) -> TableReader | None:
    """The columnar reader of `fmt` (a chunk into one Arrow table of records), if it has one."""
    if fmt not in COLUMNAR:
        return None
    return importlib.import_module(COLUMNAR[fmt]).read_table


def kind_of(settings: ForeignSettings, path: str) -> str:
    """ "lines", "parquet" or "csv": how a file of the source is taken."""
    if settings.format != "table":
        return "lines"
    return WHOLE.get(Path(path).suffix.lower(), "lines")


# -- listing ---------------------------------------------------------------------------------


def open_source(source: str) -> tuple[Any, str, str | None]:
    """(pyarrow filesystem, base path, glob pattern or None) of `[serving] source`."""
    from pyarrow import fs as pafs

    parts = source.split("/")
    cut = next((i for i, p in enumerate(parts) if GLOB & set(p)), None)
    base = "/".join(parts[:cut]) if cut is not None else source
    try:
        if "://" in source:
            filesystem, path = pafs.FileSystem.from_uri(base.rstrip("/") or base)
        else:
            filesystem, path = pafs.LocalFileSystem(), str(Path(base or ".").resolve())
    except (OSError, ValueError) as exc:
        raise KeelError(f"[serving] source {source!r} cannot be opened: {exc}") from None
    pattern = None if cut is None else path.rstrip("/") + "/" + "/".join(parts[cut:])
    return filesystem, path, pattern


def list_source(source: str) -> tuple[Any, list[Listed]]:
    """The filesystem and the files of `[serving] source`, by name (hidden files, and names
    starting with `_` such as `_SUCCESS`, left out). Raises KeelError when it does not exist."""
    from pyarrow import fs as pafs

    filesystem, base, pattern = open_source(source)
    try:
        info = filesystem.get_file_info(base)
        if info.type == pafs.FileType.NotFound:
            raise KeelError(f"[serving] source {source!r}: no such file or folder")
        if info.type == pafs.FileType.File:
            found = [info]
        else:
            found = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
    except OSError as exc:
        raise KeelError(f"[serving] source {source!r} cannot be listed: {exc}") from None
    files = []
    for item in found:
        name = item.path.rsplit("/", 1)[-1]
        if item.type != pafs.FileType.File or name.startswith((".", "_")):
            continue
        if pattern is not None and not fnmatch.fnmatch(item.path, pattern):
            continue
        files.append(Listed(item.path, int(item.size or 0), int(item.mtime_ns or 0)))
    return filesystem, sorted(files, key=lambda f: f.path)


def _read(filesystem: Any, path: str, start: int, length: int) -> bytes:
    with filesystem.open_input_file(path) as handle:
        handle.seek(start)
        return handle.read(length)


def _head(filesystem: Any, path: str, length: int) -> str:
    return hashlib.sha256(_read(filesystem, path, 0, length)).hexdigest()


# -- the journal -----------------------------------------------------------------------------


class Journal:
    """`imported/state.json`: every source file's place and the segments pending a rename."""

    def __init__(self, log_root: Path) -> None:
        self.folder = Path(log_root) / "imported"
        self.path = self.folder / "state.json"
        self.files: dict[str, dict[str, Any]] = {}
        self.pending: list[str] = []
        self.held: list[str] = []  # events waiting for their partner (paired formats)
        self.seq = 0  # batches written so far: segment names sort in the order taken
        if self.path.is_file():
            try:
                state = json.loads(self.path.read_text(encoding="utf-8"))
                self.files, self.pending = dict(state["files"]), list(state["pending"])
                self.seq = int(state.get("seq", 0))
                self.held = [str(line) for line in state.get("held", [])]
            except (ValueError, KeyError, TypeError) as exc:
                raise KeelError(
                    f"{self.path}: a damaged import journal ({exc}); without it Keel cannot "
                    "tell what was taken. Restore it, or delete it and the imported segments "
                    "to take the source again from the start"
                ) from None

    def write(
        self, files: dict[str, dict[str, Any]], pending: list[str], held: list[str] | None = None
    ) -> None:
        """Replace the journal at once (write-then-rename, fsynced); a batch with a segment
        (`pending`) counts one more in `seq`; `held` (None: as it was) the unpaired events."""
        self.folder.mkdir(parents=True, exist_ok=True)
        seq = self.seq + (1 if pending else 0)
        held = self.held if held is None else held
        state = {"files": files, "pending": pending, "seq": seq, "held": held}
        write_text_atomic(self.path, json.dumps(state, sort_keys=True))
        fsync_dir(self.folder)
        self.files, self.pending, self.seq, self.held = files, pending, seq, held


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def finish_leftovers(segments: Path, journal: Journal) -> None:
    """After a kill: publish each staged segment the journal holds, delete the others."""
    if not segments.is_dir():
        return
    for path in sorted(segments.glob(PREFIX + "*" + STAGED_SUFFIX)):
        if path.stem in journal.pending:
            os.replace(path, path.with_suffix(CLOSED_SUFFIX))
        else:
            path.unlink()
    fsync_dir(segments)


def stage(segments: Path, name: str, frames: list[bytes]) -> Path:
    """Write a batch's framed records to `<name>.importing`, fsynced (step 1 of 3)."""
    segments.mkdir(parents=True, exist_ok=True)
    path = segments / (name + STAGED_SUFFIX)
    with open(path, "wb") as handle:
        handle.write(b"".join(frames))
        handle.flush()
        os.fsync(handle.fileno())
    fsync_dir(segments)
    return path


def publish(staged: Path) -> Path:
    """Rename a journalled segment to `.seg`, where the roll-up takes it (step 3 of 3)."""
    closed = staged.with_suffix(CLOSED_SUFFIX)
    os.replace(staged, closed)
    fsync_dir(staged.parent)
    return closed


# -- taking ----------------------------------------------------------------------------------


class _Batch:
    """Records read but not yet written, and the file places they take the journal to."""

    def __init__(self, journal: Journal) -> None:
        self.files = copy.deepcopy(journal.files)
        self.frames: list[bytes] = []
        self.tables: list[Any] = []  # Arrow tables of records, written as rolled parts
        self.held = list(journal.held)  # unpaired events after the chunks read so far
        self.moved = False  # a place changed (even with no record: a file of bad lines)


def _warn_changed(run: ImportRun, entry: dict[str, Any], path: str, why: str) -> None:
    if not entry.get("warned"):
        run.warnings.append(f"{path}: {why}; it was taken before and is not taken again")
        entry["warned"] = True


def _unreadable(run: ImportRun, path: str, line: int, reason: str) -> None:
    run.unreadable += 1
    if run.unreadable <= MAX_LISTED:
        where = f"line {line}" if line else "a row"
        run.warnings.append(f"{path} {where}: not taken: {reason}")


def _convert(
    reader: Reader | tuple[Reader, TableReader],
    data: bytes,
    path: str,
    settings: ForeignSettings,
    first_line: int,
    check: Check | None,
) -> tuple[list[bytes], list[tuple[int, str]]]:
    """Framed records of `data` (each row's inputs checked by `check`, when given), and
    (line, reason) of the rows that could not be read; with a columnar reader (a pair), one
    Arrow table in place of the frames when it takes the whole chunk."""
    if isinstance(reader, tuple):
        reader, columnar = reader
        table = columnar(data, path, settings, check)
        if table is not None:
            return [table], []
    frames: list[Any] = []
    bad: list[tuple[int, str]] = []
    for item in reader(data, path, settings):
        if isinstance(item, Unreadable):
            bad.append((item.line + first_line if item.line else 0, item.reason))
            continue
        try:
            if check is not None and "anomalies" not in item:
                item["anomalies"] = check(item.get("inputs") or {})
            check_record(item)
            frames.append(encode_record(item))
        except KeelError as exc:  # a record the log cannot hold (the reader's slip)
            bad.append((0, str(exc)))
    return frames, bad


def follow_rotations(filesystem: Any, files: list[Listed], batch: _Batch) -> None:
    """A journalled JSON-lines file whose name now holds something else (or nothing), while a
    file new to the journal starts with its taken bytes, was rotated to that name (BentoML's
    `data.0.log` -> `data.0.log.2026-10-01`): its place moves with it, and the old name, if
    listed, is a new file taken from its start."""
    listed = {f.path: f for f in files}
    new = [f for f in files if f.path not in batch.files]
    for name, entry in list(batch.files.items()):
        if entry.get("kind") != "lines" or not entry.get("head_len"):
            continue
        now = listed.get(name)
        if now is not None and _still(filesystem, now, entry):
            continue
        for other in new:
            if _still(filesystem, other, entry):
                batch.files[other.path] = entry
                del batch.files[name]
                new.remove(other)
                batch.moved = True
                break


def _still(filesystem: Any, listed: Listed, entry: dict[str, Any]) -> bool:
    """Whether `listed` still starts with the bytes taken of the journalled file `entry`."""
    return listed.size >= entry["offset"] and (
        _head(filesystem, listed.path, entry["head_len"]) == entry["head"]
    )


def _lines_chunks(
    filesystem: Any, listed: Listed, batch: _Batch, run: ImportRun
) -> Iterator[tuple[bytes, int, dict[str, Any]]]:
    """(complete new lines, the line number before them, the file's entry) of a JSON-lines file,
    a chunk at a time; the caller advances the entry past each chunk it took."""
    entry = batch.files.get(listed.path)
    if entry is not None and entry.get("head_len") and not _still(filesystem, listed, entry):
        _warn_changed(run, entry, listed.path, "the lines taken from it changed")
        batch.moved = True
        return
    if entry is None:
        entry = {"kind": "lines", "offset": 0, "lines": 0, "head": "", "head_len": 0}
        batch.files[listed.path] = entry
    while entry["offset"] < listed.size:
        start = entry["offset"]
        data = _read(filesystem, listed.path, start, min(CHUNK_BYTES, listed.size - start))
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) >= CHUNK_BYTES:
                raise KeelError(f"{listed.path}: a line longer than {CHUNK_BYTES:,} bytes")
            return  # an incomplete last line: taken once complete
        if not entry["head_len"]:  # the file's first complete lines identify it
            entry["head_len"] = min(HEAD_BYTES, end + 1)
            entry["head"] = hashlib.sha256(data[: entry["head_len"]]).hexdigest()
        yield data[: end + 1], entry["lines"], entry


def take_foreign(
    settings: ForeignSettings,
    log_root: str | Path,
    *,
    reader: Reader | None = None,
    check: Check | None = None,
) -> ImportRun:
    """Take the source's new records into the log at `log_root` exactly once (see the module
    docstring). `check(inputs)`, when given, lists each row's problems as Keel's server logs
    them (`anomalies`: the foreign server never checked its rows against Keel's schema, so
    monitor.2 judges what Keel finds). Raises KeelError for a source that cannot be listed or
    a row whose serving version cannot be told; what earlier batches took stays taken."""
    log_root = Path(log_root)
    segments = log_root / "segments"
    run = ImportRun()
    read: Any = reader or reader_of(settings.format)
    columnar = None if reader else table_reader_of(settings.format)
    if columnar is not None:
        read = (read, columnar)
    journal = Journal(log_root)
    with _locked(journal.folder):
        journal = Journal(log_root)  # as the last holder of the lock left it
        finish_leftovers(segments, journal)
        parts.finish_leftovers(rolled_dir(log_root), journal.pending)
        filesystem, files = list_source(settings.source)
        scheme = settings.source.split("://")[0] + "://" if "://" in settings.source else ""
        batch = _Batch(journal)
        if reader is None and settings.format in PAIRED:
            read = _paired(settings.format, batch)
        follow_rotations(filesystem, files, batch)
        for listed in files:
            kind = kind_of(settings, listed.path)
            if kind == "lines":
                for data, before, entry in _lines_chunks(filesystem, listed, batch, run):
                    name = scheme + listed.path  # a URL for a URL source, as readers open it
                    frames, bad = _convert(read, data, name, settings, before, check)
                    for line, reason in bad:
                        _unreadable(run, listed.path, line, reason)
                    _add(batch, frames)
                    entry["offset"] += len(data)
                    entry["lines"] += data.count(b"\n")
                    batch.moved = True
                    run.files += 1
                    if _size(batch) >= BATCH_RECORDS:
                        _commit(segments, journal, batch, run)
                continue
            entry = batch.files.get(listed.path)
            identity = {"size": listed.size, "mtime_ns": listed.mtime_ns}
            if entry is not None:
                if {k: entry.get(k) for k in identity} != identity:
                    _warn_changed(run, entry, listed.path, "it changed since it was taken")
                    batch.moved = True
                continue
            data = _read(filesystem, listed.path, 0, listed.size)
            frames, bad = _convert(read, data, scheme + listed.path, settings, 0, check)
            for line, reason in bad:
                _unreadable(run, listed.path, line, reason)
            _add(batch, frames)
            batch.files[listed.path] = {"kind": kind, **identity}
            batch.moved = True
            run.files += 1
            if _size(batch) >= BATCH_RECORDS:
                _commit(segments, journal, batch, run)
        _commit(segments, journal, batch, run)
    if run.unreadable > MAX_LISTED:
        run.warnings.append(
            f"{run.unreadable - MAX_LISTED:,} more unreadable row(s) not taken "
            f"({run.unreadable:,} in all)"
        )
    return run


def _add(batch: _Batch, converted: list[Any]) -> None:
    """Framed records to the batch's segment, Arrow tables to its parts."""
    for item in converted:
        (batch.frames if isinstance(item, bytes) else batch.tables).append(item)


def _size(batch: _Batch) -> int:
    return len(batch.frames) + sum(t.num_rows for t in batch.tables)


def batch_name(seq: int, files: dict[str, dict[str, Any]]) -> str:
    """The segment name of batch `seq`: its number (names sort in the order taken) and a hash
    of the file places it takes the journal to, so a batch read again after a kill is written
    under the same name."""
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    return f"{PREFIX}{seq:010d}-{digest}"


def _commit(segments: Path, journal: Journal, batch: _Batch, run: ImportRun) -> None:
    """Stage the batch's records, journal the new places, publish the segment; the batch then
    holds no records and goes on from the places journalled."""
    if not batch.moved:
        return
    files = copy.deepcopy(batch.files)
    if batch.frames or batch.tables:
        name = batch_name(journal.seq + 1, files)
        staged = stage(segments, name, batch.frames) if batch.frames else None
        staged_parts = parts.stage_parts(rolled_dir(segments.parent), name, batch.tables)
        journal.write(files, [name], batch.held)
        if staged is not None:
            publish(staged)
        parts.publish_parts(staged_parts)
        run.records += _size(batch)
        run.segments.append(name)
    else:
        journal.write(files, [], batch.held)
    batch.frames, batch.tables, batch.moved = [], [], False
