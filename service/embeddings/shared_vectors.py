"""Posting vectors held once per machine: snapshots in memory-mapped files that every worker
process maps read-only, with each worker's own changes since on top (service/embeddings/
posting_vectors.py, matching.vector_index.LayeredIndex).

Why: each worker of `jobmatch serve` (`JOBMATCH_WORKERS` > 1) is its own interpreter; with a
private copy of the vectors each, N workers held N copies (about 2.7 KiB per posting each).
Pages of a file mapped read-only are held once by the kernel however many processes map them.

How it stays current: a snapshot is the posting vectors as of a change-feed watermark (the
`VectorSnapshot` of the read it reflects). A worker maps the newest snapshot, then reads the
change feed from that watermark before each search, exactly as it did with a private copy,
applying the rows into a small private delta (new or changed vectors; removed rows masked out
of the mapped base). So a write or delete by any process is seen by the next search of every
process, whatever the age of the snapshot. One process, the writer, publishes a new snapshot
when its delta has grown (or the snapshot has aged); every worker swaps to it at its next
search and re-reads the feed from the new watermark, dropping its delta.

Who writes: whoever holds an exclusive `flock` on `writer.lock` (taken without waiting; the
kernel releases it when the process ends, and another worker takes it when it next finds the
snapshot due). A file lock, not a database advisory lock: the snapshot is per machine, and a
lock tied to a pooled connection would be lost with the connection.

Layout, under `<data_dir>/posting-vectors/<key>/` (key: database and model): `writer.lock`;
`current`, a symbolic link to the newest `gen-<n>` (replaced by a rename, so a reader sees one
generation or the next, never half of one); `gen-<n>/manifest.json` and one `.npy` file per
column, among them the rows' postings converted for scoring (`posting_*.npy`,
service/embeddings/shared_profiles.py). A generation is written under a temporary name and
renamed into place whole. The two newest are kept; older ones are unlinked (a process still
mapping one keeps its pages until it swaps).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload
from uuid import UUID

import numpy as np

from matching.posting_codec import CODEC, EncodedPostings
from matching.vector_index import (
    SNAPSHOT_COLUMNS,
    FrozenGeoVectorIndex,
    InvertedLists,
    LayeredIndex,
    SortedKeyRows,
    TableSnapshot,
)
from service.config import Settings
from service.embeddings.repository import VectorSnapshot
from service.embeddings.shared_profiles import SharedPostingProfiles

GENERATIONS_KEPT = 2
# InvertedLists' arrays
_LIST_PARTS = ("coarse", "centroids", "starts", "rows", "place", "group", "valid_until")
# EncodedPostings' arrays
_POSTING_PARTS = ("records", "record_offsets", "versions", "entries", "entry_offsets")


def _uuid_bytes(key: Any) -> bytes:
    return key.bytes  # type: ignore[no-any-return]


class _Keys(Sequence[UUID]):
    """The posting ids of a mapped snapshot, by row, decoded when read."""

    def __init__(self, column: np.ndarray) -> None:
        self._column = column

    def __len__(self) -> int:
        return len(self._column)

    @overload
    def __getitem__(self, i: int) -> UUID: ...
    @overload
    def __getitem__(self, i: slice) -> list[UUID]: ...
    def __getitem__(self, i: int | slice) -> UUID | list[UUID]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        # numpy drops a fixed-width bytes value's trailing zero bytes when it is read
        return UUID(bytes=bytes(self._column[i]).ljust(16, b"\0"))


class _Payloads(Sequence[tuple[str, int]]):
    """(external id, version) of each row of a mapped snapshot: the ids as one UTF-8 blob and
    their offsets, decoded when read."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray, versions: np.ndarray) -> None:
        self._blob, self._offsets, self._versions = blob, offsets, versions

    def __len__(self) -> int:
        return len(self._versions)

    @overload
    def __getitem__(self, i: int) -> tuple[str, int]: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple[str, int]]: ...
    def __getitem__(self, i: int | slice) -> tuple[str, int] | list[tuple[str, int]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        start, end = int(self._offsets[i]), int(self._offsets[i + 1])
        return self._blob[start:end].tobytes().decode(), int(self._versions[i])


@dataclass(frozen=True, slots=True)
class MappedSnapshot:
    name: str  # gen-<n>
    index: LayeredIndex  # the mapped base, an empty delta
    seen: VectorSnapshot  # the change feed's watermark it reflects
    read_at: float  # time.time() of the read that watermark came from
    postings: SharedPostingProfiles  # the rows' postings, converted for scoring


class SnapshotStore:
    """One database's posting vectors of one model, as generations of files (see the module)."""

    def __init__(self, root: Path, *, model: str, dimension: int) -> None:
        self.root = root
        self.model = model
        self.dimension = dimension
        self._lock_fd: int | None = None

    @classmethod
    def for_settings(cls, settings: Settings, *, model: str, dimension: int) -> SnapshotStore:
        where = settings.database_url or f"embedded:{settings.data_dir.resolve()}"
        key = hashlib.sha256(f"{where}\n{model}\n{dimension}".encode()).hexdigest()[:16]
        return cls(settings.data_dir / "posting-vectors" / key, model=model, dimension=dimension)

    @property
    def writing(self) -> bool:
        return self._lock_fd is not None

    def try_to_write(self) -> bool:
        """Become the writer, unless another process is: True while this one is."""
        if self._lock_fd is not None:
            return True
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def current(self) -> str | None:
        """The newest generation's name (a readlink: cheap enough for every search)."""
        try:
            return os.readlink(self.root / "current")
        except (FileNotFoundError, OSError):
            return None

    def publish(
        self,
        snapshot: TableSnapshot,
        seen: VectorSnapshot,
        read_at: float,
        postings: dict[str, np.ndarray],
    ) -> str:
        """Write a generation (`postings`: `PostingEncoder.arrays()` of its rows) and make it
        the current one; its name. The writer only."""
        assert self.writing, "only the writer publishes"
        names = self._generations()
        number = int(names[-1].removeprefix("gen-")) + 1 if names else 1
        name = f"gen-{number:08d}"
        scratch = self.root / f".{name}.{os.getpid()}.tmp"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        for column, values in snapshot.columns.items():
            np.save(scratch / f"{column}.npy", values)
        keys = np.array([k.bytes for k in snapshot.keys], "S16")  # type: ignore[attr-defined]
        order = np.argsort(keys, kind="stable")
        np.save(scratch / "keys.npy", keys)
        np.save(scratch / "sorted_keys.npy", keys[order])
        np.save(scratch / "key_rows.npy", order.astype(np.int64))
        external = [str(p[0]).encode() for p in snapshot.payloads]
        offsets = np.zeros(len(external) + 1, np.int64)
        np.cumsum([len(e) for e in external], out=offsets[1:])
        np.save(scratch / "external_ids.npy", np.frombuffer(b"".join(external), np.uint8))
        np.save(scratch / "external_id_offsets.npy", offsets)
        np.save(scratch / "versions.npy", np.array([p[1] for p in snapshot.payloads], np.int64))
        if snapshot.basis is not None and snapshot.offset is not None:
            np.save(scratch / "basis.npy", snapshot.basis)
            np.save(scratch / "offset.npy", snapshot.offset)
        if snapshot.lists is not None:
            for part in _LIST_PARTS:
                np.save(scratch / f"lists_{part}.npy", getattr(snapshot.lists, part))
        for part in _POSTING_PARTS:
            np.save(scratch / f"posting_{part}.npy", postings[part])
        manifest = {
            "model": self.model,
            "dimension": self.dimension,
            "rows": len(snapshot),
            "groups": [str(g) for g in snapshot.groups],
            "fitted_rows": snapshot.fitted_rows,
            "lists_fitted_rows": snapshot.lists.fitted_rows if snapshot.lists else 0,
            "next_xid": seen.next_xid,
            "running": list(seen.running),
            "read_at": read_at,
            "posting_codec": CODEC,
        }
        (scratch / "manifest.json").write_text(json.dumps(manifest))
        os.rename(scratch, self.root / name)
        link = self.root / f".current.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(name)
        os.replace(link, self.root / "current")
        for old in self._generations()[:-GENERATIONS_KEPT]:
            shutil.rmtree(self.root / old, ignore_errors=True)
        return name

    def _generations(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.glob("gen-*") if p.is_dir())

    def open(self, name: str, *, lists_from: int = 0) -> MappedSnapshot | None:
        """Map a generation read-only; None if it is gone (unlinked meanwhile), not of this
        model, or its postings are in a layout this code does not read (written by another
        version: the writer then reads everything again and publishes anew)."""
        where = self.root / name
        try:
            manifest = json.loads((where / "manifest.json").read_text())
            if (
                manifest["model"] != self.model
                or manifest["dimension"] != self.dimension
                or manifest.get("posting_codec") != CODEC
            ):
                return None

            def mapped(column: str) -> np.ndarray:
                values: np.ndarray = np.load(where / f"{column}.npy", mmap_mode="r")
                return values

            columns = {
                column: mapped(column)
                for column in SNAPSHOT_COLUMNS
                if (where / f"{column}.npy").exists()
            }
            has_projection = (where / "basis.npy").exists()
            lists = None
            if (where / "lists_rows.npy").exists():
                parts = {part: mapped(f"lists_{part}") for part in _LIST_PARTS}
                lists = InvertedLists(**parts, fitted_rows=int(manifest["lists_fitted_rows"]))
            snapshot = TableSnapshot(
                columns=columns,
                keys=_Keys(mapped("keys")),
                payloads=_Payloads(
                    mapped("external_ids"), mapped("external_id_offsets"), mapped("versions")
                ),
                groups=[UUID(g) for g in manifest["groups"]],
                basis=np.load(where / "basis.npy") if has_projection else None,
                offset=np.load(where / "offset.npy") if has_projection else None,
                fitted_rows=int(manifest["fitted_rows"]),
                lists=lists,
            )
            sorted_keys, key_rows = mapped("sorted_keys"), mapped("key_rows")
            rows = SortedKeyRows(sorted_keys, key_rows, _uuid_bytes)
            postings = SharedPostingProfiles(
                name,
                sorted_keys,
                key_rows,
                EncodedPostings(**{part: mapped(f"posting_{part}") for part in _POSTING_PARTS}),
            )
        except (FileNotFoundError, KeyError, ValueError):
            return None
        base = FrozenGeoVectorIndex(self.dimension, snapshot, rows, lists_from=lists_from)
        seen = VectorSnapshot(int(manifest["next_xid"]), tuple(manifest["running"]))
        return MappedSnapshot(name, LayeredIndex(base), seen, float(manifest["read_at"]), postings)
