"""The merged report page and the history page in a real browser: they render, their script
runs, and they ask the network for nothing."""

from __future__ import annotations

import copy

from report_samples import finish, sample_report
from test_report_html_browser import chromium, pytestmark, serve  # noqa: F401 (fixture, skip)

from mitm_pincheck.report import writers
from mitm_pincheck.report.history import build_history
from mitm_pincheck.report.history_page import render_history_html
from mitm_pincheck.report.html import render_html
from mitm_pincheck.report.merge import merge_runs


def _runs(tmp_path) -> list[str]:
    paths = []
    for day, verdict in ((1, "pass"), (2, "fail")):
        report = copy.deepcopy(sample_report())
        report["started"] = f"2026-11-0{day}T02:00:00+00:00"
        for row in report["results"]:
            if (row["host"], row["phase"]) == ("auth.example.com", "valid-ca"):
                row["verdict"] = verdict
        writers.write_all(finish(report), tmp_path / f"night{day}")
        paths.append(str(tmp_path / f"night{day}"))
    return paths


def test_the_merged_page_groups_by_device_and_its_script_counts_host_rows(tmp_path, serve):  # noqa: F811
    report = merge_runs(_runs(tmp_path), ["Android 14", "Android 9"])
    server = serve({"/report.html": render_html(report)})
    load = chromium(tmp_path, server, "/report.html", "--dump-dom")
    assert load.page_requests == [f"{server.base}/report.html"]
    rows = load.dom.count('<tr data-host="')
    assert rows == 2 * len({r["host"] for r in sample_report()["results"]})
    assert f"{rows} of {rows} hosts shown" in load.dom  # the script ran past the device rows
    assert load.dom.count('<tbody class="device"') == 2
    assert load.dom.index('id="disagreements"') < load.dom.index('id="results"')


def test_the_history_page_renders_and_requests_nothing(tmp_path, serve):  # noqa: F811
    page = render_history_html(build_history(_runs(tmp_path)))
    server = serve({"/history.html": page})
    load = chromium(tmp_path, server, "/history.html", "--dump-dom")
    assert load.page_requests == [f"{server.base}/history.html"]
    assert 'title="regression">✗↓</td>' in load.dom
