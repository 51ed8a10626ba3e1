"""report.html in a real browser: it renders, shows every host, and asks the network for nothing.

Chromium's own services (component updater, network time, sign-in) talk to the network whatever
the flags say, so "no request" is judged from Chromium's NetLog: every request it started whose
initiator is the report's origin, i.e. that the page asked for. A local server records the
same-origin requests as well, and a deliberately leaky page proves the check can fail.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import struct
import subprocess
import threading
from html import escape
from pathlib import Path

import pytest
from report_samples import HOSTILE_HOST, big_report, hostile_report

from mitm_pincheck.report.html import render_html

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--window-size=1366,900",
]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (CI installs it: apt-get install chromium)",
)


class Recorder(http.server.ThreadingHTTPServer):
    """Serves the pages on 127.0.0.1 and records every request path."""

    def __init__(self, pages: dict[str, bytes]):
        self.pages = pages
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.pages.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(pages: dict[str, str]) -> Recorder:
        server = Recorder({k: v.encode() for k, v in pages.items()})
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class Load:
    """One page load: the serialized DOM (if dumped) and the URLs the page made Chromium fetch."""

    def __init__(self, stdout: str, page_requests: list[str]):
        self.dom = stdout
        self.page_requests = page_requests


def chromium(tmp_path: Path, server: Recorder, path: str, *args: str) -> Load:
    run = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
    run.mkdir()
    url = server.base + path
    cmd = [
        CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
        *FLAGS,
        f"--user-data-dir={run / 'profile'}",
        f"--log-net-log={run / 'netlog.json'}",
        *args,
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return Load(done.stdout, _page_requests(run / "netlog.json", url))


def _page_requests(netlog: Path, url: str) -> list[str]:
    """URLs of requests the page started (its origin is their initiator), plus the page."""
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    origin = url.split("/", 3)
    origin = f"{origin[0]}//{origin[2]}"
    found = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] != start_job or "url" not in params:
            continue
        if params.get("initiator") == origin or params["url"] == url:
            found.append(params["url"])
    return found


def test_the_50_host_report_renders_every_host_and_requests_nothing(tmp_path, serve):
    report = big_report(50)
    server = serve({"/report.html": render_html(report)})
    load = chromium(tmp_path, server, "/report.html", "--dump-dom")

    assert load.page_requests == [f"{server.base}/report.html"]
    assert server.requests == ["/report.html"]
    dom = load.dom
    for row in report["results"]:
        assert f'data-host="{escape(row["host"])}"' in dom
    assert dom.count('<tr data-host="') == 50
    summary = report["summary"]
    for verdict in ("fail", "inconclusive", "pass"):
        assert f'data-count="{verdict}">{summary[verdict]} {verdict}</span>' in dom
    # The script ran: the controls are visible and count the hosts.
    assert '<div class="controls" id="controls">' in dom
    assert "50 of 50 hosts shown" in dom


def test_a_hostile_host_name_is_text_in_the_browser_not_a_script(tmp_path, serve):
    server = serve({"/report.html": render_html(hostile_report())})
    load = chromium(tmp_path, server, "/report.html", "--dump-dom")
    assert load.page_requests == [f"{server.base}/report.html"]
    body_tag = load.dom.split("<body", 1)[1].split(">", 1)[0]
    assert "data-pwned" not in body_tag
    assert escape(HOSTILE_HOST, quote=False) in load.dom
    assert "<img src=" not in load.dom and "<svg" not in load.dom


def test_the_50_host_report_renders_a_screenshot(tmp_path, serve):
    server = serve({"/report.html": render_html(big_report(50))})
    shot = tmp_path / "report.png"
    load = chromium(tmp_path, server, "/report.html", f"--screenshot={shot}")
    assert load.page_requests == [f"{server.base}/report.html"]
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1366, 900)


def test_the_network_check_catches_a_page_that_loads_something(tmp_path, serve):
    leaky = (
        '<!doctype html><link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="https://fonts.example.net/css">'
        '<img src="http://cdn.example.net/x.png"><img src="/local.png">'
    )
    server = serve({"/report.html": leaky})
    load = chromium(tmp_path, server, "/report.html", "--dump-dom")
    assert set(load.page_requests) == {
        f"{server.base}/report.html",
        "https://fonts.example.net/css",
        "http://cdn.example.net/x.png",
        f"{server.base}/local.png",
    }


def test_a_link_to_a_cell_opens_it_in_the_browser(tmp_path, serve):
    """base.js, shared by every page: a #c-N link opens that cell's <details> (and only it)."""
    report = big_report(5)
    server = serve({"/report.html": render_html(report)})
    load = chromium(tmp_path, server, "/report.html#c-3", "--dump-dom")
    opened = re.findall(r'<td class="cell v-\w+" id="c-(\d+)"[^>]*><details open="">', load.dom)
    assert opened == ["3"]
    assert "5 of 5 hosts shown" in load.dom  # report.js ran too
