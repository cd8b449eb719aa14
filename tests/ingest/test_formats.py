from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import WANDS_QUERIES

from ingest.formats import (
    CatalogueError,
    read_labels,
    read_products,
    read_queries,
    write_labels,
    write_products,
    write_queries,
)
from ingest.records import Grade, LabelRecord, ProductRecord, QueryRecord

# The header real WANDS files have (no brand/price columns).
WANDS_HEADER = (
    "product_id\tproduct_name\tproduct_class\tcategory hierarchy\tproduct_description\t"
    "product_features\trating_count\taverage_rating\treview_count\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_real_wands_layout(tmp_path: Path) -> None:
    path = write(
        tmp_path / "product.csv",
        WANDS_HEADER + "0\tsolid wood platform bed\tBeds\t"
        "Furniture / Bedroom Furniture / Beds & Headboards / Beds\tgood, deep sleep\t"
        "overallwidth-sidetoside:64.7|dsprimaryproductstyle:modern\t15.0\t4.5\t15.0\n"
        + "1\tall-clad 7 qt . slow cooker\tSlow Cookers\t\t\t\t\t\t\n",
    )
    result = read_products(path)
    assert result.ok, result.errors
    bed, cooker = result.records
    assert bed.category_path == ("Furniture", "Bedroom Furniture", "Beds & Headboards", "Beds")
    assert bed.features == {"overallwidth-sidetoside": "64.7", "dsprimaryproductstyle": "modern"}
    assert (bed.rating_count, bed.average_rating, bed.review_count) == (15, 4.5, 15)
    assert bed.brand is None and bed.price is None
    assert cooker.rating_count == 0 and cooker.average_rating is None


def test_every_bad_row_is_reported_with_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "product.csv",
        WANDS_HEADER
        + "1\tgood chair\tChairs\t\t\tcolor:red\t3\t4\t1\n"
        + "2\t\tChairs\t\t\t\t\t\t\n"  # empty name
        + "3\tbad rating\tChairs\t\t\t\t1\t7\t0\n"  # rating above 5
        + "4\tbad features\tChairs\t\t\tcolor red\t\t\t\n"  # not key:value
        + "5\tbad count\tChairs\t\t\t\tmany\t\t\n"  # not a number
        + "1\tduplicate id\tChairs\t\t\t\t\t\t\n"
        + "6\tctrl \x07 char\tChairs\t\t\t\t\t\t\n",
    )
    result = read_products(path)
    assert [r.product_id for r in result.records] == ["1"]
    by_line = {e.line: e for e in result.errors}
    assert set(by_line) == {3, 4, 5, 6, 7, 8}
    assert by_line[3].field == "product_name"
    assert by_line[4].field == "average_rating"
    assert by_line[5].field == "product_features" and "key:value" in by_line[5].reason
    assert by_line[6].field == "rating_count"
    assert "duplicate" in by_line[7].reason and "line 2" in by_line[7].reason
    assert "control character" in by_line[8].reason


def test_missing_column_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="missing column"):
        read_products(write(tmp_path / "p.csv", "product_id\tname\n1\tx\n"))
    with pytest.raises(CatalogueError, match="empty"):
        read_products(write(tmp_path / "e.csv", ""))


def test_jsonl_products(tmp_path: Path) -> None:
    rows = [
        {
            "product_id": "A1",
            "name": "Oak desk",
            "brand": "Birchley",
            "features": {"material": "oak"},
        },
        "not json",
        {"product_id": "A2", "name": "Desk", "price": -3},
        [1, 2],
        {"product_id": "A3", "name": "Lamp", "colour": "red"},
    ]
    lines = [json.dumps(r) if not isinstance(r, str) else r for r in rows]
    result = read_products(write(tmp_path / "p.jsonl", "\n".join(lines) + "\n"))
    assert [r.product_id for r in result.records] == ["A1"]
    assert {(e.line, e.field) for e in result.errors} == {
        (2, "row"),
        (3, "price"),
        (4, "row"),
        (5, "colour"),
    }


def test_round_trip(tmp_path: Path) -> None:
    products = [
        ProductRecord(
            product_id="P1",
            name="Tab\tin name",
            product_class="Sofas",
            category_path=("Furniture", "Sofas"),
            description="two\nlines",
            features={"color": "blue", "width": "80"},
            brand="Oakhaven",
            price=499.99,
            rating_count=3,
            average_rating=4.5,
            review_count=2,
        )
    ]
    queries = [
        QueryRecord(
            query_id="Q1",
            query='48" blue sofa',
            query_class="Sofas",
            kind="attribute",
            split="test",
        )
    ]
    labels = [LabelRecord(query_id="Q1", product_id="P1", grade=Grade.EXACT)]
    write_products(tmp_path / "product.csv", products)
    write_queries(tmp_path / "query.csv", queries)
    write_labels(tmp_path / "label.csv", labels)
    back = read_products(tmp_path / "product.csv").records[0]
    assert back.name == "Tab in name" and back.description == "two lines"
    assert back.model_dump(exclude={"name", "description"}) == products[0].model_dump(
        exclude={"name", "description"}
    )
    assert read_queries(tmp_path / "query.csv").records == tuple(queries)
    assert read_labels(tmp_path / "label.csv").records == tuple(labels)


def test_labels_reject_unknown_grade(tmp_path: Path) -> None:
    path = write(tmp_path / "label.csv", "id\tquery_id\tproduct_id\tlabel\n0\tq\tp\tPerfect\n")
    result = read_labels(path)
    assert not result.records
    assert result.errors[0].field == "label" and "Exact" in result.errors[0].reason


def test_reads_the_shipped_wands_queries() -> None:
    if WANDS_QUERIES is None:
        pytest.skip("the shared WANDS query.csv is not on this machine")
    result = read_queries(WANDS_QUERIES)
    assert result.ok, result.errors[:3]
    assert len(result.records) == 480


def test_rows_no_reader_can_parse_are_row_errors_not_crashes(tmp_path: Path) -> None:
    """Bytes that are not UTF-8, numbers beyond float64 or the record's bounds, and integers
    longer than Python will parse each cost their own row, never the whole file."""
    tsv = tmp_path / "product.csv"
    tsv.write_bytes(
        WANDS_HEADER.encode()
        + b"1\tgood chair\tChairs\t\t\t\t3\t4\t1\n"
        + b"2\tbad \xff\xfe bytes\tChairs\t\t\t\t\t\t\n"
        + b"3\thuge count\tChairs\t\t\t\t1e400\t\t\n"
        + b"4\tbig count\tChairs\t\t\t\t1e15\t\t\n"
    )
    result = read_products(tsv)
    assert [r.product_id for r in result.records] == ["1"]
    by_line = {e.line: e for e in result.errors}
    assert set(by_line) == {3, 4, 5}
    assert "not valid UTF-8 (byte 0xff" in by_line[3].reason
    assert by_line[4].field == "rating_count" and "finite" in by_line[4].reason
    assert by_line[5].field == "rating_count"

    jsonl = tmp_path / "products.jsonl"
    good = {"product_id": "a", "name": "lamp", "category_path": ["Lighting"]}
    jsonl.write_bytes(
        json.dumps(good).encode()
        + b"\n"
        + b'{"product_id": "b", "name": "x", "rating_count": '
        + b"1" * 5_001
        + b"}\n"
        + b'{"product_id": "c", "name": "\xff"}\n'
        + json.dumps({**good, "product_id": "d", "rating_count": 10**20}).encode()
        + b"\n"
    )
    result = read_products(jsonl)
    assert [r.product_id for r in result.records] == ["a"]
    reasons = {e.line: (e.field, e.reason) for e in result.errors}
    assert set(reasons) == {2, 3, 4}
    assert reasons[2][0] == "row" and "invalid JSON" in reasons[2][1]
    assert "not valid UTF-8" in reasons[3][1]
    assert reasons[4][0] == "rating_count" and "less than or equal" in reasons[4][1]


def test_a_header_that_is_not_utf8_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "product.csv"
    path.write_bytes(b"\xff\xfe" + WANDS_HEADER.encode("utf-16-le"))
    with pytest.raises(CatalogueError, match="not valid UTF-8"):
        read_products(path)
