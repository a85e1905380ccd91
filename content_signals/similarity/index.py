"""The vector index of a published vector partition: built or updated, written beside the partition,
swapped into place atomically, opened memory-mapped.

One version is a folder ``vector_index/<table>/date=D/`` holding

    index.usearch   the usearch HNSW graph and vectors (inner product on unit vectors = cosine)
    keys.parquet    key -> content_id, with what filters need (content type, creator) and the
                    text fingerprint the vector was computed from
    manifest.json   the version's identity: source partition run, encoder digest, parameters,
                    counts, the index file's sha256 and a recall sample against exact search

Keys are stable across versions: an item keeps its key while it stays in the catalogue, a new item
gets the next unused key, a removed item's key is never reused. A version is written in full under
``staging/`` and moved into place with :func:`content_signals.partitions.swap_into_place`, so a
reader sees the old version or the new one, never half of one. Only the builder mutates an index,
and only one it loaded normally: ``remove`` on a memory-mapped view crashes usearch 2.26.6.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from content_signals.config import SimilarityConfig
from content_signals.errors import SignalsError
from content_signals.files import write_atomic
from content_signals.layout import DataLayout, partition_name
from content_signals.partitions import swap_into_place
from content_signals.text import NORMALISATION_VERSION

INDEX_FILE = "index.usearch"
KEYS_FILE = "keys.parquet"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1
# What a build reads per item (the vector partition joined with the catalogue).
ITEM_COLUMNS = ("content_id", "text_embedding", "embedded_text_fingerprint", "content_type", "creator_id")
# Queries sampled at every build to measure recall@10 against exact search.
RECALL_SAMPLE = 200
RECALL_K = 10
# An over-fetched filtered search asks for at most this many candidates; a filter so selective that
# this cannot serve it is answered by exact search over the rows it allows.
MAX_FETCH = 4096

Progress = Callable[[str], None]


@dataclass(frozen=True)
class IndexManifest:
    """What one index version is and how it was made."""

    table: str
    day: str
    run_id: str
    source_run_id: str
    encoder_digest: str
    normalisation_version: str
    dimension: int
    usearch_version: str
    connectivity: int
    expansion_add: int
    expansion_search: int
    build: Literal["full", "incremental"]
    items: int
    added: int
    replaced: int
    removed: int
    unchanged: int
    # Items removed or replaced since the last full build: deleted graph entries accumulate.
    changed_since_full_build: int
    next_key: int
    sample_recall_at_10: float | None
    build_seconds: float
    index_sha256: str
    created_at: str
    format_version: int = FORMAT_VERSION

    @property
    def version(self) -> str:
        """``<partition date>.<build run id>``: what SimilarContent reports."""
        return f"{self.day}.{self.run_id}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def read(cls, folder: Path) -> IndexManifest:
        try:
            fields = json.loads((folder / MANIFEST_FILE).read_text())
            return cls(**fields)
        except (OSError, ValueError, TypeError) as exc:
            raise SignalsError(f"{folder}: not a readable vector index version ({exc})") from exc


@dataclass(frozen=True)
class UpdatePlan:
    """How the items of a new partition relate to the previous index version, by content id and
    text fingerprint; ``keys`` is every item's key, aligned with the items."""

    keys: np.ndarray
    added: np.ndarray  # positions in the items
    replaced: np.ndarray  # positions in the items
    removed_keys: np.ndarray
    unchanged: int
    next_key: int


def index_versions(layout: DataLayout, table: str) -> list[tuple[date, Path]]:
    """Every complete version of ``table``'s index, oldest first."""
    folder = layout.vector_index_dir(table)
    if not folder.exists():
        return []
    versions = []
    for child in folder.iterdir():
        if not (child.is_dir() and child.name.startswith("date=") and (child / MANIFEST_FILE).exists()):
            continue
        try:
            versions.append((date.fromisoformat(child.name.removeprefix("date=")), child))
        except ValueError:
            continue
    return sorted(versions)


def newest_index(layout: DataLayout, table: str, on_or_before: date | None = None) -> Path | None:
    """The newest version dated ``on_or_before`` (any date when None), if there is one."""
    eligible = [p for d, p in index_versions(layout, table) if on_or_before is None or d <= on_or_before]
    return eligible[-1] if eligible else None


def item_vectors(items: pa.Table, dimension: int | None = None) -> np.ndarray:
    """The ``text_embedding`` column as a contiguous (n, dimension) float32 matrix."""
    column = items.column("text_embedding").combine_chunks()
    lengths = pc.list_value_length(column)
    if column.null_count or (len(column) and pc.min_max(lengths)["min"] != pc.min_max(lengths)["max"]):
        raise SignalsError("every item of a vector index needs a vector, all of one length")
    n = len(column)
    width = dimension if n == 0 else int(lengths[0].as_py())
    if dimension is not None and width != dimension:
        raise SignalsError(f"vectors have {width} dimensions, the index {dimension}")
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return np.ascontiguousarray(flat.reshape(n, width or 0))


def plan_update(items: pa.Table, previous_keys: pa.Table | None, next_key: int) -> UpdatePlan:
    """Keys for the new items and what changed since the previous version."""
    new = pd.DataFrame(
        {
            "content_id": items.column("content_id").to_pandas(),
            "fingerprint": items.column("embedded_text_fingerprint").to_pandas(),
        }
    )
    if new["content_id"].duplicated().any():
        raise SignalsError("a vector index needs one vector per content id; the partition repeats ids")
    if previous_keys is None:
        keys = np.arange(next_key, next_key + len(new), dtype=np.uint64)
        return UpdatePlan(
            keys,
            np.arange(len(new)),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.uint64),
            0,
            next_key + len(new),
        )
    old = previous_keys.select(["key", "content_id", "embedded_text_fingerprint"]).to_pandas()
    old = old.rename(columns={"embedded_text_fingerprint": "old_fingerprint"})
    merged = new.merge(old, on="content_id", how="left", sort=False)
    known = merged["key"].notna().to_numpy()
    added = np.flatnonzero(~known)
    keys = np.zeros(len(new), dtype=np.uint64)
    keys[known] = merged.loc[known, "key"].to_numpy(dtype=np.uint64)
    keys[added] = np.arange(next_key, next_key + len(added), dtype=np.uint64)
    changed = known & (merged["fingerprint"].to_numpy() != merged["old_fingerprint"].to_numpy())
    gone = ~old["content_id"].isin(new["content_id"]).to_numpy()
    return UpdatePlan(
        keys=keys,
        added=added,
        replaced=np.flatnonzero(changed),
        removed_keys=old.loc[gone, "key"].to_numpy(dtype=np.uint64),
        unchanged=int((known & ~changed).sum()),
        next_key=next_key + len(added),
    )


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and similarities of the ``k`` most similar ``vectors`` to each query, by brute force
    (numpy/BLAS): the ground truth recall is measured against, and the benchmark's baseline."""
    k = min(k, len(vectors))
    rows = np.empty((len(queries), k), dtype=np.int64)
    sims = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), 256):
        block = queries[start : start + 256] @ vectors.T
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(block, top, axis=1), axis=1)
        rows[start : start + 256] = np.take_along_axis(top, order, axis=1)
        sims[start : start + 256] = np.take_along_axis(block, rows[start : start + 256], axis=1)
    return rows, sims


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true neighbours found, over every query (``found`` may hold -1 for none)."""
    hits = sum(len(set(f[f >= 0].tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
    return hits / max(1, truth.size)


def _new_index(dimension: int, settings: SimilarityConfig) -> Any:
    from usearch.index import Index

    return Index(
        ndim=dimension,
        metric="ip",
        dtype="f32",
        connectivity=settings.connectivity,
        expansion_add=settings.expansion_add,
        expansion_search=settings.expansion_search,
    )


def _sample_recall(index: Any, keys: np.ndarray, vectors: np.ndarray, threads: int) -> float | None:
    if len(keys) <= RECALL_K:
        return None
    rng = np.random.default_rng(0)
    sample = rng.choice(len(keys), size=min(RECALL_SAMPLE, len(keys)), replace=False)
    truth_rows, _ = exact_neighbours(vectors, vectors[sample], RECALL_K)
    matches = index.search(vectors[sample], RECALL_K, threads=threads)
    found = np.asarray(matches.keys, dtype=np.int64).reshape(len(sample), -1)
    return recall_at_k(found, keys[truth_rows].astype(np.int64))


def _compatible(
    manifest: IndexManifest, encoder_digest: str, dimension: int, settings: SimilarityConfig
) -> bool:
    import usearch

    return (
        manifest.format_version == FORMAT_VERSION
        and manifest.encoder_digest == encoder_digest
        and manifest.normalisation_version == NORMALISATION_VERSION
        and manifest.dimension == dimension
        and manifest.usearch_version == usearch.__version__
        and manifest.connectivity == settings.connectivity
        and manifest.expansion_add == settings.expansion_add
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_index_version(
    layout: DataLayout,
    table: str,
    day: date,
    items: pa.Table,
    *,
    source_run_id: str,
    encoder_digest: str,
    settings: SimilarityConfig,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> IndexManifest:
    """Write the index version of ``table``'s partition of ``day`` from its ``items``
    (:data:`ITEM_COLUMNS`), updating the newest earlier version (or an earlier run of the same day)
    when it is compatible and has not changed too much since its last full build; otherwise build
    from scratch. Returns the new version's manifest once it is in place."""
    say = progress or (lambda _message: None)
    missing = [c for c in ITEM_COLUMNS if c not in items.column_names]
    if missing:
        raise SignalsError(f"vector index items lack {', '.join(missing)}")
    started = time.perf_counter()
    run_id = run_id or uuid.uuid4().hex[:12]
    threads = settings.threads
    vectors = item_vectors(items)
    dimension = vectors.shape[1] if len(vectors) else 0
    previous_path = newest_index(layout, table, on_or_before=day)
    previous = IndexManifest.read(previous_path) if previous_path else None
    previous_keys = pq.read_table(previous_path / KEYS_FILE) if previous_path else None
    plan = plan_update(items, previous_keys, previous.next_key if previous else 0)
    changed = len(plan.replaced) + len(plan.removed_keys)
    incremental = (
        previous is not None
        and previous_path is not None
        and _compatible(previous, encoder_digest, dimension, settings)
        and previous.changed_since_full_build + changed <= settings.rebuild_share * max(1, len(items))
    )
    if incremental:
        from usearch.index import Index

        assert previous is not None and previous_path is not None
        say(
            f"updating {previous.version}: {len(plan.added):,} added, {len(plan.replaced):,} replaced, "
            f"{len(plan.removed_keys):,} removed"
        )
        index = Index.restore(str(previous_path / INDEX_FILE), view=False)
        if index is None:
            raise SignalsError(f"{previous_path / INDEX_FILE}: usearch could not read it")
        index.expansion_search = settings.expansion_search  # type: ignore[misc]  # a setter mypy misses
        stale = np.concatenate([plan.removed_keys, plan.keys[plan.replaced]]).astype(np.uint64)
        if len(stale):
            index.remove(stale)
        fresh = np.concatenate([plan.added, plan.replaced])
        if len(fresh):
            index.add(plan.keys[fresh], vectors[fresh], threads=threads)
        since_full = previous.changed_since_full_build + changed
    else:
        say(f"building from scratch: {len(items):,} vectors of {dimension} dimensions")
        index = _new_index(dimension, settings)
        if len(items):
            index.add(plan.keys, vectors, threads=threads)
        since_full = 0
    recall = _sample_recall(index, plan.keys, vectors, threads)
    staged = layout.staging_dir / "vector_index" / table / f"{partition_name(day)}.{run_id}"
    staged.mkdir(parents=True)
    index.save(str(staged / INDEX_FILE))
    keys_table = pa.table(
        {
            "key": pa.array(plan.keys, type=pa.uint64()),
            "content_id": items.column("content_id"),
            "embedded_text_fingerprint": items.column("embedded_text_fingerprint"),
            "content_type": items.column("content_type"),
            "creator_id": items.column("creator_id"),
        }
    )
    pq.write_table(keys_table, staged / KEYS_FILE)
    import usearch

    manifest = IndexManifest(
        table=table,
        day=day.isoformat(),
        run_id=run_id,
        source_run_id=source_run_id,
        encoder_digest=encoder_digest,
        normalisation_version=NORMALISATION_VERSION,
        dimension=dimension,
        usearch_version=usearch.__version__,
        connectivity=settings.connectivity,
        expansion_add=settings.expansion_add,
        expansion_search=settings.expansion_search,
        build="incremental" if incremental else "full",
        items=len(items),
        added=len(plan.added),
        replaced=len(plan.replaced),
        removed=len(plan.removed_keys),
        unchanged=plan.unchanged,
        changed_since_full_build=since_full,
        next_key=plan.next_key,
        sample_recall_at_10=recall,
        build_seconds=round(time.perf_counter() - started, 3),
        index_sha256=_sha256(staged / INDEX_FILE),
        created_at=datetime.now(UTC).isoformat(),
    )
    write_atomic(staged / MANIFEST_FILE, manifest.to_json().encode())
    swap_into_place(staged, layout.vector_index_version(table, day))
    say(
        f"index {manifest.version}: {manifest.items:,} items ({manifest.build}), "
        f"recall@10 on a sample {'-' if recall is None else round(recall, 3)}, "
        f"{manifest.build_seconds:.1f} s"
    )
    return manifest


@dataclass(frozen=True)
class SearchFilters:
    """What a caller excludes from the neighbours (every field empty: nothing)."""

    # Only items of these content types ("track", "episode", ...); empty: every type.
    content_types: frozenset[str] = frozenset()
    exclude_creator_ids: frozenset[str] = frozenset()
    exclude_content_ids: frozenset[str] = frozenset()
    # Neighbours less similar than this are left out (cosine similarity, in [-1, 1]).
    min_similarity: float = -1.0


NO_FILTERS = SearchFilters()


@dataclass(frozen=True)
class Neighbours:
    """Nearest items, most similar first."""

    content_ids: list[str]
    similarities: np.ndarray
    content_types: list[str]
    creator_ids: list[str]

    def __len__(self) -> int:
        return len(self.content_ids)


class VectorIndex:
    """One index version opened for queries: memory-mapped (``view=True``, what serving replicas
    do: the file's pages are shared between processes and evictable) or loaded into memory."""

    def __init__(self, folder: Path, *, view: bool = True, expansion_search: int | None = None) -> None:
        """``expansion_search``: the search breadth queries use (default: the one the version was
        built with); a serving setting, so recall can be raised without a rebuild."""
        from usearch.index import Index

        self.folder = folder
        self.manifest = IndexManifest.read(folder)
        index = Index.restore(str(folder / INDEX_FILE), view=view)
        if index is None:
            raise SignalsError(f"{folder / INDEX_FILE}: usearch could not read it")
        self.expansion_search = expansion_search or self.manifest.expansion_search
        index.expansion_search = self.expansion_search  # type: ignore[misc]  # a setter mypy misses
        self._index = index
        keys = pq.read_table(folder / KEYS_FILE)
        key_values = keys.column("key").to_numpy().astype(np.int64)
        size = max(self.manifest.next_key, int(key_values.max()) + 1 if len(key_values) else 0)
        self._content_ids = np.empty(size, dtype=object)
        self._content_ids[key_values] = keys.column("content_id").to_numpy(zero_copy_only=False)
        self._key_of = pd.Index(keys.column("content_id").to_numpy(zero_copy_only=False))
        self._keys_by_row = key_values
        self.type_names, type_codes = np.unique(
            keys.column("content_type").fill_null("").to_numpy(zero_copy_only=False).astype(str),
            return_inverse=True,
        )
        self.creator_names, creator_codes = np.unique(
            keys.column("creator_id").fill_null("").to_numpy(zero_copy_only=False).astype(str),
            return_inverse=True,
        )
        self._type_by_key = np.full(size, -1, dtype=np.int32)
        self._type_by_key[key_values] = type_codes
        self._creator_by_key = np.full(size, -1, dtype=np.int64)
        self._creator_by_key[key_values] = creator_codes
        self._present = np.zeros(size, dtype=bool)
        self._present[key_values] = True

    @property
    def version(self) -> str:
        return self.manifest.version

    def __len__(self) -> int:
        return int(self._present.sum())

    def key(self, content_id: str) -> int | None:
        position = self._key_of.get_indexer([content_id])[0]
        return None if position < 0 else int(self._keys_by_row[position])

    def vector(self, content_id: str) -> np.ndarray | None:
        """The stored unit vector of an indexed item; None for an id the index does not hold."""
        key = self.key(content_id)
        if key is None:
            return None
        return np.asarray(self._index.get(np.uint64(key)), dtype=np.float32)

    def creator_id(self, content_id: str) -> str | None:
        """The creator an indexed item was indexed with ("" when it had none); None for an id the
        index does not hold."""
        key = self.key(content_id)
        return None if key is None else str(self.creator_names[self._creator_by_key[key]])

    def _allowed(self, filters: SearchFilters) -> np.ndarray | None:
        """Which keys the type and creator filters allow; None when they allow every key."""
        if not filters.content_types and not filters.exclude_creator_ids:
            return None
        allowed = self._present.copy()
        if filters.content_types:
            codes = np.flatnonzero(np.isin(self.type_names, sorted(filters.content_types)))
            allowed &= np.isin(self._type_by_key, codes)
        if filters.exclude_creator_ids:
            codes = np.flatnonzero(np.isin(self.creator_names, sorted(filters.exclude_creator_ids)))
            allowed &= ~np.isin(self._creator_by_key, codes)
        return allowed

    def _result(self, keys: np.ndarray, similarities: np.ndarray) -> Neighbours:
        return Neighbours(
            content_ids=[str(c) for c in self._content_ids[keys]],
            similarities=similarities.astype(np.float32),
            content_types=[str(self.type_names[c]) for c in self._type_by_key[keys]],
            creator_ids=[str(self.creator_names[c]) for c in self._creator_by_key[keys]],
        )

    def search(self, query: np.ndarray, k: int, filters: SearchFilters = NO_FILTERS) -> Neighbours:
        """The ``k`` nearest indexed items to the unit vector ``query`` that pass ``filters``.

        Filters are applied by over-fetching candidates from the graph (the usearch binding takes
        no predicate) and retrying with a larger fetch when too few survive; a filter too selective
        for :data:`MAX_FETCH` candidates is answered exactly over the rows it allows.
        """
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        total = len(self)
        if k <= 0 or total == 0:
            return self._result(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        allowed = self._allowed(filters)
        allowed_count = total if allowed is None else int(allowed.sum())
        excluded_keys = {key for key in (self.key(c) for c in filters.exclude_content_ids) if key is not None}
        wanted = min(k, max(0, allowed_count - len(excluded_keys)))
        if wanted == 0:
            return self._result(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        fetch = min(total, int(np.ceil((wanted + len(excluded_keys)) * total / allowed_count * 2)))
        if fetch > MAX_FETCH and allowed is not None:
            return self._exact(query, wanted, allowed, excluded_keys, filters.min_similarity)
        while True:
            matches = self._index.search(query, fetch)
            keys = np.asarray(matches.keys, dtype=np.int64)
            similarities = 1.0 - np.asarray(matches.distances, dtype=np.float32)
            keep = similarities >= filters.min_similarity
            if allowed is not None:
                keep &= allowed[keys]
            if excluded_keys:
                keep &= ~np.isin(keys, list(excluded_keys))
            kept = np.flatnonzero(keep)[:wanted]
            exhausted = fetch >= total or (len(similarities) and similarities[-1] < filters.min_similarity)
            if len(kept) >= wanted or exhausted:
                return self._result(keys[kept], similarities[kept])
            if fetch * 4 > MAX_FETCH and allowed is not None:
                return self._exact(query, wanted, allowed, excluded_keys, filters.min_similarity)
            fetch = min(total, fetch * 4)

    def _exact(
        self, query: np.ndarray, k: int, allowed: np.ndarray, excluded: set[int], min_similarity: float
    ) -> Neighbours:
        if excluded:
            allowed = allowed.copy()
            allowed[list(excluded)] = False
        keys = np.flatnonzero(allowed)
        if len(keys) == 0:
            return self._result(keys, np.zeros(0, dtype=np.float32))
        stored = self._index.get(keys.astype(np.uint64))
        rows_of = stored if isinstance(stored, np.ndarray) else np.stack(cast(list[np.ndarray], stored))
        vectors = np.asarray(rows_of, dtype=np.float32)
        rows, similarities = exact_neighbours(vectors, query[None, :], k)
        keep = similarities[0] >= min_similarity
        return self._result(keys[rows[0][keep]], similarities[0][keep])

    def all_neighbours(self, k: int, threads: int = 0) -> pa.Table:
        """Every indexed item's ``k`` nearest other items: ``content_id``, ``neighbour_id``,
        ``similarity``, ``rank`` (1 = nearest), one row per pair: what the duplicate signals are
        computed from."""
        keys = np.asarray(self._index.keys, dtype=np.int64)
        if len(keys) < 2 or k <= 0:
            return pa.table(
                {
                    "content_id": pa.array([], pa.string()),
                    "neighbour_id": pa.array([], pa.string()),
                    "similarity": pa.array([], pa.float32()),
                    "rank": pa.array([], pa.int32()),
                }
            )
        vectors = np.asarray(self._index.vectors, dtype=np.float32)
        fetch = min(len(keys), k + 1)
        matches = self._index.search(vectors, fetch, threads=threads)
        found = np.asarray(matches.keys, dtype=np.int64).reshape(len(keys), -1)
        similarities = 1.0 - np.asarray(matches.distances, dtype=np.float32).reshape(len(keys), -1)
        counts = np.asarray(getattr(matches, "counts", found.shape[1])).reshape(-1)
        valid = np.arange(found.shape[1])[None, :] < counts[:, None]
        not_self = found != keys[:, None]
        keep = valid & not_self
        # At most k per item: drop the (k+1)-th where the item itself was not among the results.
        keep &= np.cumsum(keep, axis=1) <= k
        rows, columns = np.nonzero(keep)
        ranks = np.cumsum(keep, axis=1)[rows, columns]
        return pa.table(
            {
                "content_id": pa.array(self._content_ids[keys[rows]].tolist(), pa.string()),
                "neighbour_id": pa.array(self._content_ids[found[rows, columns]].tolist(), pa.string()),
                "similarity": pa.array(similarities[rows, columns], pa.float32()),
                "rank": pa.array(ranks.astype(np.int32), pa.int32()),
            }
        )
