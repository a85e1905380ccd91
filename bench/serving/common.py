"""What every part of the serving benchmark shares: the catalogue and requests it measures, the
child processes each contender is measured from, and the progress lines."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.harness import child_env

REPO_ROOT = Path(__file__).resolve().parents[2]
START_DATE = date(2026, 1, 1)
FEATURE_DAY = START_DATE + timedelta(days=6)  # as `signals demo`: the 7th day, with a week of labels after
SERVICE_VIEWS = ("ranking_v1",)
# The scalar signal tables. The model-backed ones (content_embedding, content_safety) would need a
# trained safety model and encode every item's text (about 100 texts/s on 2 cores) without
# changing what is measured here: reads of ranking_v1 and Score of the engagement model.
TABLES = [
    "content_metadata",
    "content_engagement",
    "content_audio",
    "creator_profile",
    "text_safety_lexicon",
]
EXTRA_VIEWS = ("text_safety_lexicon",)
SCORE_IDS = 100
GOAL_SIZE = 100
REQUEST_SETS = 64
# Closed loops keep at most this many ids in flight (1,000-id requests: 4 and 16 concurrent): a
# single-process server saturates well before, and deeper queues only add time to drain.
MAX_IDS_IN_FLIGHT = 16_000  # distinct id lists per size; requests cycle through them


def say(line: str) -> None:
    print(line, flush=True)


def print_result(name: str, result: dict[str, Any]) -> None:
    for size, figures in result["sizes"].items():
        say(
            f"  {name} {size} ids: p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms "
            f"({figures['n']} seq.), max {figures['max_qps']:,.0f} QPS"
            + (f" at {figures['best_level']}" if figures.get("best_level") else "")
            + (f", errors {figures['errors']}" if figures.get("errors") else "")
            + (f"; cores used there: {figures['cpu_cores']}" if figures.get("cpu_cores") else "")
        )


def load_requests(spec: dict[str, Any]) -> dict[str, list[dict[str, list[str]]]]:
    loaded: dict[str, list[dict[str, list[str]]]] = json.loads(Path(spec["requests"]).read_text())
    return loaded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- child processes: each side runs as `python -m bench.bench_serving --side NAME` ---


def start_child(side: str, spec: dict[str, Any], root: Path, quiet: bool = True) -> Any:
    env = child_env(REPO_ROOT)
    result_path = root / f"{side}-{uuid.uuid4().hex[:6]}.json"
    log_path = root / f"{result_path.stem}.log"
    spec = {**spec, "result": str(result_path)}
    command = [sys.executable, "-m", "bench.bench_serving", "--side", side, "--spec", json.dumps(spec)]
    log = log_path.open("w")
    proc = subprocess.Popen(command, cwd=root, env=env, stdout=None if not quiet else log, stderr=log)
    return proc, log, log_path, result_path, side


def finish_child(handle: Any, root: Path) -> dict[str, Any]:
    proc, log, log_path, result_path, side = handle
    proc.wait()
    log.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{side} failed (exit {proc.returncode}):\n{log_path.read_text()[-4000:]}")
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


def run_child(side: str, spec: dict[str, Any], root: Path, quiet: bool = True) -> dict[str, Any]:
    return finish_child(start_child(side, spec, root, quiet), root)
