"""How every contender is timed: sequential latency, closed loops of concurrent requests, and the CPU
the watched processes use meanwhile."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import numpy as np


def percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "n": 0}
    values = np.asarray(latencies) * 1000
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "max_ms": round(float(values.max()), 3),
        "n": len(values),
    }


def sequential(call: Any, bodies: list[Any], count: int, cap_s: float, warmup: int = 30) -> dict[str, Any]:
    for i in range(min(warmup, count)):
        call(bodies[i % len(bodies)])
    latencies: list[float] = []
    started = time.perf_counter()
    i = 0
    while len(latencies) < count and time.perf_counter() - started < cap_s:
        t0 = time.perf_counter()
        call(bodies[i % len(bodies)])
        latencies.append(time.perf_counter() - t0)
        i += 1
    elapsed = time.perf_counter() - started
    return {**percentiles(latencies), "seq_qps": round(len(latencies) / elapsed, 1) if latencies else 0.0}


def closed_loop(
    make_async: Any, bodies: list[Any], level: int, duration: float, watch: dict[str, list[int]]
) -> dict[str, Any]:
    """``level`` requests always in flight; after a 1 s warm-up, the requests that complete within
    the next ``duration`` seconds count, and the CPU each watched group of processes used then."""
    import asyncio

    watch = {**watch, "client": [os.getpid()]}

    async def run() -> dict[str, Any]:
        call, close = await make_async(level)
        latencies: list[float] = []
        errors: dict[str, int] = {}
        now = time.perf_counter()
        measure_from, stop_at = now + 1.0, now + 1.0 + duration
        cpu: dict[str, float] = {}

        async def worker(index: int) -> None:
            i = index
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    await call(bodies[i % len(bodies)])
                except Exception as exc:  # counted, never fatal: an overloaded server may refuse
                    code = getattr(exc, "code", None)
                    name = str(code()) if callable(code) else type(exc).__name__
                    errors[name] = errors.get(name, 0) + 1
                else:
                    t1 = time.perf_counter()
                    if measure_from <= t1 <= stop_at:
                        latencies.append(t1 - t0)
                i += level

        async def watcher() -> None:
            await asyncio.sleep(measure_from - time.perf_counter())
            before = {name: cpu_seconds(pids) for name, pids in watch.items()}
            await asyncio.sleep(stop_at - time.perf_counter())
            for name, pids in watch.items():
                cpu[name] = round((cpu_seconds(pids) - before[name]) / duration, 2)

        await asyncio.gather(watcher(), *(worker(i) for i in range(level)))
        await close()
        return {
            "qps": round(len(latencies) / duration, 1),
            **percentiles(latencies),
            "cpu_cores": cpu,
            "errors": sum(errors.values()),
            "error_kinds": errors,
        }

    return asyncio.run(run())


def cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def redis_pids() -> list[int]:
    """The local redis-server (shared with other work on this machine: its CPU is not ours alone)."""
    import psutil

    found = []
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "redis-server":
            found.append(process.pid)
    return found
