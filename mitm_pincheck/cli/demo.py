"""`mitm-pincheck demo`: the whole tool end to end on this machine, no device needed."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path

INTRO = """\
mitm-pincheck demo: a stand-in backend for *.shop.demo and three reference clients run through
the real proxy. Each phase shows every host one certificate kind:
  valid-ca     a certificate from the proxy CA the "device" trusts (only pinning refuses it)
  pinned-key   the proxy CA's certificate with the server's own key (every app accepts it:
               it proves the app trusts the proxy CA for that host)
  backup-key   the same with each backup key (a rotation rehearsal), one round per key
  self-signed  a self-signed certificate (every correct client refuses it)
  wrong-key    the real chain with the server key swapped (every correct client refuses it)
Clients: api = pins like OkHttp (the backend's key and one of its two backup keys),
cdn = validates but pins nothing (the scenario's control host), pay = trusts everything
(scenario: pinned, so it fails), telemetry = never contacted.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the built-in demo: stand-in backend, reference clients, real proxy",
        description=(
            "Start a local stand-in backend with its own CA, run the demo scenario through the "
            "real proxy with built-in reference clients (one pins like OkHttp, one does not pin, "
            "one trusts everything), print the table and write the reports. Exits 0 when every "
            "verdict matches how those clients really behave, 1 otherwise."
        ),
    )
    p.add_argument(
        "--out",
        default="pincheck-demo",
        metavar="DIR",
        help="output directory (default pincheck-demo)",
    )
    p.add_argument(
        "--confdir",
        default=None,
        metavar="DIR",
        help="proxy CA directory (default: a throwaway one, so your ~/.mitmproxy is untouched)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from mitm_pincheck import demo
    from mitm_pincheck import scenario as scenario_mod
    from mitm_pincheck.cli.run import (
        check_confdir,
        execute,
        prepare_out_dir,
        print_table,
        status_printer,
    )
    from mitm_pincheck.proxy.runner import RunConfig
    from mitm_pincheck.report import table, terminal, writers

    out = prepare_out_dir(args.out)
    print(INTRO, file=sys.stderr if args.quiet else sys.stdout)
    with demo.temporary_directory() as tmp:
        tmp_path = Path(tmp)
        backend = demo.Backend.create(tmp_path, demo.DEMO_HOSTS[:3])
        pins = demo.write_keys(tmp_path, backend)
        backend.start()
        try:
            scenario = scenario_mod.parse(demo.scenario_text(), "demo.yaml", tmp_path)
            scenario = dataclasses.replace(
                scenario,
                resolve={host: ("127.0.0.1", backend.port) for host in demo.DEMO_HOSTS},
                upstream_trust=backend.ca_path,
            )

            async def clients(kind: str, env: dict[str, str]) -> None:
                await asyncio.to_thread(
                    demo.run_clients,
                    env["PINCHECK_PROXY"],
                    Path(env["PINCHECK_CA"]),
                    backend,
                    pins,
                )

            config = RunConfig(
                scenario=scenario,
                out_dir=out,
                listen_host="127.0.0.1",
                listen_port=0,
                confdir=check_confdir(args.confdir) if args.confdir else tmp_path / "confdir",
                status=status_printer(args.quiet),
                trigger_fn=clients,
            )
            report = execute(config)
        finally:
            backend.stop()
    writers.write_all(report, out)
    print_table(report)
    print()
    print(table.render_legend())
    problems = demo.check(report)
    print()
    if problems:
        print("demo: these verdicts do not match how the reference clients behave:")
        for line in problems:
            print(f"  {terminal.clean(line)}")
        return 1
    print(
        "demo: OK, every verdict matches how the reference clients really behave "
        "(the fail rows are the trust-all client's and the backup key the pinning client does "
        f"not pin, as intended). Reports: {terminal.clean(out)}/"
    )
    return 0
