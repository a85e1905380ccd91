"""Text as the models see it: how an item's text is assembled and normalised.

Kept free of heavy imports: the gRPC ingress normalises request-time text with the same function
the training run used.
"""

from __future__ import annotations

import re
from pathlib import Path

_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"@[\w_]+")
_HTML_ENTITY = re.compile(r"&#?\w+;")
_RETWEET = re.compile(r"\bRT\b")
_SPACE = re.compile(r"\s+")

# Part of every stored embedding's fingerprint: change it when normalise_text changes, so that
# vectors of the old normalisation are computed again instead of being reused.
NORMALISATION_VERSION = "1"


def normalise_text(text: str) -> str:
    """URLs and mentions become placeholders, HTML entities and retweet markers go."""
    text = _URL.sub(" URL ", text)
    text = _MENTION.sub(" @user ", text)
    text = _HTML_ENTITY.sub(" ", text)
    text = _RETWEET.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def text_of(title: str | None, description: str | None) -> str:
    """The text an item is embedded from: its title, then its description."""
    parts = [p.strip() for p in (title, description) if p and p.strip()]
    return ". ".join(parts)


def offensive_lexicon() -> list[str]:
    path = Path(__file__).with_name("lexicons") / "offensive_en.txt"
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]
