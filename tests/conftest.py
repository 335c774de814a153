"""Shared fixtures: real captures from ../shared/data, simulators on loopback sockets."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PROFILES = REPO / "instruments" / "sim" / "profiles"


@pytest.fixture(autouse=True, scope="session")
def _keep_runs_out_of_the_users_data(tmp_path_factory):
    """Runs made by tests (in-process or as subprocesses) go to a temporary data folder and trend
    index, never into ./data of the checkout the tests run from."""
    saved = {k: os.environ.get(k) for k in ("LABBENCH_DATA", "LABBENCH_TREND")}
    os.environ["LABBENCH_DATA"] = str(tmp_path_factory.mktemp("labbench-data"))
    os.environ.pop("LABBENCH_TREND", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def labbench_cli(*args, data=None, data_dir=None, cwd=None, env=None, timeout: float = 300):
    """`labbench ARGS` in a subprocess; run files and the trend index of that run go to `data` when given."""
    folder = data or data_dir
    if folder:
        env = {**(env or os.environ), "LABBENCH_DATA": str(folder)}
    return subprocess.run([sys.executable, "-m", "labbench.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def shared_file(name: str) -> Path:
    """A real capture from ../shared/data, or skip the test saying why."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real capture {path} is absent (../shared/data is not next to this checkout)")
    return path


@pytest.fixture
def scope_sim():
    """A simulated DSAZ334A on a free loopback port."""
    from labbench.instruments.sim.dsaz334a import SimDSAZ334A
    from labbench.scpi.tcpserver import SimServer

    server = SimServer(SimDSAZ334A(), port=0).start()
    yield server
    server.stop()


@pytest.fixture
def scope(scope_sim):
    from labbench.instruments.keysight.dsaz334a import DSAZ334A

    driver = DSAZ334A(scope_sim.resource, role="scope")
    yield driver
    driver.close()


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """Run files and any index go to a temporary data folder."""
    monkeypatch.setenv("LABBENCH_DATA", str(tmp_path / "data"))
    return tmp_path / "runs"
