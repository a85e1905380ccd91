"""content_duplicates: near-duplicates, bursts and possible re-uploads from the day's vector index,
the index built after content_embedding publishes (once per run), its gate, Feast view and
services, and ``signals index build``."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from content_signals.config import ModelsConfig, SimilarityConfig
from content_signals.definitions import (
    BURST_SIMILARITY,
    BURST_WINDOW_DAYS,
    CONTENT_DUPLICATES,
    NEAR_DUPLICATE_SIMILARITY,
    SIGNAL_TABLES,
)
from content_signals.jobs.content_duplicates import JOB, NeighbourPairsModel
from content_signals.jobs.runner import JOBS, run_job
from content_signals.jobs.vector_index import ensure_index
from content_signals.layout import DataLayout
from content_signals.partitions import RUN_ID_FILE, partition_run_id
from content_signals.raw_tables import CONTENT_COLUMNS, arrow_schema
from content_signals.similarity.index import IndexManifest
from content_signals.text import NORMALISATION_VERSION

DAY = date(2026, 1, 20)
DIM = 16
CONTENT_SCHEMA = arrow_schema(CONTENT_COLUMNS)


def _unit(*weights: tuple[int, float]) -> list[float]:
    vector = np.zeros(DIM, dtype=np.float64)
    for axis, weight in weights:
        vector[axis] += weight
    return (vector / np.linalg.norm(vector)).astype(np.float32).tolist()


# At this angle two items are near-duplicates; at twice it they are not: a chain of three.
_STEP = 0.8 * math.acos(NEAR_DUPLICATE_SIMILARITY)
# Lookalikes in a burst, not near-duplicates: similarity 0.85 (between the two thresholds).
_LOOKALIKE = math.acos(0.85)

# content_id -> (creator, release date, vector). Cluster a: one creator's lookalikes on days 1, 3, 8,
# 9 and 20 of January. Cluster b: creator y first, then z copies it later, and z again undated.
# c1, c2: unrelated. d1 ~ d2 ~ d3 in a chain (d1 and d3 are not near-duplicates themselves).
ITEMS: dict[str, tuple[str | None, date | None, list[float]]] = {
    "a1": ("x", date(2026, 1, 1), _unit((0, 1.0), (8, 0.05))),
    "a2": ("x", date(2026, 1, 3), _unit((0, 1.0), (9, 0.05))),
    "a3": ("x", date(2026, 1, 8), _unit((0, 1.0), (10, 0.05))),
    "a4": ("x", date(2026, 1, 9), _unit((0, 1.0), (11, 0.05))),
    "a5": ("x", date(2026, 1, 20), _unit((0, 1.0), (12, 0.05))),
    "b1": ("y", date(2025, 6, 1), _unit((1, 1.0), (13, 0.05))),
    "b2": ("z", date(2025, 9, 1), _unit((1, 1.0), (14, 0.05))),
    "b3": ("z", None, _unit((1, 1.0), (15, 0.05))),
    "c1": ("y", date(2025, 1, 1), _unit((2, 1.0))),
    "c2": ("w", date(2025, 1, 1), _unit((3, 1.0))),
    "d1": ("v", date(2025, 3, 1), _unit((5, 1.0))),
    "d2": ("v", date(2025, 3, 1), _unit((5, math.cos(_STEP)), (6, math.sin(_STEP)))),
    "d3": ("v", date(2025, 3, 1), _unit((5, math.cos(2 * _STEP)), (6, math.sin(2 * _STEP)))),
    # e1 ~ e2 at 0.85 (a burst's lookalikes), e3 at 0.6 of e1: one creator, one day.
    "e1": ("u", date(2025, 5, 1), _unit((4, 1.0))),
    "e2": ("u", date(2025, 5, 1), _unit((4, math.cos(_LOOKALIKE)), (7, math.sin(_LOOKALIKE)))),
    "e3": ("u", date(2025, 5, 1), _unit((4, 0.6), (7, -0.8))),
}


def _catalogue(items: dict[str, tuple[str | None, date | None, list[float]]]) -> pa.Table:
    rows = [
        {"content_id": cid, "content_type": "track", "title": cid, "description": None, "creator_id": creator,
         "duration_ms": 1000, "explicit": False, "release_date": released, "language": "en"}
        for cid, (creator, released, _vector) in items.items()
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=CONTENT_SCHEMA)


def publish_vectors(layout: DataLayout, day: date, run_id: str, items: dict[str, Any] = ITEMS) -> None:
    """A content_embedding partition of hand-built vectors, as the runner publishes one."""
    layout.catalog_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(_catalogue(items), layout.content_path)
    partition = layout.signal_partition("content_embedding", day)
    partition.mkdir(parents=True, exist_ok=True)
    vectors = pa.table(
        {
            "content_id": list(items),
            "text_embedding": pa.array([v[2] for v in items.values()], pa.list_(pa.float32())),
            "embedded_text_fingerprint": [f"fp-{cid}" for cid in items],
        }
    )
    pq.write_table(vectors, partition / "part-00000.parquet")
    (partition / RUN_ID_FILE).write_text(run_id)


@pytest.fixture(scope="module")
def duplicates(spark, tmp_path_factory) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    layout = DataLayout(tmp_path_factory.mktemp("duplicates"))
    publish_vectors(layout, DAY, "run-1")
    pairs = NeighbourPairsModel().load(
        spark, layout, ModelsConfig(), CONTENT_DUPLICATES, day=DAY, similarity=SimilarityConfig()
    )
    content = spark.read.parquet(str(layout.content_path))
    embeddings = spark.read.parquet(str(layout.signal_partition("content_embedding", DAY)))
    frame = JOB.compute(DAY, datetime.now(UTC), content=content, embeddings=embeddings, pairs=pairs)
    assert frame.columns[3:] == list(CONTENT_DUPLICATES.signal_names)
    return {row["content_id"]: row.asDict() for row in frame.collect()}


def test_near_duplicates_and_their_groups(duplicates) -> None:  # type: ignore[no-untyped-def]
    assert len(duplicates) == len(ITEMS)
    a1 = duplicates["a1"]
    assert a1["near_duplicate_count"] == 4 and a1["near_duplicate_group_size"] == 5
    assert a1["nearest_neighbour_id"] in {"a2", "a3", "a4", "a5"} and a1["nearest_similarity"] > 0.99
    assert [duplicates[c]["near_duplicate_group_size"] for c in ("b1", "b2", "b3")] == [3, 3, 3]
    for unrelated in ("c1", "c2"):
        row = duplicates[unrelated]
        assert row["near_duplicate_count"] == 0 and row["near_duplicate_group_size"] == 1
        assert row["nearest_similarity"] < NEAR_DUPLICATE_SIMILARITY and row["is_burst"] is False
        assert row["possible_reupload_of"] is None
    # Single linkage: d1 and d3 are not near-duplicates, but one group through d2.
    assert [duplicates[c]["near_duplicate_count"] for c in ("d1", "d2", "d3")] == [1, 2, 1]
    assert [duplicates[c]["near_duplicate_group_size"] for c in ("d1", "d2", "d3")] == [3, 3, 3]


def test_bursts_count_same_creator_lookalikes_within_the_window(duplicates) -> None:  # type: ignore[no-untyped-def]
    assert BURST_WINDOW_DAYS == 7
    # a1 (Jan 1): a2 2 days and a3 7 days apart count; a4 (8 days) and a5 do not.
    assert duplicates["a1"]["same_creator_burst_count"] == 2 and duplicates["a1"]["is_burst"] is True
    assert duplicates["a2"]["same_creator_burst_count"] == 3  # a1, a3 and a4 (6 days after)
    assert duplicates["a4"]["same_creator_burst_count"] == 2  # a2 (6 days before), a3; not a1 (8)
    # a5 (Jan 20) is a lookalike of all four, but 11 or more days after them.
    assert duplicates["a5"]["near_duplicate_count"] == 4
    assert duplicates["a5"]["same_creator_burst_count"] == 0 and duplicates["a5"]["is_burst"] is False
    # A burst counts lookalikes from BURST_SIMILARITY up, below the near-duplicate threshold too:
    # d1 has one near-duplicate (d2) but two lookalikes (d3 at about 0.87).
    assert BURST_SIMILARITY < 0.87 < NEAR_DUPLICATE_SIMILARITY
    assert duplicates["d1"]["near_duplicate_count"] == 1 and duplicates["d1"]["same_creator_burst_count"] == 2
    assert duplicates["d1"]["is_burst"] is True
    # e1 and e2 (0.85) are lookalikes and no near-duplicates; e3 (0.6) is neither.
    assert [duplicates[c]["same_creator_burst_count"] for c in ("e1", "e2", "e3")] == [1, 1, 0]
    assert [duplicates[c]["near_duplicate_count"] for c in ("e1", "e2", "e3")] == [0, 0, 0]


def test_reuploads_follow_release_dates_and_other_creators(duplicates) -> None:  # type: ignore[no-untyped-def]
    b1, b2 = duplicates["b1"], duplicates["b2"]
    # b2 (z, September) copies b1 (y, June): a possible re-upload of b1, not the other way round.
    assert b2["earlier_other_creator_duplicates"] == 1 and b2["possible_reupload_of"] == "b1"
    # b1 is the original; b2 is later and b3 has no release date, so neither counts.
    assert b1["earlier_other_creator_duplicates"] == 0 and b1["possible_reupload_of"] is None
    # Same creator never counts as a re-upload.
    assert duplicates["a5"]["earlier_other_creator_duplicates"] == 0


def test_an_item_without_release_date_has_null_time_signals(duplicates) -> None:  # type: ignore[no-untyped-def]
    b3 = duplicates["b3"]
    assert b3["near_duplicate_count"] == 2 and b3["near_duplicate_group_size"] == 3
    assert b3["same_creator_burst_count"] is None and b3["is_burst"] is None
    assert b3["earlier_other_creator_duplicates"] is None and b3["possible_reupload_of"] is None
    # b2 and b3 share a creator, but b3's missing date keeps it out of b2's burst count.
    assert duplicates["b2"]["same_creator_burst_count"] == 0


def test_the_index_is_built_once_per_run_of_the_partition(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    publish_vectors(layout, DAY, "run-1")
    settings, encoder = SimilarityConfig(), ModelsConfig().text_encoder
    first, built = ensure_index(layout, DAY, encoder=encoder, settings=settings)
    assert built and first.source_run_id == "run-1" and first.items == len(ITEMS)
    again, built_again = ensure_index(layout, DAY, encoder=encoder, settings=settings)
    assert not built_again and again == first
    publish_vectors(layout, DAY, "run-2")  # the job ran again
    rerun, rebuilt = ensure_index(layout, DAY, encoder=encoder, settings=settings)
    assert rebuilt and rerun.source_run_id == "run-2" and rerun.run_id != first.run_id
    assert IndexManifest.read(layout.vector_index_version("content_embedding", DAY)) == rerun


def test_the_table_is_registered_after_content_embedding_with_gate_and_feast_view(platform_config) -> None:  # type: ignore[no-untyped-def]
    from content_signals.expectations.suites import build_suite
    from content_signals.feature_repo.repo import build_objects

    tables, jobs = list(SIGNAL_TABLES), list(JOBS)
    assert tables.index("content_duplicates") == tables.index("content_embedding") + 1
    assert jobs.index("content_duplicates") > jobs.index("content_embedding")
    assert JOBS["content_duplicates"].upstream == ("content_embedding",)
    suite = build_suite(CONTENT_DUPLICATES)
    checked = {e.column for e in suite.expectations if hasattr(e, "column")}
    assert set(CONTENT_DUPLICATES.signal_names) <= checked
    objects = build_objects(platform_config)
    views = {view.name: view for view in objects.views}
    assert [f.name for f in views["content_duplicates"].features] == list(CONTENT_DUPLICATES.signal_names)
    services = {s.name: s for s in objects.services}

    def views_of(name: str) -> list[str]:
        return [p.name for p in services[name].feature_view_projections]

    assert views_of("safety_v2") == [
        "content_safety",
        "text_safety_lexicon",
        "content_metadata",
        "creator_profile",
    ]
    assert views_of("safety_v3") == [
        "content_safety", "content_duplicates", "text_safety_lexicon", "content_metadata", "creator_profile",
    ]  # fmt: skip
    assert views_of("ranking_v2") == [*views_of("ranking_v1"), "content_duplicates"]


def test_the_runner_builds_the_index_after_content_embedding_and_gates_content_duplicates(  # type: ignore[no-untyped-def]
    spark, gate, tmp_path: Path
) -> None:
    """The real encoder on a few texts: four lookalike uploads of one creator in two days."""
    layout = DataLayout(tmp_path)
    released = date(2026, 1, 18)
    titles = {
        "s1": "FREE LOFI BEATS TO STUDY #1", "s2": "FREE LOFI BEATS TO STUDY #2",
        "s3": "FREE LOFI BEATS TO STUDY #3", "s4": "FREE LOFI BEATS TO STUDY #4",
        "n1": "A quiet walk through the autumn forest", "n2": "Breaking news about the football final",
        "n3": "Grandma's apple pie recipe, step by step", "n4": "History of the Roman empire, part one",
    }  # fmt: skip
    rows = [
        {"content_id": cid, "content_type": "track", "title": title, "description": None,
         "creator_id": "spam" if cid.startswith("s") else f"cr-{cid}", "duration_ms": 1000,
         "explicit": False, "release_date": released, "language": "en"}
        for cid, title in titles.items()
    ]  # fmt: skip
    layout.catalog_dir.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=CONTENT_SCHEMA), layout.content_path)
    lines: list[str] = []
    embedded = run_job(spark, layout, "content_embedding", DAY, gate, lines.append)
    partition = layout.signal_partition("content_embedding", DAY)
    assert partition_run_id(partition) == embedded.run_id
    folder = layout.vector_index_version("content_embedding", DAY)
    manifest = IndexManifest.read(folder)
    assert manifest.source_run_id == embedded.run_id and manifest.items == len(titles)
    assert any(line.startswith("vector index content_embedding") for line in lines)
    # The index records the digest the embedding job put in every row's text fingerprint.
    wanted = hashlib.sha256(f"{manifest.encoder_digest}\n{NORMALISATION_VERSION}\n{titles['n1']}".encode())
    fingerprints = {
        r["content_id"]: r["embedded_text_fingerprint"] for r in pq.read_table(partition).to_pylist()
    }
    assert fingerprints["n1"] == wanted.hexdigest()[:16]

    dup = run_job(spark, layout, "content_duplicates", DAY, gate)
    assert dup.gate.success
    assert IndexManifest.read(folder).run_id == manifest.run_id  # ensured, not rebuilt
    result = {r["content_id"]: r for r in pq.read_table(dup.path).to_pylist()}
    assert all(
        result[s]["is_burst"] and result[s]["near_duplicate_group_size"] == 4
        for s in ("s1", "s2", "s3", "s4")
    )
    assert not any(
        result[n]["is_burst"] or result[n]["near_duplicate_count"] for n in ("n1", "n2", "n3", "n4")
    )

    # signals index build: the version in place comes from the partition's run, nothing to do.
    done = _cli("index", "build", "--date", DAY.isoformat(), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "vector index content_embedding" in done.stdout and "(already in place)" in done.stdout


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "content_signals.cli.main", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=os.environ.copy(),
    )


def test_index_build_cli_builds_and_fails_in_one_line(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    publish_vectors(layout, DAY, "run-1")
    built = _cli("index", "build", "--date", DAY.isoformat(), data_dir=tmp_path)
    assert built.returncode == 0, built.stderr
    assert f"vector index content_embedding {DAY.isoformat()}." in built.stdout
    assert f"{len(ITEMS)} items (full" in built.stdout and "from run run-1" in built.stdout
    missing = _cli("index", "build", "--date", "2026-01-21", data_dir=tmp_path)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("error: no published content_embedding partition for 2026-01-21")
