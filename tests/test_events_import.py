"""Importing real listening logs: the mapping language, every reject reason, UTC day partitions,
merge / replace, refusals that change nothing, dry runs, the import log, a Spotify-history-shaped
JSON export, the CLI, and a job computing a partition from imported events."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from content_signals.catalog_mapping import DERIVED_CONTENT_PREFIX
from content_signals.errors import SignalsError
from content_signals.events_mapping import EventsMapping, builtin_mappings, load_events_mapping
from content_signals.import_log import APPLIED, DRY_RUN, REFUSED, import_log
from content_signals.jobs.events_import import REJECT_REASONS, import_events, normalise
from content_signals.jobs.file_import import REJECT_REASON, SOURCE_ROW, ImportRefused, read_source
from content_signals.layout import DataLayout
from content_signals.synthetic import CONTENT_SCHEMA, EVENT_SCHEMA
from content_signals.value_parsers import derived_id

# Two Spotify-style track ids, an id only the events know, and a catalogue derived from names.
TRACK_A, TRACK_B, TRACK_C = "4uLU6hMCjMI75M1A2tKUQC", "7GhIk7Il098yCjg4BQjzvb", "3n3Ppam7vgaVa1iaRUc9Lp"
CATALOGUE = {TRACK_A: 215_000, TRACK_B: 180_000, TRACK_C: 240_000}
GENERIC_HEADER = "user_id,track_id,played_at,ms_played,saved"
D3, D4, D5, D6 = date(2026, 1, 3), date(2026, 1, 4), date(2026, 1, 5), date(2026, 1, 6)


def write_catalogue(layout: DataLayout, items: dict[str, int] = CATALOGUE) -> None:
    """A tiny catalogue in the platform's schema, as `signals generate` writes it."""
    ids = list(items)
    table = pa.table(
        {
            "content_id": ids,
            "content_type": ["track"] * len(ids),
            "title": [f"Song {i}" for i in range(len(ids))],
            "description": [None] * len(ids),
            "creator_id": ["a1"] * len(ids),
            "duration_ms": list(items.values()),
            "explicit": [False] * len(ids),
            "release_date": [date(2020, 1, 1)] * len(ids),
            "language": ["en"] * len(ids),
        },
        schema=CONTENT_SCHEMA,
    )
    layout.catalog_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, layout.content_path)


def write_events(layout: DataLayout, day: date, rows: list[tuple[str, str, datetime, int, bool]]) -> None:
    """An existing events partition, as `signals generate` writes it."""
    columns = list(zip(*rows, strict=True))
    table = pa.table(dict(zip(EVENT_SCHEMA.names, columns, strict=True)), schema=EVENT_SCHEMA)
    layout.events_partition(day).mkdir(parents=True, exist_ok=True)
    pq.write_table(table, layout.events_partition(day) / "part-00000.parquet")


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def checksums(folder: Path, skip: tuple[str, ...] = ("imports.jsonl",)) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (by relative path), except those named in ``skip``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def day_events(layout: DataLayout, day: date) -> pd.DataFrame:
    table = pq.read_table(layout.events_partition(day))
    assert table.schema.equals(EVENT_SCHEMA), table.schema  # exactly the generated events' schema
    return table.to_pandas().sort_values(["event_timestamp", "user_id"]).reset_index(drop=True)


def utc(*parts: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(*parts, tzinfo=UTC))


# --- the mapping language (no Spark) -------------------------------------------------------------


def test_builtin_mappings_load_and_read_what_they_say() -> None:
    assert builtin_mappings() == ["generic_csv", "spotify_extended_history"]
    spotify = load_events_mapping("spotify_extended_history")
    assert spotify.format == "json"
    assert spotify.columns.content_id.strip_prefix == "spotify:track:"
    assert spotify.source_columns() == ["username", "spotify_track_uri", "ts", "ms_played"]
    generic = load_events_mapping("generic_csv")
    assert generic.source_columns() == ["user_id", "track_id", "played_at", "ms_played", "saved"]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"content_id": "t", "timestamp": "ts", "ms_played": "ms"}, "default_user_id"),
        ({"user_id": {"derive": ["a"]}, "content_id": "t", "timestamp": "ts", "ms_played": "ms"}, "derived"),
        (
            {
                "user_id": "u",
                "content_id": {"derive": ["a"], "strip_prefix": "x:"},
                "timestamp": "ts",
                "ms_played": "m",
            },
            "strip_prefix",
        ),
        (
            {
                "user_id": "u",
                "content_id": "t",
                "timestamp": {"column": "ts", "unit": "min"},
                "ms_played": "m",
            },
            "unit",
        ),
        (
            {
                "user_id": "u",
                "content_id": "t",
                "timestamp": "ts",
                "ms_played": {"column": "m", "unit": "ms2"},
            },
            "unit",
        ),
        (
            {
                "user_id": "u",
                "content_id": "t",
                "timestamp": "ts",
                "ms_played": {"column": "m", "true_values": ["y"]},
            },
            "saved only",
        ),
        (
            {
                "user_id": "u",
                "content_id": "t",
                "timestamp": {"column": "ts", "pattern": "dd/MM"},
                "ms_played": "m",
            },
            "pattern",
        ),
        ({"user_id": "u", "content_id": "t", "timestamp": "ts", "ms_played": "m", "played": "x"}, "played"),
        ({"user_id": "u", "content_id": "t", "timestamp": "ts"}, "ms_played"),
    ],
)
def test_mistakes_in_a_mapping_are_named(tmp_path: Path, columns: dict[str, object], message: str) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(json.dumps({"name": "mine", "columns": columns}))  # JSON is YAML
    with pytest.raises(SignalsError, match=message) as raised:
        load_events_mapping(str(path))
    assert "\n" not in str(raised.value)


def test_an_unknown_mapping_name_lists_the_builtin_ones() -> None:
    with pytest.raises(
        SignalsError, match=r"no events mapping 'nope'.*generic_csv, spotify_extended_history"
    ):
        load_events_mapping("nope")


# --- judging rows -------------------------------------------------------------------------------

# Every reject reason once or more, around four accepted rows that cross UTC midnight.
GENERIC_ROWS = [
    f"u1,{TRACK_A},2026-01-05T10:00:00Z,215000,true",  # accepted
    f"u2,{TRACK_B},2026-01-05T23:59:59+02:00,120000,",  # accepted: 21:59:59 UTC on the 5th; saved unknown
    f"u1,{TRACK_B},2026-01-06T00:30:00+02:00,0,no",  # accepted: 22:30 UTC on the 5th; 0 ms is a play
    f"u3,{TRACK_A},2026-01-05T23:30:00-01:00,1000,yes",  # accepted: 00:30 UTC on the 6th
    f"  ,{TRACK_A},2026-01-05T10:00:00Z,1000,true",  # missing_user
    "u1,,2026-01-05T10:00:00Z,1000,true",  # missing_item
    f"u1,{TRACK_A},yesterday,1000,true",  # bad_timestamp
    f"u1,{TRACK_A},1999-12-31T23:00:00Z,1000,true",  # bad_timestamp (before 2000: a unit mistake)
    f"u1,{TRACK_A},2099-01-01T00:00:00Z,1000,true",  # bad_timestamp (the future)
    f"u1,{TRACK_A},2026-01-05T11:00:00Z,-5,true",  # bad_ms_played
    f"u1,{TRACK_A},2026-01-05T11:00:00Z,lots,true",  # bad_ms_played
    f"u1,{TRACK_A},2026-01-05T12:00:00Z,1000,maybe",  # bad_saved
    "u1,ZZZ,2026-01-05T12:00:00Z,1000,true",  # unknown_item
    f"u1,{TRACK_A},2026-01-05T10:00:00Z,215000,false",  # duplicate_event (of the first row)
]
GENERIC_COUNTS = {
    "missing_user": 1,
    "missing_item": 1,
    "bad_timestamp": 3,
    "bad_ms_played": 2,
    "bad_saved": 1,
    "unknown_item": 1,
    "duplicate_event": 1,
}


def test_every_reject_reason_is_counted_and_days_are_utc(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(tmp_path / "data")
    write_catalogue(layout)
    source = write_csv(tmp_path / "log.csv", GENERIC_HEADER, GENERIC_ROWS)
    mapping = load_events_mapping("generic_csv")

    summary = import_events(spark, layout, source, mapping, min_share=0.25)

    assert set(GENERIC_COUNTS) == set(REJECT_REASONS)
    assert summary.report.counts == GENERIC_COUNTS
    assert (summary.report.rows, summary.report.accepted) == (14, 4)
    assert summary.added == {D5: 3, D6: 1} and summary.days == [D5, D6]
    fifth = day_events(layout, D5)
    assert fifth["event_timestamp"].tolist() == [
        utc(2026, 1, 5, 10),
        utc(2026, 1, 5, 21, 59, 59),
        utc(2026, 1, 5, 22, 30),
    ]
    assert fifth["user_id"].tolist() == ["u1", "u2", "u1"]
    assert fifth["ms_played"].tolist() == [215_000, 120_000, 0]
    assert fifth["saved"].tolist() == [True, None, False]  # blank: the file does not say
    sixth = day_events(layout, D6)
    assert sixth[["user_id", "content_id", "saved"]].values.tolist() == [["u3", TRACK_A, True]]
    assert sixth["event_timestamp"].tolist() == [utc(2026, 1, 6, 0, 30)]

    [part] = Path(summary.rejects_path).glob("part-*.csv")
    rejects = pd.read_csv(part, dtype=str, keep_default_na=False)
    assert rejects.columns.tolist() == [*GENERIC_HEADER.split(","), REJECT_REASON]
    assert rejects[REJECT_REASON].tolist() == [
        "missing_user", "missing_item", "bad_timestamp", "bad_timestamp", "bad_timestamp",
        "bad_ms_played", "bad_ms_played", "bad_saved", "unknown_item", "duplicate_event",
    ]  # fmt: skip
    assert rejects.loc[rejects[REJECT_REASON] == "bad_ms_played", "ms_played"].tolist() == ["-5", "lots"]

    [record] = import_log(layout)
    assert (record.kind, record.outcome, record.mode, record.mapping) == (
        "events",
        APPLIED,
        "merge",
        "generic_csv",
    )
    assert (record.rows, record.accepted, record.rejected) == (14, 4, GENERIC_COUNTS)
    assert record.changes == {
        "days_touched": 2,
        "events_added": 4,
        "events_already_present": 0,
        "events_removed": 0,
        "empty_days_added": 0,
        "date=2026-01-05": 3,
        "date=2026-01-06": 1,
    }
    assert record.rejects_path == summary.rejects_path and record.import_id == summary.import_id
    assert not list(layout.staging_dir.glob("*"))  # nothing left half-written
    assert "imported 4 of 14 rows" in summary.describe()


def _frame(spark, header: list[str], rows: list[tuple[str | None, ...]]):  # type: ignore[no-untyped-def]
    frame = spark.createDataFrame(rows, ", ".join(f"`{c}` string" for c in header))
    return frame.withColumn(SOURCE_ROW, F.monotonically_increasing_id())


def _judged(frame) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """Judged rows in file order, timestamps as UTC text (Python would show them in local time)."""
    shown = frame.orderBy(SOURCE_ROW).withColumn(
        "event_timestamp", F.date_format("event_timestamp", "yyyy-MM-dd HH:mm:ss.SSS")
    )
    return [r.asDict() for r in shown.drop("source", SOURCE_ROW).collect()]


def test_epoch_timestamps_units_prefixes_and_spellings(spark) -> None:  # type: ignore[no-untyped-def]
    mapping = EventsMapping.model_validate(
        {
            "name": "epoch",
            "delimiter": ";",
            "columns": {
                "user_id": "listener",
                "content_id": {"column": "uri", "strip_prefix": "track:"},
                "timestamp": {"column": "at", "unit": "s"},
                "ms_played": {"column": "secs", "unit": "s"},
                "saved": {"column": "liked", "true_values": ["♥"], "false_values": ["-"]},
            },
        }
    )
    rows = [
        ("u1", "track:A", "1767657599", "215.5", "♥"),  # 2026-01-05 23:59:59 UTC
        ("u1", "B", "1767657600.25", "3:35", "-"),  # no prefix: kept as written; a clock time
        ("u1", "track:", "1767657600", "1", "-"),  # nothing left after the prefix: missing_item
        ("u1", "track:C", "1767657600000", "1", "-"),  # milliseconds read as seconds: year 57983
        ("u1", "track:C", "1767657600", "0.0", "Y"),  # Y is not one of this file's spellings
    ]
    source = _frame(spark, ["listener", "uri", "at", "secs", "liked"], rows)
    got = _judged(normalise(source, mapping, received_at=datetime.now(UTC)))
    assert [g[REJECT_REASON] for g in got] == [None, None, "missing_item", "bad_timestamp", "bad_saved"]
    assert got[0] == {
        REJECT_REASON: None,
        "user_id": "u1",
        "content_id": "A",
        "event_timestamp": "2026-01-05 23:59:59.000",
        "ms_played": 215_500,
        "saved": True,
    }
    assert (got[1]["content_id"], got[1]["ms_played"], got[1]["saved"]) == ("B", 215_000, False)
    assert got[1]["event_timestamp"] == "2026-01-06 00:00:00.250"

    in_ms = EventsMapping.model_validate(
        {
            "name": "ms",
            "default_user_id": "me",
            "columns": {"content_id": "t", "timestamp": {"column": "at", "unit": "ms"}, "ms_played": "ms"},
        }
    )
    rows_ms = [("A", "1767657599999", "1000"), ("A", "1767657599", "1000"), ("A", "1767657600000", "-0")]
    judged_ms = _judged(normalise(_frame(spark, ["t", "at", "ms"], rows_ms), in_ms))
    assert [r[REJECT_REASON] for r in judged_ms] == [None, "bad_timestamp", None]  # seconds read as ms: 1970
    assert judged_ms[0]["event_timestamp"] == "2026-01-05 23:59:59.999"
    assert [r["user_id"] for r in judged_ms] == ["me"] * 3 and judged_ms[2]["ms_played"] == 0
    assert [r["saved"] for r in judged_ms] == [None] * 3  # no saved column: unknown


def test_unknown_items_are_rejected_or_kept_on_request(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(tmp_path / "data")
    rows = [f"u1,{TRACK_A},2026-01-05T10:00:00Z,1000,", "u1,ZZZ,2026-01-05T11:00:00Z,1000,"]
    source = write_csv(tmp_path / "log.csv", GENERIC_HEADER, rows)
    mapping = load_events_mapping("generic_csv")
    with pytest.raises(SignalsError, match=r"no catalogue at .*--keep-unknown-items"):
        import_events(spark, layout, source, mapping, min_share=0.5)
    assert not layout.events_dir.exists()

    write_catalogue(layout)
    rejected = import_events(spark, layout, source, mapping, min_share=0.5)
    assert rejected.report.counts == {"unknown_item": 1}
    assert day_events(layout, D5)["content_id"].tolist() == [TRACK_A]

    kept = import_events(spark, layout, source, mapping, min_share=0.5, keep_unknown_items=True)
    assert kept.report.counts == {} and kept.unknown_kept == 1
    assert (kept.added, kept.already_present) == ({D5: 1}, 1)
    assert day_events(layout, D5)["content_id"].tolist() == [TRACK_A, "ZZZ"]
    assert "kept 1 events of items the catalogue does not know" in kept.describe()


def test_merge_adds_only_new_events_and_replace_replaces_the_files_days(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(tmp_path / "data")
    write_catalogue(layout)
    write_events(layout, D4, [("u9", TRACK_C, datetime(2026, 1, 4, 8, tzinfo=UTC), 5_000, False)])
    write_events(
        layout,
        D5,
        [
            ("u1", TRACK_A, datetime(2026, 1, 5, 10, tzinfo=UTC), 215_000, True),  # also in the file
            ("u9", TRACK_C, datetime(2026, 1, 5, 9, tzinfo=UTC), 240_000, False),
        ],
    )
    untouched = checksums(layout.events_partition(D4))
    source = write_csv(tmp_path / "log.csv", GENERIC_HEADER, GENERIC_ROWS[:4])
    mapping = load_events_mapping("generic_csv")

    first = import_events(spark, layout, source, mapping, min_share=0.5)
    assert (first.added, first.already_present) == ({D5: 2, D6: 1}, 1)
    assert first.totals == {D5: 4, D6: 1}
    assert day_events(layout, D5)["user_id"].tolist() == ["u9", "u1", "u2", "u1"]
    fifth = checksums(layout.events_partition(D5))

    again = import_events(spark, layout, source, mapping, min_share=0.5)  # the same file twice
    assert (again.added, again.already_present, again.days) == ({}, 4, [])
    assert len(day_events(layout, D5)) == 4 and len(day_events(layout, D6)) == 1
    assert checksums(layout.events_partition(D5)) == fifth  # a day that gains nothing is not rewritten

    replaced = import_events(spark, layout, source, mapping, min_share=0.5, mode="replace")
    assert (replaced.added, replaced.removed, replaced.days) == ({D5: 3, D6: 1}, 5, [D5, D6])
    assert day_events(layout, D5)["user_id"].tolist() == ["u1", "u2", "u1"]  # u9's event is gone
    assert checksums(layout.events_partition(D4)) == untouched  # not in the file: never touched
    assert [(r.mode, r.changes["events_added"]) for r in import_log(layout)] == [
        ("merge", 3),
        ("merge", 0),
        ("replace", 4),
    ]


def test_a_refused_file_changes_nothing(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(tmp_path / "data")
    write_catalogue(layout)
    write_events(layout, D5, [("u9", TRACK_C, datetime(2026, 1, 5, 9, tzinfo=UTC), 240_000, False)])
    before = checksums(layout.root)
    rows = [
        f"u1,{TRACK_A},{t},1000,true" for t in ("1767657599", "1767657600", "1767657601")
    ]  # epoch, not ISO
    source = write_csv(tmp_path / "log.csv", GENERIC_HEADER, [*rows, f"u1,{TRACK_A},2026-01-05T10:00:00Z,1,"])

    with pytest.raises(ImportRefused) as refused:
        import_events(spark, layout, source, load_events_mapping("generic_csv"), min_share=0.5)

    message = str(refused.value)
    assert "\n" not in message
    assert "1 of 4 rows accepted (25.0%, minimum 50%)" in message
    assert "top reject reason bad_timestamp (3 rows)" in message and "unit (iso, or s / ms" in message
    assert checksums(layout.root) == before  # byte-identical; no rejects, nothing staged
    [record] = import_log(layout)
    assert (record.outcome, record.rejected, record.reason) == (REFUSED, {"bad_timestamp": 3}, message)


def test_a_dry_run_writes_nothing_and_shows_examples(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(tmp_path / "data")
    write_catalogue(layout)
    before = checksums(layout.root)
    source = write_csv(tmp_path / "log.csv", GENERIC_HEADER, GENERIC_ROWS)
    mapping = load_events_mapping("generic_csv")

    summary = import_events(spark, layout, source, mapping, min_share=0.5, dry_run=True)

    assert checksums(layout.root) == before and not layout.events_dir.exists()
    assert summary.report.counts == GENERIC_COUNTS and summary.added == {}
    text = summary.describe()
    assert "14 rows read: 4 accepted (28.6%), 10 rejected" in text
    assert "  bad_timestamp: 3 rows. the timestamp is unreadable" in text
    assert "e.g. user_id='u1', track_id='4uLU6hMCjMI75M1A2tKUQC', played_at='yesterday'" in text
    assert "a real import would be refused: import of " in text
    assert "4 of 14 rows accepted (28.6%, minimum 50%); top reject reason bad_timestamp (3 rows)" in text
    assert [(r.outcome, r.rows, r.accepted) for r in import_log(layout)] == [(DRY_RUN, 14, 4)]


# --- a streaming export --------------------------------------------------------------------------


def _spotify_play(
    ts: str, ms: int, artist: str | None, track: str | None, uri: str | None, **extra: object
) -> dict[str, object]:
    """One record of Spotify's Extended streaming history (Streaming_History_Audio_*.json)."""
    return {
        "ts": ts,
        "username": "listener42",
        "platform": "android",
        "ms_played": ms,
        "conn_country": "SE",
        "ip_addr_decrypted": "192.0.2.1",
        "user_agent_decrypted": "unknown",
        "master_metadata_track_name": track,
        "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": "Album" if track else None,
        "spotify_track_uri": uri,
        "episode_name": extra.get("episode_name"),
        "episode_show_name": extra.get("episode_show_name"),
        "spotify_episode_uri": extra.get("spotify_episode_uri"),
        "reason_start": "trackdone",
        "reason_end": "endplay" if ms == 0 else "trackdone",
        "shuffle": False,
        "skipped": ms == 0,
        "offline": False,
        "offline_timestamp": 1767600000,
        "incognito_mode": False,
    }


SPOTIFY_PLAYS = [
    _spotify_play("2026-01-05T07:58:02Z", 215_000, "Artist One", "First Song", f"spotify:track:{TRACK_A}"),
    _spotify_play("2026-01-05T08:01:40Z", 0, "Artist One", "Second Song", f"spotify:track:{TRACK_B}"),
    _spotify_play("2026-01-05T23:59:30Z", 178_500, "Artist Two", "Third Song", f"spotify:track:{TRACK_C}"),
    _spotify_play("2026-01-06T00:03:30Z", 1_204, "Artist One", "First Song", f"spotify:track:{TRACK_A}"),
    _spotify_play(  # a podcast episode: no track at all
        "2026-01-06T06:40:00Z",
        1_500_000,
        None,
        None,
        None,
        episode_name="Episode 12",
        episode_show_name="A Show",
        spotify_episode_uri="spotify:episode:5Xq",
    ),
]


def test_a_spotify_extended_history_export_imports(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(tmp_path / "data")
    write_catalogue(layout)
    export = tmp_path / "Streaming_History_Audio_2026.json"
    export.write_text(json.dumps(SPOTIFY_PLAYS, indent=2))

    summary = import_events(
        spark, layout, export, load_events_mapping("spotify_extended_history"), min_share=0.5
    )

    assert summary.report.counts == {"missing_item": 1}  # the episode
    assert summary.added == {D5: 3, D6: 1}
    fifth = day_events(layout, D5)
    assert fifth["content_id"].tolist() == [TRACK_A, TRACK_B, TRACK_C]
    assert fifth["ms_played"].tolist() == [215_000, 0, 178_500]
    assert set(fifth["user_id"]) == {"listener42"} and fifth["saved"].isna().all()
    assert day_events(layout, D6)["event_timestamp"].tolist() == [utc(2026, 1, 6, 0, 3, 30)]


def test_ids_derived_from_names_match_a_catalogue_derived_from_the_same_columns(
    spark, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    export = tmp_path / "history.json"
    export.write_text(json.dumps(SPOTIFY_PLAYS))
    by_name = EventsMapping.model_validate(
        {
            "name": "spotify_by_name",
            "format": "json",
            "default_user_id": "me",
            "columns": {
                "content_id": {"derive": ["master_metadata_album_artist_name", "master_metadata_track_name"]},
                "timestamp": "ts",
                "ms_played": "ms_played",
            },
        }
    )
    # What a catalogue mapping with `content_id: {derive: [artist, title]}` makes of the same names.
    names = spark.createDataFrame(
        [("ARTIST one ", "First  Song"), ("Artist Two", "Third Song")], "artist string, title string"
    )
    catalogue = names.select(
        derived_id([F.col("artist"), F.col("title")], DERIVED_CONTENT_PREFIX).alias("content_id")
    )
    first_song, third_song = [r["content_id"] for r in catalogue.collect()]

    judged = _judged(normalise(read_source(spark, export, by_name, "events"), by_name, catalogue))

    assert [r[REJECT_REASON] for r in judged] == [None, "unknown_item", None, None, "missing_item"]
    assert [judged[i]["content_id"] for i in (0, 2, 3)] == [first_song, third_song, first_song]
    assert str(first_song).startswith("cs:") and {r["user_id"] for r in judged} == {"me"}


# --- the command line ----------------------------------------------------------------------------


def _signals(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The `signals` console entry point, run from this checkout."""
    script = data_dir.parent / "signals_main.py"
    script.write_text("from content_signals.cli.main import main\n\nmain()\n")
    return subprocess.run(
        [sys.executable, str(script), "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_cli_refuses_a_wrong_file_with_one_line(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path / "data")
    write_catalogue(layout)
    write_events(layout, D5, [("u9", TRACK_C, datetime(2026, 1, 5, 9, tzinfo=UTC), 240_000, False)])
    before = checksums(layout.root)
    source = write_csv(tmp_path / "log.csv", GENERIC_HEADER, ["u1,nope,2026-01-05T10:00:00Z,1000,"] * 3)

    unknown = _signals(layout.root, "import", "events", str(source), "--mapping", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == [
        "error: no events mapping 'nope' (built-in: generic_csv, spotify_extended_history; or a YAML path)"
    ]

    refused = _signals(layout.root, "import", "events", str(source), "--mapping", "generic_csv")
    assert refused.returncode == 1, refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == refused.stderr.strip().splitlines()[-1]
    assert errors[0].startswith("error: import of log.csv refused: 0 of 3 rows accepted")
    assert "top reject reason unknown_item (3 rows)" in errors[0]
    assert checksums(layout.root) == before


# --- downstream ----------------------------------------------------------------------------------


def test_content_engagement_runs_on_imported_events(spark, gate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from content_signals.jobs.runner import run_many

    layout = DataLayout(tmp_path / "data")
    write_catalogue(layout)
    rows = [
        f"u1,{TRACK_A},2026-01-03T12:00:00Z,215000,true",  # two days before: in the 7- and 28-day windows
        f"u1,{TRACK_A},2026-01-05T10:00:00Z,215000,true",  # completed and saved
        f"u2,{TRACK_A},2026-01-05T23:59:59+02:00,10000,",  # a skip
        f"u2,{TRACK_B},2026-01-05T11:00:00Z,170000,false",  # completed
    ]
    source = write_csv(tmp_path / "log.csv", GENERIC_HEADER, rows)
    summary = import_events(spark, layout, source, load_events_mapping("generic_csv"), min_share=0.5)
    # Nobody listened on the 4th: an empty day, not a gap (a job's event window refuses gaps).
    assert summary.empty_days == [D4] and summary.days == [D3, D5]
    assert len(day_events(layout, D4)) == 0

    report = run_many(spark, layout, ["content_engagement"], [D5], gate)

    assert not report.quarantined, report.quarantined
    signals = spark.read.parquet(str(layout.signal_partition("content_engagement", D5))).toPandas()
    by_item = signals.set_index("content_id")
    assert set(by_item.index) == set(CATALOGUE)  # every catalogue item gets a row
    assert by_item.loc[TRACK_A, ["plays_1d", "listeners_1d", "plays_7d"]].tolist() == [2, 2, 3]
    assert by_item.loc[TRACK_A, "skip_rate_1d"] == pytest.approx(0.5)
    assert by_item.loc[TRACK_A, "save_rate_1d"] == pytest.approx(0.5)
    assert by_item.loc[TRACK_B, "completion_rate_1d"] == pytest.approx(1.0)
    assert by_item.loc[TRACK_C, "plays_28d"] == 0
