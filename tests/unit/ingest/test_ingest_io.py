"""Reading raw files: every record accounted for, whatever the bytes."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.common.errors import UserError
from pipelines.ingest.job import read_raw_table
from pipelines.ingest.parsing import find_raw_file, parse_csv_bytes


def test_broken_lines_keep_their_place_and_text():
    frame = parse_csv_bytes(b"a,b\n1,2,3\n4,5\n\n6\n7,8\n")
    assert frame["source_row"].tolist() == [1, 2, 3, 4]  # the blank line is not a record
    assert frame["raw_line"].tolist()[0] == "1,2,3" and frame["raw_line"].tolist()[2] == "6"
    assert frame["a"].isna().tolist() == [True, False, True, False]
    assert frame["a"].dropna().tolist() == ["4", "7"]


def test_quoted_newlines_and_stray_quotes_stay_one_record():
    frame = parse_csv_bytes(b'a,b\n"x\ny",2\n"3"z,4\n')
    assert frame["a"].tolist() == ["x\ny", "3z"] and frame["raw_line"].isna().all()


def test_bad_bytes_become_replacement_characters_not_errors():
    frame = parse_csv_bytes(b"\xef\xbb\xbfa,b\ncaf\xe9,x\x00y\n")
    assert list(frame.columns[:2]) == ["a", "b"]  # BOM stripped
    assert frame["a"].iloc[0] == "caf\ufffd" and frame["b"].iloc[0] == "x\ufffdy"


def test_empty_strings_are_kept_as_read():
    frame = parse_csv_bytes(b"a,b\n,\n")
    assert frame["a"].tolist() == [""] and isinstance(frame["a"].dtype, pd.StringDtype)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty file"),
    (b"a,a\n1,2\n", "duplicate column"),
    (b"a,reason\n1,2\n", "reserved"),
])
def test_unusable_csv_is_a_user_error(data, message):
    with pytest.raises(UserError, match=message):
        parse_csv_bytes(data)


def test_binary_parquet_column_is_decoded(tmp_path):
    table = pa.table({"user_id": ["u1", "u2"], "note": pa.array([b"ok", b"\xff\x00"], type=pa.binary())})
    pq.write_table(table, tmp_path / "users.parquet")
    raw = read_raw_table(tmp_path, "users")
    assert raw.fmt == "parquet" and len(raw.sha256) == 64
    assert raw.frame["note"].tolist() == ["ok", "\ufffd\ufffd"]
    assert raw.frame["source_row"].tolist() == [1, 2]


def test_corrupt_parquet_is_a_user_error(tmp_path):
    (tmp_path / "users.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(UserError, match="unreadable parquet"):
        read_raw_table(tmp_path, "users")


def test_file_lookup(tmp_path):
    assert find_raw_file(tmp_path, "users") is None and read_raw_table(tmp_path, "users") is None
    (tmp_path / "users.csv").write_text("user_id,signup_ts\n")
    assert find_raw_file(tmp_path, "users") == tmp_path / "users.csv"
    (tmp_path / "users.parquet").write_bytes(b"")
    with pytest.raises(UserError, match="both"):
        find_raw_file(tmp_path, "users")
