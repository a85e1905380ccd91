"""The gRPC ingress through real clients: status codes, auth, TLS, health, reflection, metrics,
deadlines, overload, a Redis outage and recovery, and fuzzed requests.

The server is the one each Ray Serve ingress replica runs (:func:`content_signals.serving.grpc_server.
start_server`), started here on its own event loop thread so that the tests can stop and restart
the Redis behind it. Models run in-process through the same ``ModelRunner`` interface the Ray
deployments implement; ``tests/test_serving.py`` covers the full Ray Serve application.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import shutil
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from content_signals_client import SignalsClient
from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb
from content_signals_client.api.content_signals.v1 import content_signals_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from content_signals.config import PlatformConfig, TeamAccess
from content_signals.feature_repo.publishing import publish
from content_signals.models.networks import CARD_FILE, ModelCard
from tests.buf_tool import INSTALL_HINT, buf_binary
from tests.conftest import Pipeline, free_port
from tests.local_server import ServerThread
from tests.tls import self_signed_tls as _self_signed

pytestmark = pytest.mark.slow
Code = grpc.StatusCode
TOKENS = {
    "ranking": "ranking-token-0123456789",
    "safety": "safety-token-0123456789",
    "admin": "admin-token-0123456789",
}


class PrivateRedis:
    """A redis-server of our own, so the tests can stop and restart it without touching the shared one."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), "--dbfilename", "dump.rdb",
             "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.client().ping():
                return
        raise RuntimeError("redis-server did not start")

    def client(self) -> Any:
        import redis

        for _ in range(100):
            try:
                client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
                client.ping()
                return client
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server unreachable")

    def stop(self) -> None:
        """Save the data (a restart loads it back), then kill the server abruptly."""
        self.client().save()
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _config(pipeline: Pipeline, data_dir: Path, redis_port: int, **serving: Any) -> PlatformConfig:
    base = pipeline.config
    return base.model_copy(
        update={
            "data_dir": data_dir,
            "feast": base.feast.model_copy(
                update={
                    "project": f"cs_grpc_{uuid.uuid4().hex[:8]}",
                    "online_store": base.feast.online_store.model_copy(
                        update={"type": "redis", "connection_string": f"127.0.0.1:{redis_port}"}
                    ),
                }
            ),
            "serving": base.serving.model_copy(update={"host": "127.0.0.1", **serving}),
        }
    )


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is required (Debian package redis-server; .ci/run uses it)")
    redis_server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    yield redis_server
    redis_server.close()


@pytest.fixture(scope="module")
def served(
    pipeline: Pipeline, private_redis: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("grpc-data")
    shutil.copytree(pipeline.layout.root / "signals", data_dir / "signals")
    shutil.copytree(pipeline.layout.root / "models", data_dir / "models")
    # A second version of the model with a decision policy (same weights): Score must apply it.
    card_path = data_dir / "models" / "engagement" / "v1" / CARD_FILE
    card = ModelCard(**json.loads(card_path.read_text()))
    policy = replace(card, version="v2", review_threshold=0.3, block_threshold=0.7)
    shutil.copytree(card_path.parent, data_dir / "models" / "engagement" / "v2")
    (data_dir / "models" / "engagement" / "v2" / CARD_FILE).write_text(policy.to_json())
    config = _config(
        pipeline,
        data_dir,
        private_redis.port,
        teams={
            "ranking": TeamAccess(
                token=TOKENS["ranking"], feature_services=["ranking_v1"], models=["engagement"]
            ),
            "safety": TeamAccess(token=TOKENS["safety"], feature_services=["safety_v1", "upload_safety_v1"]),
            "admin": TeamAccess(token=TOKENS["admin"], feature_services=["*"], models=["*"]),
        },
        metrics_port=free_port(),
        max_concurrent_requests=4,
        request_timeout_s=3.0,
        online_store_timeout_s=0.5,
        online_store_connections=4,
    )
    publish(config, pipeline.previous_day)
    publish(config, pipeline.feature_day)
    server = ServerThread(config)
    yield server, config
    server.stop()


def _client(served: Any, team: str | None = "admin", **kwargs: Any) -> SignalsClient:
    server, _ = served
    options: dict[str, Any] = {"timeout_s": 3.0, "max_attempts": 1, **kwargs}
    return SignalsClient(server.target, token=TOKENS[team] if team else None, **options)


def _ids(pipeline: Pipeline, n: int = 5) -> list[str]:
    import pyarrow.parquet as pq

    partition = pipeline.layout.signal_partition("content_metadata", pipeline.feature_day)
    return sorted(pq.read_table(partition, columns=["content_id"]).column(0).to_pylist())[:n]


def _code(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value.code(), error.value.details() or ""


def test_health_serves_the_service_and_the_server(served: Any) -> None:
    server, _ = served
    with grpc.insecure_channel(server.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "content_signals.v1.ContentSignalsService"):
            assert (
                stub.Check(health_pb2.HealthCheckRequest(service=name)).status
                == health_pb2.HealthCheckResponse.SERVING
            )
        with pytest.raises(grpc.RpcError) as error:
            stub.Check(health_pb2.HealthCheckRequest(service="nope"))
        assert error.value.code() == Code.NOT_FOUND


def test_tokens_decide_who_reads_and_scores_what(served: Any, pipeline: Pipeline) -> None:
    ids = _ids(pipeline)
    with _client(served, team=None) as anonymous:
        assert (
            _code(lambda: anonymous.get_online_features(ids, feature_service="ranking_v1"))[0]
            == Code.UNAUTHENTICATED
        )
    server, _ = served
    with SignalsClient(server.target, token="not-a-real-token-at-all", max_attempts=1) as wrong:
        code, message = _code(lambda: wrong.list_models())
        assert code == Code.UNAUTHENTICATED and "unknown token" in message
    with _client(served, "ranking") as ranking:
        assert len(ranking.get_online_features(ids, feature_service="ranking_v1").content_ids) == 5
        assert (
            len(ranking.get_online_features(ids, feature_refs=["content_engagement:plays_7d"]).feature_names)
            == 1
        )
        code, message = _code(lambda: ranking.get_online_features(ids, feature_service="safety_v1"))
        assert code == Code.PERMISSION_DENIED and "safety_v1" in message
        refs = ["content_engagement:plays_7d", "text_safety_lexicon:lexicon_term_count"]
        code, message = _code(lambda: ranking.get_online_features(ids, feature_refs=refs))
        assert code == Code.PERMISSION_DENIED and "text_safety_lexicon:lexicon_term_count" in message
        assert [s.name for s in ranking.list_feature_services()] == ["ranking_v1"]
        assert [m.name for m in ranking.list_models()] == ["engagement"]
    with _client(served, "safety") as safety:
        code, _ = _code(lambda: safety.score("engagement", ids))
        assert code == Code.PERMISSION_DENIED
        assert safety.list_models() == []
        assert [s.name for s in safety.list_feature_services()] == ["safety_v1", "upload_safety_v1"]


def test_bad_requests_get_the_right_status_codes(served: Any, pipeline: Pipeline) -> None:
    server, _ = served
    ids = _ids(pipeline)
    stub_channel = grpc.insecure_channel(server.target)
    stub = pb_grpc.ContentSignalsServiceStub(stub_channel)
    metadata = (("authorization", f"Bearer {TOKENS['admin']}"),)

    def call(request: pb.GetOnlineFeaturesRequest) -> tuple[grpc.StatusCode, str]:
        return _code(lambda: stub.GetOnlineFeatures(request, metadata=metadata, timeout=5))

    request = pb.GetOnlineFeaturesRequest
    invalid, not_found = Code.INVALID_ARGUMENT, Code.NOT_FOUND
    cases = [
        (request(feature_service="ranking_v1"), invalid, "must not be empty"),
        (request(feature_service="ranking_v1", content_ids=["a"] * 51), invalid, "too many"),
        (request(content_ids=ids, feature_refs=["plays_7d"]), invalid, "malformed"),
        (request(content_ids=ids), invalid, "must be set"),
        (request(feature_service="nope", content_ids=ids), not_found, "unknown feature service"),
        (request(content_ids=ids, feature_refs=["content_engagement:nope"]), not_found, "unknown feature"),
        (
            pb.GetOnlineFeaturesRequest(
                feature_service="upload_safety_v1",
                content_ids=["u1"],
                request_inputs={
                    "upload_title": pb.RequestInput(string_values=["x"], double_values=[1.0]),
                    "upload_description": pb.RequestInput(string_values=["y"]),
                },
            ),
            Code.INVALID_ARGUMENT,
            "more than one value list",
        ),
    ]  # fmt: skip
    for bad, expected_code, message in cases:
        code, details = call(bad)
        assert code == expected_code and message in details, (bad, code, details)
    with _client(served) as client:
        assert _code(lambda: client.score("nope", ids))[0] == Code.NOT_FOUND
        code, details = _code(lambda: client.score("engagement", ids, model_version="v9"))
        assert code == Code.NOT_FOUND and "v1, v2" in details
    stub_channel.close()


def test_scores_carry_the_versions_policy_and_decisions(served: Any, pipeline: Pipeline) -> None:
    ids = [*_ids(pipeline, 8), "no-such-item"]
    with _client(served, "ranking") as client:
        latest = client.score("engagement", ids)
        first = client.score("engagement", ids, model_version="v1")
        models = client.list_models()
    assert (latest.model_version, first.model_version) == ("v2", "v1")
    assert latest.policy == (0.3, 0.7) and first.policy is None
    assert [m.versions for m in models] == [["v1", "v2"]]
    *rows, unknown = latest.to_dicts()
    assert [r["score"] for r in rows] == [r["score"] for r in first.to_dicts()[:-1]]  # same weights
    for row in rows:
        expected = "BLOCK" if row["score"] >= 0.7 else "REVIEW" if row["score"] >= 0.3 else "ALLOW"
        assert row["decision"] == expected
        assert row["decision_threshold"] == (0.7 if expected == "BLOCK" else 0.3)
    assert [r["found"] for r in rows] == [True] * 8
    assert all(r["decision"] is None for r in first.to_dicts())
    # An id the store has never seen: no score and no decision, even under a policy.
    wire = latest.response.scores[-1]
    assert (wire.content_id, wire.found, wire.decision, wire.decision_threshold) == (
        "no-such-item",
        False,
        pb.DECISION_UNSPECIFIED,
        0.0,
    )
    assert math.isnan(wire.score) and math.isnan(first.response.scores[-1].score)
    assert unknown["score"] is None and unknown["decision"] is None


def test_reflection_lets_buf_curl_call_the_service(served: Any) -> None:
    buf = buf_binary()
    if buf is None:
        pytest.skip(INSTALL_HINT)
    server, _ = served
    url = f"http://{server.target}/content_signals.v1.ContentSignalsService/ListFeatureServices"
    result = subprocess.run(
        [str(buf), "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-H",
         f"authorization: Bearer {TOKENS['admin']}", url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = [s["name"] for s in json.loads(result.stdout)["featureServices"]]
    assert names == [
        "ranking_v1",
        "ranking_v2",
        "safety_v1",
        "safety_v2",
        "safety_v3",
        "similarity_v1",
        "upload_safety_v1",
    ]


def test_metrics_request_ids_and_access_logs(
    served: Any, pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    server, config = served
    channel = grpc.insecure_channel(server.target)
    stub = pb_grpc.ContentSignalsServiceStub(channel)
    metadata = (("authorization", f"Bearer {TOKENS['admin']}"), ("x-request-id", "trace-42"))
    with caplog.at_level(logging.INFO, logger="content_signals.access"):
        _, call = stub.GetOnlineFeatures.with_call(
            pb.GetOnlineFeaturesRequest(feature_service="ranking_v1", content_ids=_ids(pipeline)),
            metadata=metadata,
        )
        with pytest.raises(grpc.RpcError):
            stub.GetOnlineFeatures(
                pb.GetOnlineFeaturesRequest(feature_service="ranking_v1"), metadata=metadata
            )
    channel.close()
    assert ("x-request-id", "trace-42") in tuple(call.trailing_metadata() or ())
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "content_signals.access"]
    assert {"request_id": "trace-42", "code": "OK", "entities": 5, "team": "admin"}.items() <= lines[
        -2
    ].items()
    assert lines[-1]["code"] == "INVALID_ARGUMENT" and "must not be empty" in lines[-1]["error"]
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{config.serving.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    assert 'content_signals_rpc_latency_seconds_bucket{le="0.005",method="GetOnlineFeatures"}' in text
    assert 'content_signals_rpc_requests_total{code="INVALID_ARGUMENT",method="GetOnlineFeatures"}' in text
    assert "content_signals_online_store_read_seconds_count" in text
    assert 'content_signals_request_entities_bucket{le="5.0",method="GetOnlineFeatures"}' in text


def _pause_redis(private_redis: PrivateRedis, seconds: float) -> None:
    """Hold every Redis command for ``seconds``. CLIENT PAUSE is in force when it returns, so the
    server's next read waits: no race with a background DEBUG SLEEP that may not have begun."""
    private_redis.client().execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")


def _wait_for_redis(private_redis: PrivateRedis) -> None:
    """Return once a pause is over: a new client's PING is answered only then."""
    private_redis.client().ping()


def _wait_until(condition: Any, what: str, timeout_s: float = 15.0) -> None:
    """Poll ``condition`` until it holds; fail (never pass) when it does not within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def test_deadlines_are_honoured(served: Any, pipeline: Pipeline, private_redis: PrivateRedis) -> None:
    ids = _ids(pipeline)
    _pause_redis(private_redis, 0.4)
    with _client(served, timeout_s=0.15) as client:
        started = time.monotonic()
        code, _ = _code(lambda: client.get_online_features(ids, feature_service="ranking_v1"))
        assert code == Code.DEADLINE_EXCEEDED and time.monotonic() - started < 0.35
    _wait_for_redis(private_redis)
    with _client(served) as client:  # the connection cancelled mid-read is not reused
        assert len(client.get_online_features(ids, feature_service="ranking_v1").content_ids) == 5


def test_overload_is_refused_not_queued(served: Any, pipeline: Pipeline, private_redis: PrivateRedis) -> None:
    ids = _ids(pipeline)
    _pause_redis(private_redis, 0.3)

    def one(_: int) -> str:
        with _client(served) as client:
            try:
                client.get_online_features(ids, feature_service="ranking_v1")
                return "OK"
            except grpc.RpcError as exc:
                return f"{exc.code().name}: {exc.details()}"

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(one, range(12)))
    _wait_for_redis(private_redis)
    assert {o.split(":")[0] for o in outcomes} == {"OK", "RESOURCE_EXHAUSTED"}, outcomes
    assert any("limit 4" in o for o in outcomes)


def test_a_redis_outage_answers_unavailable_and_recovers(
    served: Any, pipeline: Pipeline, private_redis: PrivateRedis
) -> None:
    ids = _ids(pipeline)
    outcomes: list[tuple[float, str, str]] = []
    stop = threading.Event()

    def load() -> None:
        with _client(served, timeout_s=2.0) as client:
            while not stop.is_set():
                try:
                    client.get_online_features(ids, feature_service="ranking_v1")
                    outcomes.append((time.monotonic(), "OK", ""))
                except grpc.RpcError as exc:
                    outcomes.append((time.monotonic(), exc.code().name, exc.details() or ""))
                    time.sleep(0.02)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        _wait_until(lambda: any(c == "OK" for _, c, _ in outcomes), "a read succeeds")
        private_redis.stop()
        _wait_until(lambda: any(c == "UNAVAILABLE" for _, c, _ in outcomes), "a read is refused")
        restarted = time.monotonic()
        private_redis.start()
        _wait_until(lambda: any(t > restarted and c == "OK" for t, c, _ in outcomes), "reads recover")
    finally:
        stop.set()
        worker.join(timeout=10)
    codes = {c for _, c, _ in outcomes}
    assert codes == {"OK", "UNAVAILABLE"}, codes
    assert all("online store" in d and "Redis" in d for _, c, d in outcomes if c == "UNAVAILABLE")
    recovered = [t for t, c, _ in outcomes if c == "OK" and t > restarted]
    assert recovered and recovered[0] - restarted < 5, "no successful read within 5 s of Redis returning"


_TEXT = st.text(max_size=40)
_REQUEST_INPUT = st.builds(
    pb.RequestInput,
    string_values=st.lists(_TEXT, max_size=3),
    double_values=st.lists(st.floats(), max_size=3),
    int64_values=st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=3),
    bool_values=st.lists(st.booleans(), max_size=3),
)
_FEATURE_REQUESTS = st.builds(
    pb.GetOnlineFeaturesRequest,
    feature_service=st.one_of(st.sampled_from(["", "ranking_v1", "upload_safety_v1", "safety_v1"]), _TEXT),
    content_ids=st.lists(st.one_of(_TEXT, st.sampled_from(["c000000", "c000001"])), max_size=60),
    feature_refs=st.lists(
        st.one_of(
            _TEXT, st.sampled_from(["content_engagement:plays_7d", "upload_text_features:upload_has_url"])
        ),
        max_size=4,
    ),
    request_inputs=st.dictionaries(
        st.one_of(st.sampled_from(["upload_title", "upload_description", "creator_id"]), _TEXT),
        _REQUEST_INPUT,
        max_size=3,
    ),
)
_SCORE_REQUESTS = st.builds(
    pb.ScoreRequest,
    model=st.one_of(st.just("engagement"), _TEXT),
    content_ids=st.lists(_TEXT, max_size=60),
    model_version=st.one_of(st.sampled_from(["", "v1", "v2"]), _TEXT),
)
_ALLOWED = {Code.OK, Code.INVALID_ARGUMENT, Code.NOT_FOUND}


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=st.one_of(_FEATURE_REQUESTS, _SCORE_REQUESTS))
def test_fuzzed_requests_never_crash_the_server(served: Any, request: Any) -> None:
    server, _ = served
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.ContentSignalsServiceStub(channel)
        method = stub.GetOnlineFeatures if isinstance(request, pb.GetOnlineFeaturesRequest) else stub.Score
        try:
            method(request, metadata=(("authorization", f"Bearer {TOKENS['admin']}"),), timeout=5)
            code = Code.OK
        except grpc.RpcError as exc:
            code = exc.code()
            assert exc.details(), "every refusal says why"
        assert code in _ALLOWED, (request, code)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=st.binary(max_size=300), method=st.sampled_from(["GetOnlineFeatures", "Score", "ListModels"]))
def test_malformed_bytes_on_the_wire_never_crash_the_server(served: Any, payload: bytes, method: str) -> None:
    server, _ = served
    with grpc.insecure_channel(server.target) as channel:
        call = channel.unary_unary(f"/content_signals.v1.ContentSignalsService/{method}")
        try:
            call(payload, metadata=(("authorization", f"Bearer {TOKENS['admin']}"),), timeout=5)
            code = Code.OK
        except grpc.RpcError as exc:
            code = exc.code()
        assert code in _ALLOWED, code
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_tls_with_a_self_signed_certificate(served: Any, pipeline: Pipeline, tmp_path: Path) -> None:
    _, config = served
    tls = _self_signed(tmp_path)
    server = ServerThread(
        config.model_copy(update={"serving": config.serving.model_copy(update={"tls": tls})})
    )
    try:
        root = tls.cert_path.read_bytes()
        with SignalsClient(
            server.target, token=TOKENS["admin"], root_certificates=root, server_name_override="signals.test"
        ) as client:
            assert (
                len(client.get_online_features(_ids(pipeline), feature_service="ranking_v1").content_ids) == 5
            )
        with SignalsClient(server.target, token=TOKENS["admin"], max_attempts=1, timeout_s=2) as plaintext:
            assert _code(lambda: plaintext.list_models())[0] == Code.UNAVAILABLE
    finally:
        server.stop()


class HeldStore:
    """A server's online store whose reads wait until :meth:`release`: while one waits, its
    request is provably in flight, whatever the machine's speed."""

    def __init__(self, store: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        self.entered = threading.Event()
        self._released = asyncio.Event()

    async def read(self, join_key: str, entity_ids: Any, reads: Any) -> Any:
        self.entered.set()
        await self._released.wait()
        return await self.store.read(join_key, entity_ids, reads)

    async def close(self) -> None:
        await self.store.close()

    def release(self) -> None:
        self.loop.call_soon_threadsafe(self._released.set)


def _refused(target: str) -> bool:
    """Does a new call get UNAVAILABLE (the server has stopped taking requests)?"""
    with grpc.insecure_channel(target) as channel:
        try:
            pb_grpc.ContentSignalsServiceStub(channel).ListModels(
                pb.ListModelsRequest(), metadata=(("authorization", f"Bearer {TOKENS['admin']}"),), timeout=5
            )
        except grpc.RpcError as exc:
            return bool(exc.code() == Code.UNAVAILABLE)
    return False


def test_stopping_drains_in_flight_requests(served: Any, pipeline: Pipeline) -> None:
    _, config = served
    # Deadlines far beyond the test's steps: only the drain decides whether the request completes.
    patient = config.model_copy(
        update={"serving": config.serving.model_copy(update={"request_timeout_s": 60})}
    )
    server = ServerThread(patient)
    servicer = server.server.servicer
    held = HeldStore(servicer.data_plane.store, server.loop)
    servicer.data_plane.store = held  # type: ignore[assignment]
    ids = _ids(pipeline)
    with ThreadPoolExecutor(1) as pool, _client((server, patient), timeout_s=60) as client:
        in_flight = pool.submit(client.get_online_features, ids, feature_service="ranking_v1")
        assert held.entered.wait(timeout=30), "the request never reached the online store"
        assert servicer.in_flight == 1
        stopping = asyncio.run_coroutine_threadsafe(server.server.stop(60.0), server.loop)
        _wait_until(lambda: _refused(server.target), "the stopping server refuses new calls")
        assert not in_flight.done() and not stopping.done()  # the held request keeps the server up
        held.release()
        assert len(in_flight.result(timeout=30).content_ids) == 5
        stopping.result(timeout=30)
    server.loop.call_soon_threadsafe(server.loop.stop)
    server.thread.join(timeout=10)
