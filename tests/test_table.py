"""report/table.py: the terminal grid, summary line, non-pass reasons, legend and hints."""

from __future__ import annotations

import re

from mitm_pincheck.report.table import render_hints, render_legend, render_table
from mitm_pincheck.verdicts.results import build_report

ANSI = re.compile(r"\x1b\[[0-9;]*m")
GREEN, RED, YELLOW, RESET = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[0m"


def result(host, phase, verdict, outcome, reason="Because."):
    return {
        "host": host,
        "phase": phase,
        "expected": "reject",
        "outcome": outcome,
        "verdict": verdict,
        "reason": reason,
        "connections": 1,
        "evidence": {},
    }


def sample_report(**extra) -> dict:
    rows = [
        result("api.example.com", "valid-ca", "pass", "rejected-after-handshake"),
        result("cdn.example.com", "valid-ca", "fail", "accepted", "CDN leaked a cookie."),
        result("img.example.com", "valid-ca", "pass", "accepted"),
        result("api.example.com", "self-signed", "pass", "rejected-in-handshake"),
        result("cdn.example.com", "self-signed", "pass", "rejected-in-handshake"),
        result("img.example.com", "self-signed", "pass", "rejected-in-handshake"),
        result("api.example.com", "wrong-key", "pass", "rejected-in-handshake"),
        result("cdn.example.com", "wrong-key", "fail", "accepted", "CDN took a bad key."),
        result("img.example.com", "wrong-key", "inconclusive", "not-seen", "Never came."),
    ]
    return {
        "summary": {"total": 9, "pass": 6, "fail": 2, "inconclusive": 1},
        "interrupted": False,
        "results": rows,
        "hints": [],
        **extra,
    }


def test_grid_has_a_row_per_host_and_a_column_per_phase():
    lines = render_table(sample_report()).splitlines()
    assert lines[0].split() == ["host", "valid-ca", "self-signed", "wrong-key"]
    assert lines[1].startswith("api.example.com")
    assert lines[2].startswith("cdn.example.com")
    assert lines[3].startswith("img.example.com")
    assert "PASS rejected after hs" in lines[1]
    assert "PASS rejected in hs" in lines[1]
    assert "FAIL accepted" in lines[2]
    assert "?? not seen" in lines[3]


def test_grid_columns_line_up():
    lines = render_table(sample_report()).splitlines()[:4]
    col = lines[0].index("self-signed")
    assert all(line[col - 2 : col] == "  " for line in lines)
    assert lines[1][col:].startswith("PASS rejected in hs")


def test_summary_line_counts_the_verdicts():
    assert "6 pass, 2 fail, 1 inconclusive" in render_table(sample_report()).splitlines()


def test_summary_line_says_when_the_run_was_interrupted():
    text = render_table(sample_report(interrupted=True))
    assert "6 pass, 2 fail, 1 inconclusive (the run was interrupted)" in text


def test_every_row_that_did_not_pass_is_listed_with_its_reason():
    text = render_table(sample_report())
    assert "FAIL cdn.example.com (valid-ca): CDN leaked a cookie." in text
    assert "FAIL cdn.example.com (wrong-key): CDN took a bad key." in text
    assert "??   img.example.com (wrong-key): Never came." in text
    assert "Because." not in text  # passing rows keep their reasons to the report


def test_no_colour_unless_asked():
    assert "\x1b[" not in render_table(sample_report())


def test_colours_green_pass_red_fail_yellow_inconclusive():
    text = render_table(sample_report(), color=True)
    assert f"{GREEN}PASS rejected after hs{RESET}" in text
    assert f"{RED}FAIL accepted{RESET}" in text
    assert f"{YELLOW}?? not seen{RESET}" in text
    assert f"{RED}FAIL{RESET} cdn.example.com (valid-ca)" in text
    assert ANSI.sub("", text) == render_table(sample_report())


def test_narrow_terminal_drops_outcome_words_before_host_names():
    text = render_table(sample_report(), width=60)
    grid = text.split("\n\n")[0].splitlines()
    assert all(len(line) <= 60 for line in grid)
    assert "img.example.com" in grid[3]
    assert "not seen" not in text.split("\n\n")[0]
    assert grid[2].split() == ["cdn.example.com", "FAIL", "PASS", "FAIL"]


def test_very_narrow_terminal_shortens_host_names():
    report = sample_report()
    for r in report["results"]:
        r["host"] = r["host"].replace("example.com", "a-rather-long-domain.example.com")
    grid = render_table(report, width=50).split("\n\n")[0].splitlines()
    assert all(len(line) <= 50 for line in grid)
    assert "…" in grid[1]


def test_width_wraps_reasons_without_splitting_words():
    report = sample_report()
    report["results"][1]["reason"] = (
        "The app accepted a self-signed certificate for cdn.example.com and sent "
        "GET /v1/profile with Authorization: certificate validation is disabled."
    )
    text = render_table(report, width=50)
    tail = text.split("\n\n")[2].splitlines()
    assert all(len(line) <= 50 for line in tail)
    assert all(line.startswith("     ") for line in tail[1:4])
    assert "self-signed" in text.split("\n\n")[2]
    assert "/v1/profile" in text.split("\n\n")[2]


def test_colour_does_not_count_towards_the_width():
    plain = render_table(sample_report(), width=80)
    coloured = render_table(sample_report(), color=True, width=80)
    assert ANSI.sub("", coloured) == plain


def test_a_missing_cell_shows_a_dash():
    report = sample_report()
    report["results"] = report["results"][:-1]
    assert render_table(report).splitlines()[3].rstrip().endswith("-")


def test_an_empty_report_says_there_is_nothing_to_show():
    assert "No results" in render_table({"results": [], "summary": {}})


def test_renders_a_real_report():
    events = [
        {
            "ts": 1.0,
            "event": "run-start",
            "scenario": {
                "hosts": [{"host": "api.example.com", "pinned": True}],
                "phases": ["valid-ca"],
            },
        },
        {"ts": 2.0, "event": "phase-start", "phase": "valid-ca", "index": 0},
        {"ts": 3.0, "event": "phase-end", "phase": "valid-ca", "index": 0, "reason": "settle"},
        {"ts": 4.0, "event": "run-end", "interrupted": False},
    ]
    text = render_table(build_report(events))
    assert "?? not seen" in text
    assert "0 pass, 0 fail, 1 inconclusive" in text
    assert "No connection to api.example.com in this phase" in text


def test_hints_render_one_paragraph_each():
    report = sample_report(hints=["First hint.", "Second hint that is a little longer."])
    assert render_hints(report) == "hint: First hint.\nhint: Second hint that is a little longer.\n"
    wrapped = render_hints(report, width=24).splitlines()
    assert wrapped[1].startswith("hint: Second")
    assert wrapped[2].startswith("      ")
    assert render_hints(sample_report()) == ""


def test_legend_explains_every_outcome_word_and_verdict():
    legend = render_legend()
    for word in ("accepted", "rejected in hs", "rejected after hs", "idle", "not seen"):
        assert word in legend
    for word in ("PASS", "FAIL", "??"):
        assert word in legend
    assert len(legend.splitlines()) < 15
