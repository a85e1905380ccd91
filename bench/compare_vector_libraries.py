"""Approximate-nearest-neighbour libraries for the vector index of text embeddings, side by side.

Chooses the library behind the index of the published 384-dim unit-norm text embeddings (cosine
similarity = inner product; issue 19, ``docs/vector-index.md``). Candidates: usearch, hnswlib,
faiss-cpu (``IndexHNSWFlat``) and voyager, each an HNSW graph built with the same parameters:
M / connectivity 16, ef_construction / expansion_add 128, and the search breadth (ef_search /
expansion_search / query_ef) raised step by step until recall@10 >= 0.95; the value used is
reported.

Vectors: clustered unit vectors (2,000 gaussian centres on the sphere, each item its centre plus
gaussian noise of a per-cluster spread, normalised, float32, seeded), ``--queries`` fresh draws from
the same clusters as queries. Every item has a content type (shares 60% / 30% / 10%).
Baseline: exact search with numpy (BLAS) on the same vectors: the true top 10 of every query, its
batch throughput with every thread and its single-query latency on one thread.

Each library runs in a child process of its own (so that its memory is its own) and measures:
build seconds (``--threads`` threads); recall@10; single-query latency p50 / p99 (one thread, one
query at a time, as a gRPC handler would); batch QPS (every thread, all queries at once); RSS
growth of the build (private and file-backed); the saved file's size and save time; a filtered
query (only the 10% content type) through the library's own filter where it has one (hnswlib's
Python callback, faiss's ``IDSelectorBitmap``) or else by over-fetching and dropping; then 1% new
vectors added, 1% of the items given new vectors (replaced) and 1% deleted, each timed, and
recall@10 against exact search on the updated set. Two more child processes load the saved file,
normally and as a memory-mapped view where the library can, and report load time, RSS and recall.
The saved file was just written, so loads read it from the page cache.

Usage: python -m bench.compare_vector_libraries [--vectors 200000] [--queries 1000] [--threads 2]
       [--libraries usearch,hnswlib,faiss,voyager] [--results-name vector_libraries] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bench.harness import Row, child_env, higher_is_better, lower_is_better, print_table, write_results

REPO_ROOT = Path(__file__).resolve().parent.parent
DIM = 384
K = 10
CENTRES = 2_000
SPREAD = (0.025, 0.06)  # per-dimension noise of a cluster, drawn uniformly per cluster
TYPE_SHARES = (0.6, 0.3, 0.1)
FILTER_TYPE = 2  # the filtered query asks for items of this type only (10% of them)
M = 16
EF_CONSTRUCTION = 128
EF_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768)
RECALL_GOAL = 0.95
UPDATE_SHARE = 0.01
EXACT_SINGLE_QUERIES = 200
LIBRARIES = ("usearch", "hnswlib", "faiss", "voyager")
PACKAGES = {"usearch": "usearch", "hnswlib": "hnswlib", "faiss": "faiss-cpu", "voyager": "voyager"}
EXACT = "exact search (numpy/BLAS brute force, same vectors)"

Ids = np.ndarray[Any, np.dtype[np.int64]]
Floats = np.ndarray[Any, np.dtype[np.float32]]
Mask = np.ndarray[Any, np.dtype[np.bool_]]


# --------------------------------------------------------------------------------------------------
# Data and exact search


def normalise(x: np.ndarray) -> Floats:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def draw_clustered(
    rng: np.random.Generator, centres: Floats, spreads: np.ndarray, clusters: np.ndarray
) -> Floats:
    """Unit vectors around the given clusters' centres, in chunks (bounded temporary memory)."""
    out = np.empty((len(clusters), DIM), dtype=np.float32)
    for start in range(0, len(clusters), 100_000):
        c = clusters[start : start + 100_000]
        noise = rng.standard_normal((len(c), DIM), dtype=np.float32) * spreads[c, None].astype(np.float32)
        out[start : start + len(c)] = normalise(centres[c] + noise)
    return out


def generate(workdir: Path, n: int, q: int, seed: int = 19) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = normalise(rng.standard_normal((CENTRES, DIM)))
    spreads = rng.uniform(*SPREAD, size=CENTRES)
    clusters = rng.integers(0, CENTRES, size=n)
    updates = max(1, int(n * UPDATE_SHARE))
    changed = rng.choice(n, size=2 * updates, replace=False)
    data: dict[str, np.ndarray] = {
        "vectors": draw_clustered(rng, centres, spreads, clusters),
        "types": rng.choice(len(TYPE_SHARES), size=n, p=TYPE_SHARES).astype(np.int8),
        "queries": draw_clustered(rng, centres, spreads, rng.integers(0, CENTRES, size=q)),
        "added": draw_clustered(rng, centres, spreads, rng.integers(0, CENTRES, size=updates)),
        "added_ids": np.arange(n, n + updates, dtype=np.int64),
        "replaced_ids": np.sort(changed[:updates]).astype(np.int64),
        "deleted_ids": np.sort(changed[updates:]).astype(np.int64),
    }
    # A changed item (an edited title) stays near where it was: a new draw from its own cluster.
    data["replacements"] = draw_clustered(rng, centres, spreads, clusters[data["replaced_ids"]])
    for name, array in data.items():
        np.save(workdir / f"{name}.npy", array)
    return data


def exact_top_k(queries: Floats, vectors: Floats, excluded: Mask | None = None) -> Ids:
    """The true top K ids (rows of ``vectors``) of every query, best first."""
    out = np.empty((len(queries), K), dtype=np.int64)
    chunk = max(1, 50_000_000 // max(1, len(vectors)))
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ vectors.T
        if excluded is not None:
            scores[:, excluded] = -np.inf
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[start : start + chunk] = np.take_along_axis(top, order, axis=1)
    return out


def exact_single_latencies(queries: Floats, vectors: Floats) -> list[float]:
    """Seconds per query, one query at a time on one BLAS thread."""
    times = []
    with threadpool_limits(limits=1):
        for query in queries:
            started = time.perf_counter()
            scores = vectors @ query
            top = np.argpartition(-scores, K)[:K]
            top[np.argsort(-scores[top])]
            times.append(time.perf_counter() - started)
    return times


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = (found[:, :, None] == truth[:, None, :]).any(axis=2).sum()
    return float(hits / truth.size)


def percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.array(seconds) * 1e3, [50, 99])
    return float(p50), float(p99)


# --------------------------------------------------------------------------------------------------
# The libraries, behind one interface


class Candidate(ABC):
    """One library's HNSW index over external int64 ids; results are external ids, -1 for none."""

    native_filter: bool = False
    deletions: str = ""
    view: str = ""  # how a memory-mapped view is loaded, "" when the library cannot

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.ef = 64

    @abstractmethod
    def build(self, vectors: Floats, ids: Ids, threads: int) -> None: ...

    @abstractmethod
    def search(self, queries: Floats, threads: int, k: int = K, ef: int | None = None) -> Ids: ...

    @abstractmethod
    def search_one(self, query: Floats) -> Ids: ...

    def prepare_filter(self, allowed: Mask) -> Any:
        """Whatever the filtered query needs, made once (a serving process would keep it per type)."""
        return allowed

    def search_one_filtered(self, query: Floats, prepared: Any, fetch: int) -> Ids:
        """Over-fetch ``fetch`` neighbours and keep the first K allowed ones."""
        found = self.search(query[None, :], threads=1, k=fetch, ef=max(self.ef, fetch))[0]
        found = found[found >= 0]
        kept = found[prepared[found]][:K]
        return np.pad(kept, (0, K - len(kept)), constant_values=-1)

    @abstractmethod
    def add(self, vectors: Floats, ids: Ids, threads: int) -> None: ...

    @abstractmethod
    def replace(self, vectors: Floats, ids: Ids, threads: int) -> None: ...

    @abstractmethod
    def delete(self, ids: Ids) -> None: ...

    @abstractmethod
    def save(self, path: Path) -> None: ...

    @abstractmethod
    def load(self, path: Path, view: bool) -> None: ...


class Usearch(Candidate):
    deletions = "remove(keys): entries marked deleted (compact=False); replace = remove + add"
    view = "Index.restore(path, view=True): memory-mapped, read-only"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        from usearch.index import Index

        self.index = Index(
            ndim=DIM,
            metric="ip",
            dtype="f32",
            connectivity=M,
            expansion_add=EF_CONSTRUCTION,
            expansion_search=64,
        )

    def build(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self.index.add(ids.astype(np.uint64), vectors, threads=threads)

    def _set(self, ef: int) -> None:
        if self.index.expansion_search != ef:
            self.index.expansion_search = ef  # type: ignore[misc]  # (a setter mypy misses)

    def search(self, queries: Floats, threads: int, k: int = K, ef: int | None = None) -> Ids:
        self._set(ef or self.ef)
        matches = self.index.search(queries, k, threads=threads)
        keys = np.full((len(queries), k), -1, dtype=np.int64)
        found = matches.keys.astype(np.int64).reshape(len(queries), -1)
        counts = np.asarray(getattr(matches, "counts", found.shape[1])).reshape(-1)
        keys[:, : found.shape[1]] = found
        keys[np.arange(k)[None, :] >= counts[:, None]] = -1
        return keys

    def search_one(self, query: Floats) -> Ids:
        self._set(self.ef)
        keys = self.index.search(query, K, threads=1).keys.astype(np.int64)
        return np.pad(keys, (0, K - len(keys)), constant_values=-1) if len(keys) < K else keys

    def add(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self.index.add(ids.astype(np.uint64), vectors, threads=threads)

    def replace(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self.index.remove(ids.astype(np.uint64))
        self.index.add(ids.astype(np.uint64), vectors, threads=threads)

    def delete(self, ids: Ids) -> None:
        self.index.remove(ids.astype(np.uint64))

    def save(self, path: Path) -> None:
        self.index.save(str(path))

    def load(self, path: Path, view: bool) -> None:
        from usearch.index import Index

        restored = Index.restore(str(path), view=view)
        if restored is None:
            raise RuntimeError(f"usearch could not restore {path}")
        self.index = restored


class Hnswlib(Candidate):
    native_filter = True
    deletions = "mark_deleted(label) one at a time; replace = add_items on the same labels (updated in place)"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        import hnswlib  # type: ignore[import-untyped]

        self.module = hnswlib
        self.index = hnswlib.Index(space="ip", dim=DIM)
        self.index.init_index(max_elements=capacity, M=M, ef_construction=EF_CONSTRUCTION, random_seed=19)

    def build(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self.index.add_items(vectors, ids, num_threads=threads)

    def search(self, queries: Floats, threads: int, k: int = K, ef: int | None = None) -> Ids:
        self.index.set_ef(max(k, ef or self.ef))
        labels, _ = self.index.knn_query(queries, k=k, num_threads=threads)
        return labels.astype(np.int64)  # type: ignore[no-any-return]

    def search_one(self, query: Floats) -> Ids:
        self.index.set_ef(self.ef)
        labels, _ = self.index.knn_query(query, k=K, num_threads=1)
        return labels[0].astype(np.int64)  # type: ignore[no-any-return]

    def prepare_filter(self, allowed: Mask) -> Any:
        return allowed.tolist().__getitem__  # a plain list lookup: the cheapest Python callback

    def search_one_filtered(self, query: Floats, prepared: Any, fetch: int) -> Ids:
        self.index.set_ef(self.ef)
        labels, _ = self.index.knn_query(query, k=K, num_threads=1, filter=prepared)
        return labels[0].astype(np.int64)  # type: ignore[no-any-return]

    def add(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self.index.add_items(vectors, ids, num_threads=threads)

    def replace(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self.index.add_items(vectors, ids, num_threads=threads)

    def delete(self, ids: Ids) -> None:
        for label in ids.tolist():
            self.index.mark_deleted(label)

    def save(self, path: Path) -> None:
        self.index.save_index(str(path))

    def load(self, path: Path, view: bool) -> None:
        if view:
            raise NotImplementedError("hnswlib has no memory-mapped load")
        self.index = self.module.Index(space="ip", dim=DIM)
        self.index.load_index(str(path), max_elements=self.capacity)
        self.index.set_ef(self.ef)


class Faiss(Candidate):
    """``IndexHNSWFlat`` (inner product). Its ids are sequential row numbers; an array maps them to
    external ids, and a bitmap of live rows stands in for deletion, which HNSW indexes lack."""

    native_filter = True
    deletions = (
        "unsupported (remove_ids raises for IndexHNSWFlat): emulated by adding the new vector as a new "
        "row and excluding dead rows with an IDSelectorBitmap on every search; rebuild to reclaim"
    )
    view = "read_index(path, IO_FLAG_MMAP_IFC | IO_FLAG_READ_ONLY): flat codes and graph memory-mapped"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        import faiss

        self.faiss: Any = faiss
        self.index: Any = faiss.IndexHNSWFlat(DIM, M, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        self.external: Ids = np.empty(0, dtype=np.int64)
        self.live: Mask = np.empty(0, dtype=bool)
        self.row_of: dict[int, int] = {}
        self._live_bits: np.ndarray | None = None
        self._live_selector: Any = None

    def _append(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self.faiss.omp_set_num_threads(threads)
        start = self.index.ntotal
        self.index.add(np.ascontiguousarray(vectors))
        self.external = np.concatenate([self.external, ids])
        self.live = np.concatenate([self.live, np.ones(len(ids), dtype=bool)])
        self.row_of.update(zip(ids.tolist(), range(start, start + len(ids)), strict=True))

    def _selector(self, allowed_rows: Mask) -> tuple[Any, np.ndarray]:
        bits = np.packbits(allowed_rows, bitorder="little")
        return self.faiss.IDSelectorBitmap(len(allowed_rows), self.faiss.swig_ptr(bits)), bits

    def _kill(self, ids: Ids) -> None:
        rows = [self.row_of.pop(i) for i in ids.tolist()]
        self.live[rows] = False
        self._live_selector, self._live_bits = self._selector(self.live)

    def build(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self._append(vectors, ids, threads)

    def _params(self, ef: int, selector: Any = None) -> Any:
        chosen = selector if selector is not None else self._live_selector
        return self.faiss.SearchParametersHNSW(efSearch=ef, sel=chosen)

    def _external(self, rows: np.ndarray) -> Ids:
        return np.where(rows >= 0, self.external[np.maximum(rows, 0)], -1)

    def search(self, queries: Floats, threads: int, k: int = K, ef: int | None = None) -> Ids:
        self.faiss.omp_set_num_threads(threads)
        _, rows = self.index.search(queries, k, params=self._params(max(k, ef or self.ef)))
        return self._external(rows)

    def search_one(self, query: Floats) -> Ids:
        self.faiss.omp_set_num_threads(1)
        _, rows = self.index.search(query[None, :], K, params=self._params(self.ef))
        return self._external(rows[0])

    def prepare_filter(self, allowed: Mask) -> Any:
        return self._selector(allowed[self.external] & self.live)

    def search_one_filtered(self, query: Floats, prepared: Any, fetch: int) -> Ids:
        self.faiss.omp_set_num_threads(1)
        _, rows = self.index.search(query[None, :], K, params=self._params(self.ef, prepared[0]))
        return self._external(rows[0])

    def add(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self._append(vectors, ids, threads)

    def replace(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self._kill(ids)
        self._append(vectors, ids, threads)

    def delete(self, ids: Ids) -> None:
        self._kill(ids)

    def save(self, path: Path) -> None:
        self.faiss.write_index(self.index, str(path))

    def load(self, path: Path, view: bool) -> None:
        flags = self.faiss.IO_FLAG_MMAP_IFC | self.faiss.IO_FLAG_READ_ONLY if view else 0
        self.index = self.faiss.read_index(str(path), flags)
        self.external = np.arange(self.index.ntotal, dtype=np.int64)
        self.live = np.ones(self.index.ntotal, dtype=bool)


class Voyager(Candidate):
    deletions = "mark_deleted(id) one at a time; replace = add_items on the same ids (updated in place)"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        import voyager  # type: ignore[import-untyped]

        self.module = voyager
        self.index = voyager.Index(
            voyager.Space.InnerProduct,
            num_dimensions=DIM,
            M=M,
            ef_construction=EF_CONSTRUCTION,
            random_seed=19,
            max_elements=capacity,
        )

    def build(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self.index.add_items(vectors, ids.tolist(), num_threads=threads)

    def search(self, queries: Floats, threads: int, k: int = K, ef: int | None = None) -> Ids:
        labels, _ = self.index.query(queries, k=k, num_threads=threads, query_ef=max(k, ef or self.ef))
        return labels.astype(np.int64)  # type: ignore[no-any-return]

    def search_one(self, query: Floats) -> Ids:
        labels, _ = self.index.query(query, k=K, num_threads=1, query_ef=self.ef)
        return labels.astype(np.int64)  # type: ignore[no-any-return]

    def add(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self.index.add_items(vectors, ids.tolist(), num_threads=threads)

    def replace(self, vectors: Floats, ids: Ids, threads: int) -> None:
        self.index.add_items(vectors, ids.tolist(), num_threads=threads)

    def delete(self, ids: Ids) -> None:
        for label in ids.tolist():
            self.index.mark_deleted(label)

    def save(self, path: Path) -> None:
        self.index.save(str(path))

    def load(self, path: Path, view: bool) -> None:
        if view:
            raise NotImplementedError("voyager has no memory-mapped load")
        self.index = self.module.Index.load(str(path))


CANDIDATES: dict[str, Callable[[int], Candidate]] = {
    "usearch": Usearch,
    "hnswlib": Hnswlib,
    "faiss": Faiss,
    "voyager": Voyager,
}


# --------------------------------------------------------------------------------------------------
# The child processes


def _memory() -> dict[str, int]:
    """This process's resident memory in bytes: total, private (anonymous), file-backed and the peak
    (``VmHWM``: unlike ``ru_maxrss``, it starts afresh at exec, not at the parent's peak)."""
    fields = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "VmHWM": "peak"}
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in fields:
            out[fields[key]] = int(line.split()[1]) * 1024
    return out


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _arrays(workdir: Path, *names: str) -> list[np.ndarray]:
    return [np.load(workdir / f"{name}.npy") for name in names]


def worker_build(library: str, workdir: Path, threads: int) -> dict[str, Any]:
    vectors, types, queries, truth, filtered_truth = _arrays(
        workdir, "vectors", "types", "queries", "truth", "filtered_truth"
    )
    added, added_ids, replacements, replaced_ids, deleted_ids, truth_after = _arrays(
        workdir, "added", "added_ids", "replacements", "replaced_ids", "deleted_ids", "truth_after"
    )
    n = len(vectors)
    out: dict[str, Any] = {"library": library}
    candidate = CANDIDATES[library](n + len(added) + len(replacements))
    before = _memory()
    out["build_s"] = _timed(lambda: candidate.build(vectors, np.arange(n, dtype=np.int64), threads))
    after = _memory()
    out["build_rss_growth"] = after["rss"] - before["rss"]
    out["build_anon_growth"] = after["anon"] - before["anon"]
    out["build_peak_rss_growth"] = after["peak"] - before["rss"]

    ladder: dict[int, float] = {}
    for ef in EF_LADDER:
        candidate.ef = ef
        ladder[ef] = recall(candidate.search(queries, threads), truth)
        if ladder[ef] >= RECALL_GOAL:
            break
    out["ef_tried"] = ladder
    out["ef"] = candidate.ef
    out["recall"] = ladder[candidate.ef]

    candidate.search(queries, threads)  # warm
    batch = [_timed(lambda: candidate.search(queries, threads)) for _ in range(3)]
    out["batch_qps"] = len(queries) / float(np.median(batch))

    singles = []
    for query in queries[:20]:
        candidate.search_one(query)
    found = np.empty((len(queries), K), dtype=np.int64)
    for i, query in enumerate(queries):
        started = time.perf_counter()
        found[i] = candidate.search_one(query)
        singles.append(time.perf_counter() - started)
    out["single_p50_ms"], out["single_p99_ms"] = percentiles_ms(singles)
    out["single_recall"] = recall(found, truth)

    fetch = math.ceil(2 * K / TYPE_SHARES[FILTER_TYPE])
    prepared = candidate.prepare_filter(types == FILTER_TYPE)
    filtered_times = []
    for i, query in enumerate(queries):
        started = time.perf_counter()
        found[i] = candidate.search_one_filtered(query, prepared, fetch)
        filtered_times.append(time.perf_counter() - started)
    out["filter_how"] = "native" if candidate.native_filter else f"over-fetch {fetch}"
    out["filtered_p50_ms"], out["filtered_p99_ms"] = percentiles_ms(filtered_times)
    out["filtered_recall"] = recall(found, filtered_truth)
    out["filtered_wrong_type"] = int((types[found[found >= 0]] != FILTER_TYPE).sum())

    path = workdir / f"{library}.index"
    out["save_s"] = _timed(lambda: candidate.save(path))
    out["file_bytes"] = path.stat().st_size

    out["add_s"] = _timed(lambda: candidate.add(added, added_ids, threads))
    out["replace_s"] = _timed(lambda: candidate.replace(replacements, replaced_ids, threads))
    out["delete_s"] = _timed(lambda: candidate.delete(deleted_ids))
    out["update_s"] = out["add_s"] + out["replace_s"] + out["delete_s"]
    after_updates = candidate.search(queries, threads)
    out["recall_after_updates"] = recall(after_updates, truth_after)
    out["deleted_returned"] = int(np.isin(after_updates, deleted_ids).sum())
    out["deletions"] = candidate.deletions
    out["view"] = candidate.view or "unsupported"
    return out


def worker_load(library: str, workdir: Path, threads: int, ef: int, view: bool) -> dict[str, Any]:
    queries, truth = _arrays(workdir, "queries", "truth")
    vectors_n = int(np.load(workdir / "vectors.npy", mmap_mode="r").shape[0])
    candidate = CANDIDATES[library](vectors_n + 3 * max(1, int(vectors_n * UPDATE_SHARE)))
    candidate.ef = ef
    before = _memory()
    try:
        load_s = _timed(lambda: candidate.load(workdir / f"{library}.index", view))
    except NotImplementedError as e:
        return {"supported": False, "why": str(e)}
    loaded = _memory()
    found = candidate.search(queries, threads)
    queried = _memory()
    return {
        "supported": True,
        "load_s": load_s,
        "rss_growth": loaded["rss"] - before["rss"],
        "anon_growth": loaded["anon"] - before["anon"],
        "rss_growth_after_queries": queried["rss"] - before["rss"],
        "anon_growth_after_queries": queried["anon"] - before["anon"],
        "recall": recall(found, truth),
    }


def _child(args: list[str], workdir: Path, name: str) -> dict[str, Any]:
    """Run this module as a child process; its JSON result, or the way it failed."""
    out = workdir / f"{name}.json"
    command = [sys.executable, "-m", "bench.compare_vector_libraries", *args, "--out", str(out)]
    proc = subprocess.run(command, cwd=REPO_ROOT, env=child_env(REPO_ROOT), capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    return json.loads(out.read_text())  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# The run


def _version(library: str) -> str:
    try:
        return importlib.metadata.version(PACKAGES[library])
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def baseline(workdir: Path, data: dict[str, np.ndarray], threads: int) -> dict[str, Any]:
    vectors, queries, types = data["vectors"], data["queries"], data["types"]
    out: dict[str, Any] = {}
    with threadpool_limits(limits=threads):
        started = time.perf_counter()
        truth = exact_top_k(queries, vectors)
        out["batch_qps"] = len(queries) / (time.perf_counter() - started)
        allowed = np.flatnonzero(types == FILTER_TYPE)
        filtered_truth = allowed[exact_top_k(queries, vectors[allowed])]
        final = np.concatenate([vectors, data["added"]])
        final[data["replaced_ids"]] = data["replacements"]
        excluded = np.zeros(len(final), dtype=bool)
        excluded[data["deleted_ids"]] = True
        truth_after = exact_top_k(queries, final, excluded)
        del final
    for name, array in (("truth", truth), ("filtered_truth", filtered_truth), ("truth_after", truth_after)):
        np.save(workdir / f"{name}.npy", array)
    sample = queries[:EXACT_SINGLE_QUERIES]
    out["single_p50_ms"], out["single_p99_ms"] = percentiles_ms(exact_single_latencies(sample, vectors))
    subset = vectors[allowed]
    out["filtered_p50_ms"], out["filtered_p99_ms"] = percentiles_ms(exact_single_latencies(sample, subset))
    out["raw_bytes"] = int(vectors.nbytes)
    out["npy_load_s"] = _timed(lambda: np.load(workdir / "vectors.npy"))
    out["npy_mmap_s"] = _timed(lambda: np.load(workdir / "vectors.npy", mmap_mode="r"))
    return out


def rows_for(
    library: str, r: dict[str, Any], base: dict[str, Any], n: int, fastest_build: float
) -> list[Row]:
    if "error" in r:
        return []
    mb = 1024 * 1024
    raw = f"raw float32 vectors ({base['raw_bytes'] / mb:,.0f} MiB)"
    rows = [
        higher_is_better(
            f"{library} recall@10 (ef {r['ef']})", "recall", r["recall"], 1.0, EXACT, RECALL_GOAL
        ),
        lower_is_better(
            f"{library} single query p50",
            "ms",
            r["single_p50_ms"],
            base["single_p50_ms"],
            EXACT + ", 1 thread",
        ),
        lower_is_better(
            f"{library} single query p99",
            "ms",
            r["single_p99_ms"],
            base["single_p99_ms"],
            EXACT + ", 1 thread",
        ),
        higher_is_better(f"{library} batch QPS", "queries/s", r["batch_qps"], base["batch_qps"], EXACT),
        lower_is_better(
            f"{library} build, {n:,} vectors",
            "s",
            r["build_s"],
            fastest_build,
            "fastest build of the candidates",
        ),
        lower_is_better(
            f"{library} RSS growth of the build",
            "MiB",
            r["build_rss_growth"] / mb,
            base["raw_bytes"] / mb,
            raw,
        ),
        lower_is_better(f"{library} file on disk", "MiB", r["file_bytes"] / mb, base["raw_bytes"] / mb, raw),
        lower_is_better(
            f"{library} update +1%, 1% replaced, 1% deleted",
            "s",
            r["update_s"],
            r["build_s"],
            "the same library's full build",
            0.1,
        ),
        higher_is_better(
            f"{library} recall@10 after the updates",
            "recall",
            r["recall_after_updates"],
            1.0,
            EXACT,
            RECALL_GOAL,
        ),
        higher_is_better(
            f"{library} filtered recall@10 ({r['filter_how']})", "recall", r["filtered_recall"], 1.0, EXACT
        ),
        lower_is_better(
            f"{library} filtered single query p50",
            "ms",
            r["filtered_p50_ms"],
            base["filtered_p50_ms"],
            EXACT + " over the allowed rows only, 1 thread",
        ),
    ]
    for mode, key in (("load", "load_normal"), ("mmap view", "load_view")):
        loaded = r.get(key, {})
        if loaded.get("supported"):
            baseline_s = base["npy_load_s"] if mode == "load" else base["npy_mmap_s"]
            rows.append(
                lower_is_better(
                    f"{library} {mode} (page cache)",
                    "s",
                    loaded["load_s"],
                    baseline_s,
                    "np.load of the raw vectors" + (" (mmap_mode='r')" if mode != "load" else ""),
                )
            )
            rows.append(
                lower_is_better(
                    f"{library} {mode}: private RSS after queries",
                    "MiB",
                    loaded["anon_growth_after_queries"] / mb,
                    base["raw_bytes"] / mb,
                    raw,
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vectors", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--results-name", default="vector_libraries")
    parser.add_argument(
        "--workdir", type=Path, help="where the vectors and indexes go (default: a temporary folder)"
    )
    parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--load", choices=("normal", "view"), help=argparse.SUPPRESS)
    parser.add_argument("--ef", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        if args.load:
            result = worker_load(args.worker, args.workdir, args.threads, args.ef, args.load == "view")
        else:
            result = worker_build(args.worker, args.workdir, args.threads)
        args.out.write_text(json.dumps(result))
        return

    libraries = [name.strip() for name in args.libraries.split(",") if name.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-vectors-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        data = generate(workdir, args.vectors, args.queries)
        took = time.perf_counter() - started
        print(f"{args.vectors:,} vectors, {args.queries:,} queries generated in {took:.1f}s")
        base = baseline(workdir, data, args.threads)
        del data
        print(
            f"exact: batch {base['batch_qps']:,.0f} q/s ({args.threads} threads), single query p50 "
            f"{base['single_p50_ms']:.2f} ms, p99 {base['single_p99_ms']:.2f} ms (1 thread)"
        )
        results: dict[str, dict[str, Any]] = {}
        common = ["--workdir", str(workdir), "--threads", str(args.threads)]
        for library in libraries:
            started = time.perf_counter()
            stamp = time.strftime("%H:%M:%S", time.gmtime())
            r = _child(["--worker", library, *common], workdir, library)
            if "error" not in r:
                for mode in ("normal", "view"):
                    extra = ["--load", mode, "--ef", str(r["ef"])]
                    r[f"load_{mode}"] = _child(
                        ["--worker", library, *common, *extra], workdir, f"{library}-{mode}"
                    )
            r["version"] = _version(library)
            r["ran"] = f"{stamp}-{time.strftime('%H:%M:%S', time.gmtime())} UTC"
            results[library] = r
            print(f"{library} {r['version']}: {time.perf_counter() - started:.0f}s", r.get("error", ""))
            (workdir / f"{library}.index").unlink(missing_ok=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    builds = [r["build_s"] for r in results.values() if "build_s" in r]
    rows = [
        row
        for library, r in results.items()
        for row in rows_for(library, r, base, args.vectors, min(builds) if builds else math.nan)
    ]
    print_table(f"ANN libraries, {args.vectors:,} x {DIM} unit vectors, {args.threads} threads", rows)
    details = {
        "vectors": args.vectors,
        "queries": args.queries,
        "threads": args.threads,
        "dim": DIM,
        "k": K,
        "data": f"{CENTRES} gaussian centres, per-cluster spread {SPREAD}, type shares {TYPE_SHARES}",
        "hnsw": {
            "M": M,
            "ef_construction": EF_CONSTRUCTION,
            "ef_ladder": EF_LADDER,
            "recall_goal": RECALL_GOAL,
        },
        "filter": f"content type {FILTER_TYPE} only ({TYPE_SHARES[FILTER_TYPE]:.0%} of items)",
        "exact": base,
        "libraries": results,
    }
    print(f"results: {write_results(args.results_name, rows, details)}")


if __name__ == "__main__":
    main()
