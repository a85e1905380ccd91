"""Labelled text corpora for the safety model, each read through a documented label mapping.

Corpora label different things: Davidson's three classes, MLMA's multi-aspect hostility tags,
ETHOS's share of annotators who saw hate. A mapping (YAML: built-in ones in ``corpus_mappings/``,
or a file of the same shape) says how one corpus's file becomes texts and the safety categories
(``hate``, ``offensive``, ``none``). A label is a *set* of categories: most are one category, and a
corpus that only says "not hate" maps to ``{offensive, none}`` (a partial label; training puts the
probability anywhere in the set, evaluation of that corpus is hate against the rest).

Three ways a label column maps (one per mapping):

- ``values``: each cell value to its categories (Davidson's ``class``);
- ``tags_separator`` + ``rules``: the cell is tags joined by a separator; the first rule whose
  condition holds gives the categories (``any_of``: one of these tags; ``exactly``: exactly these
  tags; no condition: otherwise) (MLMA's ``sentiment``);
- ``at_or_above`` + ``above`` / ``below``: a numeric cell against a threshold (ETHOS's ``isHate``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from content_signals.errors import SignalsError

CATEGORIES = ("hate", "offensive", "none")
BUILT_IN = Path(__file__).with_name("corpus_mappings")


class TagRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    any_of: list[str] | None = None
    exactly: list[str] | None = None
    categories: list[str] = Field(min_length=1)

    def matches(self, tags: set[str]) -> bool:
        if self.any_of is not None and not tags & set(self.any_of):
            return False
        return not (self.exactly is not None and tags != set(self.exactly))


class LabelMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    values: dict[str, list[str]] | None = None
    tags_separator: str | None = None
    rules: list[TagRule] | None = None
    at_or_above: float | None = None
    above: list[str] | None = None
    below: list[str] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> LabelMapping:
        kinds = [
            self.values is not None,
            self.tags_separator is not None or self.rules is not None,
            self.at_or_above is not None or self.above is not None or self.below is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError(
                "a label mapping uses exactly one of: values; tags_separator + rules; at_or_above"
            )
        if kinds[1] and (not self.tags_separator or not self.rules):
            raise ValueError("a tag mapping needs both tags_separator and rules")
        if kinds[2] and (self.at_or_above is None or not self.above or not self.below):
            raise ValueError("a threshold mapping needs at_or_above, above and below")
        for categories in self._all_categories():
            unknown = set(categories) - set(CATEGORIES)
            if unknown or not categories:
                raise ValueError(f"categories must be non-empty and among {CATEGORIES}, got {categories}")
        return self

    def _all_categories(self) -> list[list[str]]:
        found = list((self.values or {}).values()) + [rule.categories for rule in self.rules or []]
        return found + [c for c in (self.above, self.below) if c is not None]

    def categories_of(self, cell: object) -> list[str] | None:
        """The categories of one label cell; None when the mapping does not cover it."""
        if self.values is not None:
            key = str(cell).strip()
            if key.endswith(".0"):
                key = key[:-2]
            return self.values.get(key)
        if self.rules is not None and self.tags_separator is not None:
            tags = {t.strip() for t in str(cell).split(self.tags_separator) if t.strip()}
            return next((r.categories for r in self.rules if r.matches(tags)), None)
        try:
            value = float(str(cell))
        except ValueError:
            return None
        if np.isnan(value):
            return None
        assert self.at_or_above is not None
        return self.above if value >= self.at_or_above else self.below


class CorpusMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    file: str
    separator: str = ","
    text_column: str
    label: LabelMapping


@dataclass(frozen=True)
class LabelledCorpus:
    """Texts with their allowed categories (items x :data:`CATEGORIES`, True where allowed)."""

    name: str
    texts: list[str]
    allowed: np.ndarray
    source: str
    # SHA-256 of the file: a model card names exactly what it was trained on.
    sha256: str
    # Rows of the file the mapping could not label (empty text, a value it does not cover).
    unlabelled_rows: int

    @property
    def single(self) -> np.ndarray:
        """The one category of each item, -1 where the label is a set."""
        single = self.allowed.sum(axis=1) == 1
        return np.where(single, self.allowed.argmax(axis=1), -1)

    @property
    def is_hate(self) -> np.ndarray:
        """True where the label is exactly hate (the one question every corpus answers)."""
        hate = CATEGORIES.index("hate")
        return self.allowed[:, hate] & (self.allowed.sum(axis=1) == 1)

    def __len__(self) -> int:
        return len(self.texts)


def built_in_mappings() -> dict[str, Path]:
    return {path.stem: path for path in sorted(BUILT_IN.glob("*.yaml"))}


def load_mapping(name_or_path: str | Path) -> CorpusMapping:
    """A built-in mapping by name (``davidson``, ``mlma``, ``ethos``) or a mapping file."""
    path = built_in_mappings().get(str(name_or_path), Path(name_or_path))
    try:
        return CorpusMapping.model_validate(yaml.safe_load(path.read_text()))
    except OSError as exc:
        known = ", ".join(built_in_mappings())
        raise SignalsError(f"no corpus mapping {name_or_path!r} (built in: {known}; or a YAML file)") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise SignalsError(f"{path}: not a valid corpus mapping: {exc}") from exc


def load_corpus(mapping: CorpusMapping, path: Path) -> LabelledCorpus:
    """The corpus file read through its mapping; a file the mapping does not fit is refused."""
    if not path.exists():
        raise SignalsError(f"labelled corpus not found: {path}")
    try:
        frame = pd.read_csv(path, sep=mapping.separator, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SignalsError(f"{path.name}: unreadable with separator {mapping.separator!r} ({exc})") from exc
    missing = {mapping.text_column, mapping.label.column} - set(frame.columns)
    if missing:
        raise SignalsError(
            f"{path.name} lacks column(s) {', '.join(sorted(missing))} for mapping {mapping.name}"
        )
    texts: list[str] = []
    rows: list[np.ndarray] = []
    unlabelled = 0
    for text, cell in zip(frame[mapping.text_column], frame[mapping.label.column], strict=True):
        categories = mapping.label.categories_of(cell)
        if not str(text).strip() or categories is None:
            unlabelled += 1
            continue
        texts.append(str(text))
        rows.append(np.isin(CATEGORIES, categories))
    if not texts:
        raise SignalsError(f"{path.name}: mapping {mapping.name} labels none of its {len(frame):,} rows")
    return LabelledCorpus(
        name=mapping.name,
        texts=texts,
        allowed=np.array(rows, dtype=bool),
        source=path.name,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        unlabelled_rows=unlabelled,
    )
