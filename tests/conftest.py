"""Shared fixtures: a stand-in upstream, a proxy CA, and a way to run a scenario for real."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mitm_pincheck.backend import Backend

TEST_HOSTS = ("pinned.test", "open.test", "bystander.test", "api.svc.test", "cdn.svc.test")


@pytest.fixture(scope="session")
def backend(tmp_path_factory) -> Backend:
    """The "real" server behind the proxy: its own CA, root -> intermediate -> leaf."""
    with Backend.create(tmp_path_factory.mktemp("backend"), TEST_HOSTS) as b:
        yield b


@pytest.fixture(scope="session")
def confdir(tmp_path_factory) -> Path:
    """A mitmproxy confdir whose CA plays the role of the CA installed on the device."""
    from mitm_pincheck.proxy import forge

    path = tmp_path_factory.mktemp("confdir")
    forge.authority_from_mitmproxy_confdir(path)
    return path


@pytest.fixture(scope="session")
def proxy_ca(confdir) -> Path:
    return confdir / "mitmproxy-ca-cert.pem"


@pytest.fixture(scope="session")
def device_trust(tmp_path_factory, backend, proxy_ca) -> Path:
    """A phone's trust store with a user-installed proxy CA: the real root plus the proxy CA."""
    path = tmp_path_factory.mktemp("trust") / "device-trust.pem"
    path.write_bytes(backend.ca_path.read_bytes() + proxy_ca.read_bytes())
    return path


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    return path


def write_scenario(directory: Path, backend: Backend, **fields) -> Path:
    """A scenario file routed to the stand-in backend, with short phases for tests."""
    data = {
        "name": fields.pop("name", "test"),
        "settle": 0.3,
        "timeout": 8,
        "resolve": {h: f"127.0.0.1:{backend.port}" for h in backend.hosts},
        "upstream_trust": str(backend.ca_path),
        **fields,
    }
    path = directory / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def run_scenario(tmp_path, backend, confdir) -> Callable[..., dict]:
    """Run a scenario in-process through the real proxy; the trigger is a Python callable
    (kind, env) -> None run in a thread, or a shell command given as `trigger=` in fields."""
    from mitm_pincheck import scenario as scenario_mod
    from mitm_pincheck.proxy.runner import RunConfig, run

    def go(
        client: Callable[[str, dict], None] | None = None,
        mode: str = "regular",
        proxyauth: str | None = None,
        **fields,
    ) -> dict:
        path = write_scenario(tmp_path, backend, **fields)
        scenario = scenario_mod.load(path)

        async def trigger(kind: str, env: dict) -> None:
            await asyncio.to_thread(client, kind, env)

        config = RunConfig(
            scenario=scenario,
            out_dir=tmp_path / "out",
            listen_host="127.0.0.1",
            listen_port=0,
            confdir=confdir,
            trigger_fn=trigger if client is not None else None,
            mode=mode,
            proxyauth=proxyauth,
        )
        report = asyncio.run(run(config))
        json.dumps(report)  # must be JSON-able as is
        return report

    return go


def rows(report: dict) -> dict[tuple[str, str], dict]:
    return {(r["host"], r["phase"]): r for r in report["results"]}
