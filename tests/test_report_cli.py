"""`mitm-pincheck report` on a real run's journal: rebuilt formats and baselines."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mitm_pincheck", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    p = cli("demo", "-q", "--out", str(out))
    assert p.returncode == 0, p.stderr
    return out


def test_demo_writes_every_format_and_they_agree(demo_run):
    report = json.loads((demo_run / "report.json").read_text())
    suites = ET.parse(demo_run / "junit.xml").getroot()
    cases = suites.findall(".//testcase")
    assert len(report["results"]) == 21
    assert len(cases) == report["summary"]["total"] == 15  # the 6 n/a rows are no tests
    assert len(suites.findall(".//failure")) == report["summary"]["fail"] == 4
    assert len(suites.findall(".//skipped")) == report["summary"]["inconclusive"] == 3
    # each backup key is a test of its own, named by its key file
    names = {c.get("name") for c in cases if c.get("classname") == "pincheck.backup-key"}
    assert names == {
        "api.shop.demo demo-keys/backup-1.pem: expected accept",
        "api.shop.demo demo-keys/backup-2.pem: expected accept",
    }
    proofs = {
        (c.get("classname"), c.get("name")): c.find("properties/property").get("value")
        for c in cases
        if c.find("properties/property[@name='ca_trust_proof']") is not None
    }
    assert proofs[("pincheck.valid-ca", "api.shop.demo: expected reject")] == "pinned-key"
    assert report["ca_trust"]["sources"] == ["pinned-key", "control"]
    html = (demo_run / "report.html").read_text()
    markdown = (demo_run / "report.md").read_text()
    for host in ("api.shop.demo", "cdn.shop.demo", "pay.shop.demo", "telemetry.shop.demo"):
        assert host in html
    assert "pay.shop.demo" in markdown and "telemetry.shop.demo" in markdown
    assert "<dt>CA trust proof</dt><dd>pinned-key, control</dd>" in html
    assert "CA trust proof: pinned-key" in html  # under the host's name
    assert "CA trust proof: api.shop.demo pinned-key" in markdown
    assert "rotating this server to that key would break the app" in markdown


def test_baseline_with_one_flipped_verdict_yields_exactly_that_regression(demo_run, tmp_path):
    baseline = json.loads((demo_run / "report.json").read_text())
    flipped = next(
        r for r in baseline["results"] if r["host"] == "pay.shop.demo" and r["phase"] == "valid-ca"
    )
    flipped["verdict"] = "pass"  # last release pinned pay.shop.demo; this build stopped
    base_path = tmp_path / "baseline.json"
    base_path.write_text(json.dumps(baseline))
    out = tmp_path / "rebuilt"
    p = cli("report", str(demo_run), "--baseline", str(base_path), "--out", str(out))
    assert p.returncode == 1, p.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["regressions"] == [
        {"host": "pay.shop.demo", "phase": "valid-ca", "before": "pass", "after": "fail"}
    ]
    assert report["fixes"] == [] and report["newly_inconclusive"] == []
    assert "REGRESSION pay.shop.demo / valid-ca" in p.stdout
    markdown = (out / "report.md").read_text()
    assert markdown.index("pay.shop.demo") < markdown.index("telemetry.shop.demo")


def test_the_same_baseline_is_no_regression(demo_run, tmp_path):
    p = cli(
        "report", str(demo_run), "--baseline", str(demo_run / "report.json"), "--out", str(tmp_path)
    )
    assert p.returncode == 1  # the demo has fail rows: exit code of the verdicts, no regression
    assert json.loads((tmp_path / "report.json").read_text())["regressions"] == []
    assert "REGRESSION" not in p.stdout


@pytest.mark.parametrize(
    "content, message", [("{not json", "not JSON"), ('{"results": 3}', "not a mitm-pincheck")]
)
def test_a_bad_baseline_is_bad_input(demo_run, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    p = cli("report", str(demo_run), "--baseline", str(bad), "--out", str(tmp_path / "o"))
    assert p.returncode == 2
    assert message in p.stderr
    assert not (tmp_path / "o").exists()


def test_report_on_a_directory_without_a_journal_is_bad_input(tmp_path):
    p = cli("report", str(tmp_path))
    assert p.returncode == 2 and "no journal" in p.stderr


def test_merge_reads_one_run_from_its_report_and_another_rebuilt_from_its_journal(
    demo_run, tmp_path
):
    journal_only = tmp_path / "journal-only"
    journal_only.mkdir()
    damaged = (demo_run / "journal.jsonl").read_bytes() + b'{"ts": 1, "event": "conn", "id"\n'
    (journal_only / "journal.jsonl").write_bytes(damaged)  # cut short by a crash
    out = tmp_path / "merged"
    p = cli(
        "report", "merge", str(demo_run), str(journal_only), "--out", str(out),
        "--label", "from-report", "--label", "from-journal",
    )  # fmt: skip
    assert p.returncode == 1, p.stderr
    assert f"mitm-pincheck: warning: {journal_only}: " in p.stderr  # the skipped line, named
    merged = json.loads((out / "report.json").read_text())
    one = json.loads((demo_run / "report.json").read_text())
    by_device = {
        d: [(r["host"], r["phase"], r["verdict"]) for r in merged["results"] if r["device"] == d]
        for d in ("from-report", "from-journal")
    }
    expected = [(r["host"], r["phase"], r["verdict"]) for r in one["results"]]
    assert sorted(by_device["from-report"]) == sorted(by_device["from-journal"]) == sorted(expected)
    assert merged["merged"]["differences"] == []
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["from-report", "from-journal"]
