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
from content_signals.jobs.catalog_import import REJECT_REASONS, import_catalog
from content_signals.layout import DataLayout
from tests.conftest import SHARED_DATA

MUSICOSET = SHARED_DATA / "catalog" / "musicoset_hits.tsv"


def _rejects(layout: DataLayout) -> pd.DataFrame:
    [part] = layout.import_rejects_dir.glob("part-*.csv")
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
    assert len(_rejects(layout)) == 0


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
    summary = import_catalog(spark, layout, source, load_mapping("spotify_tracks"))

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
    assert set(summary.rejected) == set(REJECT_REASONS)
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

    rejects = _rejects(layout)
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
