"""The baseline: ``feast serve`` (HTTP/JSON) on the same registry and Redis db, and its HTTP client."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bench.serving.common import run_child, say
from bench.serving.timing import redis_pids


def measure_feast(
    root: Path, project: str, config_path: Path, port: int, common: dict[str, Any], timing: dict[str, Any]
) -> dict[str, Any]:
    import psutil

    repo = root / "feast_repo"
    write_feature_store_yaml(repo, config_path)
    log = (root / "feast_serve.log").open("w")
    command = [
        str(Path(sys.executable).with_name("feast")),
        "-c",
        str(repo),
        "serve",
        "-p",
        str(port),
        "--no-access-log",
        "--workers",
        "1",
        "--max-requests",
        "0",
    ]
    begun = time.perf_counter()
    proc = subprocess.Popen(command, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(port, proc, 180.0)
        ready_s = time.perf_counter() - begun
        say(f"  feast serve ready in {ready_s:.1f}s on port {port}")
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        watch = {"server": [p.pid for p in tree], "redis": redis_pids()}
        spec = {**common, **timing, "kind": "http", "target": f"127.0.0.1:{port}", "watch": watch}
        result = run_child("load", spec, root)
        result["rss_mb"] = round(sum(p.memory_info().rss for p in tree) / 2**20, 1)
        result["ready_s"] = round(ready_s, 1)
        result["command"] = " ".join(command[1:])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    return result


def write_feature_store_yaml(repo: Path, config_path: Path) -> None:
    """What ``feature_repo.repo.repo_config`` builds in code, as a file ``feast serve`` reads."""
    from content_signals.config import load_config
    from content_signals.feature_repo.repo import online_store_settings, registry_settings
    from content_signals.spark import REQUIRED_CONF

    config = load_config(config_path)
    spark = config.spark
    document = {
        "project": config.feast.project,
        "provider": "local",
        "registry": registry_settings(config),
        "online_store": online_store_settings(config),
        "offline_store": {
            "type": "spark",
            "spark_conf": {
                "spark.master": spark.master,
                "spark.driver.memory": spark.driver_memory,
                "spark.sql.shuffle.partitions": str(spark.shuffle_partitions),
                "spark.ui.enabled": "false",
                **REQUIRED_CONF,
                **spark.conf,
            },
        },
        "entity_key_serialization_version": 3,
    }
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def wait_http(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    import http.client

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"feast serve exited with {proc.returncode}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return
        time.sleep(0.5)
    raise RuntimeError(f"feast serve not ready after {timeout_s:.0f}s")


def http_client(spec: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    import http.client

    host, port = spec["target"].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Content-Type": "application/json"}
    path = "/get-online-features"

    def bodies_of(requests: list[dict[str, list[str]]]) -> list[bytes]:
        return [
            json.dumps(
                {
                    "features": spec["refs"],
                    "entities": {"content_id": r["ids"], "creator_id": r["creators"]},
                    "full_feature_names": True,
                }
            ).encode()
            for r in requests
        ]

    def sync_call(body: bytes) -> bytes:
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"feast serve answered {response.status}: {data[:300]!r}")
        return data

    async def make_async(level: int) -> tuple[Any, Any]:
        import aiohttp

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=level, force_close=False),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        url = f"http://{spec['target']}{path}"

        async def call(body: bytes) -> bytes:
            async with session.post(url, data=body, headers=headers) as response:
                data = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
                return data

        return call, session.close

    def sample(request: dict[str, list[str]]) -> dict[str, list[Any]]:
        answer = json.loads(sync_call(bodies_of([request])[0]))
        names = answer["metadata"]["feature_names"]
        out: dict[str, list[Any]] = {}
        for name, result in zip(names, answer["results"], strict=True):
            if "__" not in name:
                continue  # the entity key columns
            ref = name.replace("__", ":", 1)
            out[ref] = [
                v if s == "PRESENT" else None
                for v, s in zip(result["values"], result["statuses"], strict=True)
            ]
        return out

    return sync_call, make_async, bodies_of, sample
