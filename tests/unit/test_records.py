"""The batch output row: a wire row becomes flat columns and comes back unchanged, through Parquet too."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from serving.batch.records import arrow_schema, task_columns, to_record, to_wire

ANSWERED = {
    "id": "bus",
    "width": 810,
    "height": 1080,
    "classify": {"labels": [{"label": "minibus", "score": 0.466}, {"label": "trolleybus", "score": 0.2}]},
    "faces": {
        "faces": [
            {
                "box": [118.4, 423.5, 152.5, 467.8],
                "score": 1.0,
                "landmarks": {"left_eye": [128.6, 440.1]},
                "attributes": {"sunglasses": 0.976},
            }
        ]
    },
    "ocr": {"error": {"code": "model_failed", "message": "the OCR model failed on this image"}},
    "models": {"classify": "classify-mobilenet-v2/1", "faces": "faces-mtcnn/1", "ocr": "ocr-rapidocr/1"},
    "error": None,
}
REFUSED = {
    "id": "broken",
    "width": None,
    "height": None,
    "models": {},
    "error": {"code": "truncated_image", "message": 'the image data ends early: ñ and "quotes" kept'},
}
TASKS = ["classify", "faces", "ocr"]


def test_a_task_column_holds_the_wire_answer_as_json_text():
    record = to_record(ANSWERED, TASKS, path="/photos/bus.jpg")
    assert record["path"] == "/photos/bus.jpg"
    assert (record["error_code"], record["error_message"]) == (None, None)
    assert json.loads(record["faces"]) == ANSWERED["faces"]
    assert json.loads(record["ocr"]) == {"error": ANSWERED["ocr"]["error"]}  # a task error keeps its own shape
    assert json.loads(record["models"]) == ANSWERED["models"]


def test_answered_and_refused_rows_round_trip_to_the_same_wire_rows():
    for wire in (ANSWERED, REFUSED):
        assert to_wire(to_record(wire, TASKS)) == wire


def test_refused_row_carries_its_code_and_message_and_null_tasks():
    record = to_record(REFUSED, TASKS, path="s3://bucket/broken.jpg")
    assert record["error_code"] == "truncated_image"
    assert record["error_message"] == REFUSED["error"]["message"]
    assert all(record[task] is None for task in TASKS)


def test_rows_round_trip_through_a_parquet_file_with_the_declared_schema(tmp_path):
    records = [to_record(ANSWERED, TASKS, "/photos/bus.jpg"), to_record(REFUSED, TASKS, "/photos/broken.jpg")]
    schema = arrow_schema(TASKS)
    pq.write_table(pa.Table.from_pylist(records, schema=schema), tmp_path / "scores.parquet")
    table = pq.read_table(tmp_path / "scores.parquet")
    assert table.schema.equals(schema)
    assert table.schema.field("width").type == pa.int32()
    frame = table.to_pandas()  # pandas turns the refused row's null width into NaN: to_wire undoes that
    rows = [to_wire(row) for row in frame.to_dict("records")]
    assert rows[0] == to_wire(records[0]) and rows[0]["width"] == 810
    assert rows[1]["width"] is None and rows[1]["error"] == REFUSED["error"]
    assert task_columns(frame.columns) == TASKS


def test_task_columns_keep_the_wire_order_and_ignore_other_columns():
    columns = ["id", "ocr", "label", "classify", "describe", "path"]
    assert task_columns(columns) == ["classify", "ocr", "describe"]
    assert task_columns(pd.DataFrame(columns=["id", "path"]).columns) == []
