"""Fixtures shared by the tests: small economies, the CLI binary, one Ray and one Dask
cluster per test session (started only by the tests that need them, always stopped)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_finish(session: pytest.Session) -> None:
    # A run that collected nothing must never look green (.ci/run checks the exit code too).
    if not session.items and not session.config.option.collectonly:
        raise pytest.UsageError("no tests were collected")


@pytest.fixture(scope="session")
def watchtower_bin() -> Path:
    """The `watchtower` CLI: $WATCHTOWER_BIN, else target/release or target/debug of this
    checkout. Tests that compare with the CLI fail (not skip) without it."""
    env = os.environ.get("WATCHTOWER_BIN")
    candidates = [Path(env)] if env else [REPO / "target" / "release" / "watchtower", REPO / "target" / "debug" / "watchtower"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    found = shutil.which("watchtower")
    if found and not env:
        return Path(found)
    pytest.fail(
        "the watchtower CLI is needed: build it (cargo build -p watchtower) or set WATCHTOWER_BIN; "
        f"looked at {', '.join(map(str, candidates))}"
    )


@pytest.fixture(scope="session")
def cli(watchtower_bin: Path):
    """Runs the CLI with arguments; returns its stdout (fails the test on a non-zero exit)."""

    def run(*args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [str(watchtower_bin), *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if done.returncode != 0:
            raise AssertionError(f"watchtower {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return done.stdout

    return run


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster of 2 CPUs, started once per test session and shut down after."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def dask_client():
    """A Dask LocalCluster of 2 worker processes, started once per test session."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
