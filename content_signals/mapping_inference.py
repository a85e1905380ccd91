"""A starting catalogue mapping for a file nobody has described yet (``signals import catalog --infer``).

It reads a sample of the file with Python's ``csv`` module (no engine: it must answer in a second),
finds the delimiter and whether quotes are real quotes, guesses each column's role from its name and
its values, and each value's parser from the sample. The result is YAML in the mapping language of
:mod:`content_signals.catalog_mapping`, with a comment per column, for the user to check and edit:
a guess is a starting point, and ``--dry-run`` is the check.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from content_signals.errors import SignalsError
from content_signals.value_parsers import FALSE_SPELLINGS, TRUE_SPELLINGS, read_number

SAMPLE_BYTES = 1 << 20
SAMPLE_ROWS = 2_000
DELIMITERS = (",", "\t", ";", "|")

# Names (lower case, letters and digits only) each role is recognised by, best first.
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "content_id": ("contentid", "trackid", "songid", "id", "spotifyid", "itemid", "episodeid", "uri",
                   "trackuri", "isrc"),
    "title": ("title", "songname", "trackname", "name", "song", "track", "tracktitle", "episodename",
              "episodetitle"),
    "creator_ids": ("idartists", "artistids", "artistid", "artistsid", "creatorid", "creatorids", "showid"),
    "creator_names": ("artists", "nameartists", "artistnames", "artistname", "artist", "artistsnames",
                      "creator", "creatorname", "performer", "showname", "author", "authors", "host",
                      "hosts"),
    "duration_ms": ("durationms", "duration", "durationmillis", "lengthms", "durations", "durationsec",
                    "durationseconds", "length", "durationmin", "time", "trackduration"),
    "explicit": ("explicit", "isexplicit", "parentaladvisory", "explicitcontent", "adult", "nsfw"),
    "release_date": ("releasedate", "albumreleasedate", "released", "releaseyear", "year", "date",
                     "publishdate", "publisheddate", "published", "pubdate"),
    "description": ("description", "summary", "synopsis"),
    "language": ("language", "lang", "languagecode"),
}  # fmt: skip
AUDIO_NAMES = {
    "loudness": "loudness_db", "loudnessdb": "loudness_db", "energy": "energy", "valence": "valence",
    "tempo": "tempo_bpm", "tempobpm": "tempo_bpm", "speechiness": "speechiness",
    "danceability": "danceability", "acousticness": "acousticness",
    "instrumentalness": "instrumentalness", "liveness": "liveness",
}  # fmt: skip
REQUIRED = ("title", "duration_ms")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class Guess:
    """What the sample says about a file: how to read it and each column's role and options."""

    delimiter: str
    quote: str | None
    columns: list[str]
    rows: list[dict[str, str]]
    roles: dict[str, str] = field(default_factory=dict)  # role -> column
    options: dict[str, dict[str, object]] = field(default_factory=dict)  # role -> parser options
    notes: dict[str, str] = field(default_factory=dict)  # column -> why
    list_format: str = "single"
    list_separator: str = ";"

    def roles_of(self, column: str) -> str:
        return ", ".join(role for role, mapped in self.roles.items() if mapped == column) or "not mapped"


def _split(text: str, delimiter: str, quote: str | None) -> list[list[str]]:
    if quote is None:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter, quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quote, doublequote=True)
    return list(reader)


def _sample(path: Path) -> str:
    if not path.is_file():
        raise SignalsError(f"catalogue file {path} does not exist")
    with path.open("rb") as handle:
        raw = handle.read(SAMPLE_BYTES)
    text = raw.decode("utf-8-sig", errors="replace")
    if len(raw) == SAMPLE_BYTES:  # drop the last, probably cut, line
        text = text[: text.rfind("\n") + 1]
    if not text.strip():
        raise SignalsError(f"{path.name} is empty: nothing to infer a mapping from")
    return text


def read_layout(path: Path) -> Guess:
    """The delimiter and quoting that read the sample as a consistent table, and its rows.

    The delimiter is the one that splits every line into as many fields as the header. Quotes are
    quotes only when some field starts with one: a file that never quotes a field but has titles
    like ``Say "Hi"`` must be read with quoting off, or a stray quote swallows the lines after it.
    """
    text = _sample(path)
    header_line = text.splitlines()[0]
    best: tuple[float, str] | None = None
    for delimiter in DELIMITERS:
        if delimiter not in header_line:
            continue
        table = [r for r in _split(text, delimiter, '"') if r]
        if len(table) < 2:
            continue
        width = len(table[0])
        consistent = sum(len(r) == width for r in table[1:]) / (len(table) - 1)
        score = consistent * 1000 + width
        if best is None or score > best[0]:
            best = (score, delimiter)
    if best is None:
        raise SignalsError(
            f"{path.name}: found no delimiter ({', '.join(repr(d) for d in DELIMITERS)}) in its header line "
            "followed by data rows"
        )
    delimiter = best[1]
    unquoted = [r for r in _split(text, delimiter, None) if r]
    quote = '"' if any(f.startswith('"') for r in unquoted for f in r) else None
    table = [r for r in _split(text, delimiter, quote) if r]
    header = [h.strip() for h in table[0]]
    rows = [dict(zip(header, r, strict=False)) for r in table[1 : SAMPLE_ROWS + 1] if len(r) == len(header)]
    return Guess(delimiter, quote, header, rows)


def _values(guess: Guess, column: str) -> list[str]:
    return [v.strip() for r in guess.rows if (v := r.get(column, "")) and v.strip()]


def _assign_roles(guess: Guess) -> None:
    taken: set[str] = set()
    by_key = {_key(c): c for c in guess.columns}
    for role, names in ROLE_NAMES.items():
        for name in names:
            column = by_key.get(name)
            if column is not None and column not in taken and _values(guess, column):
                guess.roles[role] = column
                taken.add(column)
                break
    for column in guess.columns:
        if column not in taken and _key(column) not in AUDIO_NAMES:
            guess.notes.setdefault(column, "not mapped (no role recognised)")


def _list_options(guess: Guess) -> None:
    """Python list literals, or a separator no name contains (``;`` or ``|``), else one creator
    per cell: commas and ampersands are not split on, since names contain them (``Tyler, The
    Creator``, ``Simon & Garfunkel``)."""
    column = guess.roles.get("creator_names") or guess.roles.get("creator_ids")
    if column is None:
        return
    values = _values(guess, column)
    if values and sum(v.startswith("[") for v in values) > 0.9 * len(values):
        guess.list_format = "python"
        guess.notes[column] = f"{guess.notes.get(column, '')} (Python list literals)".strip()
        return
    counts = {sep: sum(sep in v for v in values) for sep in (";", "|")}
    separator = max(counts, key=lambda sep: counts[sep])
    if counts[separator] >= max(1, 0.002 * len(values)):
        guess.list_format, guess.list_separator = "delimited", separator
        why = f"{counts[separator]:,} of {len(values):,} sample values hold {separator!r}: read as lists"
    else:
        guess.list_format = "single"
        why = "one creator per cell"
    guess.notes[column] = f"{guess.roles_of(column)}, {why}"


def _duration_options(guess: Guess) -> None:
    column = guess.roles.get("duration_ms")
    if column is None:
        return
    values = _values(guess, column)
    numbers = [n for v in values if (n := read_number(v)) is not None]
    key = _key(column)
    if values and sum(":" in v for v in values) > 0.5 * len(values):
        unit, why = "ms", "clock times (m:ss) are read whatever the unit"
    elif key.endswith("ms") or "milli" in key:
        unit, why = "ms", "the name says milliseconds"
    elif key.endswith(("min", "minutes")):
        unit, why = "min", "the name says minutes"
    elif not numbers:
        unit, why = "ms", "no numbers in the sample: check"
    else:
        median = statistics.median(numbers)
        unit = "ms" if median >= 10_000 else "s" if median >= 20 else "min"
        why = f"median {median:,.1f} in the sample"
    guess.options["duration_ms"] = {"unit": unit}
    guess.notes[column] = f"duration_ms, unit {unit} ({why})"


def _explicit_options(guess: Guess) -> None:
    column = guess.roles.get("explicit")
    if column is None:
        return
    spellings = sorted({v.lower() for v in _values(guess, column)})
    known = set(TRUE_SPELLINGS) | set(FALSE_SPELLINGS)
    unknown = [s for s in spellings if s not in known]
    if not unknown:
        guess.notes[column] = f"explicit, spellings {', '.join(spellings)} are read as they are"
    elif len(spellings) == 2:
        # Two spellings, at least one unknown: the rarer is usually the flag being set.
        counts = {s: sum(v.lower() == s for v in _values(guess, column)) for s in spellings}
        true, false = sorted(spellings, key=lambda s: counts[s])
        guess.options["explicit"] = {"true_values": [true], "false_values": [false]}
        guess.notes[column] = (
            f"explicit, {true!r} read as true and {false!r} as false (the rarer is true): check"
        )
    else:
        guess.notes[column] = (
            f"explicit, unrecognised spellings {', '.join(unknown)}: set true_values/false_values"
        )


def _date_options(guess: Guess) -> None:
    column = guess.roles.get("release_date")
    if column is None:
        return
    values = _values(guess, column)
    slashed = [v for v in values if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", v)]
    if values and len(slashed) > 0.5 * len(values):
        day_first = any(int(v.split("/")[0]) > 12 for v in slashed)
        pattern = "d/M/yyyy" if day_first else "M/d/yyyy"
        guess.options["release_date"] = {"pattern": pattern}
        guess.notes[column] = f"release_date, pattern {pattern}" + (
            "" if day_first else " (or d/M/yyyy: check)"
        )
    else:
        shapes = sorted({re.sub(r"\d", "9", v) for v in values[:200]})[:4]
        guess.notes[column] = f"release_date, written {', '.join(shapes)}"


def _id_options(guess: Guess) -> None:
    column = guess.roles.get("content_id")
    values = _values(guess, column) if column else []
    if column is not None and len(set(values)) == len(values) == len(guess.rows):
        guess.notes[column] = "content_id (unique and filled in the sample)"
        return
    if column is not None:
        guess.notes[column] = "looked like an id but repeats or is blank in the sample: not used"
        del guess.roles["content_id"]
    parts = [guess.roles[r] for r in ("creator_names", "title", "release_date") if r in guess.roles]
    guess.options["content_id"] = {"derive": parts}


def infer(path: Path) -> Guess:
    """Everything :func:`infer_catalog_mapping` writes, as data."""
    if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        raise SignalsError(
            f"{path.name}: --infer reads delimited text; write a JSON mapping by hand (format: json)"
        )
    guess = read_layout(path)
    _assign_roles(guess)
    _list_options(guess)
    _duration_options(guess)
    _explicit_options(guess)
    _date_options(guess)
    _id_options(guess)
    for role in ROLE_NAMES:
        if role in guess.roles:
            guess.notes.setdefault(guess.roles[role], guess.roles_of(guess.roles[role]))
    for column in guess.columns:
        if _key(column) in AUDIO_NAMES:
            guess.notes[column] = f"audio {AUDIO_NAMES[_key(column)]}"
    return guess


def _yaml_value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def infer_catalog_mapping(path: Path) -> str:
    """A catalogue mapping for ``path`` as commented YAML that ``signals import catalog`` accepts."""
    guess = infer(path)
    name = re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_") or "my_catalogue"
    lines = [
        f"# Inferred by `signals import catalog {path.name} --infer` from {len(guess.rows):,} sample rows.",
        "# Check every guess, then: signals import catalog FILE --mapping THIS.yaml --dry-run",
        "#",
        "# Columns of the file:",
        *[f"#   {c!r}: {guess.notes.get(c, 'not mapped')}" for c in guess.columns],
        f"name: {name}",
        "format: csv",
        f"delimiter: {_yaml_value(guess.delimiter)}",
        f"quote: {_yaml_value(guess.quote) if guess.quote else 'null  # values contain literal quotes'}",
        "content_type: track",
        f"list_format: {guess.list_format}",
        f"list_separator: {_yaml_value(guess.list_separator)}",
        "columns:",
    ]
    for role in ROLE_NAMES:
        options = guess.options.get(role, {})
        column = guess.roles.get(role)
        if column is None and not options:
            if role in REQUIRED:
                lines.append(f"  {role}: CHANGE_ME  # required: no column looked like one")
            continue
        if not options:
            lines.append(f"  {role}: {_yaml_value(column)}")
            continue
        entries = ({"column": column} if column is not None else {}) | options
        body = ", ".join(f"{k}: {_yaml_value(v)}" for k, v in entries.items())
        comment = "  # a stable id from these columns (no id column)" if "derive" in options else ""
        lines.append(f"  {role}: {{{body}}}{comment}")
    audio = [(AUDIO_NAMES[_key(c)], c) for c in guess.columns if _key(c) in AUDIO_NAMES]
    if audio:
        lines.append("audio:")
        lines += [f"  {target}: {_yaml_value(column)}" for target, column in dict(audio).items()]
    return "\n".join(lines) + "\n"
