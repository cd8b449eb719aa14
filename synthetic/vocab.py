"""The vocabulary of the synthetic catalogue: data files, validated on load, cached.

Every word the generator writes comes from two YAML files shipped in ``synthetic/data/``:

- ``vocab.yaml`` — attribute kinds and their WANDS feature keys; the canonical values of
  each kind with the surface forms shoppers and merchants use for them (colour families and
  the shades merchants put in names, materials with their parent material, styles, shapes,
  patterns, finishes, sizes, the words written after a count); departments and invented
  brand names; description templates; pieces of invented collection names; stopwords;
  synonym groups; and a few real WANDS queries with a hand-written structured intent.
- ``classes.yaml`` — the ~75 product classes (category path, nouns, price range, attribute
  values, how shoppers describe the class without naming it, weight in the catalogue) and
  the pairs of related classes whose products earn a Partial label for each other's
  queries. Value lists several classes share are written once under ``shared:`` with an
  anchor (``styles: &styles [...]``) and used as an alias (``style: *styles``).

Canonical values are lowercase; surface forms are what appears in text. Two surface forms
of one canonical value (``gray`` and ``grey``) mean the same thing for relevance labels.

:func:`vocabulary` reads both files once through :mod:`importlib.resources` (so it works
from an installed wheel), validates them and caches the result. Validation is in two
steps: pydantic models check the shape (no unknown or missing keys, strings where strings
belong, non-empty word lists, positive prices), then cross-checks make sure the generator
can use every entry (a class's attribute values are canonical values of ``vocab.yaml``, a
material's parent exists, related pairs and WANDS queries name known classes, ...). YAML
keys may not repeat. A bad file raises :class:`VocabularyError`, whose message names the
file and the entry, e.g. ``.../classes.yaml: classes[3] (Sofas).attrs.color[2]: 'grene' is
not a color value of vocab.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml: the same result, only slower
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

__all__ = [
    "CLASSES_FILE",
    "VOCAB_FILE",
    "ClassSpec",
    "ClassesFile",
    "Material",
    "SizeSpec",
    "VocabFile",
    "Vocabulary",
    "VocabularyError",
    "WandsQuery",
    "load_vocabulary",
    "vocabulary",
]

VOCAB_FILE = "vocab.yaml"
CLASSES_FILE = "classes.yaml"

Text = Annotated[str, Field(min_length=1)]
#: Surface forms or values to draw from: never empty (the generator picks one at random).
Words = Annotated[tuple[Text, ...], Field(min_length=1)]
Amount = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]


class VocabularyError(ValueError):
    """A vocabulary file that cannot be read or does not validate."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClassSpec(_Frozen):
    """One product class: how its products are named, described, priced and queried."""

    name: Text
    path: Words
    noun: Text
    alt_nouns: Words
    query_nouns: Words
    price: tuple[Amount, Amount]
    attrs: Mapping[Text, Words]
    descriptive: Words
    rooms: Words = ("living room",)
    extras: Mapping[Text, Words] = Field(default_factory=dict)
    modifiers: tuple[Text, ...] = ()
    broader: tuple[Text, ...] = ()
    weight: Amount = 3.0


class Material(_Frozen):
    """A canonical material: its broader material (``oak`` -> ``wood``), surface forms and
    the display value written in product features."""

    parent: Text | None = None
    words: Words
    display: Text


class SizeSpec(_Frozen):
    """A canonical size: its display value and how shoppers write it."""

    display: Text
    words: Words


class WandsQuery(_Frozen):
    """A real WANDS query (text and class as in WANDS) with its constraints written by hand."""

    wands_id: Annotated[int, Field(strict=True, ge=1)]
    text: Text
    product_class: Text
    constraints: tuple[tuple[Text, Text], ...] = ()


class VocabFile(_Frozen):
    """The content of ``vocab.yaml``."""

    #: Attribute kinds in the order they are written in a query ("48 inch white oak desk").
    attribute_kinds: Words
    feature_keys: Mapping[Text, Text]
    #: Numeric kinds: a product matches a query value when within this many inches of it.
    numeric_tolerance: Mapping[Text, Amount]
    count_words: Mapping[Text, Words]
    color_words: Mapping[Text, Words]
    color_shades: Mapping[Text, Words]
    materials: Mapping[Text, Material]
    style_words: Mapping[Text, Words]
    generic_style_words: Words
    shape_words: Mapping[Text, Words]
    pattern_words: Mapping[Text, Words]
    finish_words: Mapping[Text, Words]
    sizes: Mapping[Text, SizeSpec]
    departments: Words
    brands: Words
    common_features: Mapping[Text, Words]
    description_templates: Mapping[Text, Words]
    model_name_onsets: Words
    model_name_endings: Words
    stopwords: frozenset[Text]
    synonyms: Mapping[Text, Words]
    wands_queries: tuple[WandsQuery, ...]


class ClassesFile(_Frozen):
    """The content of ``classes.yaml``."""

    #: Value lists used by several classes, written once (YAML anchors); not read otherwise.
    shared: Mapping[Text, tuple[Text, ...]] = Field(default_factory=dict)
    classes: Annotated[tuple[ClassSpec, ...], Field(min_length=1)]
    related: tuple[tuple[Text, Text], ...] = ()


class Vocabulary(VocabFile):
    """Everything the generator draws from: ``vocab.yaml`` plus the classes of
    ``classes.yaml`` and, per class, the classes related to it (both directions)."""

    classes: tuple[ClassSpec, ...]
    related: Mapping[str, tuple[str, ...]]

    def canonical_values(self, kind: str) -> Collection[str] | None:
        """The canonical values of a word-valued attribute ``kind`` (None for numeric and
        count kinds, whose values are numbers)."""
        tables: Mapping[str, Collection[str]] = {
            "color": self.color_words,
            "style": self.style_words,
            "shape": self.shape_words,
            "pattern": self.pattern_words,
            "finish": self.finish_words,
            "material": self.materials,
            "size": self.sizes,
        }
        return tables.get(kind)


@cache
def vocabulary() -> Vocabulary:
    """The package's vocabulary, read and validated on first use, then cached."""
    data = files("synthetic") / "data"
    return load_vocabulary(data / VOCAB_FILE, data / CLASSES_FILE)


def load_vocabulary(vocab_file: Traversable | Path, classes_file: Traversable | Path) -> Vocabulary:
    """Read and validate a pair of vocabulary files (uncached; see :func:`vocabulary`).

    Raises :class:`VocabularyError` naming the file and the entry for unreadable YAML, a
    repeated key, a wrong shape or type, or an entry the generator could not use."""
    words = _load(vocab_file, VocabFile)
    classes = _load(classes_file, ClassesFile)
    vocab = Vocabulary.model_construct(
        **dict(words), classes=classes.classes, related=_symmetric(classes.related)
    )
    names = {spec.name for spec in classes.classes}
    problems = [(vocab_file, *p) for p in [*_check_words(vocab), *_check_wands(vocab, names)]]
    problems += [(classes_file, *p) for p in _check_classes(vocab, classes)]
    if problems:
        raise VocabularyError("\n".join(f"{f}: {entry}: {why}" for f, entry, why in problems))
    return vocab


# ---- reading --------------------------------------------------------------------------------

_M = TypeVar("_M", bound=BaseModel)


class _UniqueKeyLoader(_SafeLoader):
    """PyYAML's safe loader, refusing a key that appears twice in one mapping (PyYAML
    would silently keep the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found the key {key!r} twice",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load(source: Traversable | Path, model: type[_M]) -> _M:
    try:
        data = yaml.load(source.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        raise VocabularyError(
            f"{source}: cannot read the vocabulary: {_yaml_problem(exc)}"
        ) from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise VocabularyError(f"{source}: cannot read the vocabulary: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_where(err['loc'], data)}: {_why(err)}" for err in exc.errors()]
        raise VocabularyError("\n".join(lines)) from None


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """``line 55, column 3: found the key 'gray' twice (while reading a mapping at line 50)``."""
    where = ""
    if exc.problem_mark is not None:
        where = f"line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}: "
    context = ""
    if exc.context:
        at = f" at line {exc.context_mark.line + 1}" if exc.context_mark is not None else ""
        context = f" ({exc.context}{at})"
    return f"{where}{exc.problem or 'invalid YAML'}{context}"


def _where(loc: Sequence[int | str], data: Any) -> str:
    """``classes[3] (Sofas).attrs.color[2]`` for a pydantic error location."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            label = node.get("name", node.get("text")) if isinstance(node, dict) else None
            if isinstance(label, str):
                out += f" ({label})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "top level"


def _why(err: Any) -> str:
    given = err.get("input")
    if isinstance(given, (dict, list)) or err["type"] == "missing":
        return str(err["msg"])
    return f"{err['msg']} (got {given!r})"


def _symmetric(pairs: Sequence[tuple[str, str]]) -> Mapping[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for a, b in pairs:
        out.setdefault(a, []).append(b)
        out.setdefault(b, []).append(a)
    return {k: tuple(v) for k, v in out.items()}


# ---- cross-checks ---------------------------------------------------------------------------

_Problem = tuple[str, str]
#: Description template groups the generator always uses (others are per attribute kind).
_TEMPLATE_GROUPS = ("opener", "decoy", "care")
#: Attribute kinds the descriptions never mention (so they need no template).
_UNDESCRIBED = frozenset({"shape", "pattern", "finish"})


def _value_problem(vocab: Vocabulary, kind: str, value: str) -> str | None:
    """Why ``value`` is not a usable value of attribute ``kind`` (None when it is)."""
    if kind in vocab.numeric_tolerance:
        try:
            ok = math.isfinite(float(value)) and float(value) > 0
        except ValueError:
            ok = False
        return None if ok else f"{value!r} is not a positive number of inches"
    if kind in vocab.count_words:
        return None if value.isdigit() and int(value) > 0 else f"{value!r} is not a count"
    known = vocab.canonical_values(kind)
    if known is None:
        return f"{kind!r} is not an attribute kind of vocab.yaml"
    return None if value in known else f"{value!r} is not a {kind} value of vocab.yaml"


def _check_words(v: Vocabulary) -> list[_Problem]:
    problems: list[_Problem] = []
    kinds = set(v.attribute_kinds)
    for name, seq in (
        ("attribute_kinds", v.attribute_kinds),
        ("departments", v.departments),
        ("brands", v.brands),
    ):
        seen: set[str] = set()
        for i, item in enumerate(seq):
            if item in seen:
                problems.append((f"{name}[{i}]", f"{item!r} is listed twice"))
            seen.add(item)
    for kind in v.attribute_kinds:
        if kind not in v.feature_keys:
            problems.append(("feature_keys", f"attribute kind {kind!r} has no feature key"))
        typed = [
            kind in v.numeric_tolerance,
            kind in v.count_words,
            v.canonical_values(kind) is not None,
        ]
        if sum(typed) != 1:
            problems.append(
                (
                    f"attribute_kinds.{kind}",
                    "needs exactly one of: a numeric_tolerance, count_words, or a value table",
                )
            )
        if kind not in _UNDESCRIBED and kind not in v.description_templates:
            problems.append(("description_templates", f"no templates for {kind!r}"))
    for table in ("feature_keys", "numeric_tolerance", "count_words"):
        for kind in getattr(v, table):
            if kind not in kinds:
                problems.append((f"{table}.{kind}", "not one of attribute_kinds"))
    for group in _TEMPLATE_GROUPS:
        if group not in v.description_templates:
            problems.append(("description_templates", f"the {group!r} group is missing"))
    for colour in v.color_words:
        if colour not in v.color_shades:
            problems.append(("color_shades", f"no shades for the colour {colour!r}"))
    for colour in v.color_shades:
        if colour not in v.color_words:
            problems.append((f"color_shades.{colour}", "not a colour of color_words"))
    for name, material in v.materials.items():
        lineage = [name]
        parent = material.parent
        while parent is not None and parent not in lineage:
            if parent not in v.materials:
                problems.append((f"materials.{name}.parent", f"{parent!r} is not a material"))
                break
            lineage.append(parent)
            parent = v.materials[parent].parent
        if parent is not None and parent in lineage:
            problems.append((f"materials.{name}.parent", "the parents form a cycle"))
    return problems


def _check_classes(v: Vocabulary, file: ClassesFile) -> list[_Problem]:
    problems: list[_Problem] = []
    names: set[str] = set()
    for i, spec in enumerate(file.classes):
        at = f"classes[{i}] ({spec.name})"
        if spec.name in names:
            problems.append((at, "a class of this name is already defined"))
        names.add(spec.name)
        if spec.path[0] not in v.departments:
            problems.append((f"{at}.path[0]", f"{spec.path[0]!r} is not one of departments"))
        if spec.price[0] > spec.price[1]:
            problems.append((f"{at}.price", "the low price is above the high one"))
        for kind, values in spec.attrs.items():
            for j, value in enumerate(values):
                why = _value_problem(v, kind, value)
                if why:
                    problems.append((f"{at}.attrs.{kind}[{j}]", why))
        for j, material in enumerate(spec.broader):
            if material not in v.materials:
                problems.append((f"{at}.broader[{j}]", f"{material!r} is not a material"))
    for i, (a, b) in enumerate(file.related):
        for name in (a, b):
            if name not in names:
                problems.append((f"related[{i}]", f"{name!r} is not a class"))
        if a == b:
            problems.append((f"related[{i}]", f"{a!r} is related to itself"))
    return problems


def _check_wands(v: Vocabulary, classes: Collection[str]) -> list[_Problem]:
    problems: list[_Problem] = []
    for i, query in enumerate(v.wands_queries):
        at = f"wands_queries[{i}] ({query.text})"
        if query.product_class not in classes:
            problems.append((at, f"{query.product_class!r} is not a class of {CLASSES_FILE}"))
        for j, (kind, value) in enumerate(query.constraints):
            why = _value_problem(v, kind, value)
            if why:
                problems.append((f"{at}.constraints[{j}]", why))
    return problems
