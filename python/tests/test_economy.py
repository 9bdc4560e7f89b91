"""Economy: building, stepping, commands, the registry, indicators, distributions,
history, forks, threads and interrupts, each with bad input."""

from __future__ import annotations

import math
import threading
import time

import pyarrow as pa
import pytest

import watchtower
from watchtower import CommandError, Economy, EngineError


def small(**kw) -> Economy:
    kw.setdefault("households", 500)
    kw.setdefault("firms", 50)
    return Economy(**kw)


# -- building ---------------------------------------------------------------------------


def test_defaults_are_the_cli_defaults():
    econ = Economy()
    assert (econ.model, econ.households, econ.firms, econ.seed, econ.tick) == ("mark0", 10_000, 1_000, 1, 0)
    assert econ.agents is None
    assert econ.registry()["government.income_tax_rate"]["value"] == 0.2
    assert repr(econ) == "<Economy mark0 households=10000 firms=1000 seed=1 tick=0>"


def test_settings_flat_and_by_area_and_presets():
    econ = small(settings={"government.income_tax_rate": 0.25, "bank": {"policy_rate": 0.01}})
    reg = econ.registry()
    assert reg["government.income_tax_rate"]["value"] == 0.25
    assert reg["bank.policy_rate"]["value"] == 0.01
    sim = small(preset="sim")
    plain = small(preset=None)
    assert sim.registry() != plain.registry()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"government.income_tax_rate": 3}, "settings['government.income_tax_rate']: `government.income_tax_rate` = 3 is out of range: it must be between 0 and 0.9"),
        ({"government.income_tax_rat": 0.3}, "unknown key `government.income_tax_rat` (did you mean `government.income_tax_rate`?)"),
        ({"government.income_tax_rate": "0.3"}, "`government.income_tax_rate` takes a number, not the string \"0.3\""),
        ({"government.income_tax_rate": float("nan")}, "takes a finite number, not NaN"),
        ({"sim.paused": 1}, "`sim.paused` takes true or false, not 1"),
        ({"government.income_tax_rate": None}, "not null"),
        ({"government.income_tax_rate": [0.3]}, "not a list"),
    ],
)
def test_a_bad_setting_raises_value_error_with_the_registry_message(settings, message):
    with pytest.raises(ValueError) as err:
        small(settings=settings)
    assert message in str(err.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown preset `nope`; the presets are: watchtower, mark0-2017"):
        small(preset="nope")
    with pytest.raises(ValueError, match="households must be a whole number of at least 1"):
        Economy(households=0)
    with pytest.raises(ValueError, match="seed must be a whole number of at least 0"):
        small(seed=-1)
    with pytest.raises(TypeError, match="households must be a whole number, not str"):
        Economy(households="many")
    with pytest.raises(TypeError, match="households must be a whole number, not float"):
        Economy(households=1e3)
    with pytest.raises(TypeError):
        Economy(10_000)  # keywords only
    with pytest.raises(TypeError, match="settings must be a dict"):
        small(settings=[("government.income_tax_rate", 0.3)])
    with pytest.raises(TypeError, match="settings keys must be strings"):
        small(settings={1: 0.3})
    with pytest.raises(OSError, match="nonexistent"):
        small(config="/nonexistent/policy.yaml")


def test_a_config_file_like_the_cli(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("government:\n  income_tax_rate: 0.25\nschedule:\n  - {tick: 3, set: {government.income_tax_rate: 0.3}}\n")
    econ = small(config=path)
    assert econ.registry()["government.income_tax_rate"]["value"] == 0.25
    econ.step(4)
    assert econ.registry()["government.income_tax_rate"]["value"] == 0.3
    bad = tmp_path / "bad.yaml"
    bad.write_text("bank:\n  policy_rate: 7\n")
    with pytest.raises(ValueError, match=r"bad.yaml, line 2: `bank.policy_rate` = 7 is out of range"):
        small(config=str(bad))
    # Settings apply after files, as --set after --config.
    assert small(config=[path], settings={"government.income_tax_rate": 0.1}).registry()["government.income_tax_rate"]["value"] == 0.1


def test_schedule_applies_at_its_ticks():
    econ = small(schedule=[{"tick": 5, "set": {"government.income_tax_rate": 0.3}}])
    econ.step(5)
    assert econ.registry()["government.income_tax_rate"]["value"] == 0.2
    econ.step()
    assert econ.registry()["government.income_tax_rate"]["value"] == 0.3


@pytest.mark.parametrize(
    "schedule, message",
    [
        ([{"tick": 5, "set": {"government.income_tax_rate": 3}}], "schedule[0]: `government.income_tax_rate` = 3 is out of range"),
        ([{"tick": -1, "set": {"government.income_tax_rate": 0.3}}], "schedule[0]: `tick` must be a whole number, 0 or more"),
        ([{"set": {"government.income_tax_rate": 0.3}}], "schedule[0]: a `schedule` entry needs `tick`"),
        ([{"tick": 1}], "schedule[0]: a `schedule` entry needs `set`"),
        ([{"tick": 1, "sett": {}}], "schedule[0]: unknown key sett in a `schedule` entry"),
        ([{"tick": 1, "set": {"firms.initial_production": 0.4}}], "can only be set before the run starts"),
        ([{"tick": 1, "set": {}}, 5], "schedule[1]: each entry must be"),
    ],
)
def test_a_bad_schedule_raises_value_error(schedule, message):
    with pytest.raises(ValueError) as err:
        small(schedule=schedule)
    assert message in str(err.value)
    with pytest.raises(TypeError, match="schedule must be a list"):
        small(schedule="tick 5")


def test_boltzmann():
    b = Economy.boltzmann(agents=1_000, seed=3)
    assert (b.model, b.agents, b.households, b.seed) == ("boltzmann", 1_000, None, 3)
    b.step(10)
    assert b.indicators()["tick"] == 9
    assert "boltzmann.initial_wealth" in b.registry()
    with pytest.raises(ValueError, match="agents must be a whole number of at least 1"):
        Economy.boltzmann(agents=0)
    with pytest.raises(ValueError, match="unknown key `government.income_tax_rate`"):
        Economy.boltzmann(agents=10, settings={"government.income_tax_rate": 0.3})
    assert repr(b) == "<Economy boltzmann agents=1000 seed=3 tick=10>"


# -- stepping and reading -------------------------------------------------------------------


def test_step_tick_and_indicators():
    econ = small()
    assert econ.indicators() is None
    econ.step()
    assert econ.tick == 1
    econ.step(9)
    assert econ.tick == 10
    econ.step(0)
    assert econ.tick == 10
    ind = econ.indicators()
    assert ind["tick"] == 9
    assert list(ind) == ["tick", *watchtower.indicator_names()]
    assert isinstance(ind["employed"], int) and isinstance(ind["unemployment_rate"], float)
    assert isinstance(ind["gdp"], float)  # genesis currency units
    assert ind["money_drift"] == 0
    with pytest.raises(ValueError, match="n must be a whole number of at least 0"):
        econ.step(-1)
    with pytest.raises(TypeError, match="n must be a whole number"):
        econ.step(1.5)
    assert econ.tick == 10


def test_registry_has_schema_and_values():
    reg = small().registry()
    p = reg["government.income_tax_rate"]
    assert p["type"] == "float" and p["min"] == 0 and p["max"] == 0.9
    assert p["unit"] and p["description"] and p["live"] is True
    assert reg["firms.initial_production"]["live"] is False
    assert reg["sim.paused"]["type"] == "bool" and reg["sim.paused"]["min"] is None
    assert list(reg) == sorted(reg)


def test_set_returns_the_result_and_applies_at_once():
    econ = small()
    econ.step(3)
    result = econ.set("government.income_tax_rate", 0.3)
    assert result == {"key": "government.income_tax_rate", "old": 0.2, "new": 0.3, "applied_tick": 3}
    assert econ.registry()["government.income_tax_rate"]["value"] == 0.3
    assert econ.tick == 3, "a command runs no tick"
    assert econ.set("sim.paused", True)["new"] is True
    assert econ.set("government.income_tax_rate", 0)["new"] == 0.0


@pytest.mark.parametrize(
    "key, value, code, message",
    [
        ("government.income_tax", 0.3, "unknown_key", "unknown key `government.income_tax` (did you mean `government.income_tax_rate`?)"),
        ("government.income_tax_rate", "0.3", "wrong_type", "`government.income_tax_rate` takes a number, not the string \"0.3\""),
        ("government.income_tax_rate", True, "wrong_type", "takes a number, not true"),
        ("government.income_tax_rate", 1.5, "out_of_range", "`government.income_tax_rate` = 1.5 is out of range: it must be between 0 and 0.9"),
        ("government.income_tax_rate", float("nan"), "not_finite", "takes a finite number, not NaN"),
        ("government.income_tax_rate", -math.inf, "not_finite", "takes a finite number, not -inf"),
        ("government.income_tax_rate", None, "wrong_type", "not null"),
        ("firms.initial_production", 0.4, "not_live", "can only be set before the run starts"),
        ("sim.step", 5, "not_paused", "runs ticks while the simulation is paused"),
    ],
)
def test_set_refuses_bad_commands_with_value_error(key, value, code, message):
    econ = small()
    before = econ.registry()
    with pytest.raises(ValueError) as err:
        econ.set(key, value)
    assert isinstance(err.value, CommandError)
    assert message in str(err.value)
    assert err.value.code == code and err.value.key == key
    assert econ.registry() == before, "a refused command changes nothing"


def test_numpy_scalars_are_numbers():
    np = pytest.importorskip("numpy")
    econ = small()
    assert econ.set("government.income_tax_rate", np.float64(0.3))["new"] == 0.3
    assert econ.set("sim.paused", np.bool_(True))["new"] is True
    econ.step(np.int64(2))
    assert econ.tick == 2


def test_distributions():
    econ = small()
    assert econ.distributions().num_rows == 0
    econ.step(5)
    d = econ.distributions()
    assert isinstance(d, pa.Table)
    names = d.column("name").to_pylist()
    assert "household_wealth" in names
    row = d.to_pylist()[names.index("household_wealth")]
    assert row["count"] == 500
    assert row["min"] <= row["p10"] <= row["p50"] <= row["p90"] <= row["max"]
    assert sum(row["histogram"]) == row["count"]


def test_history_columns_and_rows():
    econ = small()
    empty = econ.history()
    assert empty.num_rows == 0 and empty.column_names == ["tick", *watchtower.indicator_names()]
    econ.step(25)
    h = econ.history()
    assert h.num_rows == 25
    assert h.column("tick").to_pylist() == list(range(25))
    assert h.schema.field("employed").type == pa.int64()
    assert h.schema.field("gdp").type == pa.float64()
    assert h.schema.field("unemployment_rate").type == pa.float64()
    # Each column says what it is.
    assert h.schema.field("gdp").metadata[b"unit"] == b"genesis currency units per tick"
    assert h.schema.field("inflation").metadata[b"unit"] == b"rate per tick"
    assert h.schema.field("tick").metadata[b"description"].startswith(b"The tick")
    assert h.column("money_drift").to_pylist() == [0] * 25
    last = {k: v[-1] for k, v in h.to_pydict().items()}
    assert last == econ.indicators()


def test_history_after_every_tick_keeps_few_chunks():
    econ = small(households=100, firms=10)
    for _ in range(200):
        econ.step()
        h = econ.history()
    assert h.num_rows == 200
    assert h.column("tick").to_pylist() == list(range(200))
    assert h.column("tick").num_chunks <= 10
    assert h.equals(econ.history())


def test_the_same_seed_gives_identical_tables():
    def run(seed):
        e = small(seed=seed, schedule=[{"tick": 20, "set": {"government.income_tax_rate": 0.3}}])
        e.step(30)
        e.set("bank.policy_rate", 0.02)
        e.step(30)
        return e.history()

    a, b, c = run(7), run(7), run(8)
    assert a.equals(b)
    assert not a.equals(c)


# -- forks ----------------------------------------------------------------------------------


def test_a_fork_without_commands_stays_identical():
    origin = small(schedule=[{"tick": 30, "set": {"government.income_tax_rate": 0.35}}])
    origin.step(20)
    fork = origin.fork()
    assert fork.tick == 20 and fork.history().equals(origin.history())
    origin.step(40)
    fork.step(40)
    assert origin.history().equals(fork.history())
    assert fork.registry() == origin.registry()


def test_a_command_to_a_fork_changes_only_the_fork():
    origin = small()
    origin.step(20)
    fork = origin.fork()
    fork.set("government.income_tax_rate", 0.6)
    origin.step(30)
    fork.step(30)
    assert origin.registry()["government.income_tax_rate"]["value"] == 0.2
    a, b = origin.history(), fork.history()
    assert a.slice(0, 20).equals(b.slice(0, 20))
    assert a.column("income_tax").to_pylist()[20:] != b.column("income_tax").to_pylist()[20:]
    # The origin is as if the fork never existed.
    alone = small()
    alone.step(50)
    assert alone.history().equals(a)


def test_a_fork_after_a_command_at_a_scheduled_tick_applies_it_once():
    origin = small(schedule=[{"tick": 10, "set": {"government.income_tax_rate": 0.3}}])
    origin.step(10)
    origin.set("government.income_tax_rate", 0.4)  # the schedule's entry for tick 10 applies first
    fork = origin.fork()
    origin.step(5)
    fork.step(5)
    assert fork.registry()["government.income_tax_rate"]["value"] == 0.4
    assert origin.history().equals(fork.history())


# -- threads and interrupts -------------------------------------------------------------------


def test_threads_step_economies_at_once_with_the_same_numbers():
    seeds = [1, 2, 3]
    alone = []
    for s in seeds:
        e = small(seed=s)
        e.step(40)
        alone.append(e.history())
    economies = [small(seed=s) for s in seeds]
    threads = [threading.Thread(target=e.step, args=(40,)) for e in economies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(not t.is_alive() for t in threads)
    for e, h in zip(economies, alone):
        assert e.history().equals(h)


def test_step_releases_the_gil():
    # One long slice (no look at signals in between): if the GIL were held while Rust runs,
    # this thread could not run at all until the step ended.
    previous = watchtower._watchtower._set_slice_ms(60_000)
    try:
        econ = small(households=2_000, firms=200)
        started = time.perf_counter()
        econ.step(50)
        per_tick = (time.perf_counter() - started) / 50
        n = max(100, int(1.5 / per_tick))  # about 1.5 s of ticks
        done = threading.Event()
        worker = threading.Thread(target=lambda: (econ.step(n), done.set()))
        worker.start()
        while econ.tick == 50 and not done.is_set():
            time.sleep(0.001)
        gaps, last = [], time.perf_counter()
        while not done.is_set():
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
            _ = econ.tick  # readable while the other thread steps
            time.sleep(0.001)
        worker.join(timeout=120)
        elapsed = sum(gaps)
        assert econ.tick == 50 + n
        assert len(gaps) > 10, f"this thread ran {len(gaps)} times in {elapsed:.2f} s"
        assert max(gaps) < max(0.5, elapsed / 2), f"this thread was held up {max(gaps):.2f} s of {elapsed:.2f} s"
    finally:
        watchtower._watchtower._set_slice_ms(previous)


def test_ctrl_c_stops_a_long_step_between_ticks():
    import _thread

    econ = small()
    timer = threading.Timer(0.5, _thread.interrupt_main)
    started = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            econ.step(100_000_000)
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 10
    ran = econ.tick
    assert 0 < ran < 100_000_000
    assert econ.history().num_rows == ran
    econ.step(2)
    assert econ.tick == ran + 2


def test_an_engine_that_stops_raises_engine_error_and_runs_no_more():
    # Settings that spiral out of what integer money can hold (docs/MODEL.md §4).
    econ = small(settings={"firms.wage_indexation": 2, "households.expectation_weight_measured": 1})
    with pytest.raises(EngineError, match="the economy has left the range integer money can represent") as err:
        econ.step(100_000)
    assert isinstance(err.value, RuntimeError)
    stopped = econ.tick
    assert 0 < stopped < 100_000
    assert econ.history().num_rows == stopped, "the settled ticks stay readable"
    assert econ.indicators()["tick"] == stopped - 1
    for call in (econ.step, econ.fork, lambda: econ.set("government.income_tax_rate", 0.3)):
        with pytest.raises(EngineError, match="this economy's engine stopped earlier"):
            call()
    assert econ.tick == stopped
