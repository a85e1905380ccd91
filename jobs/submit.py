"""Entry point for ``spark-submit``: run signal jobs on whatever cluster spark-submit targets.

    spark-submit --master spark://host:7077 jobs/submit.py all --date 2026-01-07 \
        [--start D1 --end D2] [--config platform.yaml] [--data-dir /shared/signals]

The master, deploy mode and resources come from spark-submit; everything else (data directory,
Spark settings the platform relies on) from the platform config. Exit status: 0 published (``all``:
every job the deployment can run; the rest are reported as not run), 1 bad input, 3 a partition
failed its quality gate.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from content_signals.config import load_config
from content_signals.errors import GateFailed, SignalsError


def _dates(args: argparse.Namespace) -> list[date]:
    from content_signals.jobs.runner import date_range

    try:
        if args.date:
            return [date.fromisoformat(args.date)]
        return date_range(date.fromisoformat(args.start), date.fromisoformat(args.end))
    except (TypeError, ValueError):
        raise SignalsError("give --date YYYY-MM-DD, or --start and --end") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run signal jobs under spark-submit.")
    parser.add_argument("job", help="job name, or 'all'")
    parser.add_argument("--date")
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args(argv)
    try:
        from content_signals.jobs.runner import job_names, run_batch
        from content_signals.spark import spark_session

        overrides = {"data_dir": str(args.data_dir)} if args.data_dir else {}
        config = load_config(args.config, overrides=overrides)
        run_batch(
            config,
            job_names(args.job),
            _dates(args),
            lambda: spark_session(config.spark, master_from_submit=True),
            lambda line: print(line, flush=True),
            run_what_can_run=args.job == "all",
        )
    except GateFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except SignalsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
