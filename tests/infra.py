"""The infra manifests and the image, as the infra tests read them (no cluster, no Docker needed)."""

from __future__ import annotations

import functools
import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPARK_DIR = ROOT / "infra" / "spark"

Doc = dict[str, Any]


@functools.cache
def documents() -> tuple[tuple[Path, Doc], ...]:
    found = []
    for path in sorted([*SPARK_DIR.rglob("*.yaml"), *SPARK_DIR.rglob("*.yml")]):
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return tuple(found)


def one(kind: str) -> Doc:
    matches = [doc for _, doc in documents() if doc["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind} under infra/spark, found {len(matches)}"
    return matches[0]


def cron_pod() -> Doc:
    return one("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


# --- the image ------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (SPARK_DIR / "Dockerfile").read_text())
    lines = (line.strip() for line in text.splitlines())
    pairs = [line.partition(" ") for line in lines if line and not line.startswith("#")]
    return [(keyword.upper(), rest.strip()) for keyword, _, rest in pairs]


def path_in_image(repo_path: str) -> PurePosixPath | None:
    """Where the Dockerfile's COPY instructions put ``repo_path`` (relative to the build context)."""
    workdir, found = PurePosixPath("/"), None
    for keyword, rest in dockerfile():
        if keyword == "WORKDIR":
            workdir = workdir / rest
        elif keyword == "COPY":
            *sources, dest = [part for part in rest.split() if not part.startswith("--")]
            target = workdir / dest
            for source in sources:
                source = source.rstrip("/")
                if source in ("", "."):
                    found = target / repo_path
                elif repo_path.startswith(source + "/"):
                    found = target / repo_path[len(source) + 1 :]
                elif repo_path == source:
                    into_dir = dest.endswith("/") or len(sources) > 1
                    found = target / PurePosixPath(repo_path).name if into_dir else target
    return found
