"""Importing real catalogues: the MusicOSet file itself, and every reject reason on a small file in
the comma-separated Spotify-tracks layout."""

from __future__ import annotations

import ast
import csv
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from content_signals.catalog_mapping import load_mapping
from content_signals.errors import SignalsError
from content_signals.jobs.catalog_import import REJECT_REASONS, ImportSummary, import_catalog
from content_signals.layout import DataLayout
from tests.conftest import SHARED_DATA

MUSICOSET = SHARED_DATA / "catalog" / "musicoset_hits.tsv"


def _rejects(summary: ImportSummary) -> pd.DataFrame:
    if not summary.rejects_path:
        return pd.DataFrame()
    [part] = Path(summary.rejects_path).glob("part-*.csv")
    return pd.read_csv(part, dtype=str, keep_default_na=False)


@pytest.mark.skipif(not MUSICOSET.exists(), reason="../shared/data is not beside the checkout")
def test_the_musicoset_catalogue_imports_completely(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(tmp_path)
    summary = import_catalog(spark, layout, MUSICOSET, load_mapping("musicoset"))

    source = pd.read_csv(MUSICOSET, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
    artist_ids = {a for cell in source["id_artists"] for a in ast.literal_eval(cell)}
    assert summary.imported == len(source) == 11_959
    assert summary.rejected_total == 0 and summary.rejected == {}
    assert summary.creators == len(artist_ids) == 4_379

    content = spark.read.parquet(str(layout.content_path)).toPandas().set_index("content_id")
    assert content.index.is_unique and set(content["content_type"]) == {"track"}
    assert int(content["explicit"].sum()) == int((source["explicit"] == "True").sum())
    row = source.iloc[0]
    assert content.loc[row["song_id"], "title"] == row["song_name"] == "thank u, next"
    assert content.loc[row["song_id"], "release_date"] == date(2019, 2, 8)
    assert content.loc[row["song_id"], "creator_id"] == ast.literal_eval(row["id_artists"])[0]
    quoted = source[source["song_name"].str.contains('"')].iloc[0]  # literal quotes survive
    assert content.loc[quoted["song_id"], "title"] == quoted["song_name"].strip()
    audio = spark.read.parquet(str(layout.audio_features_path)).toPandas().set_index("content_id")
    assert audio.loc[row["song_id"], "loudness_db"] == pytest.approx(float(row["loudness"]))
    assert len(_rejects(summary)) == 0


SPOTIFY_HEADER = (
    "id,name,popularity,duration_ms,explicit,artists,id_artists,release_date,danceability,energy,"
    "key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,time_signature"
)
AUDIO = "0.5,0.6,1,-7.5,1,0.05,0.1,0,0.1,0.4,120.0,4"
SPOTIFY_ROWS = [
    # accepted: quoted title with a comma, a name with an apostrophe, a year-only date
    f"""t1,"Hello, World",10,200000,0,"['Guns N' + "' Roses']",['a1'],1999,{AUDIO}""",
    # accepted: two artists, year-month date, explicit as 1
    f"""t2,Second,5,180000,1,"['A', 'B']","['a2', 'a3']",2001-05,{AUDIO}""",
    # accepted: blank explicit and release date are missing metadata, not errors
    f"""t3,Third,5,180000,,"['A']","['a2']",,{AUDIO}""",
    f"""   ,No id,5,180000,0,"['A']","['a2']",2001,{AUDIO}""",  # missing_id
    f"""t1,Duplicate,5,180000,0,"['A']","['a2']",2001,{AUDIO}""",  # duplicate_id
    f"""t4,  ,5,180000,0,"['A']","['a2']",2001,{AUDIO}""",  # missing_title
    f"""t5,Zero,5,0,0,"['A']","['a2']",2001,{AUDIO}""",  # bad_duration
    f"""t6,Words,5,three minutes,0,"['A']","['a2']",2001,{AUDIO}""",  # bad_duration
    f"""t7,Maybe,5,180000,perhaps,"['A']","['a2']",2001,{AUDIO}""",  # bad_explicit
    f"""t8,When,5,180000,0,"['A']","['a2']",2001-13-45,{AUDIO}""",  # bad_release_date
    f"""t9,Whom,5,180000,0,"['A']",not a list,2001,{AUDIO}""",  # bad_creators
    f"""t10,Empty,5,180000,0,[],[],2001,{AUDIO}""",  # bad_creators
    f"""t11,Mismatch,5,180000,0,"['A']","['a2', 'a3']",2001,{AUDIO}""",  # bad_creators
]


def test_every_reject_reason_is_counted_and_written(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "tracks.csv"
    rows = [r.replace(""""['Guns N' + "' Roses']\"""", """"['Guns N\\' Roses']\"""") for r in SPOTIFY_ROWS]
    source.write_text("\n".join([SPOTIFY_HEADER, *rows]) + "\n")
    layout = DataLayout(tmp_path / "data")
    summary = import_catalog(spark, layout, source, load_mapping("spotify_tracks"), min_accepted_share=0.0)

    assert summary.imported == 3
    assert summary.rejected == {
        "missing_id": 1,
        "duplicate_id": 1,
        "missing_title": 1,
        "bad_duration": 2,
        "bad_explicit": 1,
        "bad_release_date": 1,
        "bad_creators": 3,
    }
    assert set(summary.rejected) == set(REJECT_REASONS) - {"bad_content_type"}
    content = spark.read.parquet(str(layout.content_path)).toPandas().set_index("content_id")
    assert sorted(content.index) == ["t1", "t2", "t3"]
    assert content.loc["t1", "title"] == "Hello, World"
    assert content.loc["t1", "release_date"] == date(1999, 1, 1)
    assert content.loc["t2", "release_date"] == date(2001, 5, 1)
    assert bool(content.loc["t2", "explicit"]) is True
    assert pd.isna(content.loc["t3", "explicit"]) and pd.isna(content.loc["t3", "release_date"])
    creators = spark.read.parquet(str(layout.creators_path)).toPandas().set_index("creator_id")
    assert creators.loc["a1", "name"] == "Guns N' Roses"
    assert sorted(creators.index) == ["a1", "a2", "a3"]

    rejects = _rejects(summary)
    assert len(rejects) == 10
    assert rejects.set_index("name").loc["Words", "duration_ms"] == "three minutes"  # kept as read
    assert rejects.set_index("name").loc["Duplicate", "reject_reason"] == "duplicate_id"


def test_a_file_that_does_not_match_its_mapping_is_refused_whole(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "tracks.csv"
    source.write_text("id,name\nt1,Song\n")
    with pytest.raises(SignalsError, match="missing columns id_artists, artists, duration_ms"):
        import_catalog(spark, DataLayout(tmp_path / "data"), source, load_mapping("spotify_tracks"))
    assert not (tmp_path / "data" / "raw").exists()
    with pytest.raises(SignalsError, match="no catalogue mapping 'nope'"):
        load_mapping("nope")


# --- A bad file never destroys data; merge and replace; the import log --------------------------

TOP_HITS_HEADER = (
    "artist,song,duration_ms,explicit,year,popularity,danceability,energy,key,loudness,mode,"
    "speechiness,acousticness,instrumentalness,liveness,valence,tempo,genre"
)
TOP_HITS_AUDIO = "0.5,0.6,1,-7.5,1,0.05,0.1,0,0.1,0.4,120.0"
TOP_HITS_ROWS = [
    f"Adele,Hello,295502,False,2015,80,{TOP_HITS_AUDIO},pop",
    f"Lionel Richie,Hello,251000,False,1984,70,{TOP_HITS_AUDIO},pop",  # same title, other artist
    f"Eminem,Without Me,290320,True,2002,82,{TOP_HITS_AUDIO},hip hop",
    f'"Tyler, The Creator",EARFQUAKE,190066,True,2019,79,{TOP_HITS_AUDIO},hip hop',
    f"Adele,Hello,295502,False,2015,80,{TOP_HITS_AUDIO},pop",  # the same row twice: an id collision
]


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _checksums(folder: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_layout_without_ids_gets_stable_derived_ids_and_collisions_are_reported(
    spark, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    source = _write(tmp_path / "songs.csv", TOP_HITS_HEADER, TOP_HITS_ROWS)
    layout = DataLayout(tmp_path / "data")
    summary = import_catalog(spark, layout, source, load_mapping("spotify_top_hits"))

    assert summary.imported == 4 and summary.rejected == {"duplicate_id": 1}
    assert "content_id: derived from artist + song + year" in summary.describe()
    content = spark.read.parquet(str(layout.content_path)).toPandas()
    hellos = content[content["title"] == "Hello"]
    assert len(hellos) == 2 and hellos["content_id"].is_unique  # two songs called Hello, both kept
    assert all(i.startswith("cs:") for i in content["content_id"])
    creators = spark.read.parquet(str(layout.creators_path)).toPandas().set_index("name")
    assert set(creators.index) == {"Adele", "Lionel Richie", "Eminem", "Tyler, The Creator"}
    by_title = content.set_index("title")
    assert by_title.loc["EARFQUAKE", "creator_id"] == creators.loc["Tyler, The Creator", "creator_id"]
    assert by_title.loc["EARFQUAKE", "release_date"] == date(2019, 1, 1)
    assert bool(by_title.loc["Without Me", "explicit"]) is True
    # Importing the same file again derives the same ids: every item unchanged, nothing added.
    again = import_catalog(spark, layout, source, load_mapping("spotify_top_hits"))
    assert again.mode == "merge"
    assert again.changes == {"added": 0, "updated": 0, "unchanged": 4, "removed": 0}
    rejects = _rejects(summary)
    assert rejects["reject_reason"].tolist() == ["duplicate_id"] and rejects["song"].tolist() == ["Hello"]


def test_a_file_whose_rows_are_all_rejected_changes_nothing(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(tmp_path / "data")
    good = _write(tmp_path / "songs.csv", TOP_HITS_HEADER, TOP_HITS_ROWS[:4])
    import_catalog(spark, layout, good, load_mapping("spotify_top_hits"))
    before = _checksums(layout.catalog_dir)
    # The case: explicit written 0.0 / 1.0 is read now, so break the explicit column another way.
    bad_rows = [r.replace(",False,", ",nope,").replace(",True,", ",nope,") for r in TOP_HITS_ROWS[:4]]
    bad = _write(tmp_path / "bad.csv", TOP_HITS_HEADER, bad_rows)
    from content_signals.jobs.file_import import ImportRefused

    with pytest.raises(ImportRefused) as refused:
        import_catalog(spark, layout, bad, load_mapping("spotify_top_hits"), mode="replace")
    message = str(refused.value)
    assert "\n" not in message
    assert "0 of 4 rows accepted" in message and "top reject reason bad_explicit (4 rows)" in message
    assert "true_values" in message  # how to fix it
    assert _checksums(layout.catalog_dir) == before  # byte-identical
    assert not any(layout.staging_dir.iterdir())  # nothing half-written left behind
    from content_signals.import_log import import_log

    outcomes = [(r.outcome, r.accepted, r.rejected) for r in import_log(layout)]
    assert outcomes[-1] == ("refused", 0, {"bad_explicit": 4})
    # Below the configured share (here 3 of 4 accepted against a 90% minimum) is refused too.
    some_bad = _write(tmp_path / "some_bad.csv", TOP_HITS_HEADER, [*TOP_HITS_ROWS[:3], bad_rows[3]])
    with pytest.raises(ImportRefused, match=r"3 of 4 rows accepted \(75.0%, minimum 90%\)"):
        import_catalog(spark, layout, some_bad, load_mapping("spotify_top_hits"), min_accepted_share=0.9)
    assert _checksums(layout.catalog_dir) == before


def test_explicit_written_as_floats_imports(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    floats = [r.replace(",False,", ",0.0,").replace(",True,", ",1.0,") for r in TOP_HITS_ROWS[:4]]
    source = _write(tmp_path / "floats.csv", TOP_HITS_HEADER, floats)
    layout = DataLayout(tmp_path / "data")
    summary = import_catalog(spark, layout, source, load_mapping("spotify_top_hits"))
    assert summary.imported == 4 and summary.rejected == {}
    content = spark.read.parquet(str(layout.content_path)).toPandas()
    assert int(content["explicit"].sum()) == 2


def test_merge_adds_updates_and_keeps_items_absent_from_the_file(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layout = DataLayout(tmp_path / "data")
    mapping = load_mapping("spotify_tracks")
    first = _write(tmp_path / "v1.csv", SPOTIFY_HEADER, [
        f"""t1,One,10,200000,0,"['A']","['a1']",1999,{AUDIO}""",
        f"""t2,Two,10,200000,0,"['A']","['a1']",1999,{AUDIO}""",
        f"""t3,Three,10,200000,0,"['B']","['b1']",1999,{AUDIO}""",
    ])  # fmt: skip
    assert import_catalog(spark, layout, first, mapping).mode == "replace"  # no catalogue yet
    second = _write(tmp_path / "v2.csv", SPOTIFY_HEADER, [
        f"""t1,One,10,200000,0,"['A']","['a1']",1999,{AUDIO}""",  # unchanged
        f"""t2,Two (Remastered),10,201000,0,"['A']","['a1']",1999,{AUDIO}""",  # updated
        f"""t4,Four,10,180000,1,"['C', 'A']","['c1', 'a1']",2001-02-03,{AUDIO}""",  # added
    ])  # fmt: skip
    dry = import_catalog(spark, layout, second, mapping, dry_run=True)
    assert dry.outcome == "dry_run" and dry.changes == {
        "added": 1,
        "updated": 1,
        "unchanged": 1,
        "removed": 0,
    }
    assert dry.items == 4
    merged = import_catalog(spark, layout, second, mapping)
    assert merged.mode == "merge" and merged.changes == dry.changes
    content = spark.read.parquet(str(layout.content_path)).toPandas().set_index("content_id")
    assert sorted(content.index) == ["t1", "t2", "t3", "t4"]  # t3 kept although absent from the file
    assert content.loc["t2", "title"] == "Two (Remastered)" and content.loc["t2", "duration_ms"] == 201000
    creators = spark.read.parquet(str(layout.creators_path)).toPandas().set_index("creator_id")
    assert sorted(creators.index) == ["a1", "b1", "c1"]
    audio = spark.read.parquet(str(layout.audio_features_path)).toPandas()
    assert sorted(audio["content_id"]) == ["t1", "t2", "t3", "t4"]
    # An audio change alone makes an item updated.
    louder = _write(tmp_path / "v3.csv", SPOTIFY_HEADER, [
        f"""t1,One,10,200000,0,"['A']","['a1']",1999,{AUDIO.replace("-7.5", "-3.0")}""",
    ])  # fmt: skip
    assert import_catalog(spark, layout, louder, mapping).changes["updated"] == 1
    replaced = import_catalog(spark, layout, second, mapping, mode="replace")
    assert replaced.changes["removed"] == 1 and replaced.items == 3

    from content_signals.import_log import import_log

    records = import_log(layout)
    assert [r.outcome for r in records] == ["applied", "dry_run", "applied", "applied", "applied"]
    assert records[2].fingerprint == records[1].fingerprint != records[0].fingerprint
    assert records[2].changes == {"added": 1, "updated": 1, "unchanged": 1, "removed": 0}
    assert records[2].mapping == "spotify_tracks" and len(records[2].mapping_digest) == 12


def test_a_dry_run_writes_nothing_and_shows_examples(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "tracks.csv"
    rows = [r.replace(""""['Guns N' + "' Roses']\"""", """"['Guns N\\' Roses']\"""") for r in SPOTIFY_ROWS]
    source.write_text("\n".join([SPOTIFY_HEADER, *rows]) + "\n")
    layout = DataLayout(tmp_path / "data")
    summary = import_catalog(spark, layout, source, load_mapping("spotify_tracks"), dry_run=True)
    assert summary.report.counts["bad_creators"] == 3
    assert [e["name"] for e in summary.report.examples["bad_duration"]] == ["Zero", "Words"]
    text = summary.describe()
    assert "bad_creators: 3 rows" in text and "e.g. id='t9'" in text
    assert not layout.catalog_dir.exists()
    assert [p.name for p in (tmp_path / "data" / "raw").iterdir()] == ["imports.jsonl"]
