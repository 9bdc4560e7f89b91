"""read_run and Economy.from_run over a run the CLI recorded in watchtower.db."""

from __future__ import annotations

import json

import pytest

import watchtower
from watchtower import Economy


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, cli):
    """Two runs recorded by `watchtower run`: the second with a scheduled command."""
    data = tmp_path_factory.mktemp("data")
    policy = data / "policy.yaml"
    policy.write_text("government:\n  income_tax_rate: 0.25\nschedule:\n  - {tick: 40, set: {government.income_tax_rate: 0.3}}\n")
    common = ["--households", "400", "--firms", "40", "--data-dir", str(data)]
    cli("run", "--ticks", "30", "--seed", "3", *common)
    cli("run", "--ticks", "80", "--seed", "4", "--config", str(policy), *common)
    return data


def test_read_run_latest_and_by_id(recorded):
    run = watchtower.read_run(recorded)
    assert run.id == 2 and run.info["seed"] == 4 and run.info["status"] == "finished"
    assert run.info["households"] == 400 and run.info["parameters"]["government.income_tax_rate"] == 0.25
    assert run.info["parent_run_id"] is None and run.info["resumed_at"] == []
    assert run.ticks.num_rows == 80
    assert run.ticks.column_names == ["tick", *watchtower.indicator_names()]
    assert run.ticks.column("tick").to_pylist() == list(range(80))
    first = watchtower.read_run(recorded / "watchtower.db", run=1)
    assert first.id == 1 and first.ticks.num_rows == 30 and first.commands.num_rows == 0


def test_commands_table(recorded):
    cmds = watchtower.read_run(recorded, "latest").commands.to_pylist()
    assert len(cmds) == 1
    c = cmds[0]
    assert (c["key"], c["source"], c["applied_tick"], c["success"]) == ("government.income_tax_rate", "schedule", 40, True)
    assert json.loads(c["value"]) == 0.3 and json.loads(c["old"]) == 0.25 and json.loads(c["new"]) == 0.3
    assert c["code"] is None and c["error"] is None


def test_a_recorded_run_rebuilt_in_python_matches_it_bit_for_bit(recorded):
    run = watchtower.read_run(recorded)
    econ = Economy.from_run(recorded)
    assert (econ.seed, econ.households, econ.firms) == (4, 400, 40)
    econ.step(run.ticks.num_rows)
    assert econ.history().equals(run.ticks)


def test_the_cli_and_python_give_the_same_numbers(recorded):
    run = watchtower.read_run(recorded, 1)
    econ = Economy(households=400, firms=40, seed=3)
    econ.step(30)
    assert econ.history().equals(run.ticks)


def test_bad_input(recorded, tmp_path):
    with pytest.raises(FileNotFoundError, match="no Watchtower database"):
        watchtower.read_run(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no run 9 in"):
        watchtower.read_run(recorded, 9)
    with pytest.raises(ValueError, match='run must be "latest" or a run id'):
        watchtower.read_run(recorded, "first")
    with pytest.raises(TypeError, match='run must be "latest" or a run id, not float'):
        watchtower.read_run(recorded, 1.0)
    with pytest.raises(ValueError, match="no run 9 in"):
        Economy.from_run(recorded, 9)
    not_db = tmp_path / "file.db"
    not_db.write_text("hello")
    with pytest.raises(OSError):
        watchtower.read_run(not_db)
