from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from content_signals.layout import DataLayout
from content_signals.synthetic import GenerationSpec, generate_content, spam_truth, write_catalogue

SPEC = GenerationSpec(
    items=500, creators=50, days=3, events_per_day=2_000, users=100, start_date=date(2026, 3, 1)
)


def _read_all(root: Path) -> dict[str, pa.Table]:
    layout = DataLayout(root)
    tables = {"content": pq.read_table(layout.content_path), "creators": pq.read_table(layout.creators_path)}
    for day in SPEC.dates:
        tables[day.isoformat()] = pq.read_table(layout.events_partition(day))
    return tables


def test_the_same_seed_gives_the_same_data(tmp_path: Path) -> None:
    write_catalogue(SPEC, DataLayout(tmp_path / "a"))
    write_catalogue(SPEC, DataLayout(tmp_path / "b"))
    first, second = _read_all(tmp_path / "a"), _read_all(tmp_path / "b")
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].equals(second[name]), name


# Per table: the column identifying its rows, which the seed must not change (events have none), and a
# random column it must change.
_COLUMNS: dict[str, tuple[str | None, str]] = {
    "content": ("content_id", "title"),
    "creators": ("creator_id", "name"),
}
_EVENT_COLUMNS: tuple[str | None, str] = (None, "ms_played")


def test_another_seed_changes_the_values_of_every_table_but_not_its_shape(tmp_path: Path) -> None:
    """Every random stream (content, creators, each day's events) follows the seed; identifiers, row
    counts and schemas do not, so two seeds give two catalogues of the same size to compare."""
    write_catalogue(SPEC, DataLayout(tmp_path / "a"))
    write_catalogue(replace(SPEC, seed=SPEC.seed + 1), DataLayout(tmp_path / "b"))
    first, second = _read_all(tmp_path / "a"), _read_all(tmp_path / "b")
    assert first.keys() == second.keys()
    for name in first:
        a, b = first[name], second[name]
        assert a.schema == b.schema and a.num_rows == b.num_rows > 0, name
        identifier, value = _COLUMNS.get(name, _EVENT_COLUMNS)
        if identifier is not None:
            assert a.column(identifier).equals(b.column(identifier)), name
        values_a, values_b = a.column(value).to_pylist(), b.column(value).to_pylist()
        same = sum(x == y for x, y in zip(values_a, values_b, strict=True))
        assert same < 0.1 * a.num_rows, (name, same)


def test_catalogue_shape_and_values(tmp_path: Path) -> None:
    counts = write_catalogue(SPEC, DataLayout(tmp_path))
    assert counts == {"items": 500, "creators": 50, "events": 6_000}
    tables = _read_all(tmp_path)
    content = tables["content"].to_pandas()
    assert content["content_id"].is_unique
    assert set(content["content_type"]) == {"track", "episode", "audiobook"}
    assert set(content["creator_id"]) <= set(tables["creators"].column("creator_id").to_pylist())
    assert content["description"].isna().any() and content["duration_ms"].isna().any()
    assert (content["duration_ms"].dropna() > 0).all()
    events = tables["2026-03-02"].to_pandas()
    assert len(events) == 2_000
    assert events["event_timestamp"].dt.date.eq(date(2026, 3, 2)).all()
    assert set(events["content_id"]) <= set(content["content_id"])
    # Power-law popularity: the top 10% of items get far more than 10% of the plays.
    plays = events["content_id"].value_counts()
    assert plays.head(len(content) // 10).sum() > 0.3 * len(events)


def test_the_catalogue_is_messy_in_the_ways_real_ones_are(tmp_path: Path) -> None:
    from content_signals.synthetic import generate_audio_features, generate_content
    from content_signals.text import offensive_lexicon

    spec = GenerationSpec(items=20_000, creators=2_000)
    content = generate_content(spec).to_pandas()
    # Spam creators: bursts of all-caps lookalike titles from one creator, released within days.
    numbered = content[content["title"].str.contains(r"#\d+$", na=False)]
    assert 0.02 < len(numbered) / len(content) < 0.04
    per_creator = numbered.groupby("creator_id")
    assert per_creator.size().max() >= 10
    # (a few also received an offensive term in lower case, like any other title)
    assert numbered["title"].str.replace(r"#\d+$", "", regex=True).str.isupper().mean() > 0.9
    bursts = numbered.dropna(subset=["release_date"]).groupby("creator_id")["release_date"]
    assert (bursts.agg(lambda d: (d.max() - d.min()).days) == 0).all()
    # Offensive terms in a share of the text, and explicit flags that mostly (not always) follow.
    terms = set(offensive_lexicon())
    has_term = (content["title"].fillna("") + " " + content["description"].fillna("")).map(
        lambda text: bool(terms & set(text.lower().split()))
    )
    assert 0.05 < has_term.mean() < 0.15
    flagged = content.loc[has_term, "explicit"].dropna()
    assert 0.85 < flagged.mean() < 1.0
    # Long-form content carries long descriptions.
    lengths = content.groupby("content_type")["description"].agg(lambda d: d.str.len().median())
    assert lengths["episode"] > 3 * lengths["track"] and lengths["audiobook"] > 3 * lengths["track"]
    # Audio descriptors for tracks only, in the public datasets' ranges.
    audio = generate_audio_features(spec, generate_content(spec)).to_pandas()
    assert set(audio["content_id"]) == set(content.loc[content["content_type"] == "track", "content_id"])
    assert audio["loudness_db"].between(-40, 0).all() and audio["tempo_bpm"].between(50, 220).all()
    assert audio["speechiness"].between(0, 1).all() and (audio["speechiness"] > 0.66).mean() > 0.01


def test_spam_truth_names_the_planted_spam_without_changing_the_catalogue() -> None:
    spec = GenerationSpec()
    content = generate_content(spec)
    # The catalogue as it was generated before spam_truth was factored out of generate_content.
    digest = hashlib.sha256(json.dumps(content.to_pydict(), default=str, sort_keys=True).encode())
    assert digest.hexdigest()[:16] == "c431d9608b6d649f"
    truth = spam_truth(spec)
    assert len(truth.content_ids) == 55 and len(truth.spam_creators) == 3
    creator_of = dict(
        zip(content.column("content_id").to_pylist(), content.column("creator_id").to_pylist(), strict=True)
    )
    assert all(creator_of[c] == owner for c, owner in zip(truth.content_ids, truth.creator_ids, strict=True))
    assert spam_truth(GenerationSpec(items=40)).content_ids == ()
