"""``watchtower.calibrate``: the method of simulated moments (``watchtower calibrate``) from
Python.

Everything that decides a number is Rust: the spec is read and checked by the experiment
crate's calibration (that of ``watchtower calibrate``), the calibration is recorded in a
data directory and run by the same code, and the result is the CLI's ``--json`` object
and its ``--out`` table, bit for bit. Python only passes the spec, ships a batch's
simulations to Ray or an executor when asked (each a pure function of the spec, the point
and the seed; their moments come back as floats, exact), and wraps the result.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import pyarrow as pa

from . import _watchtower
from ._experiment import Spec, _chunks, _executor_workers, _ray_workers, _spec_text

Job = Tuple[str, List[float], int]


def _simulate_chunk(text: str, source: str, jobs: List[Job]) -> List[List[float]]:
    """One task: the moments of each ``(kind, unit, seed)`` simulation, in order.
    Module-level, so Ray and process pools can ship it."""
    return [_watchtower._simulate(text, source, kind, list(unit), seed) for kind, unit, seed in jobs]


def _batch_runner(text: str, source: str, executor: Union[str, concurrent.futures.Executor]):
    """The callable the Rust search hands each batch's simulations to: it splits them
    into chunks, ships them to Ray or the executor and returns their moments in order."""
    if isinstance(executor, str):
        import ray

        if not ray.is_initialized():
            ray.init()
        task = ray.remote(num_cpus=1)(_simulate_chunk)
        workers = _ray_workers(ray)

        def run(jobs: List[Job]) -> List[List[float]]:
            chunks = _chunks(len(jobs), workers, None)
            parts = ray.get([task.remote(text, source, [jobs[i] for i in c]) for c in chunks])
            return [m for part in parts for m in part]

    else:
        workers = _executor_workers(executor)

        def run(jobs: List[Job]) -> List[List[float]]:
            chunks = _chunks(len(jobs), workers, None)
            futures = [executor.submit(_simulate_chunk, text, source, [jobs[i] for i in c]) for c in chunks]
            return [m for f in futures for m in f.result()]

    return run


@dataclass(frozen=True)
class Calibration:
    """A finished calibration: what ``watchtower calibrate --json`` prints and the table
    ``--out`` writes.

    - ``estimates``: ``{key: value}``, the point estimate of each free parameter, in the
      parameter's own unit.
    - ``std_errors``: ``{key: value}``, standard errors (the MSM sandwich with the
      ``1 + 1/S`` simulation-noise correction and the local fit's own error); ``None``
      for a parameter the moments do not pin down (then ``warnings`` says so).
    - ``intervals``: ``{key: (low, high)}``, 90% intervals (``interval_level`` is 0.9).
    - ``moments``: one dict per moment: ``name``, ``target``, ``model`` (at the
      estimate), ``se`` (of target − model), ``t`` (``(target − model) / se``).
    - ``j_test``: ``{statistic, df, p_value, covariance_samples, hartlap}`` of the
      over-identifying restrictions (Σ⁻¹ from ``covariance_samples`` samples, times
      Hartlap's factor ``hartlap``), or ``None`` when there are no more moments than
      parameters.
    - ``warnings``: in words (an estimate at a bound, an unidentified parameter).
    - ``evaluations``: one row per simulation: ``simulation``, ``evaluation``, ``kind``
      (``target``, ``covariance``, ``search``, ``jacobian``), ``seed``, each free
      parameter, each moment, and the evaluation's ``loss``.
    - ``json``: the whole ``--json`` object (``id``, ``name``, ``simulations``,
      ``loss``, ``method``, … as well).
    """

    id: int
    estimates: Dict[str, float]
    std_errors: Dict[str, Optional[float]]
    intervals: Dict[str, Tuple[Optional[float], Optional[float]]]
    interval_level: float
    moments: List[Dict[str, Any]]
    j_test: Optional[Dict[str, Any]]
    warnings: List[str]
    simulations: int
    loss: Optional[float]
    method: str
    evaluations: pa.Table
    json: Dict[str, Any]


def calibrate(
    spec: Spec,
    executor: Union[None, str, concurrent.futures.Executor] = None,
    *,
    jobs: Optional[int] = None,
    data_dir: Union[None, str, "os.PathLike[str]"] = None,
) -> Calibration:
    """Estimates a spec's free parameters by the method of simulated moments and returns
    the :class:`Calibration`: the numbers ``watchtower calibrate SPEC --json --out
    table.parquet`` gives for the same spec, bit for bit.

    ``spec`` is a dict or the path of a YAML file in the format of ``watchtower
    calibrate`` (the experiment spec's ``name``, ``model``, ``preset``, ``firms``,
    ``households``, ``ticks``, ``warmup``, ``set``, ``schedule``, with ``free``,
    ``target``, ``moments``, ``ensemble``, ``budget``; see docs/CALIBRATION.md). A bad
    spec raises ``ValueError`` naming the key and the line before anything runs. A
    relative ``target: {data: ...}`` path is read from the current directory.

    ``executor`` is where the simulations go (the search itself runs here, and every
    evaluation is stored here, as the CLI stores it):

    - ``None``: on this machine, ``jobs`` at once (default: every core), as ``watchtower
      calibrate --jobs``.
    - ``"ray"``: each batch's simulations in chunks as Ray tasks, against the cluster of
      ``ray.init()`` (called with no arguments if Ray is not initialised yet).
    - any ``concurrent.futures.Executor``: a Dask client's ``get_executor()``, a process
      or thread pool.

    The search asks for batches one after another (each depends on the ones before), so
    a cluster helps most with large ensembles and long runs. Every executor gives the
    same numbers.

    ``data_dir`` is the data directory the calibration is recorded in (created if
    needed; locked while it runs): ``watchtower experiments`` lists it, ``watchtower
    view`` shows it live, ``watchtower calibrate --resume ID`` continues it after an
    interruption. By default, a temporary directory, removed afterwards.
    """
    if executor is not None:
        if isinstance(executor, str) and executor != "ray":
            raise ValueError(f'executor must be None, "ray" or a concurrent.futures.Executor, not {executor!r}')
        if not isinstance(executor, (str, concurrent.futures.Executor)):
            raise TypeError(
                f'executor must be None, "ray" or a concurrent.futures.Executor, not {type(executor).__name__}'
            )
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a whole number of at least 1, not {jobs!r}")
    text, source = _spec_text(spec)
    run_batch = None if executor is None else _batch_runner(text, source, executor)
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="watchtower-calibrate-") as scratch:
            out, table = _watchtower._calibrate(text, source, scratch, jobs, run_batch)
    else:
        out, table = _watchtower._calibrate(text, source, os.fspath(data_dir), jobs, run_batch)
    result = json.loads(out)
    return Calibration(
        id=result["id"],
        estimates=result["estimates"],
        std_errors=result["std_errors"],
        intervals={k: (v[0], v[1]) for k, v in result["intervals"].items()},
        interval_level=result["interval_level"],
        moments=result["moments"],
        j_test=result["j_test"],
        warnings=result["warnings"],
        simulations=result["simulations"],
        loss=result["loss"],
        method=result["method"],
        evaluations=table,
        json=result,
    )
