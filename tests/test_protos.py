from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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

    from serving.api.content_signals.v1 import content_signals_pb2 as pb

    request = pb.GetOnlineFeaturesRequest(feature_service="ranking_v1", content_ids=["a"])
    assert pb.GetOnlineFeaturesRequest.__module__ == "serving.api.content_signals.v1.content_signals_pb2"
    assert pickle.loads(pickle.dumps(request)) == request
