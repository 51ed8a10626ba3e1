"""report merge and report history: many runs, one report; verdicts over releases."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from report_samples import HOSTILE_HOST, finish, hostile_report, sample_report

from mitm_pincheck.errors import InputError
from mitm_pincheck.report import baseline, devices, writers
from mitm_pincheck.report.history import FIX, REGRESSION, build_history, to_dict
from mitm_pincheck.report.history_page import render_history_html, render_history_markdown
from mitm_pincheck.report.merge import merge_runs
from mitm_pincheck.report.sarif import FINGERPRINT


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", *args], capture_output=True, text=True, timeout=60
    )


def write_run(directory, report) -> str:
    writers.write_all(report, directory)
    return str(directory)


def flip(report, host, phase, verdict) -> dict:
    report = copy.deepcopy(report)
    for r in report["results"]:
        if (r["host"], r["phase"]) == (host, phase):
            r["verdict"] = verdict
    return finish(report)


@pytest.fixture
def two_devices(tmp_path):
    """The same build on two devices; auth.example.com / valid-ca passes on one only."""
    a = write_run(tmp_path / "api34", sample_report())
    b = write_run(tmp_path / "api28", flip(sample_report(), "auth.example.com", "valid-ca", "fail"))
    return a, b


# --- merge ------------------------------------------------------------------------------------


def test_merge_keys_rows_by_device_and_finds_where_devices_disagree(two_devices):
    report = merge_runs(list(two_devices), ["Android 14", "Android 9"])
    one = sample_report()
    assert len(report["results"]) == 2 * len(one["results"])
    assert devices.device_order(report) == ["Android 14", "Android 9"]
    keys = [devices.row_key(r) for r in report["results"]]
    assert len(set(keys)) == len(keys)
    assert devices.disagreements(report) == [
        {
            "host": "auth.example.com",
            "phase": "valid-ca",
            "verdicts": {"Android 14": "pass", "Android 9": "fail"},
        }
    ]
    assert report["summary"]["fail"] == 2 * one["summary"]["fail"] + 1
    assert report["exit_code"] == 1
    assert report["merged"] == {"runs": 2, "differences": []}
    assert [d["summary"]["fail"] for d in report["devices"]] == [
        one["summary"]["fail"],
        one["summary"]["fail"] + 1,
    ]
    # rows keep their evidence and come phase by phase, host by host, device by device
    first = report["results"][:2]
    assert [(r["host"], r["phase"], r["device"]) for r in first] == [
        ("api.example.com", "valid-ca", "Android 14"),
        ("api.example.com", "valid-ca", "Android 9"),
    ]
    assert first[0]["evidence"]["credentials"] == ["authorization", "cookie"]


def test_every_writer_shows_the_device_dimension(two_devices):
    report = merge_runs(list(two_devices), ["Android 14", "Android 9"])
    out = writers.render_all(report)

    page = out["report.html"]
    assert page.index('id="disagreements"') < page.index('id="results"')
    split = page.split('id="disagreements"', 1)[1].split("</section>", 1)[0]
    assert "auth.example.com" in split and "api.example.com" not in split
    assert page.count('<tbody class="device"') == 2
    cells = {
        (m["host"], m["phase"], m["device"]): m["verdict"] for m in report["results"]
    }  # every row has its own cell: the ids point at distinct rows
    assert page.count('<td class="cell v-') == len(cells)

    suites = ET.fromstring(out["junit.xml"]).findall("testsuite")
    assert [s.get("name") for s in suites] == ["Android 14", "Android 9"]
    assert [int(s.get("failures")) for s in suites] == [
        d["summary"]["fail"] for d in report["devices"]
    ]
    names = {
        (c.get("classname"), c.get("name"))
        for c in ET.fromstring(out["junit.xml"]).iter("testcase")
    }
    assert len(names) == len(report["results"])  # a device's case keeps its own history
    assert ("pincheck.Android 9.valid-ca", "auth.example.com: expected reject") in names

    md = out["report.md"]
    assert md.index("## Where devices disagree: 1") < md.index("## Failing and inconclusive")
    assert "| verdict | host | phase | device |" in md

    sarif = json.loads(out["report.sarif"])["runs"][0]
    prints = [r["partialFingerprints"][FINGERPRINT] for r in sarif["results"]]
    assert len(set(prints)) == len(prints) == report["summary"]["fail"]
    assert [d["label"] for d in sarif["properties"]["devices"]] == ["Android 14", "Android 9"]

    from mitm_pincheck.report.table import render_table

    text = render_table(report)
    assert text.index("device Android 14:") < text.index("device Android 9:")
    assert "devices disagree on 1:" in text
    assert "auth.example.com (valid-ca): Android 14 PASS, Android 9 FAIL" in text


def test_a_one_device_baseline_is_compared_with_every_device(two_devices):
    report = merge_runs(list(two_devices), ["Android 14", "Android 9"])
    compared = baseline.apply_baseline(report, sample_report())
    assert compared["regressions"] == [
        {
            "host": "auth.example.com",
            "phase": "valid-ca",
            "before": "pass",
            "after": "fail",
            "device": "Android 9",
        }
    ]
    md = writers.render_all(compared)["report.md"]
    assert "auth.example.com on Android 9" in md


def test_labels_default_to_directory_names_and_grow_until_they_differ(tmp_path):
    a = write_run(tmp_path / "nightly" / "12" / "out", sample_report())
    b = write_run(tmp_path / "nightly" / "13" / "out", sample_report())
    c = write_run(tmp_path / "pixel-7", sample_report())
    report = merge_runs([a, b, c])
    assert devices.device_order(report) == ["12/out", "13/out", "pixel-7"]


def test_a_run_that_recorded_its_device_is_labelled_by_it(tmp_path):
    recorded = sample_report()
    recorded["device"] = {"serial": "emulator-5554", "label": "emulator-5554"}
    report = merge_runs(
        [write_run(tmp_path / "a", recorded), write_run(tmp_path / "b", sample_report())]
    )
    assert devices.device_order(report) == ["emulator-5554", "b"]


def test_runs_of_different_scenarios_merge_with_a_note_of_what_differs(tmp_path):
    other = sample_report()
    other["scenario"]["name"] = "shop beta"
    other["scenario"]["app"] = "com.example.shop 2.0"
    other["scenario"]["hosts"].append({"host": "new.example.com", "pinned": True, "expect": {}})
    a = write_run(tmp_path / "a", sample_report())
    b = write_run(tmp_path / "b", other)
    report = merge_runs([a, b])
    diffs = report["merged"]["differences"]
    assert [d.split(" differs")[0] for d in diffs] == ["scenario name", "app", "hosts"]
    assert "'shop beta' in b" in diffs[0]
    assert report["hints"][0].startswith("These runs are not of one scenario")
    assert report["scenario"]["name"] == "shop-app release gate + shop beta"
    assert "new.example.com" in [h["host"] for h in report["scenario"]["hosts"]]
    md = writers.render_all(report)["report.md"]
    assert "These runs are not of one scenario" in md


def test_the_proof_of_each_row_survives_the_merge(tmp_path):
    proven = sample_report()
    proven["results"][0]["evidence"]["proof"] = {"source": "pinned-key"}
    proven["ca_trust"] = {"sources": ["pinned-key"], "pinned_key": ["api.example.com"]}
    report = merge_runs(
        [write_run(tmp_path / "a", proven), write_run(tmp_path / "b", sample_report())]
    )
    row = next(r for r in report["results"] if r["device"] == "a")
    assert row["evidence"]["proof"] == {"source": "pinned-key"}
    assert report["devices"][0]["ca_trust"]["sources"] == ["pinned-key"]
    # each device keeps its own run's proofs: one device's proof is not another's
    assert report["devices"][1]["ca_trust"] == sample_report()["ca_trust"]
    assert report["ca_trust"] is None


@pytest.mark.parametrize(
    "labels, message",
    [(["one"], "1 --label for 2 runs"), (["x", "x"], "--label x is given twice")],
)
def test_bad_labels_are_refused(two_devices, labels, message):
    with pytest.raises(InputError, match=message):
        merge_runs(list(two_devices), labels)


def test_the_same_run_twice_without_labels_is_refused(two_devices):
    with pytest.raises(InputError, match="label the runs apart"):
        merge_runs([two_devices[0], two_devices[0]])


def test_merge_cli_writes_every_format_and_refuses_bad_input_before_writing(two_devices, tmp_path):
    out = tmp_path / "merged"
    p = cli("report", "merge", *two_devices, "--out", str(out), "--label", "A", "--label", "B")
    assert p.returncode == 1, p.stderr
    assert sorted(f.name for f in out.iterdir()) == sorted(writers.FORMATS)
    assert "devices disagree on 1 host x phase" in p.stdout
    assert "auth.example.com (valid-ca): A pass, B fail" in p.stdout

    (tmp_path / "empty").mkdir()
    bad_out = tmp_path / "never"
    p = cli("report", "merge", two_devices[0], str(tmp_path / "empty"), "--out", str(bad_out))
    assert p.returncode == 2
    assert "empty: no report.json or journal.jsonl" in p.stderr
    assert not bad_out.exists()

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "report.json").write_text('{"results": [{"host": 1}]}')
    p = cli("report", "merge", str(tmp_path / "broken"), "--out", str(bad_out))
    assert p.returncode == 2 and "results[0] lacks host, phase or verdict" in p.stderr
    assert not bad_out.exists()


# --- history ----------------------------------------------------------------------------------


def dated(report, day, app) -> dict:
    report = copy.deepcopy(report)
    report["started"] = f"2026-11-{day:02d}T02:00:00+00:00"
    report["scenario"]["app"] = app
    return report


@pytest.fixture
def releases(tmp_path):
    """Four nightly runs, given out of order: api/valid-ca fails on the 1st, passes on the 2nd
    (a fix), is inconclusive on the 3rd and fails again on the 4th (a regression)."""
    host, phase = "auth.example.com", "valid-ca"
    verdicts = {1: "fail", 2: "pass", 3: "inconclusive", 4: "fail"}
    paths = {}
    for day, verdict in verdicts.items():
        report = dated(flip(sample_report(), host, phase, verdict), day, f"shop 1.{day}")
        paths[day] = write_run(tmp_path / f"night{day}", report)
    return [paths[3], paths[1], paths[4], paths[2]]


def test_history_orders_runs_by_date_and_marks_regressions_and_fixes(releases):
    grid = build_history(releases)
    assert [r.app for r in grid.runs] == ["shop 1.1", "shop 1.2", "shop 1.3", "shop 1.4"]
    row = grid.rows.index(("auth.example.com", "valid-ca", None))
    assert [grid.verdict(row, c) for c in range(4)] == ["fail", "pass", "inconclusive", "fail"]
    assert grid.marks == {(row, 1): FIX, (row, 3): REGRESSION}
    changes = list(grid.changes())
    assert [(c["mark"], c["run"].app, c["before"], c["after"]) for c in changes] == [
        (FIX, "shop 1.2", "fail", "pass"),
        (REGRESSION, "shop 1.4", "pass", "fail"),
    ]
    # rows are grouped by host: a host's phases sit together
    hosts = [h for h, _, _ in grid.rows]
    assert hosts == sorted(hosts, key=hosts.index)
    data = to_dict(grid)
    assert data["changes"][1]["mark"] == "regression"
    assert data["rows"][row]["verdicts"] == ["fail", "pass", "inconclusive", "fail"]


def test_history_pages_mark_the_changes_and_escape_what_came_from_the_network(tmp_path):
    hostile = dated(hostile_report(), 2, "<i>app</i> 2.0")
    before = dated(flip(hostile_report(), HOSTILE_HOST, "valid-ca", "pass"), 1, "app 1.0")
    grid = build_history([write_run(tmp_path / "b", hostile), write_run(tmp_path / "a", before)])
    page = render_history_html(grid)
    assert "<script>document" not in page and "<i>app</i>" not in page
    assert "&lt;script&gt;document" in page
    assert "&lt;i&gt;app&lt;/i&gt; 2.0" in page
    assert '<td class="f mr" title="regression">✗↓</td>' in page
    assert "\x1b" not in page
    md = render_history_markdown(grid)
    assert "**1 regression**" in md
    assert "<script>" not in md and "\\<script\\>" in md
    assert "| ↓ regression | \\<script\\>" in md
    assert "\x1b" not in md


def test_a_row_only_some_runs_have_is_blank_elsewhere(tmp_path):
    more = dated(sample_report(), 2, "2")
    more["results"].append(copy.deepcopy(more["results"][0]) | {"host": "new.example.com"})
    grid = build_history(
        [write_run(tmp_path / "a", dated(sample_report(), 1, "1")), write_run(tmp_path / "b", more)]
    )
    row = grid.rows.index(("new.example.com", "valid-ca", None))
    assert [grid.verdict(row, c) for c in range(2)] == [None, "fail"]
    assert "<td></td>" in render_history_html(grid)


def test_history_cli_writes_the_pages_and_refuses_bad_input_before_writing(releases, tmp_path):
    out = tmp_path / "history"
    p = cli("report", "history", *releases, "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in out.iterdir()) == ["history.html", "history.json", "history.md"]
    assert "4 runs" in p.stdout and "1 regressions, 1 fixes" in p.stdout
    assert "REGRESSION auth.example.com / valid-ca in shop 1.4 · 2026-11-04" in p.stdout

    bad_out = tmp_path / "never"
    p = cli("report", "history", releases[0], str(tmp_path / "nope"), "--out", str(bad_out))
    assert p.returncode == 2 and "nope: no such run directory" in p.stderr
    assert not bad_out.exists()


def test_merge_cli_with_a_baseline_exits_1_on_a_regression_on_one_device(two_devices, tmp_path):
    base = tmp_path / "baseline.json"
    base.write_text(json.dumps(sample_report()))
    out = tmp_path / "gated"
    p = cli(
        "report", "merge", *two_devices, "--out", str(out), "--baseline", str(base),
        "--label", "A", "--label", "B",
    )  # fmt: skip
    assert p.returncode == 1, p.stderr
    assert "REGRESSION auth.example.com / valid-ca on B: pass -> fail" in p.stdout
    report = json.loads((out / "report.json").read_text())
    assert [(r["host"], r["device"]) for r in report["regressions"]] == [("auth.example.com", "B")]
