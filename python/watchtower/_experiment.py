"""``watchtower.experiment``: a grid of scenarios x seeds on this machine, on Ray, or on any
``concurrent.futures.Executor`` (a Dask client's ``get_executor()``, a process pool).

Everything that decides a number is Rust: the spec is read and checked by the runner's
experiment engine (that of ``watchtower experiment``), each run is a pure function of the
spec and its index, and the final table is built by the same code that sorts by run index.
Python only splits the run indices into chunks and ships them; each chunk comes back as an
Arrow table (never Python lists), so the table is the CLI's, bit for bit, wherever it ran.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import os
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import pyarrow as pa

from . import _watchtower

Spec = Union[Mapping[str, Any], str, "os.PathLike[str]"]


def _spec_text(spec: Spec) -> Tuple[str, str]:
    """The spec as YAML text and the name its errors give."""
    if isinstance(spec, Mapping):
        # JSON is YAML; indented, one key a line, so an error's line number points at the
        # key. Dict order is kept (the axes' order is the grid's).
        try:
            return json.dumps(spec, indent=1, allow_nan=True), "the spec"
        except TypeError as e:
            raise TypeError(f"the spec must hold only dicts, lists, strings, numbers and booleans: {e}") from None
    if isinstance(spec, (str, os.PathLike)):
        path = os.fspath(spec)
        with open(path, encoding="utf-8") as f:
            return f.read(), path
    raise TypeError(f"spec must be a dict or the path of a YAML file, not {type(spec).__name__}")


def _chunks(runs: int, workers: int, chunk_size: Optional[int]) -> List[List[int]]:
    """Contiguous slices of the run indices: about four per worker, so a slow run does
    not leave the other workers idle at the end."""
    if chunk_size is None:
        chunk_size = max(1, math.ceil(runs / max(1, 4 * workers)))
    return [list(range(start, min(start + chunk_size, runs))) for start in range(0, runs, chunk_size)]


def _run_chunk(text: str, source: str, indices: Sequence[int]) -> pa.Table:
    """One task: runs ``indices`` of the spec and returns their rows (with each run's
    encoded summary) as Arrow. Module-level, so Ray and process pools can ship it."""
    return _watchtower.run_chunk(text, source, list(indices))


def _aligned(table: pa.Table) -> pa.Table:
    """The table in freshly allocated buffers, each aligned to its values' type.

    A table that crossed a process boundary by pickle (Dask's workers, a process pool)
    may hold its buffers at any byte offset of the message they came in. The Arrow C
    data interface, through which the table reaches Rust, expects aligned buffers:
    arrow-rs reads a binary column's offsets as ``i32`` in place, which a debug build
    refuses and a release build does not check. An Arrow IPC round trip in memory lays
    every buffer out on an aligned boundary; at one row per run the copy costs nothing.
    """
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return pa.ipc.open_stream(sink.getvalue()).read_all()


def _ray_workers(ray: Any) -> int:
    return max(1, int(ray.available_resources().get("CPU", 0) or ray.cluster_resources().get("CPU", 1)))


def _executor_workers(executor: concurrent.futures.Executor) -> int:
    """How many tasks the executor runs at once, as far as it tells."""
    client = getattr(executor, "_client", None)  # a Dask client's executor
    if client is not None:
        try:
            return max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))
        except Exception:  # an older or newer Dask: fall back to the machine
            pass
    return getattr(executor, "_max_workers", None) or os.cpu_count() or 1


def experiment(
    spec: Spec,
    executor: Union[None, str, concurrent.futures.Executor] = None,
    *,
    jobs: Optional[int] = None,
    chunk_size: Optional[int] = None,
) -> pa.Table:
    """Runs an experiment and returns its table, one row per run, sorted by run index:
    the table ``watchtower experiment SPEC --out table.parquet`` writes, bit for bit.

    ``spec`` is a dict or the path of a YAML file, in the format of ``watchtower
    experiment`` (``model``, ``preset``, ``households``, ``firms``, ``ticks``, ``warmup``,
    ``seeds``, ``set``, ``indicators``, ``axes``, ``schedule``, ``fork``). A bad spec raises
    ``ValueError`` naming the key and the line (of the file, or of the dict as indented
    JSON) before anything runs.

    ``executor`` is where the runs go:

    - ``None``: on this machine, ``jobs`` runs at once (default: every core), as
      ``watchtower experiment --jobs``.
    - ``"ray"``: each chunk of runs is a Ray task, against the cluster of ``ray.init()``
      (called with no arguments if Ray is not initialised yet: a local cluster, or the
      one ``RAY_ADDRESS`` names). Chunks come back as Arrow.
    - any ``concurrent.futures.Executor``: a Dask client's ``client.get_executor()``, a
      ``ProcessPoolExecutor``, a ``ThreadPoolExecutor`` (the engine releases the GIL).

    ``chunk_size`` is the runs per task (default: about four tasks per worker).
    """
    text, source = _spec_text(spec)
    runs = _watchtower._plan_runs(text, source)  # checks the spec before anything runs
    if executor is None:
        return _watchtower._execute(text, source, jobs)
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a whole number of at least 1, not {chunk_size!r}")
    if isinstance(executor, str):
        if executor != "ray":
            raise ValueError(f'executor must be None, "ray" or a concurrent.futures.Executor, not {executor!r}')
        import ray

        if not ray.is_initialized():
            ray.init()
        task = ray.remote(num_cpus=1)(_run_chunk)
        refs = [task.remote(text, source, c) for c in _chunks(runs, _ray_workers(ray), chunk_size)]
        parts = ray.get(refs)
    elif isinstance(executor, concurrent.futures.Executor):
        workers = _executor_workers(executor)
        futures = [executor.submit(_run_chunk, text, source, c) for c in _chunks(runs, workers, chunk_size)]
        parts = [f.result() for f in futures]
    else:
        raise TypeError(
            f'executor must be None, "ray" or a concurrent.futures.Executor, not {type(executor).__name__}'
        )
    return _watchtower._assemble(text, source, [_aligned(p) for p in parts])


def sensitivity(
    table: Any,
    indicators: Optional[Sequence[str]] = None,
    *,
    parameters: Optional[Sequence[str]] = None,
    second_order: bool = False,
) -> pa.Table:
    """The Sobol indices of a Sobol design's table (from :func:`experiment`, or
    ``watchtower export --experiment`` read back with pyarrow), computed as SALib's
    ``sobol.analyze`` computes them (Saltelli 2010 first order, Jansen total order).

    Returns one row per summary column and parameter: ``indicator``, ``parameter``,
    ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (``_conf``: the half-width of a 95% bootstrap
    interval, 100 resamples, seeded); for a Morris design (``design: {morris: ...}``),
    ``mu``, ``mu_star``, ``sigma``, ``mu_star_conf`` as SALib's ``morris.analyze``. ``indicators`` are summary columns, default every
    ``<indicator>_mean``. With several seeds per point, a point's output is its mean over
    its seeds (the schema's metadata says how many, with the plain-language ``notes``).

    The table carries its design in its schema's metadata; for one that lost it (through
    pandas, say), give ``parameters`` (the axes' keys, in the spec's order) and
    ``second_order``.
    """
    design = None
    if parameters is not None:
        import pyarrow.compute as pc

        parameters = list(parameters)
        block = (2 if second_order else 1) * len(parameters) + 2
        points = int(pc.max(table["point"]).as_py()) + 1 if len(table) else 0
        design = json.dumps(
            {
                "sobol": {"samples": points // block, "seed": 0, "second_order": bool(second_order)},
                "parameters": parameters,
            }
        )
    return _watchtower._sensitivity(table, list(indicators or []), design)
