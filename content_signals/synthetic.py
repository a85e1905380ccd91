"""A deterministic synthetic catalogue for demos, tests and scale runs.

The same seed and flags always give byte-identical values. Every random stream is seeded from
``(seed, stream, index)``, so the events of one day do not depend on how many days were generated
before them, and days are generated and written one chunk at a time to bound memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from content_signals.layout import DataLayout

CONTENT_TYPES = np.array(["track", "episode", "audiobook"])
_CONTENT_TYPE_SHARES = np.array([0.75, 0.2, 0.05])
# Typical playback length per content type, in seconds (log-normal median).
_MEDIAN_DURATION_S = np.array([210.0, 2400.0, 30000.0])
_LANGUAGES = np.array(["en", "es", "pt", "de", "fr", "sv"])

_WORD_TEXT = """
love night city dream fire rain heart summer road light gold wild blue river story song
echo shadow ocean storm dance home ghost star time world voice silent broken morning
electric paper midnight desert lonely neon sugar thunder velvet winter forest signal
history science money health comedy crime football politics chapter mystery kingdom
journey secret letters empire garden machine
"""
_WORDS = np.array(_WORD_TEXT.split())

_STREAM_CONTENT = 1
_STREAM_CREATORS = 2
_STREAM_EVENTS = 3

CONTENT_SCHEMA = pa.schema(
    [
        ("content_id", pa.string()),
        ("content_type", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("creator_id", pa.string()),
        ("duration_ms", pa.int64()),
        ("explicit", pa.bool_()),
        ("release_date", pa.date32()),
        ("language", pa.string()),
    ]
)
CREATOR_SCHEMA = pa.schema([("creator_id", pa.string()), ("name", pa.string()), ("joined_date", pa.date32())])
EVENT_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("content_id", pa.string()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("ms_played", pa.int64()),
    ]
)

_EVENT_CHUNK_ROWS = 1_000_000


@dataclass(frozen=True)
class GenerationSpec:
    items: int = 2_000
    creators: int = 200
    days: int = 14
    events_per_day: int = 20_000
    users: int = 5_000
    start_date: date = date(2026, 1, 1)
    seed: int = 7

    def __post_init__(self) -> None:
        for name in ("items", "creators", "days", "events_per_day", "users"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @property
    def dates(self) -> list[date]:
        return [self.start_date + timedelta(days=i) for i in range(self.days)]


def _rng(spec: GenerationSpec, stream: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng([spec.seed, stream, index])


def _ids(prefix: str, count: int) -> np.ndarray:
    width = max(6, len(str(count)))
    return np.char.add(prefix, np.char.zfill(np.arange(count).astype(str), width))


def _phrases(rng: np.random.Generator, count: int, min_words: int, max_words: int) -> list[str]:
    lengths = rng.integers(min_words, max_words + 1, size=count)
    words = rng.choice(_WORDS, size=(count, max_words))
    return [" ".join(row[:n]) for row, n in zip(words, lengths, strict=True)]


def generate_creators(spec: GenerationSpec) -> pa.Table:
    rng = _rng(spec, _STREAM_CREATORS)
    ids = _ids("cr", spec.creators)
    names = [phrase.title() for phrase in _phrases(rng, spec.creators, 1, 3)]
    joined = np.datetime64(spec.start_date) - rng.integers(1, 3650, size=spec.creators)
    return pa.table(
        {"creator_id": ids, "name": names, "joined_date": joined.astype("datetime64[D]")},
        schema=CREATOR_SCHEMA,
    )


def generate_content(spec: GenerationSpec) -> pa.Table:
    """Catalogue items. Creators get power-law catalogue sizes; some metadata is missing."""
    rng = _rng(spec, _STREAM_CONTENT)
    n = spec.items
    type_index = rng.choice(len(CONTENT_TYPES), size=n, p=_CONTENT_TYPE_SHARES)
    creator_weights = 1.0 / np.arange(1, spec.creators + 1) ** 1.1
    creator_index = rng.choice(spec.creators, size=n, p=creator_weights / creator_weights.sum())

    titles = np.array(_phrases(rng, n, 1, 6), dtype=object)
    titles = np.where(rng.random(n) < 0.3, np.char.title(titles.astype(str)), titles)
    title_missing = rng.random(n) < 0.01
    descriptions = np.array(_phrases(rng, n, 5, 40), dtype=object)
    description_missing = rng.random(n) < np.where(type_index == 0, 0.35, 0.05)

    duration_s = _MEDIAN_DURATION_S[type_index] * np.exp(rng.normal(0.0, 0.35, size=n))
    duration_missing = rng.random(n) < 0.02
    explicit = rng.random(n) < 0.12
    explicit_missing = rng.random(n) < 0.03
    release = np.datetime64(spec.start_date) - rng.integers(0, 3650, size=n)
    # A few items are announced with a release date after the data starts.
    release = np.where(rng.random(n) < 0.01, release + 4000, release)
    release_missing = rng.random(n) < 0.04
    language_missing = rng.random(n) < 0.1

    return pa.table(
        {
            "content_id": _ids("c", n),
            "content_type": CONTENT_TYPES[type_index],
            "title": pa.array(titles.tolist(), mask=title_missing, type=pa.string()),
            "description": pa.array(descriptions.tolist(), mask=description_missing, type=pa.string()),
            "creator_id": _ids("cr", spec.creators)[creator_index],
            "duration_ms": pa.array(
                (duration_s * 1000).astype(np.int64), mask=duration_missing, type=pa.int64()
            ),
            "explicit": pa.array(explicit, mask=explicit_missing, type=pa.bool_()),
            "release_date": pa.array(release.astype("datetime64[D]"), mask=release_missing, type=pa.date32()),
            "language": pa.array(
                rng.choice(_LANGUAGES, size=n).tolist(), mask=language_missing, type=pa.string()
            ),
        },
        schema=CONTENT_SCHEMA,
    )


def _popularity(spec: GenerationSpec) -> np.ndarray:
    """Zipf-like play probabilities over items, shuffled so popularity is not ordered by id."""
    rng = _rng(spec, _STREAM_CONTENT, 1)
    weights = 1.0 / np.arange(1, spec.items + 1) ** 0.9
    rng.shuffle(weights)
    return weights / weights.sum()


def generate_event_chunks(
    spec: GenerationSpec, day_index: int, durations_ms: np.ndarray, popularity: np.ndarray
) -> list[pa.Table]:
    """One UTC day of listening events, in chunks of at most one million rows."""
    day_start = np.datetime64(datetime.combine(spec.dates[day_index], datetime.min.time()), "us")
    chunks = []
    remaining, chunk_index = spec.events_per_day, 0
    while remaining > 0:
        rows = min(remaining, _EVENT_CHUNK_ROWS)
        rng = _rng(spec, _STREAM_EVENTS, day_index * 10_000 + chunk_index)
        items = rng.choice(spec.items, size=rows, p=popularity)
        offsets = np.sort(rng.integers(0, 86_400_000_000, size=rows))
        length = durations_ms[items]
        skipped = rng.random(rows) < 0.25
        fraction = np.where(skipped, rng.uniform(0.0, 0.1, rows), rng.uniform(0.5, 1.0, rows))
        played = np.minimum((length * fraction).astype(np.int64), length)
        chunks.append(
            pa.table(
                {
                    "user_id": _ids("u", spec.users)[rng.integers(0, spec.users, size=rows)],
                    "content_id": _ids("c", spec.items)[items],
                    "event_timestamp": pa.array(day_start + offsets, type=pa.timestamp("us", tz="UTC")),
                    "ms_played": played,
                },
                schema=EVENT_SCHEMA,
            )
        )
        remaining -= rows
        chunk_index += 1
    return chunks


def _write_atomically(table_or_chunks: pa.Table | list[pa.Table], path: Path) -> None:
    """Write Parquet to a temporary name and rename it, so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    chunks = table_or_chunks if isinstance(table_or_chunks, list) else [table_or_chunks]
    with pq.ParquetWriter(tmp, chunks[0].schema) as writer:
        for chunk in chunks:
            writer.write_table(chunk)
    tmp.replace(path)


def write_catalogue(
    spec: GenerationSpec,
    layout: DataLayout,
    progress: Callable[[str], None] = lambda _line: None,
) -> dict[str, int]:
    """Generate and write creators, content and every day of events. Returns row counts."""
    started = time.perf_counter()
    creators = generate_creators(spec)
    _write_atomically(creators, layout.creators_path)
    content = generate_content(spec)
    _write_atomically(content, layout.content_path)
    progress(f"catalogue: {content.num_rows:,} items, {creators.num_rows:,} creators")

    durations = content.column("duration_ms").fill_null(180_000).to_numpy()
    popularity = _popularity(spec)
    for index, day in enumerate(spec.dates):
        chunks = generate_event_chunks(spec, index, durations, popularity)
        _write_atomically(chunks, layout.events_partition(day) / "part-00000.parquet")
        elapsed = time.perf_counter() - started
        progress(
            f"events {day.isoformat()}: {spec.events_per_day:,} rows "
            f"({index + 1}/{spec.days} days, {elapsed:.1f}s)"
        )
    return {
        "items": content.num_rows,
        "creators": creators.num_rows,
        "events": spec.events_per_day * spec.days,
    }


def day_start_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
