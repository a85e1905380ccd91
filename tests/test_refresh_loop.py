"""The background loop behind the catalog and vector-index caches."""

from __future__ import annotations

import threading
import time

from content_signals.serving.refresh import RefreshLoop


def test_the_loop_refreshes_until_stopped_and_restarts() -> None:
    calls: list[float] = []
    called = threading.Event()

    def refresh() -> None:
        calls.append(time.monotonic())
        if len(calls) >= 3:
            called.set()

    loop = RefreshLoop(refresh, 0.01, "test-refresh")
    loop.start()
    loop.start()  # a second start is a no-op, not a second thread
    assert called.wait(5)
    loop.stop()
    stopped_at = len(calls)
    time.sleep(0.05)
    assert len(calls) == stopped_at  # nothing runs after stop
    assert [t for t in threading.enumerate() if t.name == "test-refresh"] == []

    loop.start()  # a stopped loop starts again
    deadline = time.monotonic() + 5
    while len(calls) == stopped_at and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.stop()
    assert len(calls) > stopped_at


def test_no_interval_means_no_thread() -> None:
    loop = RefreshLoop(lambda: None, 0, "never-refresh")
    loop.start()
    assert [t for t in threading.enumerate() if t.name == "never-refresh"] == []
    loop.stop()
