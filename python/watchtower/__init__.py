"""Watchtower: an agent-based economy (Mark-0 over individual households, integer-cent
books) as a Python library.

>>> import watchtower
>>> econ = watchtower.Economy(households=10_000, firms=1_000, seed=1)
>>> econ.step(500)
>>> tax_up = econ.fork()
>>> tax_up.set("government.income_tax_rate", 0.3)
>>> tax_up.step(200); econ.step(200)
>>> econ.history().to_pandas()          # every tick's indicators, as Arrow

The engine and the runner are linked in: stepping from Python runs the same Rust code,
in the same tick loop, as the ``watchtower`` command, and gives the same numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Union

import pyarrow as pa

from ._calibrate import Calibration, calibrate
from ._experiment import experiment, sensitivity
from ._watchtower import (
    CommandError,
    Economy,
    EngineError,
    __version__,
    _read_run,
    indicator_names,
)

__all__ = [
    "Calibration",
    "CommandError",
    "Economy",
    "EngineError",
    "RecordedRun",
    "calibrate",
    "experiment",
    "indicator_names",
    "read_run",
    "sensitivity",
    "__version__",
]


@dataclass(frozen=True)
class RecordedRun:
    """One run recorded in ``watchtower.db`` (by ``watchtower run`` or ``serve``).

    ``info`` is the run's row: ``id``, ``model``, ``seed``, ``households``, ``firms``,
    ``agents``, ``status``, ``started_at``, ``ended_at``, ``last_tick``, ``error``,
    ``parameters`` (every registry value at start), ``model_version``, and for a what-if
    branch or a resumed run ``parent_run_id``, ``fork_tick``, ``branch_name``,
    ``changes``, ``dropped_tick``, ``tick_target``, ``schedule`` and ``resumed_at``.
    ``ticks`` has one row per tick, with the columns of :meth:`Economy.history`.
    ``commands`` has one row per command received, oldest first: ``seq``, ``id``,
    ``key``, ``value``, ``received_at_ms``, ``source``, ``applied_tick``, ``success``,
    ``code``, ``error``, ``old``, ``new`` (values as JSON text).
    """

    id: int
    info: Dict[str, Any]
    ticks: pa.Table
    commands: pa.Table


def read_run(path: Union[str, os.PathLike], run: Union[str, int] = "latest") -> RecordedRun:
    """Reads a recorded run's ticks and commands as Arrow tables.

    ``path`` is a data directory (``./data``) or its ``watchtower.db``; ``run`` is
    ``"latest"`` or a run id. The database may be in use: a live server keeps writing
    while this reads. Raises ``FileNotFoundError`` if there is no database and
    ``ValueError`` if there is no such run.
    """
    info, ticks, commands = _read_run(os.fspath(path), run)
    return RecordedRun(id=info["id"], info=info, ticks=ticks, commands=commands)
