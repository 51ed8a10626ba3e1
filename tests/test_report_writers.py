"""report/{html,junit,markdown,writers,standards}.py: one report dict, many formats that agree."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from html import escape
from html.parser import HTMLParser

import markupsafe
import pytest
from report_samples import HOSTILE_HOST, big_report, finish, hostile_report, sample_report

from mitm_pincheck.report import baseline, html, standards, writers
from mitm_pincheck.report.html import render_html
from mitm_pincheck.report.junit import render_junit
from mitm_pincheck.report.markdown import render_markdown

FILES = ["report.json", "report.html", "junit.xml", "report.md", "report.sarif"]


class Attributes(HTMLParser):
    """Every (tag, attribute, value) for the given attribute names, as a browser parses them."""

    def __init__(self, names):
        super().__init__()
        self.names = names
        self.found = []

    def handle_starttag(self, tag, attrs):
        self.found += [(tag, k, v or "") for k, v in attrs if k in self.names]

    @classmethod
    def of(cls, page, names):
        parser = cls(names)
        parser.feed(page)
        return parser.found


# --- what each format says, read back -------------------------------------------------------


def html_verdicts(page: str, report: dict) -> dict[tuple[str, str], str]:
    cells = re.findall(r'<td class="cell v-\w+" id="c-(\d+)" data-verdict="(\w+)"', page)
    rows = report["results"]
    return {(rows[int(i)]["host"], rows[int(i)]["phase"]): v for i, v in cells}


def junit_verdicts(xml: str) -> dict[tuple[str, str], str]:
    out = {}
    for case in ET.fromstring(xml).iter("testcase"):
        phase = case.get("classname").removeprefix("pincheck.")
        host = case.get("name").rsplit(": expected ", 1)[0]
        if case.find("failure") is not None:
            out[(host, phase)] = "fail"
        elif case.find("skipped") is not None:
            out[(host, phase)] = "inconclusive"
        else:
            out[(host, phase)] = "pass"
    return out


def markdown_problem_rows(md: str) -> dict[tuple[str, str], str]:
    section = md.split("## Failing and inconclusive", 1)[1].split("\n\n", 2)[1]
    out = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        verdict = "fail" if "FAIL" in cells[0] else "inconclusive"
        out[(cells[1], cells[2])] = verdict
    return out


def report_verdicts(report: dict) -> dict[tuple[str, str], str]:
    return {(r["host"], r["phase"]): r["verdict"] for r in report["results"]}


# --- all formats agree with report.json ---------------------------------------------------------


@pytest.mark.parametrize("make", [sample_report, big_report])
def test_every_format_gives_the_same_verdicts_as_report_json(make, tmp_path):
    report = make()
    paths = writers.write_all(report, tmp_path)
    assert [p.name for p in paths] == FILES
    from_json = json.loads((tmp_path / "report.json").read_text())
    assert from_json == report
    expected = report_verdicts(from_json)

    assert html_verdicts((tmp_path / "report.html").read_text(), report) == expected
    assert junit_verdicts((tmp_path / "junit.xml").read_text()) == expected
    problems = {k: v for k, v in expected.items() if v != "pass"}
    assert markdown_problem_rows((tmp_path / "report.md").read_text()) == problems


def test_formats_agree_on_a_report_built_from_a_journal(tmp_path):
    from mitm_pincheck.verdicts.results import build_report

    t = [1_795_000_000.0]

    def ev(event, **fields):
        t[0] += 0.5
        return {"ts": t[0], "event": event, **fields}

    hosts = [
        {"host": "api.example.com", "pinned": True, "expect": {}},
        {"host": "*.cdn.example.com", "pinned": False, "expect": {}},
    ]
    events = [
        ev(
            "run-start",
            tool={"name": "mitm-pincheck", "version": "0.1.0", "mitmproxy": "11.0.2"},
            scenario={
                "name": "journal",
                "file": "s.yaml",
                "app": None,
                "hosts": hosts,
                "phases": ["valid-ca", "self-signed"],
                "settle": 1,
                "timeout": 5,
            },
            listen="127.0.0.1:8080",
            ca={"fingerprint_sha256": "ab" * 32},
        ),
        ev("phase-start", phase="valid-ca", index=0),
        ev(
            "conn",
            id="c1",
            phase="valid-ca",
            kind="valid-ca",
            host="api.example.com",
            pattern="api.example.com",
            notes=[],
        ),
        ev("handshake", id="c1", resumed=False, tls_version="TLSv1.3", alpn=None),
        ev(
            "request",
            id="c1",
            method="GET",
            host="api.example.com",
            path="/v1/me",
            header_names=["authorization", "host"],
            credentials=["authorization"],
            has_query=False,
        ),
        ev("closed", id="c1", by="client"),
        ev(
            "conn",
            id="c2",
            phase="valid-ca",
            kind="valid-ca",
            host="img.cdn.example.com",
            pattern="*.cdn.example.com",
            notes=[],
        ),
        ev("handshake", id="c2", resumed=False, tls_version="TLSv1.3", alpn=None),
        ev(
            "request",
            id="c2",
            method="GET",
            host="img.cdn.example.com",
            path="/a.png",
            header_names=["host"],
            credentials=[],
            has_query=False,
        ),
        ev("phase-end", phase="valid-ca", index=0, reason="settle"),
        ev("phase-start", phase="self-signed", index=1),
        ev(
            "conn",
            id="c3",
            phase="self-signed",
            kind="self-signed",
            host="api.example.com",
            pattern="api.example.com",
            notes=[],
        ),
        ev("handshake-failed", id="c3", alert="unknown_ca", error="unknown ca"),
        ev("phase-end", phase="self-signed", index=1, reason="settle"),
        ev("run-end", interrupted=False),
    ]
    report = build_report(events)
    assert {r["verdict"] for r in report["results"]} == {"pass", "fail", "inconclusive"}
    rendered = writers.render_all(report)
    expected = report_verdicts(report)
    assert html_verdicts(rendered["report.html"], report) == expected
    assert junit_verdicts(rendered["junit.xml"]) == expected
    problems = {k: v for k, v in expected.items() if v != "pass"}
    assert markdown_problem_rows(rendered["report.md"]) == problems


# --- writers ---------------------------------------------------------------------------------


def test_write_all_creates_the_directory_and_leaves_no_temporary_files(tmp_path):
    out = tmp_path / "a" / "b"
    writers.write_all(sample_report(), out)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)


def test_a_format_that_cannot_render_leaves_the_previous_reports_untouched(tmp_path, monkeypatch):
    writers.write_all(sample_report(), tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in FILES}

    def broken(report):
        raise RuntimeError("boom")

    monkeypatch.setitem(writers.FORMATS, "junit.xml", broken)
    changed = finish({**sample_report(), "results": sample_report()["results"][:2]})
    with pytest.raises(RuntimeError):
        writers.write_all(changed, tmp_path)
    assert {name: (tmp_path / name).read_bytes() for name in FILES} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)


def test_write_atomic_replaces_the_file_and_cleans_up_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "report.md"
    target.write_text("old")
    writers.write_atomic(target, "new")
    assert target.read_text() == "new"

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError):
        writers.write_atomic(target, "newer")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_written_reports_get_ordinary_file_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        paths = writers.write_all(sample_report(), tmp_path)
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in paths} == {"0o644"}


def test_report_json_keeps_the_report_key_order(tmp_path):
    report = sample_report()
    writers.write_all(report, tmp_path)
    text = (tmp_path / "report.json").read_text()
    assert list(json.loads(text)) == list(report)
    assert text.startswith('{\n  "schema": 2,')


# --- HTML ------------------------------------------------------------------------------------


def test_html_shows_every_host_the_summary_and_the_run_facts():
    report = sample_report()
    page = render_html(report)
    for row in report["results"]:
        assert escape(row["host"]) in page
    summary = re.search(r'<p class="summary" id="summary">(.*?)</p>', page).group(1)
    assert "3 fail" in summary and "3 inconclusive" in summary and "9 pass" in summary
    assert "15 checks" in summary
    for fact in (
        "shop-app release gate",
        "com.example.shop",
        "2026-11-26T20:00:00+00:00",
        "1 min 0 s",
        "mitm-pincheck 0.1.0",
        "11.0.2",
    ):
        assert fact in page
    for hint in report["hints"]:
        assert escape(hint) in page


def test_html_cells_carry_a_text_label_and_open_their_evidence():
    page = render_html(sample_report())
    cells = re.findall(r'<td class="cell v-(\w+)".*?</td>', page, flags=re.S)
    assert cells
    cell_html = re.findall(r'(<td class="cell v-(?:pass|fail|inconclusive)".*?</td>)', page, re.S)
    for cell in cell_html:
        assert "<details>" in cell and "<summary>" in cell
        assert re.search(r'<span class="label">. (PASS|FAIL|INCONCLUSIVE)</span>', cell)
    leak = next(c for c in cell_html if "/v1/me" in c)
    assert "GET api.example.com/v1/me" in leak
    assert "<code>authorization</code>" in leak and "<code>cookie</code>" in leak
    assert "<dt>connections</dt><dd>2</dd>" in leak
    assert "MASVS-NETWORK-2" in leak and "MASTG-TEST-0244 (Android)" in leak


def test_html_puts_a_wildcard_host_right_after_its_scenario_entry():
    page = render_html(sample_report())
    order = re.findall(r'<tr data-host="([^"]+)"', page)
    assert order == [
        "api.example.com",
        "auth.example.com",
        "img.cdn.example.com",
        "static.cdn.example.com",
        "metrics.thirdparty.net",
    ]
    assert "via <code>*.cdn.example.com</code>" in page


def test_html_loads_nothing_from_anywhere():
    page = render_html(hostile_report())
    refs = Attributes.of(page, ("src", "href", "srcset", "action", "poster", "data", "background"))
    assert refs, "expected at least the favicon and the cell links"
    assert all(v.startswith("#") or v == "data:," for _, _, v in refs), refs
    assert "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page
    assert ("link", "href", "data:,") in refs


def test_html_escapes_hosts_reasons_and_hints_from_the_network():
    page = render_html(hostile_report())
    assert HOSTILE_HOST not in page
    assert str(markupsafe.escape(HOSTILE_HOST)) in page  # Jinja2's autoescape: ' is &#39;
    assert "<img src=x" not in page and "<svg" not in page and "<i>alert" not in page
    assert "<script>alert('hint')" not in page
    assert page.count("<script>") == 1  # ours
    assert "\x1b" not in page and "\x07" not in page


def test_html_prints_with_every_cell_expanded():
    page = render_html(sample_report())
    assert "@media print" in page
    assert "beforeprint" in page and "afterprint" in page


def test_html_says_when_the_run_was_interrupted_or_nothing_failed():
    report = sample_report()
    report["interrupted"] = True
    assert "The run was interrupted" in render_html(report)
    clean = sample_report()
    clean["results"] = [r for r in clean["results"] if r["verdict"] == "pass"]
    finish(clean)
    assert "every host did what the scenario expected" in render_html(clean)


# --- JUnit -----------------------------------------------------------------------------------


def test_junit_has_a_suite_per_phase_and_a_case_per_host_and_phase():
    report = sample_report()
    root = ET.fromstring(render_junit(report))
    assert root.tag == "testsuites"
    assert [s.get("name") for s in root.findall("testsuite")] == report["scenario"]["phases"]
    cases = list(root.iter("testcase"))
    assert len(cases) == report["summary"]["total"] == int(root.get("tests"))
    assert len([c for c in cases if c.find("failure") is not None]) == report["summary"]["fail"]
    assert len([c for c in cases if c.find("skipped") is not None]) == 3
    assert root.get("failures") == "3" and root.get("skipped") == "3"
    for suite in root.findall("testsuite"):
        assert int(suite.get("tests")) == len(suite.findall("testcase"))
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["tool"] == "mitm-pincheck 0.1.0" and props["mitmproxy"] == "11.0.2"


def test_junit_names_stay_the_same_when_the_verdict_flips():
    before = sample_report()
    after = sample_report()
    after["results"][1].update(verdict="fail", outcome="accepted")
    names = [
        {
            (c.get("classname"), c.get("name"))
            for c in ET.fromstring(render_junit(r)).iter("testcase")
        }
        for r in (before, finish(after))
    ]
    assert names[0] == names[1]
    assert ("pincheck.valid-ca", "api.example.com: expected reject") in names[0]


def test_junit_failure_carries_the_reason_and_only_the_evidence_summary():
    report = sample_report()
    root = ET.fromstring(render_junit(report))
    case = next(
        c
        for c in root.iter("testcase")
        if c.get("name") == "api.example.com: expected reject"
        and c.get("classname") == "pincheck.valid-ca"
    )
    failure = case.find("failure")
    assert failure.get("message") == report["results"][0]["reason"]
    assert failure.get("type") == "accepted"
    lines = failure.text.splitlines()
    assert lines[0] == "got accepted, expected reject"
    assert "connections: 2" in lines
    assert "credentials sent over the forged connection: authorization, cookie" in lines
    assert "request: GET api.example.com/v1/me" in lines
    assert all(
        line.split(":")[0]
        in (
            "got accepted, expected reject",
            "connections",
            "credentials sent over the forged connection",
            "request",
            "maps to",
            "alerts from the client",
        )
        for line in lines
    ), lines
    assert "header_names" not in failure.text and "content-type" not in failure.text


def test_junit_skipped_carries_the_reason():
    root = ET.fromstring(render_junit(sample_report()))
    skipped = [
        c.find("skipped").get("message")
        for c in root.iter("testcase")
        if c.find("skipped") is not None
    ]
    assert "No connection to this host in this phase." in skipped


def test_junit_stays_well_formed_with_control_characters_and_markup_in_values():
    root = ET.fromstring(render_junit(hostile_report()))
    names = [c.get("name") for c in root.iter("testcase")]
    assert f"{HOSTILE_HOST}: expected reject" in names
    message = next(
        c.find("failure").get("message")
        for c in root.iter("testcase")
        if c.get("name").startswith("<script>")
    )
    assert "\x1b" not in message and "\ufffd[31mescape" in message


# --- Markdown --------------------------------------------------------------------------------


def test_markdown_has_counts_then_failing_and_inconclusive_rows_with_reasons():
    report = sample_report()
    md = render_markdown(report)
    assert md.startswith("# Pinning check: shop-app release gate: FAIL\n")
    assert "**3 fail**, 3 inconclusive, 9 pass (15 checks)" in md
    assert md.index("**3 fail**") < md.index("## Failing and inconclusive")
    rows = markdown_problem_rows(md)
    assert len(rows) == 6
    assert "Credentials sent: authorization, cookie." in md
    assert "MASVS-NETWORK-2" in md and "MASTG-TEST-0068 (iOS)" in md
    assert "## Hints" in md


def test_markdown_escapes_pipes_and_markup_in_cells():
    md = render_markdown(hostile_report())
    line = next(line for line in md.splitlines() if "evil.test" in line and "FAIL" in line)
    assert len(re.findall(r"(?<!\\)\|", line)) == 7  # 6 cells, not one more
    assert not re.search(r"(?<!\\)<", md), "every < is escaped"
    assert "\\<script\\>" in md
    assert "\x1b" not in md


def test_markdown_says_so_when_nothing_needs_attention():
    report = sample_report()
    report["results"] = [r for r in report["results"] if r["verdict"] == "pass"]
    md = render_markdown(finish(report))
    assert "Every host did what its scenario expected." in md
    assert "## Failing" not in md
    assert ": PASS" in md.splitlines()[0]


# --- baseline changes come first in every format ---------------------------------------------


def flipped_pair() -> tuple[dict, dict]:
    """(baseline, current): auth.example.com valid-ca went from pass to fail."""
    before = sample_report()
    after = sample_report()
    after["results"][1].update(
        verdict="fail", outcome="accepted", reason="Accepted the proxy CA: not pinned."
    )
    return before, finish(after)


def test_every_format_shows_a_regression_first():
    before, after = flipped_pair()
    report = baseline.apply_baseline(after, before)
    assert report["regressions"] == [
        {"host": "auth.example.com", "phase": "valid-ca", "before": "pass", "after": "fail"}
    ]
    page = render_html(report)
    assert page.index('id="changes"') < page.index('id="results"')
    assert "regression: was pass" in page

    md = render_markdown(report)
    assert md.index("Regressions (pass → fail)") < md.index("## Failing and inconclusive")
    assert "| auth.example.com | valid\\-ca | pass | fail |" not in md  # `-` is not escaped
    assert "| auth.example.com | valid-ca | pass | fail | Accepted the proxy CA" in md

    root = ET.fromstring(render_junit(report))
    first = root.find("testsuite").find("testcase")
    assert first.get("name") == "auth.example.com: expected reject"
    assert first.find("failure").get("message").startswith("Regression since baseline (was pass)")
    props = {p.get("name"): p.get("value") for p in root.find("testsuite").iter("property")}
    assert props["baseline.regressions"] == "1: auth.example.com valid-ca"


def test_formats_say_so_when_nothing_changed_since_the_baseline():
    report = baseline.apply_baseline(sample_report(), sample_report())
    assert "No verdict changed." in render_markdown(report)
    assert "No verdict changed." in render_html(report)
    ET.fromstring(render_junit(report))


# --- standards -------------------------------------------------------------------------------


def test_only_an_accepted_forgery_is_a_finding():
    rows = {(r["host"], r["phase"]): r for r in sample_report()["results"]}
    assert standards.is_finding(rows[("api.example.com", "valid-ca")])
    assert standards.is_finding(rows[("img.cdn.example.com", "self-signed")])
    control = rows[("metrics.thirdparty.net", "valid-ca")]  # fail, but expected accept
    assert control["verdict"] == "fail" and not standards.is_finding(control)
    assert standards.standards_for(control) == ()
    unseen = rows[("auth.example.com", "wrong-key")]
    assert [s.id for s in standards.standards_for(unseen)] == [
        "MASVS-NETWORK-2",
        "MASTG-TEST-0244",
        "MASTG-TEST-0068",
    ]


def test_a_scenario_platform_narrows_the_mastg_test():
    row = sample_report()["results"][0]
    assert [s.id for s in standards.standards_for(row, "android")] == [
        "MASVS-NETWORK-2",
        "MASTG-TEST-0244",
    ]
    assert [s.id for s in standards.standards_for(row, "ios")] == [
        "MASVS-NETWORK-2",
        "MASTG-TEST-0068",
    ]
    assert standards.platform_of({"scenario": {"platform": "iOS"}}) == "ios"
    assert standards.platform_of({"scenario": {"app": "x"}}) is None


def test_standards_have_their_titles_beside_the_ids():
    titles = {s.id: s.title for s in standards.STANDARDS}
    assert titles == {
        "MASVS-NETWORK-2": "The app performs identity pinning for all remote endpoints under "
        "the developer's control",
        "MASTG-TEST-0244": "Missing Certificate Pinning in Network Traffic",
        "MASTG-TEST-0068": "Testing Custom Certificate Stores and Certificate Pinning",
    }


def test_evidence_lists_at_most_ten_requests():
    row = sample_report()["results"][0]
    row["evidence"]["requests"] = row["evidence"]["requests"][:1] * 14
    lines = standards.evidence_lines(row)
    assert sum(line.startswith("request: ") for line in lines) == 10
    assert lines[-1] == "... and 4 more requests"


def test_a_very_big_report_is_written_in_pieces_with_the_same_data(tmp_path):
    """A merge of hundreds of runs: report.json puts a row on a line (C encoder), passing cells
    of the page carry no evidence, and every file still holds every row."""
    report = big_report(3400)  # 10,200 rows
    assert len(report["results"]) > max(writers.ROW_PER_LINE_OVER, html.BRIEF_PASSES_OVER)
    writers.write_all(report, tmp_path)
    text = (tmp_path / "report.json").read_text()
    assert json.loads(text) == report
    # "{", a line per key, a row a line, "  ]," and "}"
    assert len(text.splitlines()) == 1 + len(report) + len(report["results"]) + 2
    page = (tmp_path / "report.html").read_text()
    assert html_verdicts(page, report) == report_verdicts(report)
    passes = sum(r["verdict"] == "pass" for r in report["results"])
    assert len(re.findall(r'data-verdict="\w+"><details>', page)) == len(report["results"]) - passes
    assert f"{len(report['results'])} checks: a passing cell shows its reason" in page
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
