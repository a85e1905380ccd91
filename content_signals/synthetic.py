"""A deterministic synthetic catalogue for demos, tests and scale runs.

The same seed and flags always give byte-identical values. Every random stream is seeded from
``(seed, stream, index)``, so the events of one day do not depend on how many days were generated
before them, and days are generated and written one chunk at a time to bound memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from content_signals.layout import DataLayout
from content_signals.raw_tables import (
    AUDIO_COLUMNS,
    CONTENT_COLUMNS,
    CREATOR_COLUMNS,
    EVENT_COLUMNS,
    arrow_schema,
)
from content_signals.text import offensive_lexicon

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
_STREAM_SPAM = 4
_STREAM_OFFENSIVE = 5
_STREAM_AUDIO = 6
_STREAM_DECORATION = 7
_SPAM_WORDS = np.array(
    ["free", "beats", "lofi", "study", "sleep", "relax", "rain", "music", "instrumental", "chill",
     "hits", "viral", "remix", "2026", "best"]
)  # fmt: skip

CONTENT_SCHEMA = arrow_schema(CONTENT_COLUMNS)
AUDIO_SCHEMA = arrow_schema(AUDIO_COLUMNS)
CREATOR_SCHEMA = arrow_schema(CREATOR_COLUMNS)
EVENT_SCHEMA = arrow_schema(EVENT_COLUMNS)

_EVENT_CHUNK_ROWS = 1_000_000
# Spark reads a Parquet file one row group per task: several groups let every core work.
_ROW_GROUP_ROWS = 100_000


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


_PHRASE_CHUNK = 50_000


def _phrases(rng: np.random.Generator, count: int, min_words: int, max_words: int) -> list[str]:
    """``count`` random phrases, built in chunks so memory stays flat at catalogue scale."""
    lengths = rng.integers(min_words, max_words + 1, size=count)
    phrases: list[str] = []
    vocabulary = _WORDS.tolist()
    for start in range(0, count, _PHRASE_CHUNK):
        chunk = lengths[start : start + _PHRASE_CHUNK]
        indices = rng.integers(0, len(vocabulary), size=int(chunk.sum()))
        offsets = np.concatenate([[0], np.cumsum(chunk)])
        words = [vocabulary[i] for i in indices]
        phrases += [" ".join(words[offsets[i] : offsets[i + 1]]) for i in range(len(chunk))]
    return phrases


def generate_creators(spec: GenerationSpec) -> pa.Table:
    rng = _rng(spec, _STREAM_CREATORS)
    ids = _ids("cr", spec.creators)
    names = [phrase.title() for phrase in _phrases(rng, spec.creators, 1, 3)]
    joined = np.datetime64(spec.start_date) - rng.integers(1, 3650, size=spec.creators)
    return pa.table(
        {"creator_id": ids, "name": names, "joined_date": joined.astype("datetime64[D]")},
        schema=CREATOR_SCHEMA,
    )


def _insert_terms(
    rng: np.random.Generator, texts: np.ndarray, share: float, terms: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Put one lexicon term at a random word position in ``share`` of the texts.

    Returns the texts and a mask of the ones that now contain a term.
    """
    hit = rng.random(len(texts)) < share
    chosen = np.flatnonzero(hit)
    picks = rng.choice(terms, size=len(chosen))
    positions = rng.random(len(chosen))
    for index, term, position in zip(chosen, picks, positions, strict=True):
        words = str(texts[index]).split(" ")
        words.insert(int(position * (len(words) + 1)), str(term))
        texts[index] = " ".join(words)
    return texts, hit


def _spam_plan(
    spec: GenerationSpec,
) -> tuple[np.random.Generator, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """The spam stream, the spam creators (indices) and, when spam is planted (some spam creator
    and at least 50 items), the spam items (indices) with their owners; the stream continues with
    the spam texts and burst days in :func:`generate_content`."""
    spam_rng = _rng(spec, _STREAM_SPAM)
    spam_creators = np.flatnonzero(spam_rng.random(spec.creators) < 0.02)
    if not (len(spam_creators) and spec.items >= 50):
        return spam_rng, spam_creators, None
    spam_items = np.flatnonzero(spam_rng.random(spec.items) < 0.03)
    return spam_rng, spam_creators, (spam_items, spam_rng.choice(spam_creators, size=len(spam_items)))


@dataclass(frozen=True)
class SpamTruth:
    """What the generator planted as spam: the burst uploads of lookalike items and their creators."""

    # Every spam item, and its (spam) creator, aligned.
    content_ids: tuple[str, ...]
    creator_ids: tuple[str, ...]

    @property
    def spam_creators(self) -> frozenset[str]:
        """The spam creators that uploaded at least one spam item."""
        return frozenset(self.creator_ids)


def spam_truth(spec: GenerationSpec) -> SpamTruth:
    """The spam items and creators :func:`generate_content` plants for ``spec`` (without generating
    the catalogue): the known truth near-duplicate and burst signals are evaluated against."""
    _stream, _creators, planted = _spam_plan(spec)
    if planted is None:
        return SpamTruth((), ())
    items, owners = planted
    return SpamTruth(
        tuple(_ids("c", spec.items)[items].tolist()), tuple(_ids("cr", spec.creators)[owners].tolist())
    )


def generate_content(spec: GenerationSpec) -> pa.Table:
    """Catalogue items, with the messiness of a real catalogue.

    Creators get power-law catalogue sizes; episodes and audiobooks carry long descriptions;
    metadata is missing at realistic rates; a few spam creators upload bursts of near-identical,
    all-caps, keyword-stuffed items; some titles and descriptions contain offensive terms; and the
    explicit flag is sometimes wrong.
    """
    rng = _rng(spec, _STREAM_CONTENT)
    n = spec.items
    type_index = rng.choice(len(CONTENT_TYPES), size=n, p=_CONTENT_TYPE_SHARES)
    creator_weights = 1.0 / np.arange(1, spec.creators + 1) ** 1.1
    creator_index = rng.choice(spec.creators, size=n, p=creator_weights / creator_weights.sum())

    titles = np.array(_phrases(rng, n, 1, 6), dtype=object)
    title_case = np.flatnonzero(rng.random(n) < 0.3)
    titles[title_case] = [str(t).title() for t in titles[title_case]]
    title_missing = rng.random(n) < 0.01
    long_form = type_index > 0
    descriptions = np.empty(n, dtype=object)
    descriptions[long_form] = _phrases(rng, int(long_form.sum()), 30, 120)
    descriptions[~long_form] = _phrases(rng, int((~long_form).sum()), 5, 25)
    description_missing = rng.random(n) < np.where(long_form, 0.05, 0.35)

    duration_s = _MEDIAN_DURATION_S[type_index] * np.exp(rng.normal(0.0, 0.35, size=n))
    duration_missing = rng.random(n) < 0.02
    release = np.datetime64(spec.start_date) - rng.integers(0, 3650, size=n)
    # A few items are announced with a release date after the data starts.
    release = np.where(rng.random(n) < 0.01, release + 4000, release)
    release_missing = rng.random(n) < 0.04
    language_missing = rng.random(n) < 0.1

    # Spam: about 2% of creators, owning about 3% of items, uploaded in bursts of lookalikes.
    spam_rng, spam_creators, planted = _spam_plan(spec)
    if planted is not None:
        spam_items, owners = planted
        creator_index[spam_items] = owners
        base = {c: " ".join(spam_rng.choice(_SPAM_WORDS, size=3)).upper() for c in spam_creators}
        for number, item in enumerate(spam_items, start=1):
            owner = creator_index[item]
            titles[item] = f"{base[owner]} {base[owner].split()[0]} #{number % 50}"
            # Keyword stuffing: a handful of keywords repeated, and a link to follow.
            keywords = spam_rng.choice(_SPAM_WORDS, size=4)
            stuffed = " ".join(spam_rng.choice(keywords, size=spam_rng.integers(12, 30)))
            descriptions[item] = f"{stuffed} https://{base[owner].split()[0].lower()}-beats.example/{number}"
        burst_day = np.datetime64(spec.start_date) - spam_rng.integers(0, 30, size=spec.creators)
        release[spam_items] = burst_day[creator_index[spam_items]]
        title_missing[spam_items] = False

    # Some uploaders decorate titles with emoji.
    decorated = np.flatnonzero(_rng(spec, _STREAM_DECORATION).random(n) < 0.03)
    titles[decorated] = [f"{t} \N{FIRE}" for t in titles[decorated]]

    terms = offensive_lexicon()
    offensive_rng = _rng(spec, _STREAM_OFFENSIVE)
    titles, offensive_title = _insert_terms(offensive_rng, titles, 0.04, terms)
    descriptions, offensive_description = _insert_terms(offensive_rng, descriptions, 0.06, terms)
    # Items with offensive text should be flagged explicit (the base vocabulary has no such terms).
    explicit = (offensive_rng.random(n) < 0.10) | offensive_title | offensive_description
    # The explicit flag is self-declared: sometimes wrong.
    explicit ^= offensive_rng.random(n) < 0.05
    explicit_missing = offensive_rng.random(n) < 0.03

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


def generate_audio_features(spec: GenerationSpec, content: pa.Table) -> pa.Table:
    """Audio descriptors for tracks, in the ranges public Spotify datasets use."""
    rng = _rng(spec, _STREAM_AUDIO)
    is_track = np.asarray(content.column("content_type").to_numpy(zero_copy_only=False) == "track")
    ids = content.column("content_id").to_numpy(zero_copy_only=False)[is_track]
    n = len(ids)
    spoken = rng.random(n) < 0.03
    return pa.table(
        {
            "content_id": ids,
            "loudness_db": np.clip(rng.normal(-8.0, 3.5, n), -40.0, 0.0),
            "energy": rng.beta(4, 3, n),
            "valence": rng.beta(2.5, 2.5, n),
            "tempo_bpm": np.clip(rng.normal(120.0, 28.0, n), 50.0, 220.0),
            "speechiness": np.where(spoken, rng.uniform(0.66, 0.97, n), rng.beta(1.2, 14, n)),
            "danceability": rng.beta(4, 3, n),
            "acousticness": rng.beta(0.8, 2.5, n),
            "instrumentalness": np.where(
                rng.random(n) < 0.15, rng.uniform(0.5, 1.0, n), rng.beta(0.3, 20, n)
            ),
            "liveness": rng.beta(1.5, 8, n),
        },
        schema=AUDIO_SCHEMA,
    )


def _popularity(spec: GenerationSpec) -> np.ndarray:
    """Zipf-like play probabilities over items, shuffled so popularity is not ordered by id."""
    rng = _rng(spec, _STREAM_CONTENT, 1)
    weights = 1.0 / np.arange(1, spec.items + 1) ** 0.9
    rng.shuffle(weights)
    return weights / weights.sum()


def generate_event_chunks(
    spec: GenerationSpec, day_index: int, durations_ms: np.ndarray, popularity: np.ndarray
) -> Iterator[pa.Table]:
    """One UTC day of listening events, yielded in chunks of at most one million rows."""
    day_start = np.datetime64(datetime.combine(spec.dates[day_index], datetime.min.time()), "us")
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
        # Listeners save about 6% of what they play through, almost nothing they skip.
        saved = rng.random(rows) < np.where(skipped, 0.002, 0.06)
        yield (
            pa.table(
                {
                    "user_id": _ids("u", spec.users)[rng.integers(0, spec.users, size=rows)],
                    "content_id": _ids("c", spec.items)[items],
                    "event_timestamp": pa.array(day_start + offsets, type=pa.timestamp("us", tz="UTC")),
                    "ms_played": played,
                    "saved": saved,
                },
                schema=EVENT_SCHEMA,
            )
        )
        remaining -= rows
        chunk_index += 1


def _write_atomically(chunks: pa.Table | Iterable[pa.Table], path: Path) -> None:
    """Write Parquet to a temporary name and rename it, so readers never see a partial file.

    Chunks are written as they arrive, so a day of events never has to fit in memory at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    stream = iter([chunks] if isinstance(chunks, pa.Table) else chunks)
    first = next(stream)
    with pq.ParquetWriter(tmp, first.schema) as writer:
        writer.write_table(first, row_group_size=_ROW_GROUP_ROWS)
        for chunk in stream:
            writer.write_table(chunk, row_group_size=_ROW_GROUP_ROWS)
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
    _write_atomically(generate_audio_features(spec, content), layout.audio_features_path)
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
