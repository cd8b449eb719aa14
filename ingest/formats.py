"""Reading and writing catalogues: WANDS-style tab-separated files and JSONL.

Every reader validates every row and returns what was valid together with a
:class:`RowError` for each row that was not (line, field, reason), so an import can
refuse the whole file or, when the user asks for it, skip the bad rows. A product is
never half-read: a row either becomes a whole :class:`ProductRecord` or an error.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from ingest.records import Grade, LabelRecord, ProductRecord, QueryRecord

__all__ = [
    "PRODUCT_COLUMNS",
    "CatalogueError",
    "ReadResult",
    "RowError",
    "read_labels",
    "read_products",
    "read_queries",
    "write_labels",
    "write_products",
    "write_queries",
]

T = TypeVar("T", bound=BaseModel)

#: WANDS ``product.csv`` columns, then the optional ones this project adds.
PRODUCT_COLUMNS = (
    "product_id",
    "product_name",
    "product_class",
    "category hierarchy",
    "product_description",
    "product_features",
    "rating_count",
    "average_rating",
    "review_count",
    "brand",
    "price",
)
QUERY_COLUMNS = ("query_id", "query", "query_class", "kind", "split")
LABEL_COLUMNS = ("id", "query_id", "product_id", "label")

# Real WANDS descriptions can be long; the csv module's default limit is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True, slots=True)
class RowError:
    """One invalid row: where it is, which field, and what is wrong with it."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ReadResult(Generic[T]):
    records: tuple[T, ...]
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


class CatalogueError(ValueError):
    """A catalogue file has invalid rows; nothing from it was stored."""

    def __init__(self, source: str, errors: Sequence[RowError]) -> None:
        self.source = source
        self.errors = tuple(errors)
        shown = "\n".join(f"  {e}" for e in self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        super().__init__(
            f"{source}: {len(self.errors)} invalid row(s); nothing was imported.\n{shown}{more}\n"
            "Fix the rows, or pass --skip-invalid to import only the valid ones."
        )


def _validation_errors(
    line: int, exc: ValidationError, rename: Mapping[str, str]
) -> list[RowError]:
    errors = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "row"
        errors.append(RowError(line, rename.get(field, field), err["msg"]))
    return errors


#: The key a reader puts a row's error under when the row could not even be read.
_ERROR = "__error__"
#: What ``errors="surrogateescape"`` leaves in a string for each byte that is not UTF-8.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _not_utf8(text: str) -> str | None:
    """Why ``text`` (read with surrogateescape) is not valid UTF-8, or None if it is."""
    found = _UNDECODABLE.search(text)
    if found is None:
        return None
    byte = ord(found.group()) - 0xDC00
    return (
        f"not valid UTF-8 (byte 0x{byte:02x} at character {found.start() + 1}); "
        "save the file as UTF-8"
    )


def _read_tsv(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    # Undecodable bytes are kept (surrogateescape) so that one bad row is reported as
    # that row's error instead of stopping the whole read.
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            header = next(reader)
        except StopIteration:
            raise CatalogueError(str(path), [RowError(1, "header", "file is empty")]) from None
        header = [h.strip() for h in header]
        bad = _not_utf8("\t".join(header))
        if bad is not None:
            raise CatalogueError(str(path), [RowError(1, "header", bad)])
        missing = [c for c in required if c not in header]
        if missing:
            raise CatalogueError(
                str(path),
                [RowError(1, "header", f"missing column(s) {missing}; found {header}")],
            )
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            bad = _not_utf8("\t".join(row))
            if bad is not None:
                yield line, {_ERROR: bad}
                continue
            padded = row + [""] * (len(header) - len(row))
            yield line, dict(zip(header, padded, strict=False))


def _optional_number(raw: str) -> float | None:
    raw = raw.strip()
    if not raw:
        return None
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def _parse_features(raw: str) -> dict[str, str]:
    features: dict[str, str] = {}
    for piece in raw.split("|"):
        if not piece.strip():
            continue
        key, sep, value = piece.partition(":")
        if not sep:
            raise ValueError(f"feature {piece!r} is not key:value")
        key, value = key.strip(), value.strip()
        if key and value:
            features[key] = value
    return features


_PRODUCT_FIELD_TO_COLUMN = {
    "name": "product_name",
    "description": "product_description",
    "category_path": "category hierarchy",
    "features": "product_features",
}


def _product_from_row(row: Mapping[str, str]) -> dict[str, Any]:
    """Turn a WANDS row into ``ProductRecord`` fields; raises ``ValueError`` naming the column."""
    out: dict[str, Any] = {
        "product_id": row["product_id"],
        "name": row["product_name"],
        "product_class": row.get("product_class", ""),
        "description": row.get("product_description", ""),
        "category_path": tuple(
            p.strip() for p in row.get("category hierarchy", "").split("/") if p.strip()
        ),
        "brand": row.get("brand", "").strip() or None,
    }
    for column in ("rating_count", "review_count"):
        try:
            out[column] = int(_optional_number(row.get(column, "")) or 0)
        except ValueError:
            raise ValueError(f"{column}: not a finite number: {row[column]!r}") from None
    for column, key in (("average_rating", "average_rating"), ("price", "price")):
        try:
            out[key] = _optional_number(row.get(column, ""))
        except ValueError:
            raise ValueError(f"{column}: not a finite number: {row[column]!r}") from None
    try:
        out["features"] = _parse_features(row.get("product_features", ""))
    except ValueError as exc:
        raise ValueError(f"product_features: {exc}") from None
    if out["average_rating"] is not None and out["rating_count"] == 0:
        out["average_rating"] = None
    return out


def _collect(
    rows: Iterable[tuple[int, Any]],
    build: Callable[[Any], dict[str, Any]],
    model: type[T],
    rename: Mapping[str, str],
    key: Callable[[T], object] | None = None,
    key_name: str = "",
) -> ReadResult[T]:
    records: list[T] = []
    errors: list[RowError] = []
    seen: dict[object, int] = {}
    for line, row in rows:
        if isinstance(row, dict) and _ERROR in row:
            errors.append(RowError(line, "row", str(row[_ERROR])))
            continue
        try:
            fields = build(row)
        except ValueError as exc:
            column, _, reason = str(exc).partition(": ")
            errors.append(RowError(line, column, reason))
            continue
        except KeyError as exc:
            errors.append(RowError(line, str(exc.args[0]), "missing"))
            continue
        try:
            record = model.model_validate(fields)
        except ValidationError as exc:
            errors.extend(_validation_errors(line, exc, rename))
            continue
        if key is not None:
            k = key(record)
            if k in seen:
                errors.append(
                    RowError(line, key_name, f"duplicate {k!r} (first on line {seen[k]})")
                )
                continue
            seen[k] = line
        records.append(record)
    return ReadResult(tuple(records), tuple(errors))


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, object)`` per non-blank line; a line that is not a JSON object becomes
    ``{_ERROR: reason}`` (invalid UTF-8, invalid JSON, a number Python refuses to parse)."""
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            bad = _not_utf8(text)
            if bad is not None:
                yield line, {_ERROR: bad}
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield line, {_ERROR: f"invalid JSON: {exc.msg} at column {exc.colno}"}
                continue
            except ValueError as exc:  # e.g. an integer of more than 4,300 digits
                yield line, {_ERROR: f"invalid JSON: {exc}"}
                continue
            yield line, obj if isinstance(obj, dict) else {_ERROR: "not a JSON object"}


def read_products(path: Path) -> ReadResult[ProductRecord]:
    """Read products from a WANDS ``product.csv`` (tab-separated) or a ``.jsonl`` file."""
    if path.suffix == ".jsonl":
        rows: Iterable[tuple[int, Any]] = _jsonl_rows(path)
        build: Callable[[Any], dict[str, Any]] = dict
        rename: Mapping[str, str] = {}
    else:
        rows = _read_tsv(path, ("product_id", "product_name"))
        build, rename = _product_from_row, _PRODUCT_FIELD_TO_COLUMN
    return _collect(rows, build, ProductRecord, rename, lambda r: r.product_id, "product_id")


def read_queries(path: Path) -> ReadResult[QueryRecord]:
    """Read WANDS ``query.csv``: ``query_id``, ``query``, ``query_class``, optional
    ``kind`` and ``split``."""

    def build(row: Mapping[str, str]) -> dict[str, Any]:
        return {
            "query_id": row["query_id"],
            "query": row["query"],
            "query_class": row.get("query_class", ""),
            "kind": row.get("kind", "").strip() or None,
            "split": row.get("split", "").strip() or None,
        }

    rows = _read_tsv(path, ("query_id", "query"))
    return _collect(rows, build, QueryRecord, {}, lambda r: r.query_id, "query_id")


def read_labels(path: Path) -> ReadResult[LabelRecord]:
    """Read WANDS ``label.csv`` (``id``, ``query_id``, ``product_id``, ``label``)."""

    def build(row: Mapping[str, str]) -> dict[str, Any]:
        try:
            grade = Grade.from_label(row["label"])
        except ValueError as exc:
            raise ValueError(f"label: {exc}") from None
        return {"query_id": row["query_id"], "product_id": row["product_id"], "grade": grade}

    rows = _read_tsv(path, ("query_id", "product_id", "label"))
    return _collect(
        rows, build, LabelRecord, {}, lambda r: (r.query_id, r.product_id), "query_id,product_id"
    )


def _clean(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _write_tsv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_clean(v) for v in row])
    tmp.replace(path)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if value != int(value) else str(int(value))


def write_products(path: Path, products: Iterable[ProductRecord]) -> None:
    _write_tsv(
        path,
        PRODUCT_COLUMNS,
        (
            (
                p.product_id,
                p.name,
                p.product_class,
                " / ".join(p.category_path),
                p.description,
                "|".join(f"{k}:{v}" for k, v in p.features.items()),
                p.rating_count,
                _number(p.average_rating),
                p.review_count,
                p.brand,
                _number(p.price),
            )
            for p in products
        ),
    )


def write_queries(path: Path, queries: Iterable[QueryRecord]) -> None:
    _write_tsv(
        path,
        QUERY_COLUMNS,
        ((q.query_id, q.query, q.query_class, q.kind, q.split) for q in queries),
    )


def write_labels(path: Path, labels: Iterable[LabelRecord]) -> None:
    _write_tsv(
        path,
        LABEL_COLUMNS,
        ((i, lab.query_id, lab.product_id, lab.grade.label) for i, lab in enumerate(labels)),
    )
