"""Near-duplicate links between indexed items: every item's nearest neighbours, and the groups the
links at or above a similarity threshold connect (``docs/near-duplicates.md``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from content_signals.similarity.index import VectorIndex

PAIR_SCHEMA = pa.schema(
    [
        pa.field("content_id", pa.string(), nullable=False),
        pa.field("neighbour_id", pa.string(), nullable=False),
        pa.field("similarity", pa.float32(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("group_id", pa.string(), nullable=False),
    ]
)


def near_duplicate_groups(content_ids: np.ndarray, pairs: pa.Table, threshold: float) -> np.ndarray:
    """The group of each of ``content_ids``: the smallest content id of its connected component in
    the graph of ``pairs`` whose similarity is at or above ``threshold`` (single linkage; compared
    in double precision, as Spark compares a float column with a double literal)."""
    ids = np.asarray(content_ids, dtype=object)
    position = {content_id: i for i, content_id in enumerate(ids.tolist())}
    parent = np.arange(len(ids))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    similarity = pairs.column("similarity").to_numpy().astype(np.float64)
    linked = np.flatnonzero(similarity >= threshold)
    left = pairs.column("content_id").to_numpy(zero_copy_only=False)[linked]
    right = pairs.column("neighbour_id").to_numpy(zero_copy_only=False)[linked]
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        ra, rb = root(position[a]), root(position[b])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    order = np.argsort(ids.astype(str), kind="stable")  # smallest id first, so it becomes the root's name
    roots = np.array([root(i) for i in range(len(ids))], dtype=np.int64)
    smallest = np.empty(len(ids), dtype=object)
    for i in order[::-1]:  # the last write per root is its smallest id
        smallest[roots[i]] = ids[i]
    return np.asarray(smallest[roots], dtype=object)


def neighbour_pairs(index: VectorIndex, k: int, threshold: float, threads: int = 0) -> pa.Table:
    """Every indexed item's ``k`` nearest other items (:data:`PAIR_SCHEMA`), each pair carrying the
    near-duplicate group (:func:`near_duplicate_groups`) of its ``content_id``."""
    pairs = index.all_neighbours(k, threads=threads)
    content_ids = np.unique(pairs.column("content_id").to_numpy(zero_copy_only=False).astype(str))
    groups = near_duplicate_groups(content_ids.astype(object), pairs, threshold)
    group_of = dict(zip(content_ids.tolist(), groups.tolist(), strict=True))
    group_ids = [group_of[c] for c in pairs.column("content_id").to_pylist()]
    return pa.table(
        {
            "content_id": pairs.column("content_id"),
            "neighbour_id": pairs.column("neighbour_id"),
            "similarity": pairs.column("similarity"),
            "rank": pairs.column("rank"),
            "group_id": pa.array(group_ids, pa.string()),
        },
        schema=PAIR_SCHEMA,
    )
