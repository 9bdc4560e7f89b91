"""watchtower.sensitivity and `watchtower sensitivity`: a Sobol design's indices agree
with SALib's `sobol.analyze` on the exported `point`-ordered outputs to 1e-9."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import watchtower

# 16 base samples × (3 + 2) points × 2 seeds of a small economy: 160 short runs.
SOBOL = """\
name: python-sobol
firms: 20
households: 200
ticks: 80
warmup: 30
seeds: 2
indicators: [unemployment_rate, inflation]
design: {sobol: {samples: 16, seed: 7}}
axes:
  firms.price_adjustment: {from: 0.02, to: 0.3}
  firms.hiring_firing_ratio: {from: 1, to: 4}
  households.propensity_to_consume_income: {from: 0.6, to: 0.95}
"""

PARAMETERS = ["firms.price_adjustment", "firms.hiring_firing_ratio", "households.propensity_to_consume_income"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, cli):
    """The CLI's run of the design: its exported table and its indices as JSON."""
    d = tmp_path_factory.mktemp("sobol")
    (d / "sobol.yaml").write_text(SOBOL)
    data = str(d / "data")
    cli("experiment", str(d / "sobol.yaml"), "--jobs", "2", "--data-dir", data)
    cli("export", "--experiment", "latest", "--data-dir", data, "--out", str(d / "table.parquet"))
    indices = json.loads(cli("sensitivity", "latest", "--data-dir", data, "--json"))
    return d, pq.read_table(d / "table.parquet"), indices


def salib(table: pa.Table, column: str):
    """SALib's analysis of `column`, each point's output its mean over the seeds, in
    `point` order."""
    from SALib.analyze import sobol

    means = table.group_by("point").aggregate([(column, "mean")]).sort_by("point")
    assert means.column("point").to_pylist() == list(range(16 * 5))
    y = np.asarray(means.column(f"{column}_mean").to_numpy(), dtype=float)
    problem = {"num_vars": 3, "names": PARAMETERS, "bounds": [[0.02, 0.3], [1, 4], [0.6, 0.95]]}
    return sobol.analyze(problem, y, calc_second_order=False, seed=1)


def test_the_design_is_in_salibs_row_order(exported):
    _, table, _ = exported
    assert table.num_rows == 160
    assert table.column_names[:6] == ["run", "point", "seed", *PARAMETERS]
    one_seed = table.filter(pc.equal(table["seed"], 1))
    x = np.column_stack([one_seed[p].to_numpy() for p in PARAMETERS])
    for j in range(16):
        a, b = x[5 * j], x[5 * j + 4]
        for i in range(3):
            expected = a.copy()
            expected[i] = b[i]
            np.testing.assert_array_equal(x[5 * j + 1 + i], expected)


@pytest.mark.parametrize("column", ["unemployment_rate_mean", "inflation_mean"])
def test_the_indices_are_salibs(exported, column):
    _, table, cli_indices = exported
    expected = salib(table, column)
    ours = watchtower.sensitivity(table, [column])
    assert ours.column("parameter").to_pylist() == PARAMETERS
    assert ours.schema.metadata[b"seeds_averaged"] == b"2"
    for i, p in enumerate(PARAMETERS):
        for key in ("S1", "ST"):
            assert abs(ours.column(key)[i].as_py() - expected[key][i]) < 1e-9, (column, p, key)
            assert abs(cli_indices[column][p][key] - expected[key][i]) < 1e-9, (column, p, key)
        # The intervals come from other resamples than numpy's: the same size, not equal.
        assert 0 < ours.column("ST_conf")[i].as_py() < 10 * expected["ST_conf"][i] + 1e-9


def test_a_table_without_its_metadata_names_its_parameters(exported):
    _, table, _ = exported
    bare = table.replace_schema_metadata(None)
    with pytest.raises(ValueError, match="not a Sobol design"):
        watchtower.sensitivity(bare)
    again = watchtower.sensitivity(bare, parameters=PARAMETERS)
    assert again.equals(watchtower.sensitivity(table))
    assert again.column("indicator").to_pylist() == ["unemployment_rate_mean"] * 3 + ["inflation_mean"] * 3


def test_a_sobol_spec_runs_through_watchtower_experiment(exported):
    d, table, _ = exported
    local = watchtower.experiment(d / "sobol.yaml")
    assert local.equals(table)


MORRIS = """\
name: python-morris
firms: 20
households: 200
ticks: 80
warmup: 30
indicators: [unemployment_rate, inflation]
design: {morris: {trajectories: 10, levels: 4, seed: 3}}
axes:
  firms.price_adjustment: {from: 0.02, to: 0.3}
  firms.hiring_firing_ratio: {from: 1, to: 4}
  households.propensity_to_consume_income: {from: 0.6, to: 0.95}
"""


def test_morris_measures_are_salibs(tmp_path):
    from SALib.analyze import morris

    spec = tmp_path / "morris.yaml"
    spec.write_text(MORRIS)
    table = watchtower.experiment(spec)
    assert table.num_rows == 10 * 4
    ours = watchtower.sensitivity(table, ["unemployment_rate_mean"])
    x = np.column_stack([table[p].to_numpy() for p in PARAMETERS])
    y = table["unemployment_rate_mean"].to_numpy()
    problem = {"num_vars": 3, "names": PARAMETERS, "bounds": [[0.02, 0.3], [1, 4], [0.6, 0.95]]}
    expected = morris.analyze(problem, x, y, num_levels=4, seed=1)
    for i, p in enumerate(PARAMETERS):
        assert ours.column("parameter")[i].as_py() == p
        for key in ("mu", "mu_star", "sigma"):
            assert abs(ours.column(key)[i].as_py() - expected[key][i]) < 1e-9, (p, key)
