"""The whole path a new user takes with a public catalogue in a layout the platform has never seen
(comma-separated, no id column, no artist ids, no listening data), through the real CLI and a real
gRPC server: import → ``jobs run all`` → ``publish`` → features and a safety score for an imported
item through the typed client."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from content_signals.config import PlatformConfig, load_config
from content_signals.layout import DataLayout
from tests.conftest import DAVIDSON, free_port

SIGNALS = str(Path(sys.executable).parent / "signals")
DAY = "2026-01-07"

# The "Top Hits Spotify from 2000-2019" shape, written by hand: artist, song and year identify a
# track; the same title by two artists is two tracks; one artist name contains a comma.
HEADER = (
    "artist,song,duration_ms,explicit,year,popularity,danceability,energy,key,loudness,mode,"
    "speechiness,acousticness,instrumentalness,liveness,valence,tempo,genre"
)
SONGS = [
    ("Adele", "Hello", 295502, "False", 2015),
    ("Lionel Richie", "Hello", 251000, "False", 1984),
    ("Eminem", "Without Me", 290320, "True", 2002),
    ("Eminem", "Lose Yourself", 326466, "True", 2002),
    ("Tyler, The Creator", "EARFQUAKE", 190066, "True", 2019),
    ("Tyler, The Creator", "See You Again", 180386, "True", 2017),
    ("Britney Spears", "Toxic", 198800, "False", 2003),
    ("Britney Spears", "Oops!...I Did It Again", 211160, "False", 2000),
    ("Daft Punk", "One More Time", 320357, "False", 2000),
    ("Daft Punk", "Harder, Better, Faster, Stronger", 224693, "False", 2001),
    ("Coldplay", "Yellow", 266773, "False", 2000),
    ("Coldplay", "Clocks", 307880, "False", 2002),
]


def _row(artist: str, song: str, ms: int, explicit: str, year: int) -> str:
    artist, song = (f'"{text}"' if "," in text else text for text in (artist, song))
    return f"{artist},{song},{ms},{explicit},{year},70,0.6,0.7,5,-6.0,1,0.05,0.1,0.0,0.1,0.5,118.0,pop"


@dataclass(frozen=True)
class Deployment:
    config: PlatformConfig
    config_path: Path
    source: Path


def signals(deployment: Deployment, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    command = [SIGNALS, "--config", str(deployment.config_path), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """A fresh deployment with only a safety model (the daily content_safety job scores with it)."""
    from content_signals.models.safety import load_labelled_texts, train_safety

    root = tmp_path_factory.mktemp("own-catalogue")
    settings = {
        "data_dir": str(root / "data"),
        "spark": {"master": "local[2]", "shuffle_partitions": 2},
        # The day is fixed in the past: serve its values as they were, not as OUTSIDE_MAX_AGE.
        "serving": {"grpc_port": free_port(), "enforce_ttl": False},
        "ray": {"num_cpus": 2},
    }
    config_path = root / "signals.yaml"
    config_path.write_text(yaml.safe_dump(settings))
    config = load_config(config_path)
    train_safety(config, load_labelled_texts(DAVIDSON, limit=300), epochs=3)
    source = root / "songs_normalize.csv"
    source.write_text("\n".join([HEADER, *[_row(*song) for song in SONGS]]) + "\n")
    return Deployment(config, config_path, source)


@pytest.fixture(scope="module")
def server(deployment: Deployment) -> Iterator[str]:
    """Import, run every job, publish, then serve: each step as a user runs it."""
    imported = signals(
        deployment, "import", "catalog", str(deployment.source), "--mapping", "spotify_top_hits"
    )
    assert imported.returncode == 0, imported.stderr
    assert "12 of 12 rows accepted; 12 added" in imported.stdout

    ran = signals(deployment, "jobs", "run", "all", "--date", DAY)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "content_engagement 2026-01-07: not run" in ran.stdout  # no listening events: skipped
    published = signals(deployment, "publish", "--date", DAY)
    assert published.returncode == 0, published.stdout + published.stderr
    assert "content_engagement" in published.stdout  # reported as not published

    from content_signals.serving.server import wait_until_serving

    process = subprocess.Popen(
        [SIGNALS, "--config", str(deployment.config_path), "serve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    target = f"127.0.0.1:{deployment.config.serving.grpc_port}"
    try:
        wait_until_serving(target, timeout_s=300)
        _wait_until_routed(target, timeout_s=300)
        yield target
    finally:
        process.terminate()
        process.wait(timeout=120)


def _wait_until_routed(target: str, timeout_s: float) -> None:
    """Until the app answers its own RPCs: Ray Serve's proxy reports SERVING on the health service
    as soon as it is up, and answers UNIMPLEMENTED until the application's routes are deployed."""
    import grpc
    from content_signals_client import SignalsClient

    deadline = time.monotonic() + timeout_s
    with SignalsClient(target) as client:
        while True:
            try:
                client.list_feature_services(timeout_s=5)
                return
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED or time.monotonic() > deadline:
                    raise
            time.sleep(1)


def _item(deployment: Deployment, title: str, artist: str) -> str:
    layout = DataLayout(deployment.config.data_dir)
    content = pq.read_table(layout.content_path).to_pandas()
    creators = pq.read_table(layout.creators_path).to_pandas().set_index("creator_id")
    rows = content[(content["title"] == title) & (content["creator_id"].map(creators["name"]) == artist)]
    [content_id] = rows["content_id"].tolist()
    return str(content_id)


def test_an_imported_item_is_served_with_features_and_a_safety_decision(
    deployment: Deployment, server: str
) -> None:
    from content_signals_client import SignalsClient

    earfquake = _item(deployment, "EARFQUAKE", "Tyler, The Creator")
    hello_adele, hello_lionel = (
        _item(deployment, "Hello", "Adele"),
        _item(deployment, "Hello", "Lionel Richie"),
    )
    assert len({earfquake, hello_adele, hello_lionel}) == 3
    with SignalsClient(server) as client:
        safety = client.get_online_features([earfquake, hello_adele], feature_service="safety_v2")
        statuses = safety.statuses()
        assert all(
            s == ["PRESENT", "PRESENT"] for name, s in statuses.items() if "mean_item_plays" not in name
        )
        assert safety.value(earfquake, "content_metadata:is_explicit") is True
        assert safety.value(earfquake, "content_safety:safety_decision") in ("allow", "review", "block")
        assert 0.0 <= safety.value(earfquake, "content_safety:unsafe_score") <= 1.0
        # Tyler's two songs, under one creator id derived from the name
        assert safety.value(earfquake, "creator_profile:catalogue_size") == 2
        # Catalogue-only: the engagement-based creator signal is null, never a made-up zero.
        plays = [name for name in statuses if "mean_item_plays" in name]
        assert plays and all(safety.value(earfquake, name) is None for name in plays)

        # ranking_v1 reads content_engagement too, which nothing computed: those features alone
        # are NOT_FOUND, the rest are served.
        ranking = client.get_online_features([hello_lionel], feature_service="ranking_v1").statuses()
        engagement = {n: s for n, s in ranking.items() if n.startswith("content_engagement:")}
        assert engagement and all(s == ["NOT_FOUND"] for s in engagement.values())
        assert ranking["content_metadata:is_explicit"] == ["PRESENT"]

        scores = client.score("safety", [earfquake], request_inputs={"text": ["EARFQUAKE"]}).to_dicts()
        assert scores[0]["found"] is True and not math.isnan(scores[0]["score"])
        assert scores[0]["decision"] in ("ALLOW", "REVIEW", "BLOCK")
