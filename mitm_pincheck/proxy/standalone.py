"""Script mode: `mitmdump -s addons/pincheck.py --set pincheck_scenario=FILE`.

A second addon next to `PincheckAddon`: it declares the `pincheck_*` options, loads the scenario
into the pincheck addon, and once mitmproxy listens runs the phases and writes the reports. Kept
apart so that the addon (hooks only) never imports the runner that drives it.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mitmproxy import ctx, exceptions

from mitm_pincheck import scenario as scenario_mod
from mitm_pincheck.errors import InputError
from mitm_pincheck.proxy import runner
from mitm_pincheck.proxy.addon import PincheckAddon
from mitm_pincheck.verdicts.clients import parse_networks


class StandaloneDriver:
    def __init__(self, pincheck: PincheckAddon):
        self.pincheck = pincheck
        self._driver: asyncio.Task | None = None
        self._app_package: dict | None = None  # the scenario's apk:/ipa:, as run --apk records it
        self._bundle_dir: Path | None = None  # the upstream-trust bundle, removed at exit

    def load(self, loader):
        loader.add_option(
            "pincheck_scenario", str, "", "mitm-pincheck: scenario file to run (YAML)."
        )
        loader.add_option(
            "pincheck_out",
            str,
            "pincheck-out",
            "mitm-pincheck: directory for journal.jsonl and the reports.",
        )
        loader.add_option(
            "pincheck_keep_running",
            bool,
            False,
            "mitm-pincheck: keep proxying (everything passed through) after the last phase "
            "instead of shutting down.",
        )
        loader.add_option(
            "pincheck_client",
            Sequence[str],
            [],
            "mitm-pincheck: only connections from these client addresses or networks (CIDR) "
            "count; others are passed through and listed. Default: every client (as --client).",
        )

    def configure(self, updated):
        if "pincheck_client" in updated:
            try:
                self.pincheck.clients = parse_networks(
                    ctx.options.pincheck_client, "pincheck_client"
                )
            except InputError as e:
                raise exceptions.OptionsError(str(e)) from None
        if "pincheck_scenario" not in updated or not ctx.options.pincheck_scenario:
            return
        try:
            scenario = scenario_mod.load(ctx.options.pincheck_scenario)
            self._app_package = _package_record(scenario)
        except InputError as e:
            raise exceptions.OptionsError(str(e)) from None
        self.pincheck.scenario = scenario
        if scenario.upstream_trust and not ctx.options.ssl_verify_upstream_trusted_ca:
            self._remove_bundle()
            self._bundle_dir = Path(tempfile.mkdtemp(prefix="pincheck-"))
            bundle = runner.upstream_bundle(scenario.upstream_trust, self._bundle_dir)
            ctx.options.update(ssl_verify_upstream_trusted_ca=str(bundle))

    def running(self):
        # runs after PincheckAddon.running (it comes later in the chain), so the forge is ready
        if self.pincheck.scenario is not None and self._driver is None:
            self._driver = asyncio.ensure_future(
                runner.drive_standalone(self.pincheck, self._app_package)
            )

    def done(self):
        if self._driver is not None and not self._driver.done():
            self._driver.cancel()
        self._remove_bundle()

    def _remove_bundle(self) -> None:
        if self._bundle_dir is not None:
            shutil.rmtree(self._bundle_dir, ignore_errors=True)
            self._bundle_dir = None


def _package_record(scenario) -> dict | None:
    """The `app-package` record of the scenario's apk: or ipa:, as `run` journals it."""
    from mitm_pincheck.pins.package import load_package, run_record

    for kind in ("apk", "ipa"):
        if path := getattr(scenario, kind, None):
            return run_record(load_package(path, kind))
    return None


def script_addons() -> list:
    """The addons a script file hands to mitmproxy, in order."""
    pincheck = PincheckAddon()
    return [pincheck, StandaloneDriver(pincheck)]
