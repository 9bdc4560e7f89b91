"""watchtower.experiment: the same table as `watchtower experiment`, bit for bit, whether the
runs ran here, on a Ray cluster, on a Dask LocalCluster or in a process pool."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import watchtower
from watchtower import _watchtower

# Small and quick, but a grid (two axes' worth of columns), several seeds and a schedule.
GRID = """\
name: python-grid
model: mark0
preset: watchtower
firms: 30
households: 300
ticks: 160
warmup: 60
seeds: 3
indicators: [unemployment_rate, inflation, government_debt]
axes:
  government.income_tax_rate: [0.1, 0.3]
  bank.policy_rate: [0.0, 0.02]
schedule:
  - {tick: 100, set: {government.unemployment_benefit_ratio: 0.5}}
"""

# An ensemble forked into a baseline and a branch (the effect columns).
FORK = """\
name: python-fork
model: mark0
firms: 30
households: 300
ticks: 150
warmup: 50
seeds: 4
fork: {tick: 50, set: {government.income_tax_rate: 0.3}}
"""


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("specs")
    out = {}
    for name, text in (("grid", GRID), ("fork", FORK)):
        path = d / f"{name}.yaml"
        path.write_text(text)
        out[name] = path
    return out


@pytest.fixture(scope="module")
def cli_tables(specs, cli, tmp_path_factory) -> dict:
    """The CLI's tables: `watchtower experiment SPEC --jobs 2 --out table.parquet`."""
    out = {}
    for name, path in specs.items():
        d = tmp_path_factory.mktemp(f"cli-{name}")
        cli("experiment", str(path), "--jobs", "2", "--data-dir", str(d / "data"), "--out", str(d / "table.parquet"))
        out[name] = pq.read_table(d / "table.parquet")
    return out


@pytest.fixture(scope="module")
def local(specs) -> dict:
    return {name: watchtower.experiment(path) for name, path in specs.items()}


def same(a: pa.Table, b: pa.Table) -> bool:
    # Bit for bit: equal values (NaN where missing is null), equal types, same order.
    return a.schema.remove_metadata() == b.schema.remove_metadata() and a.equals(b)


@pytest.mark.parametrize("name", ["grid", "fork"])
def test_the_table_is_the_clis_bit_for_bit(name, local, cli_tables):
    table = local[name]
    assert isinstance(table, pa.Table)
    assert same(table, cli_tables[name])
    assert table.column("run").to_pylist() == list(range(table.num_rows))


def test_the_table_has_one_row_per_run(local):
    grid = local["grid"]
    assert grid.num_rows == 2 * 2 * 3
    names = grid.column_names
    assert "government.income_tax_rate" in names and "bank.policy_rate" in names
    assert any(n.startswith("unemployment_rate") for n in names)
    fork = local["fork"]
    assert fork.num_rows == 4
    assert any(n.startswith("effect_") for n in fork.column_names), fork.column_names


def test_a_dict_spec_is_the_yaml_spec(local):
    spec = {
        "name": "python-fork",
        "model": "mark0",
        "firms": 30,
        "households": 300,
        "ticks": 150,
        "warmup": 50,
        "seeds": 4,
        "fork": {"tick": 50, "set": {"government.income_tax_rate": 0.3}},
    }
    assert same(watchtower.experiment(spec), local["fork"])


def test_jobs_never_change_a_number(specs, local):
    assert same(watchtower.experiment(specs["grid"], jobs=1), local["grid"])


def test_ray_gives_the_same_table(ray_cluster, specs, local):
    for name in ("grid", "fork"):
        assert same(watchtower.experiment(specs[name], executor="ray"), local[name])
    # One run per task, too.
    assert same(watchtower.experiment(specs["grid"], executor="ray", chunk_size=1), local["grid"])


def test_dask_gives_the_same_table(dask_client, specs, local):
    executor = dask_client.get_executor()
    for name in ("grid", "fork"):
        assert same(watchtower.experiment(specs[name], executor=executor), local[name])


def test_process_and_thread_pools_give_the_same_table(specs, local):
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        assert same(watchtower.experiment(specs["grid"], executor=pool, chunk_size=5), local["grid"])
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        assert same(watchtower.experiment(specs["fork"], executor=pool), local["fork"])


def test_chunks_come_back_as_arrow_and_assemble_in_any_order(specs, local):
    text, source = Path(specs["grid"]).read_text(), str(specs["grid"])
    parts = [_watchtower.run_chunk(text, source, idx) for idx in ([9, 10, 11], [0, 1, 2, 3], [4, 5, 6, 7, 8])]
    assert all(isinstance(p, pa.Table) and "_summary" in p.column_names for p in parts)
    assert parts[0].column("run").to_pylist() == [9, 10, 11]
    assert same(_watchtower._assemble(text, source, parts[::-1]), local["grid"])
    with pytest.raises(RuntimeError, match=r"3 of 12 runs did not come back \(runs 9, 10, 11\)"):
        _watchtower._assemble(text, source, parts[1:])
    with pytest.raises(ValueError, match="run 0 came back twice"):
        _watchtower._assemble(text, source, parts + parts[1:2])
    with pytest.raises(ValueError, match="run 12 is outside the plan"):
        _watchtower.run_chunk(text, source, [12])


def test_bad_specs_and_arguments(specs, tmp_path):
    with pytest.raises(ValueError, match=r"the spec, line \d+: unknown key `tickz` \(did you mean `ticks`\?\)"):
        watchtower.experiment({"model": "mark0", "tickz": 10})
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nticks: 10\nset: {government.income_tax_rate: 3}\n")
    with pytest.raises(ValueError, match=r"bad.yaml.*`government.income_tax_rate` = 3 is out of range"):
        watchtower.experiment(bad)
    with pytest.raises(FileNotFoundError):
        watchtower.experiment(tmp_path / "missing.yaml")
    with pytest.raises(TypeError, match="spec must be a dict or the path of a YAML file"):
        watchtower.experiment(42)
    with pytest.raises(ValueError, match='executor must be None, "ray" or a concurrent.futures.Executor'):
        watchtower.experiment(specs["grid"], executor="spark")
    with pytest.raises(TypeError, match="executor must be"):
        watchtower.experiment(specs["grid"], executor=object())
    with pytest.raises(ValueError, match="chunk_size must be a whole number of at least 1"):
        watchtower.experiment(specs["grid"], executor=concurrent.futures.ThreadPoolExecutor(1), chunk_size=0)
