"""The client's retries, deadlines, auth metadata and TLS against a real in-process gRPC server
whose scripted servicer (tests/scripted_server.py) fails chosen calls with chosen status codes."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from content_signals_client import SignalsClient

from tests.scripted_server import IDS, Server, scripted_server, start_scripted_server
from tests.tls import self_signed_pem as _self_signed


@pytest.fixture
def served() -> Iterator[Server]:
    with scripted_server() as running:
        yield running


class Sleeps:
    """An injected ``sleep`` that records and, with a fake clock, advances time instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 1000.0

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class AlmostOne(random.Random):
    """An ``rng`` whose draws sit at the top of the jitter range, so waits equal the backoff caps."""

    def random(self) -> float:
        return 1.0 - 1e-12


def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()  # type: ignore[attr-defined, no-any-return]


# --- retries and deadlines ---------------------------------------------------------------------


def test_unavailable_is_retried_with_growing_capped_backoff(served: Server) -> None:
    served.servicer.failures = [grpc.StatusCode.UNAVAILABLE] * 4
    sleeps = Sleeps()
    with SignalsClient(
        served.target,
        max_attempts=5,
        timeout_s=60,
        initial_backoff_s=0.1,
        backoff_multiplier=3.0,
        max_backoff_s=0.5,
        sleep=sleeps.sleep,
        clock=sleeps.clock,
        rng=AlmostOne(),
    ) as client:
        features = client.get_online_features(IDS, feature_service="ranking_v1")
    assert len(served.servicer.calls) == 5
    assert features.content_ids == IDS
    assert sleeps.delays == pytest.approx([0.1, 0.3, 0.5, 0.5])  # x3 each retry, capped at 0.5


def test_backoff_has_full_jitter_within_the_caps(served: Server) -> None:
    served.servicer.failures = [grpc.StatusCode.UNAVAILABLE] * 7
    sleeps = Sleeps()
    with SignalsClient(
        served.target,
        max_attempts=8,
        timeout_s=60,
        initial_backoff_s=0.05,
        max_backoff_s=1.0,
        sleep=sleeps.sleep,
        clock=sleeps.clock,
        rng=random.Random(7),
    ) as client:
        client.list_models()
    caps = [min(1.0, 0.05 * 2**retry) for retry in range(7)]
    assert len(sleeps.delays) == 7
    assert all(0 <= delay <= cap for delay, cap in zip(sleeps.delays, caps, strict=True))
    # Jitter, not a fixed schedule: the waits are spread below their caps.
    assert sum(delay / cap for delay, cap in zip(sleeps.delays, caps, strict=True)) < 6.5


def test_gives_up_after_max_attempts_with_the_last_error(served: Server) -> None:
    served.servicer.always = grpc.StatusCode.UNAVAILABLE
    sleeps = Sleeps()
    with SignalsClient(served.target, max_attempts=3, sleep=sleeps.sleep, clock=sleeps.clock) as client:
        assert _code(lambda: client.score("engagement", IDS)) == grpc.StatusCode.UNAVAILABLE
    assert len(served.servicer.calls) == 3
    assert len(sleeps.delays) == 2


def test_retries_stop_at_the_overall_deadline(served: Server) -> None:
    served.servicer.always = grpc.StatusCode.UNAVAILABLE
    sleeps = Sleeps()
    with (
        SignalsClient(
            served.target,
            timeout_s=1.0,
            max_attempts=100,
            initial_backoff_s=0.3,
            max_backoff_s=10,
            sleep=sleeps.sleep,
            clock=sleeps.clock,
            rng=AlmostOne(),
        ) as client,
        pytest.raises(grpc.RpcError) as caught,
    ):
        client.get_online_features(IDS, feature_service="ranking_v1")
    # Waits of 0.3 and 0.6 fit in 1 s; the next (1.2) would not, so the UNAVAILABLE is raised.
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert sleeps.delays == pytest.approx([0.3, 0.6])
    assert len(served.servicer.calls) == 3


def test_retries_in_real_time_never_outlast_the_deadline(served: Server) -> None:
    served.servicer.always = grpc.StatusCode.UNAVAILABLE
    with SignalsClient(served.target, timeout_s=0.3, max_attempts=1000, initial_backoff_s=0.01) as client:
        started = time.monotonic()
        assert _code(lambda: client.list_feature_services()) == grpc.StatusCode.UNAVAILABLE
        elapsed = time.monotonic() - started
    assert elapsed < 0.3 + 0.4  # the deadline plus scheduling slack on a busy machine
    assert 2 < len(served.servicer.calls) < 1000


def test_a_slow_server_gets_deadline_exceeded_once(served: Server) -> None:
    served.servicer.hang = True
    sleeps = Sleeps()
    with SignalsClient(served.target, timeout_s=0.2, sleep=sleeps.sleep) as client:
        started = time.monotonic()
        assert _code(lambda: client.list_models(timeout_s=0.2)) == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 1.0
    assert len(served.servicer.calls) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ],
)
def test_caller_errors_are_not_retried(served: Server, code: grpc.StatusCode) -> None:
    served.servicer.always = code
    sleeps = Sleeps()
    with SignalsClient(served.target, sleep=sleeps.sleep) as client, pytest.raises(grpc.RpcError) as caught:
        client.get_online_features(IDS, feature_service="ranking_v1")
    assert caught.value.code() == code  # type: ignore[attr-defined]
    assert caught.value.details() == f"scripted {code.name}"  # type: ignore[attr-defined]
    assert len(served.servicer.calls) == 1
    assert sleeps.delays == []


def test_resource_exhausted_is_retried_unless_disabled(served: Server) -> None:
    sleeps = Sleeps()
    served.servicer.failures = [grpc.StatusCode.RESOURCE_EXHAUSTED]
    with SignalsClient(served.target, sleep=sleeps.sleep) as client:
        client.list_models()
    assert len(served.servicer.calls) == 2

    served.servicer.calls.clear()
    served.servicer.failures = [grpc.StatusCode.RESOURCE_EXHAUSTED]
    with SignalsClient(served.target, sleep=sleeps.sleep, retry_resource_exhausted=False) as client:
        assert _code(client.list_models) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(served.servicer.calls) == 1


def test_an_unreachable_target_is_unavailable_within_the_deadline() -> None:
    server, running = start_scripted_server()
    server.stop(grace=None)  # nothing listens on the port any more
    with SignalsClient(running.target, timeout_s=0.5, initial_backoff_s=0.01) as client:
        started = time.monotonic()
        assert _code(client.list_models) == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < 1.5


# --- metadata and TLS --------------------------------------------------------------------------


def test_the_bearer_token_reaches_the_server(served: Server) -> None:
    with SignalsClient(served.target, token="s3cret") as client:
        client.get_online_features(IDS, feature_service="ranking_v1")
        client.score("engagement", IDS)
    assert [call.metadata.get("authorization") for call in served.servicer.calls] == ["Bearer s3cret"] * 2

    served.servicer.calls.clear()
    with SignalsClient(served.target) as client:
        client.list_models()
    assert "authorization" not in served.servicer.calls[0].metadata


def test_tls_with_a_self_signed_certificate() -> None:
    key_pem, cert_pem = _self_signed("signals.test")
    server, running = start_scripted_server(grpc.ssl_server_credentials([(key_pem, cert_pem)]))
    try:
        with SignalsClient(
            running.target, token="t", root_certificates=cert_pem, server_name_override="signals.test"
        ) as client:
            assert client.get_online_features(IDS, feature_service="ranking_v1").content_ids == IDS
        assert running.servicer.calls[0].metadata["authorization"] == "Bearer t"

        # The certificate names signals.test, not 127.0.0.1: without the override the handshake
        # fails, as it does against a plaintext client or an untrusted root.
        _, other_cert = _self_signed("signals.test")
        for kwargs in (
            {"root_certificates": cert_pem},
            {"root_certificates": other_cert, "server_name_override": "signals.test"},
            {},
        ):
            with SignalsClient(running.target, timeout_s=0.5, max_attempts=1, **kwargs) as client:
                assert _code(client.list_models) == grpc.StatusCode.UNAVAILABLE, kwargs
        assert len(running.servicer.calls) == 1
    finally:
        server.stop(grace=None)
