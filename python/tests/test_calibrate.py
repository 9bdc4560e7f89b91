"""watchtower.calibrate: the same estimates, intervals, moment table, J test, warnings and
table of simulations as `watchtower calibrate --json --out`, bit for bit, whether the
simulations ran here, on a Ray cluster or in an executor."""

from __future__ import annotations

import concurrent.futures
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import watchtower

# A tiny economy and a small budget: one free parameter, four moments (so a J test),
# a synthetic truth; it runs in seconds.
SPEC = """\
name: python-calibration
model: mark0
preset: watchtower
firms: 10
households: 100
ticks: 120
warmup: 40
free:
  firms.price_adjustment: {min: 0.02, max: 0.3}
target:
  synthetic: {set: {firms.price_adjustment: 0.12}, seed: 2}
moments:
  inflation: [mean, sd, acf1]
  unemployment_rate: [mean]
ensemble: 2
budget: 90
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "calibrate.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def cli_result(spec, cli, tmp_path_factory):
    """The CLI's `--json` object and `--out` table (on 2 threads)."""
    d = tmp_path_factory.mktemp("cli")
    out = cli("calibrate", str(spec), "--jobs", "2", "--json", "--data-dir", str(d / "data"), "--out", str(d / "t.parquet"))
    return json.loads(out), pq.read_table(d / "t.parquet")


@pytest.fixture(scope="module")
def local(spec):
    return watchtower.calibrate(spec, jobs=1)


def same(a: pa.Table, b: pa.Table) -> bool:
    return a.schema.remove_metadata() == b.schema.remove_metadata() and a.equals(b)


def test_the_result_is_the_clis_bit_for_bit(local, cli_result):
    json_cli, table_cli = cli_result
    assert local.json == json_cli
    assert same(local.evaluations, table_cli)
    # The fields are the JSON's.
    assert local.estimates == json_cli["estimates"]
    assert local.std_errors == json_cli["std_errors"]
    assert local.intervals == {k: tuple(v) for k, v in json_cli["intervals"].items()}
    assert local.interval_level == 0.9
    assert local.moments == json_cli["moments"]
    assert local.j_test == json_cli["j_test"]
    assert local.warnings == json_cli["warnings"]
    assert local.simulations == json_cli["simulations"]
    # One row per stored simulation (a synthetic target's bootstrap run is counted, not stored).
    assert 0 < local.evaluations.num_rows <= local.simulations <= 90


def test_the_result_holds_what_an_economist_reads(local):
    assert set(local.estimates) == {"firms.price_adjustment"}
    low, high = local.intervals["firms.price_adjustment"]
    assert 0.02 <= low <= local.estimates["firms.price_adjustment"] <= high <= 0.3
    assert [m["name"] for m in local.moments] == [
        "inflation.mean",
        "inflation.sd",
        "inflation.acf1",
        "unemployment_rate.mean",
    ]
    assert set(local.moments[0]) == {"name", "target", "model", "se", "t"}
    # m − p = 3, or 4 if the moments (the Jacobian's own noise taken out) do not pin the
    # parameter down in this tiny economy, which a warning then says.
    unidentified = any("not identified" in w for w in local.warnings)
    assert local.j_test is not None and local.j_test["df"] == (4 if unidentified else 3)
    assert local.simulations <= 90
    t = local.evaluations
    assert t.column_names[:4] == ["simulation", "evaluation", "kind", "seed"]
    assert "firms.price_adjustment" in t.column_names and t.column_names[-1] == "loss"
    assert t.column("kind").to_pylist().count("target") == 1


def test_a_dict_spec_and_a_data_directory(local, tmp_path, cli):
    data = tmp_path / "data"
    result = watchtower.calibrate(yaml.safe_load(SPEC), data_dir=data)
    assert result.json == local.json  # the id too: the first experiment of a fresh directory
    assert same(result.evaluations, local.evaluations)
    listed = cli("experiments", "--data-dir", str(data))
    assert "python-calibration" in listed


def test_ray_and_an_executor_give_the_same_result(ray_cluster, spec, local):
    on_ray = watchtower.calibrate(spec, executor="ray")
    assert on_ray.json == local.json
    assert same(on_ray.evaluations, local.evaluations)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        threaded = watchtower.calibrate(spec, executor=pool)
    assert threaded.json == local.json
    assert same(threaded.evaluations, local.evaluations)


def test_bad_specs_and_arguments(tmp_path):
    with pytest.raises(ValueError, match="budget"):
        watchtower.calibrate(yaml.safe_load(SPEC.replace("budget: 90", "budget: 20")))
    with pytest.raises(ValueError, match="jobs"):
        watchtower.calibrate(yaml.safe_load(SPEC), jobs=0)
    with pytest.raises(ValueError, match='executor must be None, "ray" or a concurrent.futures.Executor'):
        watchtower.calibrate(yaml.safe_load(SPEC), executor="dask")
    with pytest.raises(TypeError, match="executor must be"):
        watchtower.calibrate(yaml.safe_load(SPEC), executor=1)
