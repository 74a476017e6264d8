"""The prediction log in object storage: every host uploads its sealed segments, readers take
each one once.

`[data] serving_log` may be a URL (`s3://bucket/prefix`, `gs://`, `abfs://`, `file:///path`)
opened with `pyarrow.fs` (credentials and the S3 endpoint from the environment, as boto3 and
Spark take them: `AWS_ACCESS_KEY_ID`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...).

Writers. Every `keel serve` process writes its segments locally, exactly as for a local log
(`keel.log.writer`), in a spool `.keel/spool/<key>/segments` (`spool_root`); an `Uploader`
thread in the process moves each sealed `.seg` into `outbox/` under its final name
`<host>-<segment name>` (the host from `KEEL_HOST_NAME`, else the machine's name; the segment
name carries the pid and a random token), uploads it to `<URL>/segments/<that name>`, checks
the object's size and only then deletes the local file. The name is fixed by the rename, before
any upload, so a retry after a crash (a restart under another host name too) puts the same
object again: harmless. An object appears only complete: S3 and GCS publish an upload when it
is completed (a `kill -9` mid-way leaves nothing), and `file://` and `abfs://` are written under
a temporary name and renamed. Dead writers' segments (`recover`) are sealed and uploaded by the
next pass, in this process or at the next start.

Readers. `sync(url, mirror)` copies every object of `<URL>/segments/` not taken before into a
local mirror `.keel/mirror/<key>` (`mirror_root`), whose `segments/` the roll-up and the
monitor's intake read like any local log: each object is downloaded to a temporary file,
size-checked, renamed into place, and only then its name appended to the mirror's journal
(`taken.txt`, fsynced), so rolled (deleted) segments are never fetched again. A crash between
the rename and the journal only fetches the object again under the same name, and the roll-up
names parts after the segment: nothing is counted twice.

Secrets: no credential and no URL user-info or query is ever written to a message; `shown`
is a URL as it may be printed and `scrub` removes secret values from error text.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from keel.atomic import write_bytes_atomic
from keel.errors import KeelError
from keel.log.segments import CLOSED_SUFFIX, closed_segments, fsync_dir, recover
from keel.log.writer import segments_dir

SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "file")
HOST_ENV = "KEEL_HOST_NAME"
JOURNAL = "taken.txt"
UPLOAD_EVERY = 1.0  # seconds between two looks at the spool
_MAX_BACKOFF = 60.0
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|KEY|CREDENTIAL|SAS|AUTH", re.I)


def is_url(location: str) -> bool:
    """Whether `[data] serving_log` names a URL (`scheme://...`) rather than a local folder."""
    return bool(_URL.match(location.strip()))


def location_problem(location: str) -> str | None:
    """Why `location` cannot be a prediction log (an unsupported scheme, no bucket), or None."""
    if not is_url(location):
        return None
    parts = urlsplit(location.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        return (
            f"a '{scheme}://' URL is not supported; use a local folder or an s3://, gs://, "
            "abfs:// or file:// URL"
        )
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return "a file:// URL takes an absolute path: file:///path/to/log"
    elif not parts.netloc.rpartition("@")[2]:
        return f"a {scheme}:// URL needs a bucket or container: {scheme}://bucket/prefix"
    return None


def shown(url: str) -> str:
    """`url` as it may be printed: no user-info (an access key, a password) and no query."""
    parts = urlsplit(url.strip())
    user, _, host = parts.netloc.rpartition("@")
    if user and parts.scheme.lower() in ("abfs", "abfss"):  # abfs://container@account...
        host = f"{user.partition(':')[0]}@{host}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def scrub(text: str, url: str | None = None) -> str:
    """`text` with every secret value of the environment, and `url`'s user-info and query
    values, replaced by `***`: error text from a storage client may echo them."""
    secrets = [v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 8]
    if url:
        parts = urlsplit(url.strip())
        user = parts.netloc.rpartition("@")[0]
        secrets += [s for s in (user, *user.split(":")) if len(s) >= 4]
        secrets += [v for _, _, v in (q.partition("=") for q in parts.query.split("&")) if v]
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _key(url: str) -> str:
    return hashlib.sha256(shown(url).encode()).hexdigest()[:12]


def spool_root(project: str | Path, url: str) -> Path:
    """The local log a server writes before uploading to `url` (a log folder of its own)."""
    return Path(project) / ".keel" / "spool" / _key(url)


def mirror_root(project: str | Path, url: str) -> Path:
    """The local copy of the log at `url` that the roll-up and the monitor read."""
    return Path(project) / ".keel" / "mirror" / _key(url)


def local_log_root(project: str | Path, serving_log: str) -> Path:
    """The local log folder readers use for `[data] serving_log`: the folder itself, or the
    mirror of a URL."""
    if is_url(serving_log):
        return mirror_root(project, serving_log)
    return Path(project) / serving_log


def host_name() -> str:
    """This host's name in uploaded segment names: `KEEL_HOST_NAME`, else the machine's name,
    reduced to letters, digits, `.`, `_` and `-`."""
    raw = os.environ.get(HOST_ENV, "").strip() or socket.gethostname()
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw)[:64] or "host"


@dataclass(frozen=True)
class Store:
    """An opened log URL: the file system, the log's path in it, and the URL as shown."""

    fs: Any
    base: str
    url: str
    scheme: str

    @property
    def segments(self) -> str:
        return f"{self.base}/segments"

    @property
    def local(self) -> bool:
        return self.scheme == "file"

    def problem(self, doing: str, exc: BaseException, raw: str) -> KeelError:
        """A KeelError naming the log (as shown) and what failed, secrets removed."""
        why = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else "", raw)
        return KeelError(
            f"the prediction log at {self.url} ([data] serving_log): {doing} failed: "
            f"{type(exc).__name__}: {why}"
        )


def open_store(url: str) -> Store:
    """Open the log at `url` with `pyarrow.fs`; a KeelError naming it (as shown) when that
    cannot be done. No request is made for S3 when a region is known."""
    import pyarrow.fs as pafs

    problem = location_problem(url)
    if problem is not None:
        raise KeelError(f"[data] serving_log {shown(url)}: {problem}")
    scheme = urlsplit(url.strip()).scheme.lower()
    try:
        fs, path = pafs.FileSystem.from_uri(url.strip())
    except (ValueError, OSError, NotImplementedError) as exc:
        why = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else "", url)
        raise KeelError(
            f"[data] serving_log {shown(url)}: cannot open it ({type(exc).__name__}: {why})"
        ) from None
    return Store(fs, path.rstrip("/"), shown(url), scheme)


def _size_of(store: Store, path: str) -> int | None:
    """The size of the object at `path`, or None when there is none."""
    import pyarrow.fs as pafs

    info = store.fs.get_file_info(path)
    return info.size if info.type == pafs.FileType.File else None


def put(store: Store, data: bytes, name: str) -> None:
    """Upload one segment's bytes as `segments/<name>`, so the object appears only complete;
    then check its size. Raises OSError when the object is not what was sent."""
    target = f"{store.segments}/{name}"
    if store.local:
        folder = Path(store.segments)
        folder.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(folder / name, data)  # temporary file, fsync, rename
        fsync_dir(folder)
    elif store.scheme in ("abfs", "abfss"):  # an upload may show early: write aside, rename
        part = f"{target}.{os.getpid()}.part"
        with store.fs.open_output_stream(part) as out:
            out.write(data)
        store.fs.move(part, target)
    else:  # S3 and GCS publish an object once its upload is completed, never half of it
        with store.fs.open_output_stream(target) as out:
            out.write(data)
    size = _size_of(store, target)
    if size != len(data):
        raise OSError(f"uploaded {name} holds {size} bytes, not {len(data)}")


class Uploader:
    """Uploads the sealed segments of one spool to the log at a URL, each exactly once.

    A thread looks at the spool every `every` seconds (see the module docstring). A failing
    upload is retried with a growing pause (up to a minute); `on_problem(text)` is told once
    per new problem (secrets removed) and `on_problem(None)` once uploads work again. The
    segments wait in the spool meanwhile: nothing is lost while the storage is unreachable.
    Counters: `uploaded` (segments), `uploaded_bytes`, `failures`, `problem` (the last one).
    """

    def __init__(
        self,
        url: str,
        spool: str | Path,
        *,
        host: str,
        every: float = UPLOAD_EVERY,
        on_problem: Callable[[str | None], None] | None = None,
    ) -> None:
        self._url = url
        self.store = open_store(url)
        self.segments = segments_dir(spool)
        self.outbox = Path(spool) / "outbox"
        self.segments.mkdir(parents=True, exist_ok=True)
        self.outbox.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.every = every
        self.on_problem = on_problem
        self.uploaded = 0
        self.uploaded_bytes = 0
        self.failures = 0
        self.problem: str | None = None
        self._wake = threading.Event()
        self._wake.set()  # a first pass at once: what an earlier run left
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="keel-upload", daemon=True)
        self._thread.start()

    def run_once(self) -> int:
        """One pass: seal dead writers' segments, name every sealed one, upload the outbox.
        Returns the segments uploaded; raises KeelError when an upload fails."""
        recover(self.segments)
        for segment in list(closed_segments(self.segments)):
            with contextlib.suppress(FileNotFoundError):  # another process took it
                os.replace(segment, self.outbox / f"{self.host}-{segment.name}")
                fsync_dir(self.outbox)
                fsync_dir(self.segments)
        done = 0
        for path in sorted(self.outbox.glob("*" + CLOSED_SUFFIX)):
            done += self._upload(path)
        return done

    def pending(self) -> int:
        """Sealed segments not uploaded yet."""
        return sum(1 for _ in closed_segments(self.segments)) + sum(
            1 for _ in self.outbox.glob("*" + CLOSED_SUFFIX)
        )

    def _upload(self, path: Path) -> int:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # uploaded by another process meanwhile
            return 0
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another process of this spool is uploading it
                return 0
            if not path.exists():  # uploaded and deleted between our open and our lock
                return 0
            with open(fd, "rb", closefd=False) as handle:
                data = handle.read()
            try:
                if _size_of(self.store, f"{self.store.segments}/{path.name}") != len(data):
                    put(self.store, data, path.name)  # else: put before a crash, not deleted
            except (OSError, ValueError, NotImplementedError) as exc:
                raise self.store.problem(f"uploading {path.name}", exc, self._url) from None
            path.unlink()
            fsync_dir(self.outbox)
            self.uploaded += 1
            self.uploaded_bytes += len(data)
            return 1
        finally:
            os.close(fd)

    def _run(self) -> None:
        pause = self.every
        while True:
            self._wake.wait(pause)
            self._wake.clear()
            closing = self._closing
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - retried; the segments wait in the spool
                text = scrub(str(exc), self._url)
                self.failures += 1
                if text != self.problem and self.on_problem is not None:
                    self.on_problem(text)
                self.problem = text
                pause = min(_MAX_BACKOFF, max(pause, self.every) * 2)
            else:
                if self.problem is not None and self.on_problem is not None:
                    self.on_problem(None)
                self.problem = None
                pause = self.every
            if closing:
                return

    def close(self, timeout: float = 30.0) -> None:
        """Make a last pass (the segment the log sealed on closing) and stop, waiting at most
        `timeout` seconds; what is not uploaded goes up at the next start."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)


@dataclass
class SyncResult:
    """What one `sync` fetched: objects and bytes."""

    objects: int = 0
    bytes: int = 0


def _journal(root: Path) -> set[str]:
    path = root / JOURNAL
    if not path.is_file():
        return set()
    return {line for line in path.read_text(encoding="utf-8").splitlines() if line}


def _remote_segments(store: Store, raw: str) -> dict[str, int]:
    """{object name: size} of every segment under the log's `segments/`."""
    import pyarrow.fs as pafs

    try:
        infos = store.fs.get_file_info(pafs.FileSelector(store.segments, allow_not_found=True))
        if not infos and not store.local:  # nothing there: say so if the bucket is missing
            bucket = store.base.split("/")[0]
            if store.fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise FileNotFoundError(f"no bucket or container '{bucket}'")
    except (OSError, ValueError, NotImplementedError) as exc:
        raise store.problem("listing segments", exc, raw) from None
    return {
        info.base_name: info.size
        for info in infos
        if info.type == pafs.FileType.File and info.base_name.endswith(CLOSED_SUFFIX)
    }


def _fetch(store: Store, raw: str, name: str, size: int, into: Path) -> int:
    """Download one object into `into/<name>` (temporary file, size check, fsync, rename)."""
    try:
        with store.fs.open_input_stream(f"{store.segments}/{name}") as stream:
            data = stream.read()
    except (OSError, ValueError, NotImplementedError) as exc:
        raise store.problem(f"reading {name}", exc, raw) from None
    if len(data) != size:
        raise KeelError(
            f"the prediction log at {store.url}: {name} read as {len(data)} bytes, listed as "
            f"{size}; run again"
        )
    write_bytes_atomic(into / name, data)
    return len(data)


def sync(url: str, root: str | Path, *, threads: int = 8) -> SyncResult:
    """Copy every segment of the log at `url` not taken before into the local log `root`
    (`root/segments`), exactly once (see the module docstring). Concurrent syncs of one
    mirror wait for each other."""
    root = Path(root)
    folder = segments_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    store = open_store(url)
    result = SyncResult()
    with open(root / "sync.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        taken = _journal(root)
        new = {n: s for n, s in _remote_segments(store, url).items() if n not in taken}
        if not new:
            return result
        with (
            open(root / JOURNAL, "a", encoding="utf-8") as journal,
            ThreadPoolExecutor(threads) as pool,
        ):
            fetches = {pool.submit(_fetch, store, url, n, s, folder): n for n, s in new.items()}
            try:
                for future, name in fetches.items():
                    result.bytes += future.result()
                    fsync_dir(folder)  # in place before the journal says it is taken
                    journal.write(name + "\n")
                    journal.flush()
                    os.fsync(journal.fileno())
                    result.objects += 1
            finally:
                for future in fetches:
                    future.cancel()
    return result


def take_remote(project: str | Path, serving_log: str) -> SyncResult | None:
    """Before a roll-up of `[data] serving_log`: when it is a URL, sync its new segments into
    the mirror (`local_log_root`); None for a local folder."""
    if not is_url(serving_log):
        return None
    return sync(serving_log, mirror_root(project, serving_log))
