"""Nearest-in-meaning search over vectors that have a place, within a radius.

Each entry is a unit vector with a location (or `everywhere`, for remote work), a group (the
agency) and an end of validity. A search returns the entries nearest in cosine to a query among
those of its group that are still valid and within the radius (or everywhere), without
comparing most of the entries.

Entries are kept sorted by a grid cell of 0.1 degrees, row by row, so the cells that can lie
within a radius form a few contiguous slices (one per row of cells in the circle's bounding
box): only those slices are compared, each in one matrix-vector product, and the exact test of
distance (an angle on the unit sphere) is applied to them. Entries written since the last sort
sit in a small unsorted tail that every search compares whole; the table is re-sorted when the
tail or the entries replaced since grow past a share of it.

When many entries are in reach, a first pass compares them in a reduced space instead: the
top principal components of the vectors (64 of 384, fitted on the table; Jolliffe, "Principal
Component Analysis", 2002), which keep most of what separates them, at a sixth of the memory
read. The entries nearest there (ten times the number asked for, or one in 50 of those in
reach if more) are then compared in full, so the answer is exact unless a true neighbour falls
outside that shortlist (bench/README.md, round 6, for the recall measured); a test holds it
against comparing every entry.

Above a size the caller sets (`lists_from`), the table is also partitioned into inverted
lists (Jegou, Douze and Schmid, "Product quantization for nearest neighbor search", IEEE TPAMI
33(1), 2011, section IV: the inverted file with a coarse quantiser; here without the product
codes, every candidate compared in full): k-means (Lloyd, "Least squares quantization in PCM",
1982) on a sample, in the reduced space, gives about sqrt(n) centroids and each entry belongs to
its nearest. When the circle's slices hold many rows, a search takes the lists in order of
their centroid's cosine with the query and applies the filters (group, validity, distance) to
their rows, until twenty times the number asked for have passed (and at least 32 lists were
read); only those are compared in full.
Its cost then follows the rows it reads, not the rows in reach. If the filters let too few
through (a small circle, a small group), it gives up once it has read half the rows the slices
hold and the slices are searched instead, so it never costs much more than without lists.
Entries written since the lists were made sit in the tail with their list noted, and are
compared when their list is; removed ones are masked; the lists are regrouped at each re-sort
(a snapshot's, for a shared table) and fitted again when the table has doubled.

Why not a graph: the cost here is bounded by the entries in reach, while a filtered graph
search costs more the fewer entries the filter lets through (bench/README.md, round 5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180
CELL_DEGREES = 0.1
_LON_CELLS = round(360 / CELL_DEGREES) + 1
_EVERYWHERE = -1  # cell key of entries in reach from anywhere (sorted first)
_NOWHERE = -2  # no location and not everywhere: in reach of no radius
REDUCED_DIMENSIONS = 64
FIT_MIN_ROWS = 10_000  # below this the full comparison is cheap, and a fit less stable
SHORTLIST_SHARE = 50  # compared in full: 10 x the limit, or 1 in 50 of the entries in reach
# With lists: rows in reach found and compared in full, this many times the number asked for,
# from at least this many lists. Not fewer rows ranked first in the reduced space: near-copies
# differ in what it leaves out, and recall@100 fell to 0.89 (bench/README.md, section 14).
LIST_CANDIDATES = 20
MIN_LISTS_PROBED = 32
KMEANS_ITERATIONS = 12
KMEANS_SAMPLE_PER_LIST = 40
_COLUMNS = (
    "vectors",
    "reduced",
    "xyz",
    "cell",
    "group",
    "everywhere",
    "valid_until",
    "alive",
    "list_of",
)


@dataclass(frozen=True, slots=True)
class Entry:
    key: Hashable  # the caller's id
    group: Hashable  # only searched within its group
    vector: np.ndarray  # unit length
    lat: float | None
    lon: float | None
    everywhere: bool  # in reach from any place (remote work)
    valid_until: float  # seconds since the epoch; math.inf when open-ended
    payload: Any = None  # what the caller wants back with a find (`GeoVectorIndex.payload`)


def _unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _cell_row(lat: np.ndarray) -> np.ndarray:
    return np.floor((lat + 90.0) / CELL_DEGREES).astype(np.int64)


def _cell_col(lon: np.ndarray) -> np.ndarray:
    return np.floor((lon + 180.0) / CELL_DEGREES).astype(np.int64)


@dataclass(frozen=True, slots=True)
class _Projection:
    """The top principal components of a sample of vectors: x -> (x - mean) @ basis. Scores
    q · x and (q @ basis) · (x - mean) @ basis differ by q · mean plus what the dropped
    components hold, so the first ranks entries as the second does, approximately."""

    basis: np.ndarray  # (dim, REDUCED_DIMENSIONS)
    offset: np.ndarray  # mean @ basis
    fitted_rows: int

    @classmethod
    def fit(cls, sample: np.ndarray, fitted_rows: int) -> _Projection:
        mean = sample.mean(axis=0, dtype=np.float64)
        centred = sample - mean.astype(np.float32)
        _, eigenvectors = np.linalg.eigh((centred.T @ centred).astype(np.float64))  # ascending
        basis = np.ascontiguousarray(eigenvectors[:, ::-1][:, :REDUCED_DIMENSIONS], np.float32)
        return cls(basis, mean.astype(np.float32) @ basis, fitted_rows)

    def reduce(self, vectors: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(x - mean) @ basis, into `out` if given: no temporary the size of the table."""
        reduced: np.ndarray = np.matmul(vectors, self.basis, out=out)
        reduced -= self.offset
        return reduced


def _nearest_centroid(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The index of each point's nearest centroid (Euclidean), a block of rows at a time."""
    half_norms = 0.5 * np.einsum("ij,ij->i", centroids, centroids)
    out = np.empty(len(points), np.int32)
    for start in range(0, len(points), 8192):
        block = points[start : start + 8192] @ centroids.T
        block -= half_norms
        out[start : start + 8192] = np.argmax(block, axis=1)
    return out


def _means_by_label(
    points: np.ndarray, labels: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the points of each label (0 where none) and how many there are."""
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros((k, points.shape[1]), np.float64)
    present = np.flatnonzero(counts)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[present]
    sums[present] = np.add.reduceat(points[order].astype(np.float64), starts, axis=0)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32), counts


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Lloyd's iterations from k distinct points; an emptied centroid restarts at a point."""
    centroids = points[rng.choice(len(points), k, replace=False)].astype(np.float32)
    for _ in range(KMEANS_ITERATIONS):
        centroids, counts = _means_by_label(points, _nearest_centroid(points, centroids), k)
        empty = counts == 0
        centroids[empty] = points[rng.choice(len(points), int(empty.sum()), replace=False)]
    return centroids


@dataclass(frozen=True, slots=True)
class InvertedLists:
    """The table's rows grouped by their nearest coarse centroid (see the module).

    `coarse` are the centroids in the space rows are assigned in (the reduced space when the
    table has a projection, else the vectors'); `centroids` the mean full vector of each list's
    sample members, which searches rank lists by. `rows[starts[i]:starts[i + 1]]` are list i's
    rows of the sorted table, ascending. What the filters read is copied in the same order
    (`place`, `group`, `valid_until`), so that reading a list is reading a contiguous slice,
    not gathering scattered rows of the table, which costs a cache miss a row and column."""

    coarse: np.ndarray  # (lists, coarse width) float32
    centroids: np.ndarray  # (lists, dim) float32
    starts: np.ndarray  # (lists + 1,) int64
    rows: np.ndarray  # (sorted rows,) int32
    # By position in `rows`: x, y, z of the place and a fourth term that makes the reach test
    # one product (`place @ (where, 1) >= min_cos`): 0 for a place, 3 for in reach from
    # anywhere (x, y, z = 0: always passes), -3 for no place (never passes).
    place: np.ndarray  # (sorted rows, 4) float64
    group: np.ndarray  # (sorted rows,) int32
    valid_until: np.ndarray  # (sorted rows,) float64
    fitted_rows: int

    @classmethod
    def fit(
        cls, coarse_points: np.ndarray, vectors: np.ndarray, rows: int, seed: int = 0
    ) -> InvertedLists:
        """Centroids from a sample (`coarse_points` and the same rows' full `vectors`) for a
        table of `rows` entries: about sqrt(rows) lists."""
        k = max(1, min(len(coarse_points), round(math.sqrt(rows))))
        coarse = _kmeans(coarse_points, k, np.random.default_rng(seed))
        centroids, _ = _means_by_label(vectors, _nearest_centroid(coarse_points, coarse), k)
        empty = np.zeros(0, np.int32)
        return cls(
            coarse,
            centroids,
            np.zeros(k + 1, np.int64),
            empty,
            np.zeros((0, 4)),
            empty,
            np.zeros(0),
            rows,
        )

    def assign(self, coarse_points: np.ndarray) -> np.ndarray:
        return _nearest_centroid(coarse_points, self.coarse)

    def grouped(self, table: _Table) -> InvertedLists:
        """The same centroids over the sorted rows of `table` (by its `list_of`)."""
        n = table.sorted_rows
        list_of = table.list_of[:n]
        rows = np.argsort(list_of, kind="stable").astype(np.int32)
        starts = np.zeros(len(self.coarse) + 1, np.int64)
        np.cumsum(np.bincount(list_of, minlength=len(self.coarse)), out=starts[1:])
        place = np.zeros((n, 4))
        cell = table.cell[rows]
        located = cell >= 0
        place[located, :3] = table.xyz[rows[located]]
        place[:, 3] = np.where(cell == _EVERYWHERE, 3.0, np.where(located, 0.0, -3.0))
        return InvertedLists(
            self.coarse,
            self.centroids,
            starts,
            rows,
            place,
            table.group[rows],
            table.valid_until[rows],
            self.fitted_rows,
        )


class _Table:
    """Column arrays of entries; rows [0, sorted_rows) are in cell order."""

    def __init__(
        self,
        dim: int,
        capacity: int = 1024,
        projection: _Projection | None = None,
        lists: InvertedLists | None = None,
    ) -> None:
        self.dim = dim
        self.n = 0
        self.sorted_rows = 0
        self.projection = projection
        self.lists = lists  # over rows [0, sorted_rows); later rows have their list noted
        self.vectors = np.zeros((capacity, dim), np.float32)
        width = projection.basis.shape[1] if projection else 0
        self.reduced = np.zeros((capacity if projection else 0, width), np.float32)
        self.xyz = np.zeros((capacity, 3), np.float64)
        self.cell = np.zeros(capacity, np.int64)
        self.group = np.zeros(capacity, np.int32)
        self.everywhere = np.zeros(capacity, bool)
        self.valid_until = np.zeros(capacity, np.float64)
        self.alive = np.zeros(capacity, bool)
        self.list_of = np.zeros(capacity, np.int32)
        # Lists while the table grows; any sequence in a frozen table (see `Frozen`).
        self.keys: Sequence[Hashable] = []
        self.payloads: Sequence[Any] = []

    def _grow(self, needed: int) -> None:
        capacity = len(self.cell)
        if needed <= capacity:
            return
        new = max(needed, capacity + capacity // 4)  # the vectors are most of the memory
        for name in _COLUMNS:
            old = getattr(self, name)
            if len(old) == 0:
                continue  # no projection yet
            grown = np.zeros((new, *old.shape[1:]), old.dtype)
            grown[: self.n] = old[: self.n]
            setattr(self, name, grown)

    def append(self, entries: list[Entry], groups: list[int]) -> None:
        m = len(entries)
        self._grow(self.n + m)
        rows = slice(self.n, self.n + m)
        self.vectors[rows] = np.stack([e.vector for e in entries]).astype(np.float32)
        if self.projection is not None:
            self.reduced[rows] = self.projection.reduce(self.vectors[rows])
        located = np.array([e.lat is not None and e.lon is not None for e in entries])
        lat = np.array([e.lat if e.lat is not None else 0.0 for e in entries], np.float64)
        lon = np.array([e.lon if e.lon is not None else 0.0 for e in entries], np.float64)
        self.xyz[rows] = _unit_xyz(lat, lon)
        everywhere = np.array([e.everywhere for e in entries], bool)
        cells = _cell_row(lat) * _LON_CELLS + _cell_col(lon)
        self.cell[rows] = np.where(everywhere, _EVERYWHERE, np.where(located, cells, _NOWHERE))
        self.group[rows] = groups
        self.everywhere[rows] = everywhere
        self.valid_until[rows] = [e.valid_until for e in entries]
        self.alive[rows] = True
        if self.lists is not None:
            self.list_of[rows] = self.lists.assign(self.coarse(rows))
        # A frozen table (a snapshot's arrays) takes no appends: its index adds to a delta.
        assert isinstance(self.keys, list) and isinstance(self.payloads, list)
        self.keys.extend(e.key for e in entries)
        self.payloads.extend(e.payload for e in entries)
        self.n += m

    def coarse(self, rows: slice | np.ndarray) -> np.ndarray:
        """The rows' vectors in the space lists are made in."""
        return self.reduced[rows] if self.projection is not None else self.vectors[rows]

    def compacted(self, now: float, lists_from: int = 0) -> _Table:
        """The live rows still valid at `now`, all in cell order. The projection is fitted
        once the table is large enough, and again each time it has doubled since; so are the
        lists, from `lists_from` rows (0: none)."""
        live = np.flatnonzero(self.alive[: self.n] & (self.valid_until[: self.n] > now))
        order = live[np.argsort(self.cell[live], kind="stable")]
        projection = self.projection
        if (
            self.dim > 2 * REDUCED_DIMENSIONS
            and len(order) >= FIT_MIN_ROWS
            and (projection is None or len(order) >= 2 * projection.fitted_rows)
        ):
            sample = order[:: max(1, len(order) // 10_000)]
            projection = _Projection.fit(self.vectors[sample], len(order))
        table = _Table(self.dim, max(1024, len(order)), projection)
        n = table.n = table.sorted_rows = len(order)
        lists = self.lists if projection is self.projection else None
        # Each column gathered straight into the new table (mode="clip": no buffered copy).
        for name in _COLUMNS:
            if name != "reduced":
                np.take(
                    getattr(self, name), order, axis=0, out=getattr(table, name)[:n], mode="clip"
                )
        if projection is self.projection and projection is not None:
            np.take(self.reduced, order, axis=0, out=table.reduced[:n], mode="clip")
        elif projection is not None:
            projection.reduce(table.vectors[:n], out=table.reduced[:n])
        table.keys = [self.keys[i] for i in order]
        table.payloads = [self.payloads[i] for i in order]
        if lists_from <= 0 or n < lists_from:
            return table
        if lists is None or n >= 2 * lists.fitted_rows:
            sample = np.sort(
                np.random.default_rng(n).choice(
                    n, min(n, KMEANS_SAMPLE_PER_LIST * round(math.sqrt(n))), replace=False
                )
            )
            lists = InvertedLists.fit(table.coarse(sample), table.vectors[sample], n)
            table.list_of[:n] = lists.assign(table.coarse(slice(0, n)))
        table.lists = lists.grouped(table)
        return table


def _products(
    matrix: np.ndarray, q: np.ndarray, hits: list[tuple[int, int, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """The rows in reach of each slice [a, b) (`hit`, relative to a) and their products
    with `q`."""
    rows, sims = [], []
    for a, b, hit in hits:
        # A dense slice is cheaper to multiply whole than to gather.
        sims.append((matrix[a:b] @ q)[hit] if len(hit) * 4 > b - a else matrix[a + hit] @ q)
        rows.append(hit + a)
    return np.concatenate(rows), np.concatenate(sims)


class GeoVectorIndex:
    """Vectors with a place, searched by cosine within a radius (see the module)."""

    def __init__(self, dim: int, *, resort_share: float = 1 / 16, lists_from: int = 0) -> None:
        self.dimension = dim
        self._table = _Table(dim)
        self._row: MutableMapping[Hashable, int] = {}  # live key -> row
        self._groups: dict[Hashable, int] = {}
        self._resort_share = resort_share
        self.lists_from = lists_from  # inverted lists from this many rows (0: never)

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._row

    def payload(self, key: Hashable) -> Any:
        return self._table.payloads[self._row[key]]

    def upsert(
        self, entries: Iterable[Entry], *, now: float = -math.inf, resort: bool = True
    ) -> None:
        """Add entries, replacing any with the same key. Re-sorts when the unsorted tail or
        the replaced rows have grown past a share of the table (unless `resort` is False: a
        bulk load calls `resort()` once at its end); a re-sort drops entries no longer valid
        at `now` (they can come back with a new upsert)."""
        batch = list({e.key: e for e in entries}.values())  # the last of a key wins
        if not batch:
            return
        self.discard(e.key for e in batch)
        t = self._table
        start = t.n
        t.append(batch, [self._groups.setdefault(e.group, len(self._groups)) for e in batch])
        for i, e in enumerate(batch):
            self._row[e.key] = start + i
        dead = t.n - len(self._row)
        if resort and max(t.n - t.sorted_rows, dead) > max(
            1024, t.sorted_rows * self._resort_share
        ):
            self.resort(now)

    def resort(self, now: float = -math.inf) -> None:
        self._table = self._table.compacted(now, self.lists_from)
        self._row = {k: i for i, k in enumerate(self._table.keys)}

    def discard(self, keys: Iterable[Hashable]) -> None:
        for key in keys:
            row = self._row.pop(key, None)
            if row is not None:
                self._table.alive[row] = False

    def _slices(self, lat: float, lon: float, radius_km: float) -> list[tuple[int, int]]:
        """Row ranges that hold every entry within the radius: the `everywhere` block, each
        row of cells across the circle's bounding box, and the unsorted tail."""
        t = self._table
        cells = t.cell[: t.sorted_rows]
        ranges = [self._everywhere_rows()]
        dlat = radius_km / KM_PER_DEGREE
        lat_lo, lat_hi = max(-90.0, lat - dlat), min(90.0, lat + dlat)
        widest = math.cos(math.radians(max(abs(lat_lo), abs(lat_hi))))
        dlon = 180.0 if widest < 1e-6 else radius_km / (KM_PER_DEGREE * widest)
        if dlon >= 180.0 or lon - dlon < -180.0 or lon + dlon > 180.0:
            col_lo, col_hi = 0, _LON_CELLS - 1  # whole rows (poles, the date line)
        else:
            col_lo, col_hi = _cell_col(np.array([lon - dlon, lon + dlon]))
        first, last = _cell_row(np.array([lat_lo, lat_hi]))
        rows = np.arange(first, last + 1, dtype=np.int64) * _LON_CELLS
        starts = np.searchsorted(cells, rows + col_lo, "left")
        ends = np.searchsorted(cells, rows + col_hi, "right")
        ranges += [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b > a]
        ranges.append((t.sorted_rows, t.n))
        return ranges

    def _everywhere_rows(self) -> tuple[int, int]:
        cells = self._table.cell[: self._table.sorted_rows]
        return (
            int(np.searchsorted(cells, _EVERYWHERE, "left")),
            int(np.searchsorted(cells, _EVERYWHERE, "right")),
        )

    def _in_reach(
        self,
        rows: slice | np.ndarray,
        *,
        group: int,
        now: float,
        where: np.ndarray | None,
        min_cos: float,
        everywhere_counts: bool = True,
    ) -> np.ndarray:
        t = self._table
        ok: np.ndarray = t.alive[rows] & (t.group[rows] == group) & (t.valid_until[rows] > now)
        if where is not None:
            # Located entries only (cell >= 0): not the everywhere ones, wherever they sit.
            near = (t.xyz[rows] @ where >= min_cos) & (t.cell[rows] >= 0)
            ok &= (t.everywhere[rows] | near) if everywhere_counts else near
        return ok

    def _ranges(
        self, lat: float | None, lon: float | None, radius_km: float | None
    ) -> tuple[list[tuple[int, int]], np.ndarray | None, float]:
        t = self._table
        if radius_km is None:
            return [(0, t.n)], None, -2.0
        if lat is None or lon is None:
            # A radius around no place: only what is in reach from anywhere (as in the
            # database's query, where the distance is then unknown).
            return [self._everywhere_rows(), (t.sorted_rows, t.n)], np.zeros(3), 2.0
        where = _unit_xyz(np.array(lat), np.array(lon))
        # Within the radius <=> the angle between the two points is at most radius / R.
        min_cos = math.cos(min(math.pi, radius_km / EARTH_RADIUS_KM))
        return self._slices(lat, lon, radius_km), where, min_cos

    def nearest(
        self,
        query: np.ndarray,
        *,
        group: Hashable,
        lat: float | None,
        lon: float | None,
        radius_km: float | None,
        now: float,
        limit: int,
    ) -> list[tuple[Hashable, float]]:
        """The `limit` valid entries of `group` nearest in cosine to `query` (unit length)
        within `radius_km` of (lat, lon) or everywhere; (key, cosine), nearest first. Without
        a radius every valid entry of the group is in reach; with a radius but no place, only
        the `everywhere` ones."""
        code = self._groups.get(group)
        if code is None or limit <= 0:
            return []
        t = self._table
        q = np.asarray(query, np.float32)
        ranges, where, min_cos = self._ranges(lat, lon, radius_km)
        if t.lists is not None:
            box = sum(max(0, min(b, t.sorted_rows) - a) for a, b in ranges)
            listed = self._from_lists(q, code, now, where, min_cos, limit, box)
            if listed is not None:
                return self._nearest_first(listed, t.vectors[listed] @ q, q, limit)
        hits = []
        for a, b in ranges:
            if b > a:
                ok = self._in_reach(slice(a, b), group=code, now=now, where=where, min_cos=min_cos)
                hit = np.flatnonzero(ok)
                if len(hit):
                    hits.append((a, b, hit))
        if not hits:
            return []
        in_reach = sum(len(hit) for _, _, hit in hits)
        # Near-copies (one template posted in many places) differ in directions the reduced
        # space leaves out, and their clusters grow with the data: so does the shortlist.
        shortlist = max(10 * limit, in_reach // SHORTLIST_SHARE)
        if t.projection is not None and in_reach > shortlist:
            # First pass in the reduced space; the shortlist is then compared in full.
            rows, s = _products(t.reduced, t.projection.reduce(q), hits)
            rows = rows[np.argpartition(-s, shortlist - 1)[:shortlist]]
            s = t.vectors[rows] @ q
        else:
            rows, s = _products(t.vectors, q, hits)
        return self._nearest_first(rows, s, q, limit)

    def _nearest_first(
        self, rows: np.ndarray, s: np.ndarray, q: np.ndarray, limit: int
    ) -> list[tuple[Hashable, float]]:
        """The `limit` rows of highest score `s`, as (key, cosine), nearest first."""
        t = self._table
        if len(s) > limit:
            rows = rows[np.argpartition(-s, limit - 1)[:limit]]
        # The cosines returned are summed again in float64, row by row: the same vector gives
        # the same cosine wherever it sits (a matrix product's rounding depends on the row's
        # place in it), so identical vectors tie exactly and callers can order ties.
        s = (t.vectors[rows].astype(np.float64) * q.astype(np.float64)).sum(axis=1)
        order = np.lexsort((rows, -s))  # nearest first; exact ties by row
        return [(t.keys[rows[i]], float(s[i])) for i in order]

    def _from_lists(
        self,
        q: np.ndarray,
        group: int,
        now: float,
        where: np.ndarray | None,
        min_cos: float,
        limit: int,
        box: int,
    ) -> np.ndarray | None:
        """Rows in reach from the lists nearest `q`: the lists are read in order of their
        centroid's cosine with `q` until LIST_CANDIDATES x `limit` rows in reach are found (and
        at least MIN_LISTS_PROBED lists read), with the tail's rows of the lists read. None
        when reading the slices (`box` sorted rows) is expected to cost less, or once half as
        many rows as they hold have been read without finding enough."""
        t = self._table
        lists = t.lists
        assert lists is not None
        want = LIST_CANDIDATES * limit
        if box <= 0 or t.sorted_rows == 0:
            return None
        # Rows to read if the filters pass the same share of every list as of the table.
        if 4 * want * t.sorted_rows > box * box:
            return None
        reach = None if where is None else np.append(where, 1.0)
        order = np.argsort(-(lists.centroids @ q))
        found: list[np.ndarray] = []
        passed = read = taken = 0
        for i in order:
            a, b = int(lists.starts[i]), int(lists.starts[i + 1])
            taken += 1
            if b == a:
                continue
            ok = (lists.group[a:b] == group) & (lists.valid_until[a:b] > now)
            if reach is not None:
                ok &= lists.place[a:b] @ reach >= min_cos
            rows = lists.rows[a + np.flatnonzero(ok)]
            rows = rows[t.alive[rows]]
            found.append(rows)
            passed += len(rows)
            read += b - a
            if passed >= want and taken >= MIN_LISTS_PROBED:
                break
            if passed < want and 2 * read > box:
                return None
        if t.n > t.sorted_rows:  # rows written since: those of the lists read
            probed = np.zeros(len(order), bool)
            probed[order[:taken]] = True
            tail = t.sorted_rows + np.flatnonzero(probed[t.list_of[t.sorted_rows : t.n]])
            ok = self._in_reach(tail, group=group, now=now, where=where, min_cos=min_cos)
            found.append(tail[ok])
        return np.concatenate(found) if found else np.zeros(0, np.int64)

    def count_within(
        self,
        *,
        group: Hashable,
        lat: float,
        lon: float,
        radius_km: float,
        now: float,
        at_least: int,
    ) -> int:
        """How many valid entries of `group` lie within the radius, not counting `everywhere`
        ones; counting stops once at_least are found."""
        code = self._groups.get(group)
        if code is None:
            return 0
        ranges, where, min_cos = self._ranges(lat, lon, radius_km)
        found = 0
        for a, b in ranges:
            if b > a:
                found += int(
                    np.count_nonzero(
                        self._in_reach(
                            slice(a, b),
                            group=code,
                            now=now,
                            where=where,
                            min_cos=min_cos,
                            everywhere_counts=False,
                        )
                    )
                )
                if found >= at_least:
                    break
        return found


# A snapshot's columns: every table column but `alive` (a snapshot holds live rows only).
SNAPSHOT_COLUMNS = tuple(name for name in _COLUMNS if name != "alive")


@dataclass(frozen=True, slots=True)
class TableSnapshot:
    """The live entries of an index as plain arrays, in cell order: what one process writes
    for others to map read-only (`GeoVectorIndex.frozen`)."""

    columns: dict[str, np.ndarray]  # SNAPSHOT_COLUMNS ("reduced" only with a projection)
    keys: Sequence[Hashable]  # by row
    payloads: Sequence[Any]  # by row
    groups: list[Hashable]  # the group of each code in the "group" column
    basis: np.ndarray | None = None  # the projection, when fitted
    offset: np.ndarray | None = None
    fitted_rows: int = 0
    lists: InvertedLists | None = None  # when the table is partitioned

    def __len__(self) -> int:
        return len(self.columns["cell"])


class SortedKeyRows(MutableMapping[Hashable, int]):
    """Key -> row of a frozen table, from arrays: the keys as fixed-width bytes (`encode`),
    sorted, and the row of each. Lookups are binary searches; no object per key is held, so a
    table mapped by many processes costs each only a byte per row (what it has removed)."""

    def __init__(
        self, sorted_keys: np.ndarray, rows: np.ndarray, encode: Callable[[Hashable], bytes]
    ) -> None:
        self._sorted = sorted_keys
        self._rows = rows
        self._encode = encode
        self._gone = np.zeros(len(rows), bool)
        self._left = len(rows)

    def _position(self, key: Hashable) -> int:
        probe = np.array([self._encode(key)], self._sorted.dtype)
        i = int(np.searchsorted(self._sorted, probe[0]))
        if i < len(self._sorted) and self._sorted[i : i + 1] == probe and not self._gone[i]:
            return i
        return -1

    def __getitem__(self, key: Hashable) -> int:
        i = self._position(key)
        if i < 0:
            raise KeyError(key)
        return int(self._rows[i])

    def __setitem__(self, key: Hashable, row: int) -> None:
        raise TypeError("a frozen table's rows do not change")

    def __delitem__(self, key: Hashable) -> None:
        i = self._position(key)
        if i < 0:
            raise KeyError(key)
        self._gone[i] = True
        self._left -= 1

    def __iter__(self) -> Iterator[Hashable]:
        raise TypeError("the keys of a frozen table are read by row (its `keys`)")

    def __len__(self) -> int:
        return self._left


class FrozenGeoVectorIndex(GeoVectorIndex):
    """A GeoVectorIndex over a snapshot's arrays (which may be read-only memory maps shared by
    several processes): searched as any other, entries can be removed (a private mask), none
    added. `LayeredIndex` puts a private index on top for what changed since."""

    def __init__(
        self,
        dim: int,
        snapshot: TableSnapshot,
        rows: MutableMapping[Hashable, int],
        *,
        lists_from: int = 0,
    ) -> None:
        super().__init__(dim, lists_from=lists_from)
        projection = None
        if snapshot.basis is not None and snapshot.offset is not None:
            projection = _Projection(snapshot.basis, snapshot.offset, snapshot.fitted_rows)
        table = _Table(dim, 0, projection, snapshot.lists)
        for name, column in snapshot.columns.items():
            setattr(table, name, column)
        if "list_of" not in snapshot.columns:  # a snapshot written before lists
            table.list_of = np.zeros(len(snapshot), np.int32)
        table.n = table.sorted_rows = len(snapshot)
        table.alive = np.ones(len(snapshot), bool)  # private: what this process has removed
        table.keys, table.payloads = snapshot.keys, snapshot.payloads
        self._table = table
        self._row = rows
        self._groups = {group: code for code, group in enumerate(snapshot.groups)}

    def upsert(
        self, entries: Iterable[Entry], *, now: float = -math.inf, resort: bool = True
    ) -> None:
        raise TypeError("a frozen index takes no entries: add them to a LayeredIndex's delta")

    def resort(self, now: float = -math.inf) -> None:
        pass  # in cell order already; expired entries are skipped by every search


class LayeredIndex:
    """A base index (frozen, shared: `FrozenGeoVectorIndex`) and a private delta on top that
    holds what was written since the base was taken; a key written again or removed is removed
    from the base. Searches ask both and merge: each answers its `limit` nearest, so the
    merge is the `limit` nearest of their union. With an empty base it is one private index
    (the delta re-sorts itself as a GeoVectorIndex does)."""

    def __init__(self, base: GeoVectorIndex, delta: GeoVectorIndex | None = None) -> None:
        self.base = base
        self.delta = (
            delta
            if delta is not None
            else GeoVectorIndex(base.dimension, lists_from=base.lists_from)
        )
        self.dimension = base.dimension

    def __len__(self) -> int:
        return len(self.base) + len(self.delta)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.delta or key in self.base

    def payload(self, key: Hashable) -> Any:
        return self.delta.payload(key) if key in self.delta else self.base.payload(key)

    def changed(self) -> int:
        """Entries held privately on top of the base: written since, or removed from it."""
        return len(self.delta) + self.base._table.n - len(self.base)

    def upsert(
        self, entries: Iterable[Entry], *, now: float = -math.inf, resort: bool = True
    ) -> None:
        batch = list(entries)
        self.base.discard(e.key for e in batch)
        self.delta.upsert(batch, now=now, resort=resort)

    def discard(self, keys: Iterable[Hashable]) -> None:
        gone = list(keys)
        self.base.discard(gone)
        self.delta.discard(gone)

    def resort(self, now: float = -math.inf) -> None:
        self.delta.resort(now)

    def nearest(
        self,
        query: np.ndarray,
        *,
        group: Hashable,
        lat: float | None,
        lon: float | None,
        radius_km: float | None,
        now: float,
        limit: int,
    ) -> list[tuple[Hashable, float]]:
        """As `GeoVectorIndex.nearest`, over the base and the delta."""
        where: dict[str, Any] = {
            "group": group,
            "lat": lat,
            "lon": lon,
            "radius_km": radius_km,
            "now": now,
        }
        found = self.base.nearest(query, **where, limit=limit)
        found += self.delta.nearest(query, **where, limit=limit)
        found.sort(key=lambda kc: -kc[1])  # stable: each part's order of exact ties is kept
        return found[:limit]

    def count_within(
        self,
        *,
        group: Hashable,
        lat: float,
        lon: float,
        radius_km: float,
        now: float,
        at_least: int,
    ) -> int:
        where: dict[str, Any] = {
            "group": group,
            "lat": lat,
            "lon": lon,
            "radius_km": radius_km,
            "now": now,
        }
        found = self.base.count_within(**where, at_least=at_least)
        if found < at_least:
            found += self.delta.count_within(**where, at_least=at_least - found)
        return found

    def snapshot(self, now: float) -> TableSnapshot:
        """The base's live entries and the delta's, merged and re-sorted (dropping those no
        longer valid at `now`): the next base."""
        a, b = self.base._table, self.delta._table
        groups = dict(self.base._groups)
        for group in self.delta._groups:
            groups.setdefault(group, len(groups))
        joined = _Table(self.dimension, max(1024, a.n + b.n), a.projection, a.lists)
        for name in _COLUMNS:
            if name == "reduced":
                continue
            column = getattr(joined, name)
            column[: a.n] = getattr(a, name)[: a.n]
            column[a.n : a.n + b.n] = getattr(b, name)[: b.n]
        if b.n:
            codes = np.array([groups[g] for g in self.delta._groups], np.int32)
            joined.group[a.n : a.n + b.n] = codes[b.group[: b.n]]
        if a.projection is not None:
            joined.reduced[: a.n] = a.reduced[: a.n]
            a.projection.reduce(b.vectors[: b.n], out=joined.reduced[a.n : a.n + b.n])
        if a.lists is not None and b.n:  # the delta's rows in the base's lists
            joined.list_of[a.n : a.n + b.n] = a.lists.assign(joined.coarse(slice(a.n, a.n + b.n)))
        joined.n = a.n + b.n
        joined.keys = [*a.keys[: a.n], *b.keys[: b.n]]
        joined.payloads = [*a.payloads[: a.n], *b.payloads[: b.n]]
        table = joined.compacted(now, self.base.lists_from)
        n, projection = table.n, table.projection
        columns = {
            name: getattr(table, name)[:n]
            for name in SNAPSHOT_COLUMNS
            if name != "reduced" or projection is not None
        }
        return TableSnapshot(
            columns=columns,
            keys=table.keys,
            payloads=table.payloads,
            groups=list(groups),
            basis=projection.basis if projection else None,
            offset=projection.offset if projection else None,
            fitted_rows=projection.fitted_rows if projection else 0,
            lists=table.lists,
        )
