"""The front's checks and error rewriting on real bodies, without a server (fast)."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serving.front.errors import ERRORS, MAX_MESSAGE, FrontError, clean_message, rewrite_inner_error
from serving.front.limits import inspect, media_type
from vision.settings import Settings


@pytest.fixture()
def settings() -> Settings:
    return Settings(max_images_per_request=4, max_metadata_bytes=1000, max_json_depth=8)


def _code(call) -> str:
    with pytest.raises(FrontError) as caught:
        call()
    assert caught.value.status == ERRORS[caught.value.code]
    return caught.value.code


def test_media_types(settings):
    assert media_type("application/json; charset=utf-8") == "application/json"
    assert media_type("TEXT/CSV") == "text/csv"
    assert _code(lambda: media_type(None)) == "unsupported_media_type"
    assert _code(lambda: media_type("")) == "unsupported_media_type"
    assert _code(lambda: media_type("application/x-www-form-urlencoded")) == "unsupported_media_type"


def test_json_rows_depth_and_bytes_besides_images(settings):
    image = "A" * 50_000  # image bytes do not count against the metadata limit
    body = json.dumps(
        {
            "dataframe_records": [{"id": "a", "image": image}, {"id": "b", "image": image}],
            "params": {"tasks": "classify, faces"},
        }
    ).encode()
    facts = inspect(body, "application/json", settings)
    assert facts.rows == 2 and facts.tasks == ["classify", "faces"]
    split = json.dumps({"dataframe_split": {"columns": ["image", "id"], "data": [[image, "a"]] * 3}}).encode()
    assert inspect(split, "application/json", settings).rows == 3
    columns = json.dumps({"inputs": {"image": [image] * 2, "id": ["a", "b"]}}).encode()
    assert inspect(columns, "application/json", settings).rows == 2
    too_many = json.dumps({"dataframe_records": [{"image": "AAAA"}] * 5}).encode()
    assert _code(lambda: inspect(too_many, "application/json", settings)) == "too_many_images"
    big_id = json.dumps({"dataframe_records": [{"id": "x" * 2000, "image": image}]}).encode()
    assert _code(lambda: inspect(big_id, "application/json", settings)) == "metadata_too_large"
    deep = json.dumps({"dataframe_records": [{"image": "AAAA"}], "params": {"a": [[[[[[[[1]]]]]]]]}}).encode()
    assert _code(lambda: inspect(deep, "application/json", settings)) == "json_too_deep"
    assert _code(lambda: inspect(b"[" * 100_000, "application/json", settings)) == "json_too_deep"
    assert _code(lambda: inspect(b'{"a": ', "application/json", settings)) == "invalid_json"
    assert _code(lambda: inspect(b"\xff\xfe{}", "application/json", settings)) == "invalid_json"
    assert _code(lambda: inspect(b'{"rows": []}', "application/json", settings)) == "invalid_body"


def test_csv(settings):
    assert inspect(b"id,image\na,AAAA\nb,BBBB\n", "text/csv", settings).rows == 2
    assert _code(lambda: inspect(b'id,image\n"a,AAAA\n', "text/csv", settings)) == "invalid_csv"
    rows = b"id,image\n" + b"a,AAAA\n" * 5
    assert _code(lambda: inspect(rows, "text/csv", settings)) == "too_many_images"


def test_parquet_is_judged_from_its_footer(settings):
    def parquet(table):
        out = io.BytesIO()
        pq.write_table(table, out)
        return out.getvalue()

    assert (
        inspect(parquet(pa.table({"id": ["a"], "image": ["AAAA"]})), "application/vnd.apache.parquet", settings).rows
        == 1
    )
    many = parquet(pa.table({"image": ["AAAA"] * 1_000_000}))
    assert _code(lambda: inspect(many, "application/vnd.apache.parquet", settings)) == "too_many_images"
    assert (
        _code(lambda: inspect(b"PAR1 not really PAR1", "application/vnd.apache.parquet", settings)) == "invalid_parquet"
    )
    ids = parquet(pa.table({"id": ["x" * 5000], "image": ["AAAA"]}))
    assert _code(lambda: inspect(ids, "application/vnd.apache.parquet", settings)) == "metadata_too_large"


def test_mlflow_errors_are_rewritten_short_and_plain():
    echo = "Failed to predict data '   id   image\n0  secret  AAAA'. \nError: unknown task(s): teleport"
    error = rewrite_inner_error(400, json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "message": echo}).encode())
    assert (error.code, error.message) == ("bad_request", "unknown task(s): teleport")
    traced = {
        "error_code": "BAD_REQUEST",
        "stack_trace": "Traceback ... /work/main/x.py",
        "message": "Failed to parse input as a Pandas DataFrame. ... Parquet ... Error: '/srv/x.py boom'",
    }
    error = rewrite_inner_error(400, json.dumps(traced).encode())
    assert error.code == "invalid_parquet" and "/srv" not in error.message
    overloaded = {
        "error_code": "TEMPORARILY_UNAVAILABLE",
        "message": "Failed to predict data 'x'. \nError: [overloaded] faces has 256 images queued",
    }
    error = rewrite_inner_error(503, json.dumps(overloaded).encode())
    assert (error.code, error.status, error.message) == ("overloaded", 503, "faces has 256 images queued")
    error = rewrite_inner_error(504, b"Request processing time exceeded limit")
    assert (error.code, error.status) == ("timeout", 504)
    unexpected = {"error_code": "BAD_REQUEST", "message": "Encountered an unexpected error", "stack_trace": "..."}
    assert rewrite_inner_error(400, json.dumps(unexpected).encode()).status == 500


def test_messages_are_short_and_mask_paths():
    message = clean_message("could not open /work/main/.venv/lib/python3.11/x.py: " + "y" * 1000)
    assert "/work" not in message and "<path>" in message and len(message) <= MAX_MESSAGE
