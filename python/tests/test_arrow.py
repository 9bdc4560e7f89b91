"""Arrow round trips: the history reaches pyarrow, pandas and polars with its values and
types intact, and without a copy on the Rust side."""

from __future__ import annotations

import pyarrow as pa
import pytest

import watchtower


@pytest.fixture(scope="module")
def history() -> pa.Table:
    econ = watchtower.Economy(households=500, firms=50, seed=5)
    econ.step(60)
    return econ.history()


def test_pandas_round_trip(history):
    pd = pytest.importorskip("pandas")
    df = history.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == history.column_names
    # Counts are integers; money (genesis currency units) and rates are floats.
    assert str(df["employed"].dtype) == "int64" and str(df["inflation"].dtype) == "float64"
    assert str(df["gdp"].dtype) == "float64"
    assert df["tick"].tolist() == list(range(60))
    back = pa.Table.from_pandas(df, schema=history.schema, preserve_index=False)
    assert back.equals(history)


def test_polars_round_trip(history):
    pl = pytest.importorskip("polars")
    df = pl.from_arrow(history)
    assert df.shape == (60, history.num_columns)
    assert df.schema["employed"] == pl.Int64 and df.schema["unemployment_rate"] == pl.Float64
    assert df.schema["gdp"] == pl.Float64
    assert df.to_arrow().cast(history.schema).equals(history)
    assert df["unemployment_rate"].to_list() == history.column("unemployment_rate").to_pylist()


def test_the_arrow_capsule_interface(history):
    # Any consumer of the PyCapsule stream interface reads it (DuckDB, polars, arro3...).
    reader = pa.RecordBatchReader.from_stream(history)
    assert reader.read_all().equals(history)


def test_history_is_handed_over_without_a_copy():
    econ = watchtower.Economy(households=200, firms=20)
    econ.step(30)
    a, b = econ.history(), econ.history()
    addr = lambda t: [c.buffers()[1].address for c in t.column("gdp").chunks]  # noqa: E731
    assert addr(a) == addr(b), "a second call hands out the same buffers"
    pl = pytest.importorskip("polars")
    df = pl.from_arrow(a, rechunk=False)
    assert df.to_arrow().column("gdp").chunks[0].buffers()[1].address == addr(a)[0]
