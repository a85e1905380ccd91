"""What the client sends: request inputs typed by their Python values, feature references, and
argument mistakes refused before anything is sent; and the example script end to end."""

from __future__ import annotations

import re
import runpy
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from content_signals_client import SignalsClient, request_input
from content_signals_client.api.content_signals.v1 import content_signals_pb2 as pb

from tests.scripted_server import IDS, Server, scripted_server


@pytest.fixture
def served() -> Iterator[Server]:
    with scripted_server() as running:
        yield running


def test_request_inputs_choose_the_list_by_python_type(served: Server) -> None:
    inputs: dict[str, Sequence[Any]] = {
        "upload_title": ["a", "b", "c"],
        "duration_s": [1.5, 2.0, 0.0],
        "track_count": [1, 2, 3],
        "explicit": [True, False, True],
        "numpy_ints": list(np.array([4, 5, 6])),
        # numpy's bool_ is not a bool (nor a number): it must still travel as a bool, not fail.
        "numpy_bools": list(np.array([True, False, False])),
        "numpy_doubles": list(np.array([0.5, 1.0, 2.0])),
    }
    with SignalsClient(served.target) as client:
        client.get_online_features(IDS, feature_service="upload_safety_v1", request_inputs=inputs)
        client.score("upload_safety", IDS, request_inputs={"explicit": [False, False, True]})
    sent = served.servicer.calls[0].request
    assert sent.feature_service == "upload_safety_v1" and list(sent.feature_refs) == []
    assert sent.request_inputs["upload_title"] == pb.RequestInput(string_values=["a", "b", "c"])
    assert sent.request_inputs["duration_s"] == pb.RequestInput(double_values=[1.5, 2.0, 0.0])
    assert sent.request_inputs["track_count"] == pb.RequestInput(int64_values=[1, 2, 3])
    assert sent.request_inputs["explicit"] == pb.RequestInput(bool_values=[True, False, True])
    assert sent.request_inputs["numpy_ints"] == pb.RequestInput(int64_values=[4, 5, 6])
    assert sent.request_inputs["numpy_bools"] == pb.RequestInput(bool_values=[True, False, False])
    assert sent.request_inputs["numpy_doubles"] == pb.RequestInput(double_values=[0.5, 1.0, 2.0])
    assert served.servicer.calls[1].request.request_inputs["explicit"].bool_values == [False, False, True]


def test_feature_refs_are_sent_as_given(served: Server) -> None:
    with SignalsClient(served.target) as client:
        client.get_online_features(IDS, feature_refs=["engagement:plays_7d", "metadata:language"])
    sent = served.servicer.calls[0].request
    assert (sent.feature_service, list(sent.feature_refs)) == (
        "",
        ["engagement:plays_7d", "metadata:language"],
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1, 2.5, 3], "mixes value types"),
        ([True, 1, 0], "mixes value types"),
        (["a", 1, "c"], "mixes value types"),
        ([], "no values"),
        ([1, 2], "2 values for 3 content ids"),
    ],
)
def test_bad_request_inputs_fail_before_sending(served: Server, values: list[Any], message: str) -> None:
    with SignalsClient(served.target) as client, pytest.raises(ValueError, match=message):
        client.get_online_features(IDS, feature_service="upload_safety_v1", request_inputs={"x": values})
    assert served.servicer.calls == []


def test_argument_mistakes_fail_before_sending(served: Server) -> None:
    with SignalsClient(served.target) as client:
        with pytest.raises(ValueError, match="exactly one"):
            client.get_online_features(IDS)
        with pytest.raises(ValueError, match="exactly one"):
            client.get_online_features(IDS, feature_service="ranking_v1", feature_refs=["a:b"])
        with pytest.raises(TypeError, match=r"^content_ids must be a sequence of ids, not a single string$"):
            client.get_online_features("c000001", feature_service="ranking_v1")
        with pytest.raises(TypeError, match=r"^feature_refs must be a sequence of 'view:feature' strings"):
            client.get_online_features(IDS, feature_refs="engagement:plays_7d")
        with pytest.raises(TypeError, match=r"^request input 'x': pass a sequence of values, not a single"):
            client.score("engagement", ["c1", "c2", "c3"], request_inputs={"x": "abc"})
    assert served.servicer.calls == []


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(object(), "object"), (b"title", "bytes"), (None, "NoneType"), ([1.0], "list")],
    ids=["object", "bytes", "None", "nested-list"],
)
def test_an_unsupported_input_value_is_named_with_its_type(value: object, type_name: str) -> None:
    # Never stringified or coerced: b"title" must not reach the model as "b'title'".
    expected = f"^unsupported request input value {re.escape(repr(value))} of type {type_name}$"
    with pytest.raises(TypeError, match=expected):
        request_input("x", ["fine", value])  # type: ignore[list-item]


def test_the_example_script_prints_features_and_scores(
    served: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    example = runpy.run_path(str(Path(__file__).parents[1] / "examples" / "ranking_client.py"))
    assert example["main"](["--target", served.target, "--token", "t", "--model", "upload_safety", *IDS]) == 0
    out = capsys.readouterr().out
    assert "ranking_v1@1a2b3c4d" in out
    assert "engagement:plays_7d" in out and "OUTSIDE_MAX_AGE" in out and "REVIEW" in out
    assert served.servicer.calls[0].metadata["authorization"] == "Bearer t"

    served.servicer.always = grpc.StatusCode.PERMISSION_DENIED
    assert example["main"](["--target", served.target, "c1"]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err
