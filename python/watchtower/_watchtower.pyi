"""Type stubs of the compiled module ``watchtower._watchtower`` (re-exported by ``watchtower``)."""

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Optional, TypedDict, Union

import pyarrow as pa

__version__: str

Value = Union[bool, int, float]
"""A registry value: a switch, a whole number or a real number."""

Settings = Mapping[str, Union[Value, Mapping[str, Value]]]
"""Registry keys to values, ``{"government.income_tax_rate": 0.3}``, or by area,
``{"government": {"income_tax_rate": 0.3}}``."""

class ScheduledCommand(TypedDict):
    """One entry of a schedule: at phase 0 of ``tick``, set each key of ``set``."""

    tick: int
    set: Mapping[str, Value]

class CommandResult(TypedDict):
    """What :meth:`Economy.set` returns: the value before and after, and the tick whose
    phase 0 the change counts as (the next tick to run)."""

    key: str
    old: Value
    new: Value
    applied_tick: int

class Parameter(TypedDict):
    """One registry entry, as :meth:`Economy.registry` gives it."""

    value: Value
    default: Value
    type: Literal["float", "int", "bool"]
    min: Optional[float]
    max: Optional[float]
    unit: str
    description: str
    area: str
    symbol: Optional[str]
    source: Optional[str]
    live: bool
    zero_allowed: bool

class CommandError(ValueError):
    """A command the registry refused: an unknown key, a wrong type, a value out of
    range, a key that can only be set before the run starts.

    ``code`` is the protocol's error code (``"unknown_key"``, ``"wrong_type"``,
    ``"not_finite"``, ``"out_of_range"``, ``"not_live"``, ``"not_paused"``), ``key`` the
    key; the message is the registry's, as the live server and the CLI give it.
    """

    code: Optional[str]
    key: str

class EngineError(RuntimeError):
    """The engine stopped (its books no longer balance, a value no longer fits integer
    cents). The economy refuses every later call that would run it."""

class Economy:
    """An economy: Mark-0 over individual households (or the Boltzmann benchmark),
    stepped from Python by the same engine and tick loop as the ``watchtower`` command.

    >>> econ = Economy(households=1_000, firms=100, seed=1)
    >>> econ.step(100)
    >>> econ.set("government.income_tax_rate", 0.3)
    >>> econ.history().to_pandas()

    ``preset`` is the starting point (``"watchtower"``, ``"mark0-2017"``,
    ``"mark0-2015"``, ``"sim"``; ``None`` for the registry's defaults); ``config`` a
    settings file or a list of them (YAML shaped like ``economy_params.yaml``, with an
    optional ``schedule:``); ``settings`` registry keys to values; ``schedule`` commands
    at ticks. They apply in that order, after the preset, as ``--preset``, ``--config``
    and ``--set`` do on the command line. A bad value raises ``ValueError`` with the
    registry's message and builds nothing.

    The same seed, settings and commands give the same numbers, bit for bit, as the
    command line and the live server. Calls release the GIL while Rust runs, so threads
    can step several economies at once; a second thread calling into the same economy
    waits for the first.
    """

    def __init__(
        self,
        *,
        preset: Optional[str] = "watchtower",
        households: int = 10_000,
        firms: int = 1_000,
        seed: int = 1,
        settings: Optional[Settings] = None,
        schedule: Optional[Sequence[ScheduledCommand]] = None,
        config: Union[str, os.PathLike[str], Sequence[Union[str, os.PathLike[str]]], None] = None,
    ) -> None: ...
    @staticmethod
    def boltzmann(
        *,
        agents: int = 10_000,
        seed: int = 1,
        settings: Optional[Settings] = None,
        schedule: Optional[Sequence[ScheduledCommand]] = None,
        config: Union[str, os.PathLike[str], Sequence[Union[str, os.PathLike[str]]], None] = None,
    ) -> "Economy":
        """The Boltzmann wealth benchmark: ``agents`` agents exchanging one unit at random."""
    @staticmethod
    def from_run(path: Union[str, os.PathLike[str]], run: Union[str, int] = "latest") -> "Economy":
        """A recorded run of the database at ``path`` (a data directory or its
        ``watchtower.db``), rebuilt at genesis: its seed, size, every parameter at
        start, and every command that changed it, scheduled at the tick that applied it.
        Stepping it repeats the recorded run, bit for bit."""
    def step(self, n: int = 1) -> None:
        """Runs ``n`` ticks, releasing the GIL while the engine runs. Ctrl-C stops it
        between two ticks (``KeyboardInterrupt``; the economy stays usable). Raises
        :class:`EngineError` if the engine stops."""
    @property
    def tick(self) -> int:
        """Ticks run so far (the next tick to run). Readable while another thread steps."""
    @property
    def model(self) -> Literal["mark0", "boltzmann"]:
        """Which model runs."""
    @property
    def seed(self) -> int:
        """The seed of every random stream."""
    @property
    def households(self) -> Optional[int]:
        """Households (Mark-0), else None."""
    @property
    def firms(self) -> Optional[int]:
        """Firms (Mark-0), else None."""
    @property
    def agents(self) -> Optional[int]:
        """Agents (Boltzmann), else None."""
    def set(self, key: str, value: Value) -> CommandResult:
        """Changes one registry value at once, as a command from the live dashboard
        would between two ticks, and returns the result. Raises :class:`CommandError`
        (a ``ValueError``) with the registry's message for an unknown key, a wrong
        type, a value out of range, or a key that can only be set before the run
        starts; nothing changes then."""
    def registry(self) -> dict[str, Parameter]:
        """Every parameter with its type, range, unit, description and value, by key."""
    def indicators(self) -> Optional[dict[str, Union[int, float]]]:
        """The last tick's indicators (``tick`` first; money in integer cents); None
        before the first tick."""
    def distributions(self) -> pa.Table:
        """The last tick's distributions, one row per population: ``name``, ``unit``,
        ``count``, ``mean``, ``min``, ``p10``, ``p50``, ``p90``, ``max``,
        ``histogram_lo``, ``histogram_hi``, ``histogram`` (counts). Empty before the
        first tick."""
    def history(self) -> pa.Table:
        """Every tick's indicators so far: ``tick``, then one column per indicator
        (money and counts ``int64`` in integer cents, the rest ``float64``), the columns
        of the store's ``ticks`` table. Handed over without copying: pass it to
        ``polars.from_arrow``, call ``.to_pandas()``, or query it with DuckDB."""
    def fork(self) -> "Economy":
        """An independent copy that continues from the same state, random streams and
        schedule (the counterfactual primitive). With no command it stays identical to
        this economy; a command to either changes only that one. The copy starts with
        this economy's history (shared, not copied)."""

def indicator_names() -> list[str]:
    """The indicator columns, in order (the store's ``ticks`` columns after ``tick``)."""

def _read_run(path: Union[str, os.PathLike[str]], run: Union[str, int]) -> tuple[dict[str, Any], pa.Table, pa.Table]: ...
def _set_slice_ms(ms: int) -> int: ...
def run_chunk(text: str, source: str, indices: Sequence[int]) -> pa.Table:
    """Runs runs ``indices`` of an experiment spec (YAML ``text``; ``source`` names it in
    errors), in order, on the calling thread with the GIL released, and returns their rows
    with each run's encoded summary in a ``_summary`` column: what one Ray task or one
    ``concurrent.futures`` job of :func:`watchtower.experiment` does."""

def _plan_runs(text: str, source: str) -> int: ...
def _execute(text: str, source: str, jobs: Optional[int] = None) -> pa.Table: ...
def _assemble(text: str, source: str, chunks: Sequence[pa.Table]) -> pa.Table: ...
def _sensitivity(table: pa.Table, columns: Sequence[str], design: Optional[str] = None) -> pa.Table: ...
def _calibrate(
    text: str,
    source: str,
    data_dir: Union[str, os.PathLike[str]],
    jobs: Optional[int] = None,
    run_batch: Optional[Callable[[list[tuple[str, list[float], int]]], list[list[float]]]] = None,
) -> tuple[str, pa.Table]: ...
def _simulate(text: str, source: str, kind: str, unit: Sequence[float], seed: int) -> list[float]: ...
