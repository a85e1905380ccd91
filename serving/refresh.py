"""A background loop that calls a cache's ``refresh`` every few seconds, for the snapshots a server
swaps in while it serves (the registry's catalog, the vector index)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class RefreshLoop:
    """Calls ``refresh`` every ``seconds`` on a daemon thread until stopped; ``seconds <= 0``
    never starts one (the snapshot is then fixed for the server's life)."""

    def __init__(self, refresh: Callable[[], object], seconds: float, name: str) -> None:
        self._refresh = refresh
        self._seconds = seconds
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._seconds <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            self._refresh()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
