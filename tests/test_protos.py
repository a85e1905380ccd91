from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.buf_tool import INSTALL_HINT, buf_binary

ROOT = Path(__file__).resolve().parents[1]


def test_generated_grpc_code_matches_the_protos() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_messages_pickle_under_their_real_module() -> None:
    import pickle

    from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb

    request = pb.GetOnlineFeaturesRequest(feature_service="ranking_v1", content_ids=["a"])
    assert pb.GetOnlineFeaturesRequest.__module__ == (
        "content_signals_client.api.content_signals.v1.content_signals_pb2"
    )
    assert pickle.loads(pickle.dumps(request)) == request


# --- buf: lint and breaking-change check against the released API ---------------------------

RELEASED_API = ROOT / "protos" / "released" / "content_signals_v1.binpb"


@pytest.fixture(scope="module")
def buf() -> Path:
    path = buf_binary()
    if path is None:
        pytest.skip(INSTALL_HINT)
    return path


def run_buf(buf: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(buf), *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=120
    )


def test_released_api_image_holds_the_v1_service() -> None:
    from google.protobuf import descriptor_pb2

    image = descriptor_pb2.FileDescriptorSet.FromString(RELEASED_API.read_bytes())
    files = {f.name: f for f in image.file}
    released = files["content_signals/v1/content_signals.proto"]
    assert released.package == "content_signals.v1"
    assert [s.name for s in released.service] == ["ContentSignalsService"]


def test_installed_buf_is_the_pinned_version(buf: Path) -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["@bufbuild/buf"]
    result = run_buf(buf, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == pinned, "stale node_modules: run `make node_modules/.installed`"


def test_buf_lint_passes(buf: Path) -> None:
    result = run_buf(buf, "lint")
    assert result.returncode == 0, result.stdout + result.stderr
    # The module is the protos, not the released images next to them.
    listed = run_buf(buf, "ls-files")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["protos/content_signals/v1/content_signals.proto"]


def test_no_breaking_change_against_the_released_api(buf: Path) -> None:
    result = run_buf(buf, "breaking", "--against", str(RELEASED_API))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        # GetOnlineFeaturesRequest.feature_refs renumbered: released clients still send field 3.
        ("  repeated string feature_refs = 3;\n", "  repeated string feature_refs = 13;\n", "feature_refs"),
        # ScoreRequest.model_version removed without reserving its number and name.
        ("  string model_version = 3;\n", "", "model_version"),
    ],
    ids=["renumbered", "removed"],
)
def test_buf_breaking_fails_on_a_changed_field(
    buf: Path, tmp_path: Path, old: str, new: str, field: str
) -> None:
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    shutil.copytree(ROOT / "protos", tmp_path / "protos", ignore=shutil.ignore_patterns("released"))
    proto = tmp_path / "protos" / "content_signals" / "v1" / "content_signals.proto"
    text = proto.read_text()
    assert text.count(old) == 1, f"the test's edit no longer matches the proto: {old!r}"
    proto.write_text(text.replace(old, new))

    result = run_buf(buf, "breaking", "--against", str(RELEASED_API), cwd=tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr
    assert f'"{field}"' in result.stdout, result.stdout + result.stderr
