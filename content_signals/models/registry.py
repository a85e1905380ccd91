"""A model's versions: their names and order, which one is promoted, and the gate a new version
must pass to replace it. Every reader of versions (training, serving, jobs) asks here.

Versions are immutable folders (``models/<name>/vN``, written atomically by
:func:`content_signals.models.networks.save_model`). Promotion is a pointer, ``models/<name>/promoted.json``,
replaced atomically, plus an append-only ``promotions.jsonl`` of every promotion: who, when, which
gates passed, and the reason for an override. A candidate is compared with the promoted version
on the metrics both cards hold; text classifiers must also share the held-out test split, or the
comparison would mean nothing.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from content_signals.errors import SignalsError
from content_signals.models.networks import CARD_FILE, ModelCard

PROMOTED_FILE = "promoted.json"
HISTORY_FILE = "promotions.jsonl"


@dataclass(frozen=True)
class GateCheck:
    metric: str
    candidate: float
    promoted: float
    max_drop: float

    @property
    def passed(self) -> bool:
        return self.candidate >= self.promoted - self.max_drop

    def describe(self) -> str:
        verdict = "ok" if self.passed else "FAILS"
        return (
            f"{self.metric}: {self.candidate:.4f} vs promoted {self.promoted:.4f} "
            f"(may drop {self.max_drop:.4f}): {verdict}"
        )


@dataclass(frozen=True)
class Promotion:
    model: str
    version: str
    previous: str | None
    promoted_at: str
    promoted_by: str
    checks: list[str]
    override_reason: str | None = None


def read_card(model_root: Path, version: str) -> ModelCard:
    path = model_root / version / CARD_FILE
    if not path.exists():
        known = ", ".join(stored_versions(model_root))
        raise SignalsError(f"model {model_root.name} has no version {version} (versions: {known or 'none'})")
    return ModelCard(**json.loads(path.read_text()))


# The one definition of a version name and its order: ``vN``, ordered by N (v10 after v9).
_VERSION_NAME = re.compile(r"v(\d+)", re.ASCII)


def version_number(name: str) -> int | None:
    """N of a version name ``vN``; None for any other name (staging folders, pointer files)."""
    match = _VERSION_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def ordered_versions(names: Iterable[str]) -> list[str]:
    """The version names among ``names``, oldest first; other names are left out."""
    numbered = [(number, name) for name in names if (number := version_number(name)) is not None]
    return [name for _, name in sorted(numbered)]


def stored_versions(model_root: Path) -> list[str]:
    """Complete versions (their card written: :func:`save_model` renames a version into place
    whole), oldest first."""
    names = [p.name for p in model_root.glob("v*") if (p / CARD_FILE).exists()]
    return ordered_versions(names)


def latest_version(model_root: Path) -> str | None:
    """The newest complete version, promoted or not."""
    versions = stored_versions(model_root)
    return versions[-1] if versions else None


def next_version(model_root: Path) -> str:
    """The name the next trained version takes: one past the newest complete one."""
    latest = latest_version(model_root)
    number = 0 if latest is None else version_number(latest) or 0
    return f"v{number + 1}"


def default_of(versions: Iterable[str], promoted: str | None) -> str | None:
    """The version consumers get unless they ask for one: the promoted one, else the newest."""
    ordered = ordered_versions(versions)
    if promoted in ordered:
        return promoted
    return ordered[-1] if ordered else None


def default_version(model_root: Path) -> str | None:
    return default_of(stored_versions(model_root), promoted_version(model_root))


def promoted_version(model_root: Path) -> str | None:
    path = model_root / PROMOTED_FILE
    if not path.exists():
        return None
    return str(json.loads(path.read_text())["version"])


def gate_checks(candidate: ModelCard, promoted: ModelCard, gates: dict[str, float]) -> list[GateCheck]:
    """One check per gate metric that both cards report. A gate ending in ``*`` is a pattern: it
    checks every metric with that prefix (``behaviour_*``: each behavioural functionality's pass
    rate), and a metric named exactly by another gate keeps that gate's margin."""
    margins: dict[str, float] = {}
    for pattern, max_drop in gates.items():
        if pattern.endswith("*"):
            margins.update({m: max_drop for m in sorted(candidate.metrics) if m.startswith(pattern[:-1])})
    margins.update({m: max_drop for m, max_drop in gates.items() if not m.endswith("*")})
    return [
        GateCheck(metric, candidate.metrics[metric], promoted.metrics[metric], max_drop)
        for metric, max_drop in margins.items()
        if metric in candidate.metrics and metric in promoted.metrics
    ]


def comparability_problem(candidate: ModelCard, promoted: ModelCard) -> str | None:
    """Why two versions' metrics cannot be compared, if they cannot."""
    theirs = promoted.evaluation.get("test_split_fingerprint")
    ours = candidate.evaluation.get("test_split_fingerprint")
    if theirs != ours:
        return f"evaluated on different test splits ({ours} vs {theirs})"
    return None


def promote(
    model_root: Path,
    version: str,
    gates: dict[str, float],
    override_reason: str | None = None,
    now: datetime | None = None,
) -> Promotion:
    """Promote ``version`` if it passes the gates against the promoted one (or with a reason)."""
    candidate = read_card(model_root, version)
    previous = promoted_version(model_root)
    if previous == version:
        raise SignalsError(f"{model_root.name} {version} is already the promoted version")
    checks: list[GateCheck] = []
    if previous is not None:
        current = read_card(model_root, previous)
        problem = comparability_problem(candidate, current)
        checks = gate_checks(candidate, current, gates)
        if not checks and problem is None:
            problem = f"no gate metric ({', '.join(gates)}) is reported by both versions"
        failed = [c.describe() for c in checks if not c.passed]
        if problem is not None:
            failed.insert(0, problem)
        if failed and override_reason is None:
            raise SignalsError(
                f"refusing to promote {model_root.name} {version} over {previous}: {'; '.join(failed)} "
                "(pass --override --reason '...' to promote anyway)"
            )
    if override_reason is not None and not override_reason.strip():
        raise SignalsError("an override needs a reason")
    record = Promotion(
        model=model_root.name,
        version=version,
        previous=previous,
        promoted_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        promoted_by=getpass.getuser(),
        checks=[c.describe() for c in checks],
        override_reason=override_reason,
    )
    staging = model_root / f".{PROMOTED_FILE}.tmp"
    staging.write_text(json.dumps(asdict(record), indent=2))
    os.replace(staging, model_root / PROMOTED_FILE)
    with (model_root / HISTORY_FILE).open("a") as history:
        history.write(json.dumps(asdict(record)) + "\n")
    return record


def promotion_history(model_root: Path) -> list[Promotion]:
    path = model_root / HISTORY_FILE
    if not path.exists():
        return []
    return [Promotion(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
