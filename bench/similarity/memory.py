"""Memory of the index, measured in a child process of its own so that the figures are clean: the
raw float32 vectors (``np.load``), the index loaded normally, and the index opened memory-mapped
(``VectorIndex(folder, view=True)``, what serving replicas do), each after 1,000 queries."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.similarity.common import K


def smaps() -> dict[str, float]:
    """This process's memory from /proc/self/smaps_rollup, MiB: resident, anonymous (private to it)
    and file-backed (page cache pages: shared with any other process mapping the file, evictable)."""
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[-1] == "kB":
            fields[name.strip()] = int(parts[0]) / 1024
    return {
        "rss_mib": fields.get("Rss", 0.0),
        "anonymous_mib": fields.get("Anonymous", 0.0),
        "file_mib": fields.get("Rss", 0.0) - fields.get("Anonymous", 0.0),
        "private_mib": fields.get("Private_Clean", 0.0) + fields.get("Private_Dirty", 0.0),
        "shared_mib": fields.get("Shared_Clean", 0.0) + fields.get("Shared_Dirty", 0.0),
    }


def memory_side(spec: dict[str, Any]) -> dict[str, Any]:
    import pyarrow  # noqa: F401  (imported before the first reading, as the loaders need it)
    import usearch.index  # noqa: F401

    from content_signals.similarity.index import VectorIndex

    queries = np.load(spec["queries"])
    before = smaps()
    started = time.perf_counter()
    if spec["mode"] == "raw":
        vectors = np.load(spec["vectors"])
        load_s = time.perf_counter() - started
        for query in queries:
            scores = vectors @ query
            np.argpartition(-scores, K)[:K]
    else:
        index = VectorIndex(Path(spec["folder"]), view=spec["mode"] == "view")
        load_s = time.perf_counter() - started
        for query in queries:
            index.search(query, K)
    after = smaps()
    return {
        "mode": spec["mode"],
        "load_s": round(load_s, 4),
        **{name: round(after[name] - before[name], 1) for name in after},
    }
