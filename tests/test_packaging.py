"""What the two distributions put into site-packages, built from what a fresh clone holds.

The platform's wheel adds one import name, ``content_signals``, with the stage folders (reached
through relative links in the source tree) inside it. The client's wheel adds only
``content_signals_client`` and needs only grpcio and protobuf: installed into a bare virtual
environment, without torch, Spark, Ray or numpy, it calls a running server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from content_signals_client import OnlineFeatures, Scores

from tests.scripted_server import FEATURES, IDS, SCORES, scripted_server

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["jobs", "serving", "expectations", "feature_repo"]


def _tracked_copy(destination: Path) -> None:
    """The files git tracks, as a fresh clone has them (links kept as links), from the working tree.

    Building from a copy keeps setuptools' build/ and egg-info out of the working tree.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_symlink() and not source.is_file():
            continue  # deleted in the working tree, or a submodule
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)


def _build_wheel(project: Path, out: Path) -> Path:
    # The build backend installed with the platform, so the test needs no index.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", str(out), str(project)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


def _top_level_names(wheel: zipfile.ZipFile) -> set[str]:
    """The import names the wheel adds to site-packages (its metadata folders excluded)."""
    return {
        name.split("/")[0].removesuffix(".py")
        for name in wheel.namelist()
        if not name.split("/")[0].endswith((".dist-info", ".data"))
    }


def _metadata(wheel: zipfile.ZipFile) -> tuple[str, dict[str, list[str]]]:
    """The wheel's top_level.txt and its METADATA headers (each header's values in order)."""
    (dist_info,) = {name.split("/")[0] for name in wheel.namelist() if ".dist-info/" in name}
    headers = Parser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
    fields: dict[str, list[str]] = {}
    for key, value in headers.items():
        fields.setdefault(key, []).append(value)
    return wheel.read(f"{dist_info}/top_level.txt").decode(), fields


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("the packaging tests read the tracked files of a git checkout")
    destination = tmp_path_factory.mktemp("clone")
    _tracked_copy(destination)
    return destination


@pytest.fixture(scope="module")
def client_wheel(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(clone / "clients" / "python", tmp_path_factory.mktemp("client-wheel"))


def test_the_platform_wheel_adds_only_content_signals(clone: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(_build_wheel(clone, tmp_path)) as wheel:
        assert _top_level_names(wheel) == {"content_signals"}
        top_level, metadata = _metadata(wheel)
        names = set(wheel.namelist())
    assert top_level.split() == ["content_signals"]
    assert metadata["Name"] == ["content-signals"]
    # The stage folders are subpackages (setuptools follows the relative links), never top-level.
    for stage in STAGES:
        assert f"content_signals/{stage}/__init__.py" in names, stage
    assert "content_signals/serving/grpc_service.py" in names
    # Package data travels too: the bundled lexicon and catalogue mappings.
    assert "content_signals/lexicons/offensive_en.txt" in names
    assert "content_signals/catalog_mappings/musicoset.yaml" in names
    # The client and the generated code are the other distribution's, not copied in here.
    assert not [name for name in names if "_pb2" in name or "content_signals_client" in name]


def test_the_client_wheel_holds_the_typed_client_and_needs_only_grpcio_and_protobuf(
    client_wheel: Path,
) -> None:
    with zipfile.ZipFile(client_wheel) as wheel:
        assert _top_level_names(wheel) == {"content_signals_client"}
        top_level, metadata = _metadata(wheel)
        names = set(wheel.namelist())
    assert top_level.split() == ["content_signals_client"]
    assert metadata["Name"] == ["content-signals-client"]
    generated = "content_signals_client/api/content_signals/v1/"
    assert {
        "content_signals_client/client.py",
        "content_signals_client/py.typed",
        f"{generated}content_signals_pb2.py",
        f"{generated}content_signals_pb2.pyi",
        f"{generated}content_signals_pb2_grpc.py",
    } <= names
    required = [dependency for dependency in metadata["Requires-Dist"] if "extra ==" not in dependency]
    assert sorted(re.split(r"[<>=!~; \[]", dependency)[0] for dependency in required) == [
        "grpcio",
        "protobuf",
    ]
    assert sorted(metadata["Provides-Extra"]) == ["arrow", "pandas"]


# Run by the bare environment's interpreter: what is importable there, then real calls.
BARE_SCRIPT = """
import importlib.util, json, sys

import content_signals_client
from content_signals_client import SignalsClient

absent = {name: importlib.util.find_spec(name) is None
          for name in ["torch", "pyspark", "ray", "numpy", "pandas", "pyarrow", "content_signals"]}
with SignalsClient(sys.argv[1], token="bare-token", timeout_s=10) as client:
    features = client.get_online_features(["c1", "c2", "c3"], feature_service="ranking_v1")
    inputs = {"explicit": [True, False, True]}
    scores = client.score("upload_safety", ["c1", "c2", "c3"], request_inputs=inputs)
    models = [model.name for model in client.list_models()]
try:
    features.to_pandas()
    missing_extra = None
except ImportError as error:
    missing_extra = str(error)
print(json.dumps({
    "absent": absent,
    "client_file": content_signals_client.__file__,
    "prefix": sys.prefix,
    "features": features.to_dicts(),
    "statuses": features.statuses(),
    "scores": scores.to_dicts(),
    "models": models,
    "missing_extra": missing_extra,
}))
"""


@pytest.mark.slow
def test_the_client_calls_a_server_from_a_bare_environment(client_wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "bare"
    # Started from the platform's interpreter, the environment still gets none of its packages.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    # grpcio and protobuf come from the package index, at the versions the platform tests.
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-c", str(ROOT / "constraints.txt"), str(client_wheel)],
        capture_output=True, text=True, check=False, env=env, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    script = tmp_path / "call.py"
    script.write_text(BARE_SCRIPT)

    with scripted_server() as server:
        # -I: no PYTHONPATH, no user site-packages, not even the script's folder on sys.path.
        result = subprocess.run(
            [str(python), "-I", str(script), server.target],
            capture_output=True, text=True, check=False, env=env, cwd=tmp_path, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        calls = list(server.servicer.calls)
    out = json.loads(result.stdout)

    assert out["absent"] == dict.fromkeys(
        ["torch", "pyspark", "ray", "numpy", "pandas", "pyarrow", "content_signals"], True
    )
    assert Path(out["client_file"]).is_relative_to(out["prefix"])  # the installed wheel, not the tree
    # The same values as the platform's own client decodes from the same responses.
    assert out["features"] == json.loads(json.dumps(OnlineFeatures(FEATURES).to_dicts()))
    assert out["statuses"] == OnlineFeatures(FEATURES).statuses()
    assert out["scores"] == json.loads(json.dumps(Scores(SCORES).to_dicts()))
    assert out["models"] == ["engagement"]
    assert out["missing_extra"] == (
        "pandas and pyarrow and numpy not installed: pip install 'content-signals-client[pandas]'"
    )
    assert [call.method for call in calls] == ["GetOnlineFeatures", "Score", "ListModels"]
    assert {call.metadata["authorization"] for call in calls} == {"Bearer bare-token"}
    assert list(calls[1].request.request_inputs["explicit"].bool_values) == [True, False, True]
    assert list(calls[0].request.content_ids) == IDS
