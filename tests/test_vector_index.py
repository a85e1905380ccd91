"""The vector index artifact: recall against exact search, stable keys across incremental updates,
rebuilds when the index would no longer be what a fresh build gives, atomic versions, filters."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from content_signals.config import SimilarityConfig
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.similarity.index import (
    INDEX_FILE,
    MANIFEST_FILE,
    IndexManifest,
    SearchFilters,
    VectorIndex,
    build_index_version,
    exact_neighbours,
    index_versions,
    newest_index,
    recall_at_k,
)

TABLE = "content_embedding"
DAY = date(2026, 3, 1)
DIM = 32
SETTINGS = SimilarityConfig(threads=1)


def clustered(n: int, seed: int = 0, clusters: int = 40, spread: float = 0.2) -> np.ndarray:
    centres = np.random.default_rng(1234).normal(size=(clusters, DIM))  # the same for every seed
    rng = np.random.default_rng(seed)
    vectors = centres[rng.integers(0, clusters, n)] + rng.normal(scale=spread, size=(n, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def items(
    ids: list[str],
    vectors: np.ndarray,
    fingerprints: list[str] | None = None,
    types: list[str] | None = None,
    creators: list[str] | None = None,
) -> pa.Table:
    return pa.table(
        {
            "content_id": ids,
            "text_embedding": pa.array(list(vectors), pa.list_(pa.float32())),
            "embedded_text_fingerprint": fingerprints or [f"fp-{i}" for i in ids],
            "content_type": types or ["episode" if i % 10 == 0 else "track" for i in range(len(ids))],
            "creator_id": creators or [f"cr{i % 25}" for i in range(len(ids))],
        }
    )


def build(
    layout: DataLayout, day: date, table: pa.Table, digest: str = "enc-a", **settings: object
) -> IndexManifest:
    return build_index_version(
        layout,
        TABLE,
        day,
        table,
        source_run_id="run",
        encoder_digest=digest,
        settings=SETTINGS.model_copy(update=settings),
    )


@pytest.fixture
def layout(tmp_path: Path) -> DataLayout:
    return DataLayout(tmp_path)


def test_recall_against_exact_search(layout: DataLayout) -> None:
    vectors = clustered(3000)
    ids = [f"c{i}" for i in range(len(vectors))]
    manifest = build(layout, DAY, items(ids, vectors))
    assert manifest.build == "full" and manifest.items == 3000
    assert manifest.sample_recall_at_10 is not None and manifest.sample_recall_at_10 >= 0.95
    index = VectorIndex(layout.vector_index_version(TABLE, DAY))
    queries = clustered(100, seed=1)
    truth, _ = exact_neighbours(vectors, queries, 10)
    found = np.array([[int(c[1:]) for c in index.search(q, 10).content_ids] for q in queries])
    assert recall_at_k(found, truth) >= 0.95
    # Similarities are cosine similarities, most similar first.
    result = index.search(queries[0], 10)
    expected = vectors[[int(c[1:]) for c in result.content_ids]] @ queries[0]
    np.testing.assert_allclose(result.similarities, expected, atol=1e-5)
    assert list(result.similarities) == sorted(result.similarities, reverse=True)


def test_incremental_update_keeps_keys_and_drops_removed_items(layout: DataLayout) -> None:
    vectors = clustered(1000)
    ids = [f"c{i}" for i in range(1000)]
    build(layout, DAY, items(ids, vectors))
    first = VectorIndex(layout.vector_index_version(TABLE, DAY))
    # Day two: c0-c9 removed, c10-c19 changed text (new vector, new fingerprint), n0-n9 new.
    changed = clustered(10, seed=5)
    fresh = clustered(10, seed=6)
    ids2 = ids[10:] + [f"n{i}" for i in range(10)]
    vectors2 = np.concatenate([changed, vectors[20:], fresh])
    fingerprints = [f"new-{i}" if i in ids[10:20] else f"fp-{i}" for i in ids[10:]] + [
        f"fp-n{i}" for i in range(10)
    ]
    manifest = build(layout, DAY + timedelta(days=1), items(ids2, vectors2, fingerprints))
    assert (manifest.build, manifest.added, manifest.replaced, manifest.removed) == (
        "incremental",
        10,
        10,
        10,
    )
    assert manifest.unchanged == 980 and manifest.changed_since_full_build == 20 and manifest.next_key == 1010
    second = VectorIndex(layout.vector_index_version(TABLE, DAY + timedelta(days=1)))
    assert len(second) == 1000
    assert second.key("c500") == first.key("c500")
    assert second.key("c0") is None and second.vector("c0") is None
    assert second.key("n0") == 1000  # a removed item's key is never reused
    np.testing.assert_allclose(second.vector("c10"), changed[0], atol=1e-6)
    for query in vectors[:10]:  # the removed items' own vectors no longer find them
        assert not {f"c{i}" for i in range(10)} & set(second.search(query, 10).content_ids)
    assert second.search(fresh[3], 1).content_ids == ["n3"]


def test_rebuilds_from_scratch_when_an_update_would_not_be_trusted(layout: DataLayout) -> None:
    vectors = clustered(400)
    ids = [f"c{i}" for i in range(400)]
    build(layout, DAY, items(ids, vectors))
    # Another encoder: every vector means something else.
    assert build(layout, DAY + timedelta(days=1), items(ids, vectors), digest="enc-b").build == "full"
    # Other graph parameters.
    assert (
        build(layout, DAY + timedelta(days=2), items(ids, vectors), digest="enc-b", connectivity=8).build
        == "full"
    )
    # Too much removed since the last full build (rebuild_share 0.1 of 400 = 40).
    manifest = build(
        layout, DAY + timedelta(days=3), items(ids[50:], vectors[50:]), digest="enc-b", connectivity=8
    )
    assert manifest.build == "full" and manifest.removed == 50 and manifest.changed_since_full_build == 0
    # Keys survive a full rebuild too.
    assert VectorIndex(layout.vector_index_version(TABLE, DAY + timedelta(days=3))).key("c60") == 60


def test_a_failed_build_leaves_the_published_version_untouched(layout: DataLayout) -> None:
    vectors = clustered(200)
    ids = [f"c{i}" for i in range(200)]
    build(layout, DAY, items(ids, vectors))
    target = layout.vector_index_version(TABLE, DAY)
    before = (target / INDEX_FILE).read_bytes(), (target / MANIFEST_FILE).read_text()
    with pytest.raises(SignalsError, match="one vector per content id"):
        build(layout, DAY, items([*ids, "c0"], np.concatenate([vectors, vectors[:1]])))
    short = items(ids[:199], np.full((199, 2), 0.7, dtype=np.float32))
    with pytest.raises(SignalsError, match="one length"):
        build(layout, DAY, pa.concat_tables([short, items(ids[199:], vectors[199:])]))
    assert ((target / INDEX_FILE).read_bytes(), (target / MANIFEST_FILE).read_text()) == before
    assert [d for d, _ in index_versions(layout, TABLE)] == [DAY]


def test_rerunning_a_day_replaces_its_version_atomically(layout: DataLayout) -> None:
    vectors = clustered(300)
    ids = [f"c{i}" for i in range(300)]
    first = build(layout, DAY, items(ids, vectors))
    opened = VectorIndex(layout.vector_index_version(TABLE, DAY))
    second = build(layout, DAY, items(ids, vectors))
    assert second.run_id != first.run_id and second.build == "incremental" and second.unchanged == 300
    assert newest_index(layout, TABLE) == layout.vector_index_version(TABLE, DAY)
    # A reader holding the replaced version keeps answering from it (its pages stay mapped).
    assert opened.search(vectors[7], 1).content_ids == ["c7"]
    assert VectorIndex(newest_index(layout, TABLE)).version == second.version  # type: ignore[arg-type]
    assert newest_index(layout, TABLE, on_or_before=DAY - timedelta(days=1)) is None
    assert not list((layout.staging_dir / "vector_index" / TABLE).iterdir())


def test_filters(layout: DataLayout) -> None:
    vectors = clustered(2000, clusters=5)
    ids = [f"c{i}" for i in range(2000)]
    build(layout, DAY, items(ids, vectors))
    index = VectorIndex(layout.vector_index_version(TABLE, DAY))
    query = vectors[3]
    episodes = index.search(query, 10, SearchFilters(content_types=frozenset({"episode"})))
    assert len(episodes) == 10 and set(episodes.content_types) == {"episode"}
    expected = [i for i in range(0, 2000, 10)]  # every tenth item is an episode
    truth, _ = exact_neighbours(vectors[expected], query[None, :], 10)
    assert episodes.content_ids == [f"c{expected[r]}" for r in truth[0]]
    others = index.search(
        query,
        10,
        SearchFilters(exclude_creator_ids=frozenset({"cr3"}), exclude_content_ids=frozenset({"c3"})),
    )
    assert len(others) == 10 and "cr3" not in others.creator_ids and "c3" not in others.content_ids
    close = index.search(query, 50, SearchFilters(min_similarity=0.9))
    assert all(s >= 0.9 for s in close.similarities)
    assert len(close) == int(np.sum(vectors @ query >= 0.9)) or len(close) == 50
    # A filter no indexed item passes gives nothing rather than an error.
    assert len(index.search(query, 10, SearchFilters(content_types=frozenset({"audiobook"})))) == 0


def test_a_memory_mapped_version_is_never_mutated(layout: DataLayout) -> None:
    """usearch 2.26.6 crashes the process on ``remove`` from a view: the reader class must not
    offer mutation at all, and only the builder (on a normally loaded copy) mutates."""
    build(layout, DAY, items([f"c{i}" for i in range(50)], clustered(50)))
    index = VectorIndex(layout.vector_index_version(TABLE, DAY))
    assert not any(hasattr(index, name) for name in ("add", "remove", "save"))
