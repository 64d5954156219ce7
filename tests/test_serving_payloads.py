"""Request bodies, casting and response shapes, without a server (the server tests cover
the same contract over HTTP; these pin down the edges quickly)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mltrack.exceptions import BadRequest, SchemaEnforcementError, UnsupportedMediaType
from mltrack.models.signature import ModelSignature, enforce_schema
from mltrack.serving.casting import cast_column, frame_for_schema
from mltrack.serving.payloads import from_json, media_type, parse_body
from mltrack.serving.responses import predictions_frame, predictions_json, to_jsonable
from mltrack.types import ColSpec, Schema, TensorSpec

NAMED = Schema((ColSpec("double", "a"), ColSpec("long", "b")))
TENSOR = Schema((TensorSpec("float64", (-1, 2)),))


def parse(
    document: Any, schema: Schema | None = NAMED, content_type: str = "application/json"
) -> Any:
    signature = ModelSignature(inputs=schema) if schema is not None else None
    return parse_body(json.dumps(document).encode(), content_type, signature)


# ---------------------------------------------------------------------- casting


@pytest.mark.parametrize(
    ("values", "type_name", "expected", "dtype"),
    [
        ([1, 2.5, None], "double", [1.0, 2.5, np.nan], "float64"),
        (["1.5", 2], "double", [1.5, 2.0], "float64"),
        ([0.5], "float", [0.5], "float32"),
        ([1, 2.0, "3"], "long", [1, 2, 3], "int64"),
        ([-(2**31)], "integer", [-(2**31)], "int32"),
        ([True, 0, "false", "TRUE"], "boolean", [True, False, False, True], "bool"),
        (["x", None], "string", ["x", None], "object"),
        (["YWI="], "binary", [b"ab"], "object"),
        (["2024-01-02T03:04:05"], "datetime", [np.datetime64("2024-01-02T03:04:05")], "datetime64[ns]"),
        (np.array([1, 2], dtype=np.int64), "double", [1.0, 2.0], "float64"),
        (np.array([1.0, 2.0]), "long", [1, 2], "int64"),
        (pd.Series([1, 0], dtype="int64"), "boolean", [True, False], "bool"),
        (pd.Series(["a", None], dtype="str"), "string", ["a", None], "object"),
    ],
)  # fmt: skip
def test_lossless_casts(values: Any, type_name: str, expected: list[Any], dtype: str) -> None:
    cast = cast_column("c", values, type_name)
    assert str(cast.dtype) == dtype
    assert pd.Series(cast).equals(pd.Series(np.array(expected, dtype=dtype)))


@pytest.mark.parametrize(
    ("values", "type_name", "fragment"),
    [
        ([2.5], "long", "not a whole number"),
        ([None], "long", "missing"),
        ([float("nan")], "long", "missing"),
        ([True], "long", "true"),
        ([2**63], "long", "out of int64 range"),
        ([2**31], "integer", "out of int32 range"),
        (np.array([1.5]), "long", "not whole"),
        (np.array([np.nan]), "long", "missing"),
        (["abc"], "double", "not a number"),
        ([True], "double", "true"),
        ([[1.0]], "double", "[1.0]"),
        ([{"x": 1}], "double", "{'x': 1}"),
        ([2**53 + 1], "double", "too large"),
        (np.array([2**62], dtype=np.int64), "double", "too large"),
        (np.array([True]), "double", "true"),
        ([1e39], "float", "float32"),
        ([2], "boolean", "2"),
        (["yes"], "boolean", "yes"),
        (np.array([0.5]), "boolean", "0.5"),
        ([5], "string", "not a string"),
        (["***"], "binary", "base64"),
        ([5], "datetime", "ISO 8601"),
        (["not a date"], "datetime", "not a date"),
    ],
)
def test_lossy_casts_name_the_column_and_value(values: Any, type_name: str, fragment: str) -> None:
    with pytest.raises(SchemaEnforcementError, match="'col'") as raised:
        cast_column("col", values, type_name)
    assert fragment in raised.value.message
    assert type_name in raised.value.message


def test_nested_types_pass_through_as_objects() -> None:
    cast = cast_column("c", [[1, 2], [3]], '{"type": "array", "items": {"type": "long"}}')
    assert cast.dtype == object and cast.tolist() == [[1, 2], [3]]


def test_frame_for_schema_casts_named_columns_and_keeps_others() -> None:
    frame = frame_for_schema({"b": [1.0], "a": [1], "extra": ["x"]}, NAMED)
    assert list(frame.columns) == ["b", "a", "extra"]
    assert [str(t) for t in frame.dtypes[:2]] == ["int64", "float64"]
    with pytest.raises(SchemaEnforcementError, match="'extra'"):
        enforce_schema(frame, NAMED)
    assert list(enforce_schema(frame[["b", "a"]], NAMED).columns) == ["a", "b"]


def test_same_typed_columns_become_one_block_with_names_and_index() -> None:
    schema = Schema((ColSpec("double", "x"), ColSpec("double", "y")))
    frame = frame_for_schema({"y": [1, 2], "x": [3.5, 4]}, schema, index=["r", "s"])
    assert list(frame.columns) == ["y", "x"] and list(frame.index) == ["r", "s"]
    assert frame.to_dict() == {"y": {"r": 1.0, "s": 2.0}, "x": {"r": 3.5, "s": 4.0}}
    assert list(enforce_schema(frame, schema).columns) == ["x", "y"]


def test_enforcement_fast_path_returns_the_frame_itself() -> None:
    frame = frame_for_schema({"a": [1.0], "b": [2]}, NAMED)
    assert enforce_schema(frame, NAMED) is frame
    assert enforce_schema(frame[["b", "a"]], NAMED) is not frame


# ---------------------------------------------------------------------- content types


@pytest.mark.parametrize(
    ("header", "kind", "orient"),
    [
        ("application/json", "json", None),
        ("Application/JSON; charset=UTF-8", "json", None),
        ("application/json; format=pandas-records", "json", "records"),
        ("application/json;", "json", None),
        ("text/csv; charset=utf8", "csv", None),
        ("application/vnd.apache.parquet", "parquet", None),
        ("application/x-parquet", "parquet", None),
    ],
)
def test_media_types(header: str, kind: str, orient: str | None) -> None:
    found = media_type(header)
    assert found is not None and (found.kind, found.orient) == (kind, orient)


@pytest.mark.parametrize(
    "header",
    ["text/plain", "application/octet-stream", "application/json; charset=latin-1",
     "application/vnd.apache.parquet; charset=utf-8", "text/csv; format=pandas-split", "json"],
)  # fmt: skip
def test_unsupported_media_types_are_415(header: str) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        media_type(header)
    assert raised.value.http_status == 415


@pytest.mark.parametrize("header", [None, " ", "application/x-www-form-urlencoded"])
def test_no_content_type_or_curls_default_means_json_if_it_parses(header: str | None) -> None:
    assert parse_body(b'{"inputs": {"a": [1], "b": [2]}}', header, None).data.shape == (1, 2)
    with pytest.raises(UnsupportedMediaType, match="Content-Type: application/json"):
        parse_body(b"a,b\n1,2\n", header, None)


# ---------------------------------------------------------------------- JSON forms


def test_every_json_form_gives_the_same_frame() -> None:
    split = {"columns": ["a", "b"], "data": [[1.5, 2], [3, 4]]}
    records = [{"a": 1.5, "b": 2}, {"a": 3, "b": 4}]
    forms = [
        split,
        {"dataframe_split": split},
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": records},
        {"inputs": {"a": [1.5, 3], "b": [2, 4]}},
        {"instances": {"a": [1.5, 3], "b": [2, 4]}},
    ]
    expected = pd.DataFrame({"a": [1.5, 3.0], "b": [2, 4]})
    for form in forms:
        frame = parse(form).data
        assert frame.reset_index(drop=True).equals(expected), form


def test_index_and_params_are_kept() -> None:
    parsed = parse(
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]], "index": ["r"]},
         "params": {"k": 1}}
    )  # fmt: skip
    assert list(parsed.data.index) == ["r"] and parsed.params == {"k": 1}


def test_records_missing_a_key_become_missing_values() -> None:
    frame = parse({"dataframe_records": [{"a": 1, "b": 2}, {"b": 3}]}).data
    assert np.isnan(frame["a"][1])
    with pytest.raises(SchemaEnforcementError, match=r"'b'.*missing"):
        parse({"dataframe_records": [{"a": 1, "b": 2}, {"a": 3}]})


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"dataframe_split": {"data": [[1]], "columns": ["a"], "orient": "x"}}, "unknown key"),
        ({"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}, "more than once"),
        ({"dataframe_split": {"columns": [["a"]], "data": [[1]]}}, "list of column names"),
        ({"dataframe_split": {"columns": ["a"], "data": 5}}, "'data'"),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]], "index": [1, 2]}}, "index"),
        ({"inputs": {"a": [1, 2], "b": [1]}}, "same length"),
        ({"inputs": {"a": [1, 2], "b": 3}}, "not a list"),
        ({"dataframe_records": {"a": 1}}, "list of records"),
        ({"dataframe_records": [1]}, "item 0"),
        ({"inputs": [[1, 2], [3]]}, "named columns"),
        ({"dataframe_split": {"columns": ["a", "b"], "data": []}}, "no rows"),
        ("text", "a string"),
        ({"columns": ["a", "b"]}, "'data'"),
    ],
)
def test_malformed_json_forms(document: Any, fragment: str) -> None:
    with pytest.raises((BadRequest, SchemaEnforcementError)) as raised:
        parse(document)
    assert fragment in raised.value.message


def test_tensor_signatures_take_arrays_cast_without_loss() -> None:
    array = parse({"inputs": [[1, 2], [3, 4]]}, TENSOR).data
    assert array.dtype == np.float64 and array.shape == (2, 2)
    with pytest.raises(BadRequest, match="ragged"):
        parse({"inputs": [[1, 2], [3]]}, TENSOR)
    frame = parse({"dataframe_split": {"columns": ["x", "y"], "data": [[1, 2]]}}, TENSOR).data
    assert enforce_schema(frame, TENSOR).shape == (1, 2)


def test_models_without_a_signature_get_raw_values() -> None:
    assert parse({"inputs": [[1, 2]]}, None).data.tolist() == [[1, 2]]
    assert parse({"inputs": "hello"}, None).data == "hello"
    assert parse({"dataframe_split": {"columns": ["x"], "data": [["a"]]}}, None).data["x"][0] == "a"


@pytest.mark.parametrize(
    "split",
    [
        {"columns": ["a", "b"], "data": [[5.1, 3.5], [4.9, 3.0]]},
        {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]},
        {"columns": ["a", "b"], "data": [[1, 2.5], [3, 4.0]]},  # ints and floats: pandas decides
        {"columns": ["a"], "data": [[2**70]]},  # beyond int64
        {"columns": ["a", "b"], "data": [[True, 1], [False, 0]]},
        {"columns": ["a", "b"], "data": [[1.5, None]]},
        {"columns": ["a", "b"], "data": [[0.5, 1.5]], "index": ["r1"]},
        {"data": [[0.5, 1.5]]},
    ],
)
def test_frames_without_a_signature_are_what_pandas_makes_of_the_columns(split: Any) -> None:
    frame = parse({"dataframe_split": split}, None).data
    rows = split["data"]
    names = split.get("columns", list(range(len(rows[0]))))
    expected = pd.DataFrame(
        {name: [row[i] for row in rows] for i, name in enumerate(names)},
        index=split.get("index"),
    )
    pd.testing.assert_frame_equal(frame, expected)


def test_a_model_renaming_its_columns_changes_nothing_for_the_next_request() -> None:
    split = {"dataframe_split": {"columns": ["a", "b"], "data": [[0.5, 1.5]]}}
    first = parse(split, None).data
    first.columns.name = "renamed by the model"
    second = parse(split, None).data
    assert second.columns.name is None
    assert list(second.columns) == ["a", "b"]


def test_unnamed_column_signatures() -> None:
    schema = Schema((ColSpec("string"),))
    frame = parse({"inputs": ["a", "b"]}, schema).data
    assert frame[0].tolist() == ["a", "b"]
    assert enforce_schema(frame, schema)[0].tolist() == ["a", "b"]
    with pytest.raises(SchemaEnforcementError):
        parse({"inputs": [1, 2]}, schema)


def test_from_json_for_files_and_records_orient() -> None:
    frame = from_json([{"a": 1, "b": 2}], NAMED, orient="records").data
    assert frame["a"].dtype == np.float64


# ---------------------------------------------------------------------- CSV and Parquet


def test_csv_is_parsed_with_the_signature_types() -> None:
    signature = ModelSignature(inputs=NAMED)
    frame = parse_body(b"b,a\n1,2\n3,4.5\n", "text/csv", signature).data
    assert frame["a"].tolist() == [2.0, 4.5] and frame["b"].dtype == np.int64
    with pytest.raises(SchemaEnforcementError, match=r"'b'.*'1\.5'"):
        parse_body(b"a,b\n1,1.5\n", "text/csv", signature)
    with pytest.raises(BadRequest, match="more than once"):
        parse_body(b"a,a\n1,2\n", "text/csv", signature)


def test_csv_for_a_tensor_signature() -> None:
    frame = parse_body(b"x,y\n1,2.5\n", "text/csv", ModelSignature(inputs=TENSOR)).data
    assert enforce_schema(frame, TENSOR).tolist() == [[1.0, 2.5]]


def test_parquet_is_cast_like_json() -> None:
    import io

    buffer = io.BytesIO()
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_parquet(buffer)
    frame = parse_body(
        buffer.getvalue(), "application/x-parquet", ModelSignature(inputs=NAMED)
    ).data
    assert frame["a"].dtype == np.float64
    with pytest.raises(BadRequest, match="Parquet"):
        parse_body(b"not parquet", "application/vnd.apache.parquet", None)


# ---------------------------------------------------------------------- responses


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (np.array([0, 2]), [0, 2]),
        (np.array([[0.9, 0.1]]), [[0.9, 0.1]]),
        (np.array([np.nan, np.inf, 1.0]), [None, None, 1.0]),
        (np.array([True]), [True]),
        (np.array(["a"]), ["a"]),
        ([np.int64(1), 2.5], [1, 2.5]),
        (pd.Series([1, 2], name="yhat"), [{"yhat": 1}, {"yhat": 2}]),
        (pd.Series([1]), [{"0": 1}]),
        (pd.DataFrame({"label": [0], "name": ["a"]}), [{"label": 0, "name": "a"}]),
        ({"a": np.array([1, 2]), "b": "x"}, {"a": [1, 2], "b": "x"}),
        (np.float64(42.0), 42.0),
        ("hello", "hello"),
        (b"ab", "YWI="),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (np.array(["2024-01-02", "NaT"], dtype="datetime64[D]"), ["2024-01-02T00:00:00", None]),
        (np.datetime64("2024-01-02T03:04:05.5"), "2024-01-02T03:04:05.500000"),
        (
            pd.DataFrame({"t": pd.to_datetime(["2024-01-02"])}),
            [{"t": "2024-01-02T00:00:00"}],
        ),
        (pd.NaT, None),
        (float("nan"), None),
        (pd.DataFrame({"a": [1.5, np.nan], "b": [2.0, 3.0]}), [{"a": 1.5, "b": 2.0}, {"a": None, "b": 3.0}]),
        (pd.DataFrame({"i": [1], "f": [0.5]}), [{"i": 1, "f": 0.5}]),
        (pd.DataFrame({"p": [True], "q": [False]}), [{"p": True, "q": False}]),
        (pd.DataFrame({1: [2], "1": [3]}), [{"1": 3}]),
        (pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}), [{"n": 1}, {"n": None}]),
        (pd.DataFrame({"s": np.array([1.0], dtype=np.float32)}), [{"s": 1.0}]),
    ],
)  # fmt: skip
def test_mlflow_response_shapes(output: Any, expected: Any) -> None:
    assert to_jsonable(output) == expected
    assert json.loads(predictions_json(output)) == {"predictions": expected}


def test_unserialisable_output_is_an_internal_error() -> None:
    from mltrack.exceptions import MltrackError

    with pytest.raises(MltrackError, match="cannot be written as JSON") as raised:
        to_jsonable(object())
    assert raised.value.http_status == 500


def test_predictions_as_table_columns() -> None:
    assert list(predictions_frame(np.array([1, 2])).columns) == ["prediction"]
    assert list(predictions_frame(np.zeros((2, 3))).columns) == [
        "prediction_0",
        "prediction_1",
        "prediction_2",
    ]
    assert list(predictions_frame(pd.Series([1], name="yhat")).columns) == ["yhat"]
    assert list(predictions_frame({"a": [1], "b": [2]}).columns) == ["a", "b"]
    assert list(predictions_frame(pd.DataFrame({"x": [1]}, index=[5])).index) == [0]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"1.5,2\n", "has no header row: its first line holds values (1.5,2)"),
        (b"a,b\n", "has a header line but no rows"),
        (b"1.5,2\n3,4\n", "has no header row: its first line holds values (1.5,2)"),
    ],
)
def test_csv_without_a_header_row_says_one_is_required(body: bytes, fragment: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_body(body, "text/csv", ModelSignature(inputs=NAMED))
    assert fragment in str(raised.value)
    assert "send the header row a,b first" in str(raised.value).replace("Send", "send")


def test_csv_of_one_line_without_a_signature_asks_for_a_header() -> None:
    with pytest.raises(BadRequest, match="send a header row naming the columns first"):
        parse_body(b"1,2\n", "text/csv", None)
