"""SimilarContent through the real client: recall against exact search, every filter, text queries
embedded with the real encoder, an index swap under load, status codes and buf curl.

The index is built directly with ``build_index_version`` from hand-made vectors (clustered unit
vectors, plus a few items embedded from real text with the configured encoder); the safety
decisions that ``exclude_blocked`` reads are a hand-written ``content_safety`` partition published
into a SQLite online store of this module's own, so they come from a real online read. The server
is the one an ingress replica runs (``tests/local_server.py``), with the encoder in-process.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from content_signals_client import SignalsClient
from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb
from content_signals_client.api.content_signals.v1 import content_signals_pb2_grpc as pb_grpc

from content_signals.config import PlatformConfig, TeamAccess
from content_signals.definitions import CREATED_TIMESTAMP, ENTITY_TIMESTAMP
from content_signals.feature_repo.publishing import publish
from content_signals.layout import DataLayout
from content_signals.models.text_encoder import shared_encoder
from content_signals.partitions import partition_timestamp
from content_signals.serving.auth import Authorizer
from content_signals.serving.errors import InvalidRequest, Unavailable
from content_signals.serving.similarity_plane import (
    INDEX_TABLE,
    IndexCache,
    SimilarityPlane,
    SimilarRequest,
)
from content_signals.similarity.index import build_index_version, exact_neighbours, recall_at_k
from content_signals.text import normalise_text
from tests.buf_tool import INSTALL_HINT, buf_binary
from tests.local_server import ServerThread

pytestmark = pytest.mark.slow  # feast apply, the text encoder and a gRPC server
Code = grpc.StatusCode
DAY = date(2026, 3, 1)
DIMENSION = 384
ITEMS = 800
TYPES = ("track", "episode", "audiobook")
TOKENS = {
    "similar": "similar-token-0123456789",
    "ranking": "ranking-token-0123456789",
    "admin": "admin-token-0123456789",
}
TEXTS = [
    "Midnight rain. A slow piano ballad about a rainy night in the city",
    "Rainy night piano. Soft piano music for a quiet evening while it rains",
    "Football weekly. Highlights and analysis of the weekend's football matches",
    "The match report. Our pundits discuss the league results and transfers",
    "Learn Spanish fast. Beginner lessons in Spanish grammar and vocabulary",
    "Cooking with garlic. Easy pasta recipes for busy weeknights",
    # Normalisation matters here: the job embeds a URL and a mention by their role.
    "FREE BEATS @producer. Download at https://beats.example/free?id=7",
]


@dataclass(frozen=True)
class Catalogue:
    ids: list[str]
    vectors: np.ndarray
    types: list[str]
    creators: list[str]
    blocked: set[str]
    # The query whose nearest neighbours are mostly blocked.
    blocked_query: str

    def row(self, content_id: str) -> int:
        return self.ids.index(content_id)


def _clustered(rng: np.random.Generator, n: int, clusters: int) -> np.ndarray:
    centres = rng.normal(size=(clusters, DIMENSION))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = centres[rng.integers(0, clusters, n)] + rng.normal(scale=0.04, size=(n, DIMENSION))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _items(catalogue: Catalogue, texts: list[str]) -> pa.Table:
    return pa.table(
        {
            "content_id": catalogue.ids,
            "text_embedding": pa.array(list(catalogue.vectors), type=pa.list_(pa.float32())),
            # Synthetic items stand for a fixed text each; the text items' fingerprint is their text.
            "embedded_text_fingerprint": [
                f"fp-{cid}" for cid in catalogue.ids[: len(catalogue.ids) - len(texts)]
            ]
            + texts,
            "content_type": catalogue.types,
            "creator_id": catalogue.creators,
        }
    )


def _write_safety_partition(layout: DataLayout, catalogue: Catalogue) -> None:
    n = len(catalogue.ids)
    moment = partition_timestamp(DAY)
    decisions = ["block" if cid in catalogue.blocked else "allow" for cid in catalogue.ids]
    table = pa.table(
        {
            "content_id": pa.array(catalogue.ids, pa.string()),
            ENTITY_TIMESTAMP: pa.array([moment] * n, pa.timestamp("us", tz="UTC")),
            CREATED_TIMESTAMP: pa.array([moment + timedelta(hours=1)] * n, pa.timestamp("us", tz="UTC")),
            "unsafe_score": pa.array([0.95 if d == "block" else 0.05 for d in decisions], pa.float64()),
            "p_hate": pa.array([0.0] * n, pa.float64()),
            "p_offensive": pa.array([0.0] * n, pa.float64()),
            "safety_decision": pa.array(decisions, pa.string()),
            "safety_model_version": pa.array(["v1"] * n, pa.string()),
            "p_none": pa.array([0.05 if d == "block" else 0.95 for d in decisions], pa.float64()),
            "safety_decision_category": pa.array(
                ["hate" if d == "block" else None for d in decisions], pa.string()
            ),
            "safety_decision_reason": pa.array(
                ["block: hate >= 0.900" if d == "block" else "allow" for d in decisions], pa.string()
            ),
            "explicit_suggested": pa.array([False] * n, pa.bool_()),
            "blocked": pa.array([int(d == "block") for d in decisions], pa.int64()),
            "in_review": pa.array([0] * n, pa.int64()),
        }
    )
    partition = layout.signal_partition("content_safety", DAY)
    partition.mkdir(parents=True)
    pq.write_table(table, partition / "part-0.parquet")
    (partition / "_SUCCESS").touch()


@pytest.fixture(scope="module")
def encoder_config(platform_config: PlatformConfig) -> Any:
    return platform_config.models.text_encoder.model_copy(update={"device": "cpu"})


@pytest.fixture(scope="module")
def catalogue(encoder_config: Any) -> Catalogue:
    rng = np.random.default_rng(19)
    synthetic = ITEMS - len(TEXTS)
    vectors = np.concatenate(
        [
            _clustered(rng, synthetic, 40),
            shared_encoder(encoder_config).encode([normalise_text(t) for t in TEXTS]),
        ]
    ).astype(np.float32)
    ids = [f"c{i:05d}" for i in range(synthetic)] + [f"text{i}" for i in range(len(TEXTS))]
    types = [str(t) for t in rng.choice(TYPES, ITEMS, p=[0.7, 0.25, 0.05])]
    creators = [f"creator{int(c)}" for c in rng.integers(0, 25, ITEMS)]
    # Block 8 of the 10 nearest neighbours of one item (a second search is needed), and 10% at random.
    query = ids[0]
    rows, _ = exact_neighbours(vectors, vectors[:1], 11)
    near = [ids[r] for r in rows[0] if ids[r] != query][:8]
    random_blocked = {ids[i] for i in rng.choice(synthetic, synthetic // 10, replace=False)} - {query}
    return Catalogue(ids, vectors, types, creators, set(near) | random_blocked, query)


@pytest.fixture(scope="module")
def served(
    platform_config: PlatformConfig,
    catalogue: Catalogue,
    encoder_config: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerThread, PlatformConfig]]:
    data_dir = tmp_path_factory.mktemp("similar-data")
    config = platform_config.model_copy(
        update={
            "data_dir": data_dir,
            "feast": platform_config.feast.model_copy(
                update={"project": f"cs_similar_{uuid.uuid4().hex[:8]}"}
            ),
            "serving": platform_config.serving.model_copy(
                update={
                    "host": "127.0.0.1",
                    "teams": {
                        "similar": TeamAccess(token=TOKENS["similar"], feature_services=["similarity_v1"]),
                        "ranking": TeamAccess(token=TOKENS["ranking"], feature_services=["ranking_v1"]),
                        "admin": TeamAccess(token=TOKENS["admin"], feature_services=["*"], models=["*"]),
                    },
                    "max_concurrent_requests": 64,
                    "request_timeout_s": 10.0,
                }
            ),
            "similarity": platform_config.similarity.model_copy(update={"refresh_seconds": 0.2}),
        }
    )
    layout = DataLayout(data_dir)
    _write_safety_partition(layout, catalogue)
    publish(config, DAY, tables=["content_safety"])
    build_index_version(
        layout,
        INDEX_TABLE,
        DAY,
        _items(catalogue, TEXTS),
        source_run_id="test",
        encoder_digest=shared_encoder(encoder_config).info.weights_sha256,
        settings=config.similarity,
    )
    server = ServerThread(config, models={})
    yield server, config
    server.stop()


def _client(served: Any, team: str | None = "similar", **kwargs: Any) -> SignalsClient:
    server, _ = served
    options: dict[str, Any] = {"timeout_s": 10.0, "max_attempts": 1, **kwargs}
    return SignalsClient(server.target, token=TOKENS[team] if team else None, **options)


def _code(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value.code(), error.value.details() or ""


def _exact(catalogue: Catalogue, query: str, k: int, allowed: Any = lambda _row: True) -> list[str]:
    """The true k nearest allowed items of ``query`` (never itself)."""
    rows = [i for i, cid in enumerate(catalogue.ids) if cid != query and allowed(i)]
    found, _ = exact_neighbours(catalogue.vectors[rows], catalogue.vectors[[catalogue.row(query)]], k)
    return [catalogue.ids[rows[r]] for r in found[0]]


def test_recall_at_10_against_exact_search(served: Any, catalogue: Catalogue) -> None:
    queries = catalogue.ids[:60]
    with _client(served) as client:
        results = [client.similar_content(q, k=10) for q in queries]
    assert all(r.query_content_id == q for r, q in zip(results, queries, strict=True))
    assert all(q not in r.content_ids for r, q in zip(results, queries, strict=True))
    position = {cid: i for i, cid in enumerate(catalogue.ids)}
    found = np.array([[position[c] for c in r.content_ids] for r in results])
    truth = np.array([[position[c] for c in _exact(catalogue, q, 10)] for q in queries])
    assert found.shape == (60, 10)
    assert recall_at_k(found, truth) >= 0.95
    for result in results:
        similarities = [item.similarity for item in result.items]
        assert similarities == sorted(similarities, reverse=True)
        item = result.items[0]
        row = catalogue.row(item.content_id)
        assert (item.content_type, item.creator_id) == (catalogue.types[row], catalogue.creators[row])
        expected = float(catalogue.vectors[row] @ catalogue.vectors[catalogue.row(result.query_content_id)])
        assert item.similarity == pytest.approx(expected, abs=1e-4)


def test_content_type_and_creator_filters(served: Any, catalogue: Catalogue) -> None:
    same_creator_nearby = 0
    with _client(served) as client:
        for query in catalogue.ids[:10]:
            rare = client.similar_content(query, k=10, content_types=["audiobook"])
            assert len(rare) == 10 and {i.content_type for i in rare.items} == {"audiobook"}
            wanted = _exact(catalogue, query, 10, lambda r: catalogue.types[r] == "audiobook")
            assert len(set(rare.content_ids) & set(wanted)) >= 9
            two = client.similar_content(query, k=10, content_types=["track", "episode"])
            assert {i.content_type for i in two.items} <= {"track", "episode"}
            creator = catalogue.creators[catalogue.row(query)]
            plain = client.similar_content(query, k=30)
            same_creator_nearby += creator in {i.creator_id for i in plain.items}
            other = client.similar_content(query, k=30, exclude_same_creator=True)
            assert len(other) == 30 and creator not in {i.creator_id for i in other.items}
            wanted = _exact(catalogue, query, 30, lambda r, c=creator: catalogue.creators[r] != c)
            assert len(set(other.content_ids) & set(wanted)) >= 28
    assert same_creator_nearby > 0  # the filter had something to leave out


def test_exclude_blocked_reads_the_online_store(served: Any, catalogue: Catalogue) -> None:
    query = catalogue.blocked_query
    with _client(served) as client:
        plain = client.similar_content(query, k=10)
        assert len(set(plain.content_ids) & catalogue.blocked) >= 8
        allowed = client.similar_content(query, k=10, exclude_blocked=True)
        for other in catalogue.ids[1:20]:
            result = client.similar_content(other, k=10, exclude_blocked=True, content_types=["track"])
            assert len(result) == 10 and not set(result.content_ids) & catalogue.blocked
    assert len(allowed) == 10 and not set(allowed.content_ids) & catalogue.blocked
    wanted = _exact(catalogue, query, 10, lambda r: catalogue.ids[r] not in catalogue.blocked)
    assert len(set(allowed.content_ids) & set(wanted)) >= 9


def test_min_similarity(served: Any, catalogue: Catalogue) -> None:
    query = catalogue.ids[3]
    row = catalogue.row(query)
    similarities = np.sort(np.delete(catalogue.vectors @ catalogue.vectors[row], row))[::-1]
    threshold = float(similarities[6] + similarities[7]) / 2  # exactly 7 items pass
    with _client(served) as client:
        result = client.similar_content(query, k=20, min_similarity=threshold)
        everything = client.similar_content(query, k=20, min_similarity=-1.0)
        nothing = client.similar_content(query, k=20, min_similarity=1.0)
    assert len(result) == 7 and all(i.similarity >= threshold for i in result.items)
    assert len(everything) == 20 and len(nothing) == 0


def test_text_query_equals_the_query_of_the_item_embedded_from_that_text(
    served: Any, catalogue: Catalogue
) -> None:
    with _client(served) as client:
        for i, text in enumerate(TEXTS):
            by_text = client.similar_content(text=text, k=6)
            by_id = client.similar_content(f"text{i}", k=5)
            assert by_text.query_content_id == "" and by_text.index_version == by_id.index_version
            assert by_text.items[0].content_id == f"text{i}"
            assert by_text.items[0].similarity == pytest.approx(1.0, abs=1e-4)
            assert by_text.content_ids[1:] == by_id.content_ids
            for a, b in zip(by_text.items[1:], by_id.items, strict=True):
                assert a.similarity == pytest.approx(b.similarity, abs=1e-4)
        # The related texts find each other first; a text query's creator_id drives the filter.
        assert client.similar_content("text0", k=1).content_ids == ["text1"]
        assert client.similar_content("text2", k=1).content_ids == ["text3"]
        creator = catalogue.creators[catalogue.row("text0")]
        without = client.similar_content(text=TEXTS[0], k=10, exclude_same_creator=True, creator_id=creator)
        assert "text0" not in without.content_ids and creator not in {i.creator_id for i in without.items}
        # Without a creator_id, exclude_same_creator leaves nothing out.
        assert client.similar_content(text=TEXTS[0], k=6, exclude_same_creator=True).content_ids[0] == "text0"


def test_status_codes_through_the_client(served: Any) -> None:
    with _client(served) as client:
        code, details = _code(lambda: client.similar_content("no-such-item"))
        assert code == Code.NOT_FOUND and "no-such-item" in details
        code, details = _code(lambda: client.similar_content("c00001", k=101))
        assert code == Code.INVALID_ARGUMENT and "k must be between 1 and 100" in details
        code, _ = _code(lambda: client.similar_content("c00001", min_similarity=1.5))
        assert code == Code.INVALID_ARGUMENT
        code, _ = _code(lambda: client.similar_content(text="   "))
        assert code == Code.INVALID_ARGUMENT
        with pytest.raises(ValueError, match="exactly one"):
            client.similar_content("c00001", text="both")
        with pytest.raises(ValueError, match="positive"):
            client.similar_content("c00001", k=0)
    with _client(served, team="ranking") as ranking:
        code, details = _code(lambda: ranking.similar_content("c00001"))
        assert code == Code.PERMISSION_DENIED and "similarity_v1" in details
    with _client(served, team=None) as anonymous:
        assert _code(lambda: anonymous.similar_content("c00001"))[0] == Code.UNAUTHENTICATED
    with _client(served, team="admin") as admin:
        assert len(admin.similar_content("c00001", k=3)) == 3
    # The raw stub: both query kinds set, and k = 0 meaning 10.
    server, _ = served
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.ContentSignalsServiceStub(channel)
        metadata = (("authorization", f"Bearer {TOKENS['similar']}"),)
        with pytest.raises(grpc.RpcError) as error:
            stub.SimilarContent(pb.SimilarContentRequest(content_id="c00001", text="x"), metadata=metadata)
        assert error.value.code() == Code.INVALID_ARGUMENT
        reply = stub.SimilarContent(pb.SimilarContentRequest(content_id="c00001"), metadata=metadata)
        assert len(reply.items) == 10


def test_no_index_is_unavailable(served: Any, tmp_path: Path) -> None:
    _, config = served
    # The same registry and online store, a data directory without any vector index.
    empty = config.model_copy(
        update={
            "data_dir": tmp_path,
            "feast": config.feast.model_copy(
                update={
                    "registry": config.feast.registry.model_copy(
                        update={"path": str(config.resolve(config.feast.registry.path))}
                    ),
                    "online_store": config.feast.online_store.model_copy(
                        update={"path": str(config.resolve(config.feast.online_store.path))}
                    ),
                }
            ),
        }
    )
    server = ServerThread(empty, models={})
    try:
        with SignalsClient(server.target, token=TOKENS["similar"], timeout_s=5.0, max_attempts=1) as client:
            code, details = _code(lambda: client.similar_content("c00001"))
        assert code == Code.UNAVAILABLE and "no content_embedding vector index" in details
    finally:
        server.stop()


class _WrongEncoder:
    digest = "0000000000000000"

    async def embed(self, texts: Any) -> np.ndarray:
        raise AssertionError("never called: the digest differs")


def test_plane_refuses_another_encoder_and_validates(served: Any) -> None:
    server, config = served
    data_plane = server.server.servicer.data_plane
    cache = IndexCache(DataLayout(config.data_dir), 0)
    plane = SimilarityPlane(cache, data_plane, Authorizer({}), max_k=100, encoder=_WrongEncoder())
    with pytest.raises(Unavailable, match="not the one vector index"):
        asyncio.run(plane.similar(SimilarRequest(text="some text"), None))
    no_encoder = SimilarityPlane(cache, data_plane, Authorizer({}), max_k=100)
    with pytest.raises(Unavailable, match="no text encoder"):
        asyncio.run(no_encoder.similar(SimilarRequest(text="some text"), None))
    for bad in (
        SimilarRequest(),
        SimilarRequest(content_id="c00001", k=-1),
        SimilarRequest(content_id="c00001", min_similarity=float("nan")),
        SimilarRequest(content_id="c00001", content_types=[""]),
        SimilarRequest(text="x" * 10_001),
    ):
        with pytest.raises(InvalidRequest):
            plane.validate(bad)
    assert plane.validate(SimilarRequest(content_id="c00001")) == 10
    # The served index is a read-only memory-mapped view: the serving side cannot mutate it (and
    # must never try: remove() on a view crashes usearch).
    index = cache.current
    assert index is not None
    with pytest.raises(Exception, match="immutable"):
        index._index.add(np.uint64(10**6), np.ones(DIMENSION, dtype=np.float32) / np.sqrt(DIMENSION))
    assert cache.refresh() is False  # nothing newer


def test_index_swap_under_concurrent_load(served: Any, catalogue: Catalogue, encoder_config: Any) -> None:
    server, config = served
    with _client(served) as client:
        before = client.similar_content("c00002", k=5).index_version
    stop = threading.Event()
    errors: list[BaseException] = []
    versions: set[str] = set()
    count = [0]
    lock = threading.Lock()

    def hammer(worker: int) -> None:
        with _client(served) as own:
            i = 0
            while not stop.is_set():
                query = catalogue.ids[(worker * 97 + i) % 700]
                i += 1
                try:
                    result = own.similar_content(query, k=10, exclude_blocked=i % 3 == 0)
                    assert len(result) == 10
                    with lock:
                        versions.add(result.index_version)
                        count[0] += 1
                except BaseException as exc:  # every failure counts
                    errors.append(exc)

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(hammer, w) for w in range(4)]
        time.sleep(0.5)
        # A new version (the same items, the next day) written while requests run.
        manifest = build_index_version(
            DataLayout(config.data_dir),
            INDEX_TABLE,
            DAY + timedelta(days=1),
            _items(catalogue, TEXTS),
            source_run_id="test-2",
            encoder_digest=shared_encoder(encoder_config).info.weights_sha256,
            settings=config.similarity,
        )
        deadline = time.monotonic() + 20
        while manifest.version not in versions and time.monotonic() < deadline and not errors:
            time.sleep(0.1)
        time.sleep(0.5)  # keep the load on after the swap
        stop.set()
        for future in futures:
            future.result()
    assert not errors, errors[:3]
    assert {before, manifest.version} <= versions and before != manifest.version
    assert count[0] > 20
    assert server.server.index.swaps >= 2


def test_buf_curl_calls_similar_content_through_reflection(served: Any) -> None:
    buf = buf_binary()
    if buf is None:
        pytest.skip(INSTALL_HINT)
    server, _ = served
    url = f"http://{server.target}/content_signals.v1.ContentSignalsService/SimilarContent"
    result = subprocess.run(
        [str(buf), "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-H",
         f"authorization: Bearer {TOKENS['similar']}", "-d",
         json.dumps({"contentId": "c00004", "k": 3, "contentTypes": ["track"], "minSimilarity": -1}), url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["queryContentId"] == "c00004" and reply["indexVersion"]
    assert len(reply["items"]) == 3 and {i["contentType"] for i in reply["items"]} == {"track"}


def test_ray_text_encoder_deployment_embeds_like_the_local_encoder(encoder_config: Any) -> None:
    """The app's ``TextEncoder`` deployment, called through a Serve handle as the ingress calls it."""
    import logging

    import ray
    from ray import serve

    from content_signals.serving.app import TEXT_ENCODER, HandleEncoder, TextEncoderReplica

    started_ray = not ray.is_initialized()
    if started_ray:  # else the session's Ray Serve (tests/conftest.py: server) is reused
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        serve.start(
            http_options={"host": "127.0.0.1", "port": 0},
            logging_config={"enable_access_log": False, "log_level": "WARNING"},
        )
    name = f"similar_encoder_{uuid.uuid4().hex[:6]}"
    try:
        deployment = serve.deployment(name=TEXT_ENCODER, ray_actor_options={"num_cpus": 0.5})(
            TextEncoderReplica
        )
        handle = serve.run(
            deployment.bind(encoder_config.model_dump_json(), 8, 0.01), name=name, route_prefix=None
        )

        async def embed() -> tuple[str, np.ndarray]:
            digest = await handle.weights_digest.remote()
            return digest, await HandleEncoder(handle, digest).embed(TEXTS[:3])

        digest, vectors = asyncio.run(embed())
    finally:
        if started_ray:
            serve.shutdown()
            ray.shutdown()
        else:
            serve.delete(name)
    local = shared_encoder(encoder_config)
    assert digest == local.info.weights_sha256
    assert vectors.shape == (3, DIMENSION) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, local.encode(TEXTS[:3]), atol=1e-5)
