"""The result store: Parquet part-files of finished runs, keyed by a content hash.

Layout of an output folder::

    OUT/.lock                 the PID of the process running the experiment
    OUT/runs/part-*.parquet   finished runs, one row each (zstd, page checksums)
    OUT/runs/corrupt/         part-files that could not be read, moved aside
    OUT/series/<key>.parquet  per-run series (``keep_series: true`` only)

Every write goes to a temporary file in the same folder and is moved in place
with ``os.replace``, so a run killed at any moment leaves whole part-files or
none: the store never holds a partial row. A run's key is the sha256 of the
resolved scenario (canonical JSON, after every override), the arm, the seed,
the package version and the git commit of the checkout, so a run is done once
and found again whatever the experiment it was part of.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channel_agents.config import ConfigError

PART_GLOB = "part-*.parquet"
TMP_PREFIX = ".tmp-"


# --------------------------------------------------------------------------- keys


def canonical_json(data: Any) -> str:
    """Sorted keys, no spaces: the same data always gives the same text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def scenario_json(cfg: Any) -> str:
    """A validated scenario (after overrides) as canonical JSON: every default spelled out."""
    return canonical_json(cfg.model_dump(mode="json", by_alias=True))


def run_key(scenario: str, arm: str, seed: int, version: str, commit: str) -> str:
    """The sha256 (hex) of what determines a run's result."""
    text = canonical_json(
        {"scenario": scenario, "arm": arm, "seed": int(seed), "version": version, "commit": commit}
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def git_commit(start: str | Path | None = None) -> str:
    """The commit checked out where the package lives (read from ``.git``, no ``git``
    process), or ``"unknown"`` (an installed wheel, no repository).

    Uncommitted edits do not change it: commit before an experiment whose results
    should be told apart from the last commit's. ``CHANNEL_AGENTS_GIT_COMMIT``, when
    set, is used instead (a package installed from a wheel built at a known commit,
    e.g. on a cluster).
    """
    override = os.environ.get("CHANNEL_AGENTS_GIT_COMMIT", "").strip()
    if override:
        return override
    if start is None:
        import channel_agents

        start = Path(channel_agents.__file__).resolve().parent
    for folder in (Path(start), *Path(start).parents):
        dotgit = folder / ".git"
        if dotgit.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
            if not text.startswith("gitdir:"):
                return "unknown"
            dotgit = (folder / text.split(":", 1)[1].strip()).resolve()
        if dotgit.is_dir():
            return _read_head(dotgit)
    return "unknown"


def _read_head(gitdir: Path) -> str:
    try:
        head = (gitdir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return "unknown"
    if not head.startswith("ref:"):
        return head if _is_sha(head) else "unknown"
    ref = head.split(":", 1)[1].strip()
    common = gitdir
    with contextlib.suppress(OSError):  # worktrees keep refs in the common folder
        common = (gitdir / (gitdir / "commondir").read_text(encoding="utf-8").strip()).resolve()
    for folder in (gitdir, common):
        with contextlib.suppress(OSError):
            sha = (folder / ref).read_text(encoding="utf-8").strip()
            if _is_sha(sha):
                return sha
        with contextlib.suppress(OSError):
            for line in (folder / "packed-refs").read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref and _is_sha(parts[0]):
                    return parts[0]
    return "unknown"  # a branch with no commit yet


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


# --------------------------------------------------------------------------- files


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, move it in."""
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_parquet(path: Path, table: Any) -> None:
    """A pyarrow table to ``path`` (zstd, page checksums), atomically."""
    import pyarrow.parquet as pq

    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd", write_page_checksum=True)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_dir(path.parent)


def _sync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- store


@dataclass
class ScanReport:
    """What opening the store found."""

    parts: int = 0
    runs: int = 0
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # (file, error)
    duplicates: int = 0  # rows whose key an earlier part-file holds (the newest wins)
    leftovers: int = 0  # temporary files of an interrupted write, removed


class RunStore:
    """The Parquet part-files under ``OUT/runs``."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.root = self.out / "runs"
        self.corrupt_dir = self.root / "corrupt"
        self.series_dir = self.out / "series"
        self._frames: list[Any] = []
        self._keys: set[str] = set()
        self._seq = 0

    @property
    def keys(self) -> set[str]:
        return self._keys

    def open(self) -> ScanReport:
        """Read every part-file; move unreadable ones aside (their runs are redone);
        remove temporary files an interrupted write left. Call with the lock held."""
        import pyarrow.parquet as pq

        report = ScanReport()
        for folder in (self.root, self.series_dir):
            if folder.is_dir():
                for tmp in folder.glob(f"{TMP_PREFIX}*"):
                    with contextlib.suppress(OSError):
                        tmp.unlink()
                        report.leftovers += 1
        self._frames, self._keys = [], set()
        for part in self.parts():
            try:
                table = pq.read_table(part, page_checksum_verification=True)
                frame = table.to_pandas()
                if "key" not in frame.columns or "status" not in frame.columns:
                    raise ValueError("no 'key' and 'status' columns: not a part-file of runs")
            except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
                report.corrupt.append((part.name, f"{type(exc).__name__}: {_first_line(exc)}"))
                self._quarantine(part)
                continue
            report.parts += 1
            report.duplicates += int(frame["key"].isin(self._keys).sum())
            self._keys.update(frame["key"])
            self._frames.append(frame)
        report.runs = len(self._keys)
        return report

    def _quarantine(self, part: Path) -> None:
        self.corrupt_dir.mkdir(parents=True, exist_ok=True)
        target = self.corrupt_dir / part.name
        if target.exists():
            target = self.corrupt_dir / f"{part.stem}-{time.time_ns()}{part.suffix}"
        os.replace(part, target)

    def write(self, rows: list[dict[str, Any]], columns: list[str]) -> Path | None:
        """Commit finished runs as one new part-file (atomically)."""
        import pandas as pd
        import pyarrow as pa

        if not rows:
            return None
        frame = pd.DataFrame.from_records(rows, columns=columns)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        self._seq += 1
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{self._seq:05d}.parquet"
        path = self.root / name
        atomic_write_parquet(path, table)
        self._keys.update(frame["key"])
        self._frames.append(frame)
        return path

    def frame(self, keys: Iterable[str] | None = None) -> Any:
        """All runs in the store (or those with these keys) as one DataFrame."""
        import pandas as pd

        frames = [f for f in self._frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=["key", "status"])
        out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
        # a run redone (its series file was missing, or a metric was added to the spec)
        # appears twice: the newest row wins
        out = out.drop_duplicates(subset="key", keep="last")
        if keys is not None:
            out = out[out["key"].isin(set(keys))]
        return out.reset_index(drop=True)

    def parts(self) -> list[Path]:
        return sorted(self.root.glob(PART_GLOB)) if self.root.is_dir() else []


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


# --------------------------------------------------------------------------- lock


class ExperimentLocked(ConfigError):
    """Another live process runs the experiment in this folder."""


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    except OSError as exc:
        return exc.errno == errno.EPERM
    if os.name == "posix":  # a zombie (killed, not yet reaped) is not alive
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
                return False
    return True


class ExperimentLock:
    """``OUT/.lock`` holding the PID (and host) of the process running the experiment.

    A lock whose PID is not alive (on this host) is stale and taken over, so a
    killed run never blocks the next one. Where the platform has ``flock``, the
    holder also keeps an advisory lock on the file, which the kernel drops when
    the process dies; two processes taking over one stale lock at once cannot
    both win.
    """

    def __init__(self, out: Path):
        self.path = Path(out) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> str | None:
        """Take the lock; return a note when a stale lock was taken over. Raises
        :class:`ExperimentLocked` when a live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not self._flock(fd):
                    raise ExperimentLocked(self._held_message(self._read(fd)), file=str(self.path))
                # the file may have been replaced or removed while we waited for it
                if not self._same_file(fd):
                    os.close(fd)
                    continue
                holder = self._read(fd)
                note = None
                pid = holder.get("pid")
                if pid and pid != os.getpid():
                    same_host = holder.get("host") in (None, socket.gethostname())
                    if same_host and pid_alive(pid):
                        raise ExperimentLocked(self._held_message(holder), file=str(self.path))
                    note = f"took over a stale lock of process {pid} (no longer running)"
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, f"{os.getpid()}\n{socket.gethostname()}\n".encode())
                os.fsync(fd)
                self._fd = fd
                return note
            except BaseException:
                if self._fd != fd:
                    os.close(fd)
                raise
        raise ExperimentLocked("could not take the lock (it keeps changing)", file=str(self.path))

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if self._same_file(self._fd):
                self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None

    def __enter__(self) -> ExperimentLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _flock(self, fd: int) -> bool:
        try:
            import fcntl
        except ImportError:  # not POSIX: the PID alone decides
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:  # a file system without flock: the PID alone decides
            return True
        return True

    def _same_file(self, fd: int) -> bool:
        try:
            a, b = os.fstat(fd), os.stat(self.path)
        except OSError:
            return False
        return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)

    @staticmethod
    def _read(fd: int) -> dict[str, Any]:
        os.lseek(fd, 0, os.SEEK_SET)
        lines = os.read(fd, 4096).decode("utf-8", "replace").splitlines()
        out: dict[str, Any] = {}
        if lines and lines[0].strip().isdigit():
            out["pid"] = int(lines[0].strip())
        if len(lines) > 1 and lines[1].strip():
            out["host"] = lines[1].strip()
        return out

    def _held_message(self, holder: dict[str, Any]) -> str:
        who = f"process {holder['pid']}" if holder.get("pid") else "another process"
        if holder.get("host") and holder["host"] != socket.gethostname():
            who += f" on {holder['host']}"
        return (
            f"this experiment is already running ({who} holds the lock); wait for it to "
            f"finish, or remove {self.path} if that process is not running it"
        )
