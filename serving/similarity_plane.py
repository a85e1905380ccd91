"""SimilarContent, independent of any transport, as :mod:`content_signals.serving.data_plane` is for
GetOnlineFeatures: the items most similar to an indexed item or to request-time text.

The index is the newest version of the ``content_embedding`` vector index
(:mod:`content_signals.similarity.index`), opened memory-mapped by :class:`IndexCache`, which looks
for a newer version every ``similarity.refresh_seconds`` on a background thread and swaps one
reference: a request reads :attr:`IndexCache.current` once and finishes on that object, whatever
happens meanwhile. Views are read-only here: nothing on the serving side ever calls ``add`` or
``remove`` on an index (``remove`` on a view crashes usearch 2.26.6).

Request-time text is embedded by a :class:`QueryEncoder` (Ray Serve: a handle to the batched text
encoder deployment; in-process: the shared :class:`~content_signals.models.text_encoder.TextEncoder`),
and refused with :class:`Unavailable` when the encoder's weights digest is not the one the index
was built with: the vectors would not be comparable, and it is the deployment, not the caller,
that must change. ``exclude_same_creator`` on a text query without ``creator_id`` leaves nothing
out (there is no creator to compare with); ``creator_id`` on a content-id query is ignored (the
indexed item's own creator is used).

``exclude_blocked`` reads ``content_safety:safety_decision`` of the candidates through the
:class:`FeatureDataPlane` (the same online read GetOnlineFeatures makes, TTL included) and drops
``block``; it over-fetches and searches again, excluding what it found blocked, while too few
remain.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from content_signals.definitions import Decision
from content_signals.layout import DataLayout
from content_signals.serving.auth import Authorizer
from content_signals.serving.data_plane import FeatureDataPlane, FeatureRequest
from content_signals.serving.decoding import PRESENT
from content_signals.serving.errors import InvalidRequest, NotFound, PermissionDenied, Unavailable
from content_signals.serving.refresh import RefreshLoop
from content_signals.similarity.index import (
    IndexManifest,
    Neighbours,
    SearchFilters,
    VectorIndex,
    newest_index,
)
from content_signals.text import normalise_text

if TYPE_CHECKING:
    from content_signals.models.text_encoder import TextEncoder

logger = logging.getLogger("content_signals.serving")

# The vector table the index is built from, and the feature service that serves its vectors: a team
# may search the index iff it may read the embeddings.
INDEX_TABLE = "content_embedding"
SIMILARITY_SERVICE = "similarity_v1"
SAFETY_DECISION_REF = "content_safety:safety_decision"
DEFAULT_K = 10
MAX_ID_CHARS = 256
MAX_TEXT_CHARS = 10_000
# exclude_blocked: searches per request at most (each excludes what the previous found blocked).
MAX_BLOCKED_ROUNDS = 4


class QueryEncoder(Protocol):
    """Embeds request-time text as the index's vectors were embedded."""

    # The encoder's weights digest (``EncoderInfo.weights_sha256``): an index built with another
    # one is not comparable.
    @property
    def digest(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


class LocalQueryEncoder:
    """A :class:`~content_signals.models.text_encoder.TextEncoder` in this process, run off the
    event loop, one ``encode`` at a time (the encoder is not safe for concurrent calls)."""

    def __init__(self, encoder: TextEncoder) -> None:
        self._encoder = encoder
        self._lock = threading.Lock()

    @property
    def digest(self) -> str:
        return self._encoder.info.weights_sha256

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self._encoder.encode(texts)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return await asyncio.to_thread(self._encode, list(texts))


class IndexCache:
    """The newest version of a table's vector index, opened memory-mapped, refreshed in the
    background every ``refresh_seconds``. ``current`` is None until a version exists."""

    def __init__(
        self,
        layout: DataLayout,
        refresh_seconds: float,
        table: str = INDEX_TABLE,
        opener: Callable[[Path], VectorIndex] | None = None,
        expansion_search: int | None = None,
    ) -> None:
        self.layout = layout
        self.table = table
        # Memory-mapped (shared pages, never mutated), searched as broadly as the config says.
        self._open = opener or (
            lambda folder: VectorIndex(folder, view=True, expansion_search=expansion_search)
        )
        self._index: VectorIndex | None = None
        self._day: date | None = None
        self._loop = RefreshLoop(self.refresh, refresh_seconds, "vector-index-refresh")
        self.swaps = 0
        self.last_error: str | None = None
        self.refresh()  # the first open happens before serving starts, never on a request

    @property
    def current(self) -> VectorIndex | None:
        return self._index

    def refresh(self) -> bool:
        """Open the newest version if it is not the one served; True when it swapped one in.

        Never goes back to an older date (a version of the served date being replaced is briefly
        absent while the newer folder moves into place), and on any failure keeps serving the
        current version.
        """
        try:
            folder = newest_index(self.layout, self.table)
            if folder is None:
                return False
            day = date.fromisoformat(folder.name.removeprefix("date="))
            current = self._index
            if current is not None and self._day is not None:
                if day < self._day:
                    return False
                if day == self._day and IndexManifest.read(folder).version == current.version:
                    return False
            index = self._open(folder)
        except Exception as exc:  # a version being replaced or half-deleted: try again next time
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("vector index refresh failed, serving the previous one: %s", self.last_error)
            return False
        # One reference assignment: a request sees the old index or the new one, never half. The
        # old object stays alive (and its file mapped) until the last request holding it finishes.
        self._index, self._day = index, day
        self.swaps += 1
        self.last_error = None
        logger.info("vector index %s %s: %d items", self.table, index.version, len(index))
        return True

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()


@dataclass(frozen=True)
class SimilarRequest:
    # Set exactly one of content_id and text.
    content_id: str = ""
    text: str = ""
    # 0: DEFAULT_K.
    k: int = 0
    content_types: Sequence[str] = ()
    exclude_same_creator: bool = False
    exclude_blocked: bool = False
    min_similarity: float | None = None
    # Text queries: the uploader, for exclude_same_creator.
    creator_id: str = ""


@dataclass(frozen=True)
class SimilarItem:
    content_id: str
    similarity: float
    content_type: str
    creator_id: str


@dataclass(frozen=True)
class SimilarResult:
    items: list[SimilarItem]
    index_version: str
    # Empty for a text query.
    query_content_id: str


class SimilarityPlane:
    """Answers SimilarContent from the cached index; raises :mod:`content_signals.serving.errors`."""

    def __init__(
        self,
        cache: IndexCache,
        data_plane: FeatureDataPlane,
        authorizer: Authorizer,
        max_k: int,
        encoder: QueryEncoder | None = None,
    ) -> None:
        self.cache = cache
        self.data_plane = data_plane
        self.authorizer = authorizer
        self.max_k = max_k
        self.encoder = encoder

    def validate(self, request: SimilarRequest) -> int:
        """The request's k, after checking every field; raises InvalidRequest."""
        by_id, by_text = bool(request.content_id), bool(request.text.strip())
        if by_id == by_text:
            raise InvalidRequest("set exactly one of content_id and text")
        if len(request.content_id) > MAX_ID_CHARS:
            raise InvalidRequest(
                f"content id too long: {len(request.content_id)} characters (at most {MAX_ID_CHARS})"
            )
        if len(request.text) > MAX_TEXT_CHARS:
            raise InvalidRequest(f"text too long: {len(request.text)} characters (at most {MAX_TEXT_CHARS})")
        if request.k < 0 or request.k > self.max_k:
            raise InvalidRequest(
                f"k must be between 1 and {self.max_k} (0 means {DEFAULT_K}), got {request.k}"
            )
        if request.min_similarity is not None and not (
            math.isfinite(request.min_similarity) and -1.0 <= request.min_similarity <= 1.0
        ):
            raise InvalidRequest(f"min_similarity must be between -1 and 1, got {request.min_similarity}")
        if any(not t for t in request.content_types):
            raise InvalidRequest("content_types must not contain empty strings")
        return request.k or min(DEFAULT_K, self.max_k)

    async def similar(self, request: SimilarRequest, team: str | None) -> SimilarResult:
        k = self.validate(request)
        if not self.authorizer.may_read(team, SIMILARITY_SERVICE):
            raise PermissionDenied(
                f"team {team!r} may not call SimilarContent (it needs feature service {SIMILARITY_SERVICE!r})"
            )
        index = self.cache.current  # this request's index, whatever a refresh swaps in meanwhile
        if index is None:
            raise Unavailable(f"no {self.cache.table} vector index has been built yet")
        excluded: set[str] = set()
        creator = request.creator_id
        if request.content_id:
            stored = index.vector(request.content_id)
            if stored is None:
                raise NotFound(f"content id {request.content_id!r} is not in vector index {index.version}")
            vector = stored
            creator = index.creator_id(request.content_id) or ""
            excluded.add(request.content_id)
        else:
            vector = await self._embed(request.text, index.manifest)
        filters = SearchFilters(
            content_types=frozenset(request.content_types),
            exclude_creator_ids=frozenset([creator] if request.exclude_same_creator and creator else []),
            exclude_content_ids=frozenset(excluded),
            min_similarity=-1.0 if request.min_similarity is None else request.min_similarity,
        )
        items = await self._search(index, vector, k, filters, request.exclude_blocked)
        return SimilarResult(items, index.version, request.content_id)

    async def _embed(self, text: str, manifest: IndexManifest) -> np.ndarray:
        if self.encoder is None:
            raise Unavailable("this server has no text encoder: query by content_id")
        if self.encoder.digest != manifest.encoder_digest:
            raise Unavailable(
                f"the server's text encoder (weights {self.encoder.digest}) is not the one vector index "
                f"{manifest.version} was built with ({manifest.encoder_digest}): query by content_id"
            )
        # Normalised as the content_embedding job normalises an item's text before encoding it.
        vectors = np.asarray(await self.encoder.embed([normalise_text(text)]), dtype=np.float32)
        if vectors.shape != (1, manifest.dimension):
            raise Unavailable(
                f"the text encoder returned vectors of shape {vectors.shape}, "
                f"the index has {manifest.dimension} dimensions"
            )
        return vectors[0]

    async def _search(
        self, index: VectorIndex, vector: np.ndarray, k: int, filters: SearchFilters, exclude_blocked: bool
    ) -> list[SimilarItem]:
        if not exclude_blocked:
            return _items(index.search(vector, k, filters), k)
        # A few blocked items cost no second search; each further search excludes the blocked ones
        # found so far and asks for twice as many.
        fetch = k + max(2, k // 4)
        blocked: set[str] = set()
        items: list[SimilarItem] = []
        for _ in range(MAX_BLOCKED_ROUNDS):
            round_filters = SearchFilters(
                content_types=filters.content_types,
                exclude_creator_ids=filters.exclude_creator_ids,
                exclude_content_ids=filters.exclude_content_ids | blocked,
                min_similarity=filters.min_similarity,
            )
            found = index.search(vector, fetch, round_filters)
            blocked |= await self._blocked(found.content_ids)
            items = [item for item in _items(found, len(found)) if item.content_id not in blocked]
            if len(items) >= k or len(found) < fetch:  # enough, or nothing more passes the filters
                break
            fetch *= 2
        return items[:k]

    async def _blocked(self, content_ids: list[str]) -> set[str]:
        """Which of ``content_ids`` the online store's latest safety decision blocks."""
        blocked: set[str] = set()
        step = self.data_plane.max_entities
        for start in range(0, len(content_ids), step):
            chunk = content_ids[start : start + step]
            try:
                result = await self.data_plane.read(
                    FeatureRequest(content_ids=chunk, feature_refs=[SAFETY_DECISION_REF])
                )
            except NotFound as exc:  # a deployment that serves no safety decisions
                raise Unavailable(
                    f"exclude_blocked needs {SAFETY_DECISION_REF}, which is not served: {exc}"
                ) from exc
            column = result.column(SAFETY_DECISION_REF)
            blocked.update(
                cid
                for cid, value, status in zip(chunk, column.values, column.statuses, strict=True)
                if status == PRESENT and value == Decision.BLOCK.label
            )
        return blocked


def _items(found: Neighbours, k: int) -> list[SimilarItem]:
    return [
        SimilarItem(cid, float(similarity), content_type, creator)
        for cid, similarity, content_type, creator in zip(
            found.content_ids[:k],
            found.similarities[:k],
            found.content_types[:k],
            found.creator_ids[:k],
            strict=True,
        )
    ]
