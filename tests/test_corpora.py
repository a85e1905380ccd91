"""Labelled corpora through their label mappings: each mapping kind on hand-built rows shaped like
the real files, refusals, and the real corpora's counts as their READMEs give them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from content_signals.errors import SignalsError
from content_signals.models.corpora import CATEGORIES, load_corpus, load_mapping
from tests.conftest import SHARED_DATA


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_value_mapping(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "d.csv",
        ",count,hate_speech,offensive_language,neither,class,tweet\n"
        '0,3,0,0,3,2,"!!! RT @someone: a plain tweet"\n'
        "1,3,0,3,0,1,you are a bitch\n"
        "2,3,2,1,0,0,some hateful text\n"
        "3,3,0,0,3,7,a class the mapping does not know\n"
        "4,3,0,0,3,2,\n",
    )
    corpus = load_corpus(load_mapping("davidson"), path)
    assert corpus.texts == ["!!! RT @someone: a plain tweet", "you are a bitch", "some hateful text"]
    assert [CATEGORIES[i] for i in corpus.single] == ["none", "offensive", "hate"]
    assert corpus.unlabelled_rows == 2 and corpus.is_hate.tolist() == [False, False, True]


def test_tag_rules(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "m.csv",
        "HITId,tweet,sentiment,directness,annotator_sentiment,target,group\n"
        "0,one,fearful_abusive_hateful_disrespectful_normal,indirect,anger,origin,other\n"
        "1,two,offensive,indirect,sadness,disability,special_needs\n"
        "2,three,normal,direct,indifference,origin,other\n"
        "3,four,abusive_normal,direct,anger,gender,women\n",
    )
    corpus = load_corpus(load_mapping("mlma"), path)
    assert [CATEGORIES[i] for i in corpus.single] == ["hate", "offensive", "none", "offensive"]


def test_threshold_mapping_gives_partial_labels(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "e.csv", "comment;isHate\nsomething hateful;1.0\nborderline;0.5\nrude but not hate;0.2\n"
    )
    corpus = load_corpus(load_mapping("ethos"), path)
    assert corpus.is_hate.tolist() == [True, True, False]
    assert corpus.single.tolist()[2] == -1
    np.testing.assert_array_equal(corpus.allowed[2], [False, True, True])


def test_a_file_the_mapping_does_not_fit_is_refused(tmp_path: Path) -> None:
    comma = _write(tmp_path, "e.csv", "comment,isHate\nx,1.0\n")
    with pytest.raises(SignalsError, match="lacks column"):
        load_corpus(load_mapping("ethos"), comma)
    with pytest.raises(SignalsError, match="labels none"):
        load_corpus(load_mapping("ethos"), _write(tmp_path, "f.csv", "comment;isHate\nx;high\n"))
    with pytest.raises(SignalsError, match="not found"):
        load_corpus(load_mapping("ethos"), tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("name: x\nfile: f\ntext_column: t\nlabel: {column: c}", "exactly one of"),
        ("name: x\nfile: f\ntext_column: t\nlabel: {column: c, values: {'1': [toxic]}}", "among"),
        (
            "name: x\nfile: f\ntext_column: t\nlabel: {column: c, at_or_above: 0.5, above: [hate]}",
            "needs at_or_above",
        ),
        ("name: x\nfile: f\ntext_column: t\nlabel: {column: c, tags_separator: _}", "needs both"),
    ],
)
def test_invalid_mappings_are_refused(tmp_path: Path, mapping: str, message: str) -> None:
    with pytest.raises(SignalsError, match=message):
        load_mapping(_write(tmp_path, "mapping.yaml", mapping))
    with pytest.raises(SignalsError, match="built in: davidson, ethos, mlma"):
        load_mapping("no-such-corpus")


@pytest.mark.parametrize(
    ("name", "items", "hate", "offensive", "none", "partial"),
    [
        ("davidson", 24_783, 1_430, 19_190, 4_163, 0),
        ("mlma", 5_647, 1_278, 3_708, 661, 0),
        ("ethos", 998, 433, 565, 565, 565),
    ],
)
def test_the_real_corpora(name: str, items: int, hate: int, offensive: int, none: int, partial: int) -> None:
    mapping = load_mapping(name)
    corpus = load_corpus(mapping, SHARED_DATA / "text" / mapping.file)
    assert len(corpus) == items and corpus.unlabelled_rows == 0
    assert corpus.allowed.sum(axis=0).tolist() == [hate, offensive, none]
    assert int((corpus.single == -1).sum()) == partial
