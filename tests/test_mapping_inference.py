"""``signals import catalog --infer``: a starting mapping for files in three layouts imports them,
and the CLI refuses a bad file with one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from content_signals.catalog_mapping import load_mapping
from content_signals.jobs.catalog_import import import_catalog
from content_signals.layout import DataLayout
from content_signals.mapping_inference import infer_catalog_mapping
from tests.conftest import SHARED_DATA
from tests.test_catalog_import import AUDIO, SPOTIFY_HEADER, TOP_HITS_HEADER, TOP_HITS_ROWS, _write

MUSICOSET = SHARED_DATA / "catalog" / "musicoset_hits.tsv"
SIGNALS = str(Path(sys.executable).parent / "signals")
SPARK_BOOT_LINES = (
    "WARNING: Using incubator modules",
    "Setting default log level",
    "To adjust logging level",
)

# A third layout, as a podcast host might export it: semicolon-separated, its own names, durations
# as m:ss, explicit as Y/N, dates day first, several hosts in one cell.
PODCAST = '''episode_title;show;hosts;length;adult;published;language
Pilot;Tech Talk;Ann Lee|Bo Chen;42:10;clean;21/01/2024;en
"Quotes; and ""escapes""";Tech Talk;Ann Lee;1:02:03;clean;28/01/2024;en
Explicit one;Late Night;Cy Dee;35:00;explicit;02/02/2024;en
Pilot;Other Show;Di Eve;12:00;clean;03/02/2024;en
'''


def _infer(path: Path, tmp_path: Path) -> Path:
    text = infer_catalog_mapping(path)
    mapping = tmp_path / f"{path.stem}.mapping.yaml"
    mapping.write_text(text)
    yaml.safe_load(text)  # valid YAML, comments and all
    return mapping


@pytest.mark.skipif(not MUSICOSET.exists(), reason="../shared/data is not beside the checkout")
def test_the_inferred_musicoset_mapping_imports_it_like_the_built_in_one(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mapping = load_mapping(str(_infer(MUSICOSET, tmp_path)))
    assert mapping.delimiter == "\t" and mapping.quote is None  # titles hold literal quotes
    assert mapping.columns.content_id.column == "song_id" and mapping.list_format == "python"
    summary = import_catalog(spark, DataLayout(tmp_path / "data"), MUSICOSET, mapping, dry_run=True)
    assert summary.report.accepted == 11_959 and summary.report.counts == {}
    assert summary.creators == 4_379


def test_the_inferred_spotify_tracks_mapping_imports_it(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = [
        f"""t1,"Hello, World",10,200000,0,"['Guns N\\' Roses']",['a1'],1999,{AUDIO}""",
        f"""t2,Second,5,180000,1,"['A', 'B']","['a2', 'a3']",2001-05,{AUDIO}""",
        f"""t3,Third,5,180000.0,0.0,"['A']","['a2']",2001-05-06,{AUDIO}""",
    ]
    source = _write(tmp_path / "tracks.csv", SPOTIFY_HEADER, rows)
    mapping = load_mapping(str(_infer(source, tmp_path)))
    assert (mapping.delimiter, mapping.quote) == (",", '"')
    assert mapping.columns.content_id.column == "id" and mapping.columns.creator_ids.column == "id_artists"
    assert mapping.columns.title.column == "name" and mapping.audio["loudness_db"] == "loudness"
    layout = DataLayout(tmp_path / "data")
    summary = import_catalog(spark, layout, source, mapping)
    assert summary.imported == 3 and summary.report.counts == {} and summary.creators == 3


def test_the_inferred_mapping_of_a_layout_without_ids_derives_them(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = _write(tmp_path / "songs.csv", TOP_HITS_HEADER, TOP_HITS_ROWS[:4])
    text = infer_catalog_mapping(source)
    assert "derive" in text and "(no id column)" in text
    mapping = load_mapping(str(_infer(source, tmp_path)))
    assert mapping.columns.content_id.derive == ("artist", "song", "year")
    assert mapping.columns.creator_ids is None and mapping.list_format == "single"
    summary = import_catalog(spark, DataLayout(tmp_path / "data"), source, mapping)
    assert summary.imported == 4 and summary.creators == 4


def test_the_inferred_mapping_of_a_podcast_export_reads_its_spellings(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "episodes.csv"
    source.write_text(PODCAST)
    text = infer_catalog_mapping(source)
    mapping = load_mapping(str(_infer(source, tmp_path)))
    assert mapping.delimiter == ";" and mapping.quote == '"'
    assert mapping.list_format == "delimited" and mapping.list_separator == "|"
    assert mapping.columns.explicit.true_values == ("explicit",) and "check" in text
    assert mapping.columns.release_date.pattern == "d/M/yyyy"
    assert mapping.columns.content_id.derive == ("hosts", "episode_title", "published")
    summary = import_catalog(spark, DataLayout(tmp_path / "data"), source, mapping.model_copy(
        update={"content_type": "episode"}))  # fmt: skip
    assert summary.imported == 4 and summary.report.counts == {}
    from pyspark.sql import functions as F

    content = spark.read.parquet(str(DataLayout(tmp_path / "data").content_path))
    row = content.where(F.col("title") == 'Quotes; and "escapes"').first()
    assert row is not None and row["duration_ms"] == 3_723_000


def _signals(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [SIGNALS, "--data-dir", str(data), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_the_cli_refuses_a_bad_file_with_one_line_and_keeps_the_catalogue(tmp_path: Path) -> None:
    data = tmp_path / "data"
    good = _write(tmp_path / "songs.csv", TOP_HITS_HEADER, TOP_HITS_ROWS[:4])
    ok = _signals(data, "import", "catalog", str(good), "--mapping", "spotify_top_hits")
    assert ok.returncode == 0, ok.stderr
    assert "4 added, 0 updated, 0 unchanged" in ok.stdout
    before = sorted((p.name, p.stat().st_size) for p in (data / "raw" / "catalog").rglob("*"))
    bad = _write(tmp_path / "bad.csv", "a,b\n1,2", [])
    wrong_layout = _signals(data, "import", "catalog", str(bad), "--mapping", "spotify_top_hits")
    assert wrong_layout.returncode == 1
    assert wrong_layout.stderr.strip().splitlines() == [
        "error: bad.csv does not match mapping 'spotify_top_hits': missing columns artist, song, year, "
        "duration_ms, explicit, loudness, energy, valence, tempo, speechiness, danceability, acousticness, "
        "instrumentalness, liveness (the file has: a, b)"
    ]
    years = {",2015,": ",someday,", ",1984,": ",someday,", ",2002,": ",x,"}
    bad_rows = []
    for row in TOP_HITS_ROWS[:4]:
        for year, broken in years.items():
            row = row.replace(year, broken)
        bad_rows.append(row)
    rejected = _write(tmp_path / "rejected.csv", TOP_HITS_HEADER, bad_rows)
    refused = _signals(
        data, "import", "catalog", str(rejected), "--mapping", "spotify_top_hits", "--mode", "replace"
    )
    assert refused.returncode == 1
    # Spark prints three fixed lines on stderr as it starts; beyond them, the error is one line.
    [line] = [x for x in refused.stderr.strip().splitlines() if not x.startswith(SPARK_BOOT_LINES)]
    assert line.startswith("error: import of rejected.csv refused: 1 of 4 rows accepted (25.0%, minimum 50%)")
    assert "bad_release_date (3 rows)" in line
    assert sorted((p.name, p.stat().st_size) for p in (data / "raw" / "catalog").rglob("*")) == before
    history = _signals(data, "import", "history")
    assert [line.split()[3] for line in history.stdout.splitlines()] == ["applied", "refused"]
