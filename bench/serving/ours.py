"""Ours: the Ray Serve application over gRPC (GetOnlineFeatures and Score), its gRPC client, and a
py-spy profile of the ingress replica under load."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.serving.common import GOAL_SIZE, SCORE_IDS, finish_child, print_result, run_child, say, start_child
from bench.serving.timing import cpu_seconds, redis_pids

# Frames of these files (of ours) are the ones the py-spy summary prints.
OUR_MODULES = (
    "(grpc_service.py)",
    "(scoring_plane.py)",
    "(data_plane.py)",
    "(decoding.py)",
    "(storage_format.py)",
    "(redis.py)",
    "(sqlite.py)",
    "(resp.py)",
    "(catalog.py)",
    "(wire.py)",
)


def measure_ours(
    root: Path,
    config_path: Path,
    port: int,
    common: dict[str, Any],
    timing: dict[str, Any],
    skip: set[str],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    from content_signals.cli.main import prepare_process
    from content_signals.config import load_config
    from content_signals.serving import server

    config = load_config(config_path)
    prepare_process(config)
    target = f"127.0.0.1:{port}"
    running = server.start(config, progress=lambda line: say(f"  {line}"))
    try:
        ingress = replica_process("SignalsIngress")
        model = replica_process("Model_quality")
        watch = {
            "server": [p.pid for p in (ingress, model) if p is not None],
            "ingress": [ingress.pid] if ingress is not None else [],
            "redis": redis_pids(),
        }
        result = run_child(
            "load", {**common, **timing, "kind": "grpc", "target": target, "watch": watch}, root
        )
        result["startup_s"] = round(running.startup_seconds, 1)
        if ingress is not None:
            result["ingress_rss_mb"] = round(ingress.memory_info().rss / 2**20, 1)
        print_result("ours", result)
        say(f"  Score RPC, {SCORE_IDS} ids per request")
        spec = {**common, **timing, "kind": "score", "target": target, "sizes": [SCORE_IDS], "watch": watch}
        score = run_child("load", spec, root)
        figures = score["sizes"][str(SCORE_IDS)]
        say(
            f"  Score {SCORE_IDS} ids: p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms, "
            f"max {figures['max_qps'] * SCORE_IDS:,.0f} items/s at {figures['best_level']}; "
            f"cores used there: {figures.get('cpu_cores')}"
        )
        profile: dict[str, Any] = {}
        if "profile" not in skip and ingress is not None:
            profile = profile_ingress(root, ingress.pid, common, {**timing, "watch": watch}, target)
    finally:
        server.stop()
    return result, score, profile


def replica_process(deployment: str) -> Any:
    """A replica of ``deployment``: a descendant of this process (the Ray driver) named after it."""
    import psutil

    for process in psutil.Process(os.getpid()).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if deployment in " ".join(process.cmdline()):
                return process
    return None


def profile_ingress(
    root: Path, pid: int, common: dict[str, Any], timing: dict[str, Any], target: str
) -> dict[str, Any]:
    """py-spy samples of the ingress replica while a closed loop of 16 x 100-id requests runs."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return {"skipped": "py-spy not installed"}
    seconds, rate = 6, 100
    out = root / "py-spy.txt"
    spec = {
        **common,
        **timing,
        "kind": "grpc",
        "target": target,
        "sizes": [GOAL_SIZE],
        "latency_requests": 0,
        "levels": [16],
        "duration": seconds + 3,
    }
    idle_before = cpu_seconds([pid])
    time.sleep(2.0)
    idle_cores = (cpu_seconds([pid]) - idle_before) / 2.0
    loader = start_child("load", spec, root)
    time.sleep(2.0)
    spy = subprocess.run(
        [
            py_spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(seconds),
            "-r",
            str(rate),
            "-f",
            "raw",
            "--threads",
            "--nonblocking",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    load = finish_child(loader, root)
    if spy.returncode != 0 or not out.exists():
        return {"skipped": f"py-spy failed: {spy.stderr.strip()[-400:]}"}
    summary = summarise_stacks(out.read_text(), seconds * rate)
    summary["load_qps"] = load["sizes"][str(GOAL_SIZE)]["max_qps"]
    summary["load_cpu_cores"] = load["sizes"][str(GOAL_SIZE)]["cpu_cores"]
    summary["ingress_idle_cores"] = round(idle_cores, 3)
    say(
        f"  py-spy on the ingress ({summary['load_qps']:,.0f} QPS of {GOAL_SIZE} ids, cores used "
        f"{summary['load_cpu_cores']}): its event-loop thread was sampled in {summary['samples']} of "
        f"{seconds * rate} ticks; inclusive shares of those samples:"
    )
    ours = {k: v for k, v in summary["inclusive"].items() if k.endswith(OUR_MODULES)}
    for name, share in list(ours.items())[:10]:
        say(f"    {share:6.1%}  {name}")
    loop_self = sum(v for k, v in summary["self"].items() if "_run_user_code_event_loop" in k)
    say(f"    {loop_self:6.1%}  event loop itself (epoll wait, gRPC's Cython/C++ work, invisible to py-spy)")
    return summary


def summarise_stacks(raw: str, expected: int) -> dict[str, Any]:
    """Collapsed py-spy stacks -> busiest thread's active share, inclusive shares of its frames."""
    threads: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        thread = frames[1] if len(frames) > 1 and frames[1].startswith("thread") else frames[0]
        count = int(count_text)
        totals[thread] = totals.get(thread, 0) + count
        seen = set()
        for frame in frames:
            name = frame.split(" (")[0]
            where = frame[frame.find("(") + 1 : frame.find(":")] if "(" in frame else ""
            key = f"{name} ({Path(where).name})" if where else name
            if key in seen:
                continue
            seen.add(key)
            bucket = threads.setdefault(thread, {})
            bucket[key] = bucket.get(key, 0) + count
    if not totals:
        return {"busiest_thread_active": 0.0, "inclusive": {}, "self": {}}
    busiest = max(totals, key=lambda t: totals[t])
    samples = totals[busiest]
    interesting = {
        k: v / samples
        for k, v in sorted(threads[busiest].items(), key=lambda kv: -kv[1])
        if not k.startswith(("process", "thread")) and v / samples >= 0.02
    }
    leaves: dict[str, int] = {}
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or (busiest not in stack):
            continue
        leaf = stack.split(";")[-1]
        where = leaf[leaf.find("(") + 1 : leaf.rfind(":")] if "(" in leaf else ""
        leaf = f"{leaf.split(' (')[0]} ({Path(where).name})" if where else leaf
        leaves[leaf] = leaves.get(leaf, 0) + int(count_text)
    return {
        "busiest_thread": busiest,
        "busiest_thread_active": samples / expected,
        "samples": samples,
        "inclusive": dict(list(interesting.items())[:40]),
        "self": {k: round(v / samples, 4) for k, v in sorted(leaves.items(), key=lambda kv: -kv[1])[:20]},
    }


def grpc_client(spec: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    import grpc
    from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb
    from content_signals_client.api.content_signals.v1 import content_signals_pb2_grpc as pb_grpc

    options = [("grpc.max_receive_message_length", 64 * 2**20)]
    target = spec["target"]
    scoring = spec["kind"] == "score"
    channel = grpc.insecure_channel(target, options=options)
    stub = pb_grpc.ContentSignalsServiceStub(channel)
    method = stub.Score if scoring else stub.GetOnlineFeatures

    def bodies_of(requests: list[dict[str, list[str]]]) -> list[Any]:
        if scoring:
            return [pb.ScoreRequest(model="engagement", content_ids=r["ids"]) for r in requests]
        return [
            pb.GetOnlineFeaturesRequest(content_ids=r["ids"], feature_refs=spec["refs"]) for r in requests
        ]

    def sync_call(body: Any) -> Any:
        return method(body, timeout=30)

    async def make_async(_level: int) -> tuple[Any, Any]:
        aio_channel = grpc.aio.insecure_channel(target, options=options)
        aio_stub = pb_grpc.ContentSignalsServiceStub(aio_channel)
        aio_method = aio_stub.Score if scoring else aio_stub.GetOnlineFeatures

        async def call(body: Any) -> Any:
            return await aio_method(body, timeout=30)

        return call, aio_channel.close

    def sample(request: dict[str, list[str]]) -> dict[str, list[Any]]:
        response = sync_call(bodies_of([request])[0])
        out: dict[str, list[Any]] = {}
        lists = {1: "int64_values", 2: "double_values", 3: "string_values", 4: "bool_values"}
        for column in response.columns:
            values = list(getattr(column, lists[column.type]))
            out[column.name] = [v if s == 1 else None for v, s in zip(values, column.statuses, strict=True)]
        return out

    return sync_call, make_async, bodies_of, sample
