"""Fetch ranking features (and optionally scores) for a few content ids and print them as a table.

    python examples/ranking_client.py --target 127.0.0.1:9000 c000000 c000001 no-such-item
    python examples/ranking_client.py --model engagement --token "$SIGNALS_TOKEN" c000000

The table has one column per content id and one row per feature, because feature services are
wide (dozens of features) and ranking requests are short lists. Empty cells (<NA>, NaN, None) are
values the server did not return: see the statuses printed below the table.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc
import pandas as pd
from content_signals_client import SignalsClient


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="+", help="content ids, e.g. c000000")
    parser.add_argument("--target", default="127.0.0.1:9000", help="host:port of the service")
    parser.add_argument(
        "--token",
        default=os.environ.get("SIGNALS_TOKEN"),
        help="bearer token (default: $SIGNALS_TOKEN); sent as 'authorization: Bearer TOKEN'",
    )
    parser.add_argument("--feature-service", default="ranking_v1")
    parser.add_argument("--model", help="also score the ids with this model, e.g. engagement")
    parser.add_argument("--root-certs", type=Path, help="PEM file of CA certificates: connect with TLS")
    parser.add_argument("--tls", action="store_true", help="TLS with the system's root certificates")
    parser.add_argument("--server-name", help="TLS name to verify instead of the target's host")
    parser.add_argument("--timeout", type=float, default=2.0, help="deadline per call, retries included")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pd.set_option("display.max_rows", None)
    pd.set_option("display.max_columns", None)
    pd.set_option("display.width", 200)
    with SignalsClient(
        args.target,
        token=args.token,
        root_certificates=args.root_certs.read_bytes() if args.root_certs else None,
        tls=args.tls,
        server_name_override=args.server_name,
        timeout_s=args.timeout,
    ) as client:
        try:
            features = client.get_online_features(args.ids, feature_service=args.feature_service)
            scores = client.score(args.model, args.ids) if args.model else None
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    print(f"{features.feature_service_version or features.feature_service}:")
    # One column per requested id, in request order (a repeated id repeats its column).
    frame = features.to_pandas().drop(columns="content_id").T
    frame.columns = pd.Index(features.content_ids)
    print(frame.to_string())
    not_present = {
        name: statuses for name, statuses in features.statuses().items() if set(statuses) != {"PRESENT"}
    }
    if not_present:
        print("\nstatuses of features not present for every id:")
        print(pd.DataFrame(not_present, index=features.content_ids).T.to_string())
    if scores is not None:
        print(f"\n{scores.model} {scores.model_version}:")
        print(scores.to_pandas().to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
