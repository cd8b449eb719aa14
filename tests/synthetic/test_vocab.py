"""The generator's vocabulary: package data files, validated on load, cached."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthetic.vocab import (
    CLASSES_FILE,
    VOCAB_FILE,
    VocabularyError,
    load_vocabulary,
    vocabulary,
)

DATA = files("synthetic") / "data"

Edit = Callable[[dict[str, Any]], None]


def _raw(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    return data


def _write(tmp_path: Path, vocab: dict[str, Any], classes: dict[str, Any]) -> tuple[Path, Path]:
    paths = (tmp_path / VOCAB_FILE, tmp_path / CLASSES_FILE)
    for path, data in zip(paths, (vocab, classes), strict=True):
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return paths


def test_the_package_vocabulary_loads_once() -> None:
    vocab = vocabulary()
    assert vocabulary() is vocab
    assert len(vocab.classes) >= 70
    assert len(vocab.brands) == len(set(vocab.brands)) >= 100
    assert vocab.related["Sofas"]  # symmetric pairs, both directions
    assert all("Sofas" in vocab.related[other] for other in vocab.related["Sofas"])
    assert vocab.materials["oak"].parent == "wood"
    assert vocab.canonical_values("color") is vocab.color_words
    assert vocab.canonical_values("width") is None


def test_the_files_are_package_data() -> None:
    for name in (VOCAB_FILE, CLASSES_FILE):
        assert (DATA / name).is_file()


def test_a_round_trip_through_plain_yaml_gives_the_same_vocabulary(tmp_path: Path) -> None:
    # Without anchors, aliases or comments: the data alone carries the vocabulary.
    paths = _write(tmp_path, _raw(VOCAB_FILE), _raw(CLASSES_FILE))
    assert load_vocabulary(*paths) == vocabulary()


def _set_class_weight(c: dict[str, Any]) -> None:
    c["classes"][1]["weight"] = "heavy"


def _misspell_class_key(c: dict[str, Any]) -> None:
    c["classes"][0]["nouns"] = c["classes"][0].pop("alt_nouns")


def _unknown_colour(c: dict[str, Any]) -> None:
    c["classes"][0]["attrs"]["color"] = ["gray", "grene"]


def _empty_nouns(c: dict[str, Any]) -> None:
    c["classes"][0]["query_nouns"] = []


def _unknown_related(c: dict[str, Any]) -> None:
    c["related"].append(["Sofas", "Hovercraft"])


def _duplicate_class(c: dict[str, Any]) -> None:
    c["classes"].append(dict(c["classes"][0]))


def _unknown_department(c: dict[str, Any]) -> None:
    c["classes"][0]["path"] = ["Garage", "Tools"]


def _bool_feature(c: dict[str, Any]) -> None:
    c["classes"][0]["extras"]["assembly"] = [True, False]  # an unquoted YAML Yes/No


def _missing_parent(v: dict[str, Any]) -> None:
    v["materials"]["oak"]["parent"] = "timber"


def _parent_cycle(v: dict[str, Any]) -> None:
    v["materials"]["wood"]["parent"] = "oak"


def _wands_class(v: dict[str, Any]) -> None:
    v["wands_queries"][0]["product_class"] = "Hovercraft"


def _missing_shades(v: dict[str, Any]) -> None:
    del v["color_shades"]["teal"]


def _missing_table(v: dict[str, Any]) -> None:
    del v["brands"]


@pytest.mark.parametrize(
    ("file", "edit", "entry", "reason"),
    [
        (CLASSES_FILE, _set_class_weight, "classes[1] (Recliners).weight", "valid number"),
        (CLASSES_FILE, _misspell_class_key, "classes[0] (Accent Chairs).nouns", "not permitted"),
        (
            CLASSES_FILE,
            _unknown_colour,
            "classes[0] (Accent Chairs).attrs.color[1]",
            "'grene' is not a color value",
        ),
        (CLASSES_FILE, _empty_nouns, "classes[0] (Accent Chairs).query_nouns", "at least 1"),
        (CLASSES_FILE, _unknown_related, "related[", "'Hovercraft' is not a class"),
        (CLASSES_FILE, _duplicate_class, "(Accent Chairs)", "already defined"),
        (CLASSES_FILE, _unknown_department, ".path[0]", "'Garage' is not one of departments"),
        (CLASSES_FILE, _bool_feature, ".extras.assembly[0]", "valid string (got True)"),
        (VOCAB_FILE, _missing_parent, "materials.oak.parent", "'timber' is not a material"),
        (VOCAB_FILE, _parent_cycle, "materials.wood.parent", "cycle"),
        (VOCAB_FILE, _wands_class, "wands_queries[0] (leather chairs)", "'Hovercraft'"),
        (VOCAB_FILE, _missing_shades, "color_shades", "no shades for the colour 'teal'"),
        (VOCAB_FILE, _missing_table, "brands", "Field required"),
    ],
)
def test_a_bad_entry_is_named_with_its_file(
    tmp_path: Path, file: str, edit: Edit, entry: str, reason: str
) -> None:
    vocab, classes = _raw(VOCAB_FILE), _raw(CLASSES_FILE)
    edit(vocab if file == VOCAB_FILE else classes)
    paths = _write(tmp_path, vocab, classes)
    with pytest.raises(VocabularyError) as caught:
        load_vocabulary(*paths)
    message = str(caught.value)
    line = next((x for x in message.splitlines() if entry in x), None)
    assert line is not None, message
    assert line.startswith(f"{tmp_path / file}: ")
    assert reason in line, message


def test_a_repeated_key_is_refused(tmp_path: Path) -> None:
    vocab_path, classes_path = _write(tmp_path, _raw(VOCAB_FILE), _raw(CLASSES_FILE))
    text = vocab_path.read_text(encoding="utf-8")
    vocab_path.write_text(text.replace("  gray:", "  gray: [gray]\n  gray:", 1), "utf-8")
    with pytest.raises(VocabularyError) as caught:
        load_vocabulary(vocab_path, classes_path)
    assert re.fullmatch(
        rf"{re.escape(str(vocab_path))}: cannot read the vocabulary: line \d+, column 3: "
        r"found the key 'gray' twice \(while reading a mapping at line \d+\)",
        str(caught.value),
    )


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    vocab_path, classes_path = _write(tmp_path, _raw(VOCAB_FILE), _raw(CLASSES_FILE))
    with pytest.raises(VocabularyError, match=r"missing\.yaml: cannot read"):
        load_vocabulary(vocab_path, tmp_path / "missing.yaml")
    classes_path.write_text("classes: [unclosed\n", "utf-8")
    with pytest.raises(VocabularyError, match=r"classes\.yaml: cannot read"):
        load_vocabulary(vocab_path, classes_path)
