"""report/baseline.py: what changed since an earlier report, as pure data."""

from __future__ import annotations

import copy
import json

import pytest
from report_samples import finish, row, sample_report

from mitm_pincheck.errors import InputError
from mitm_pincheck.report.baseline import apply_baseline, changes_of, compare

NOTHING = {"regressions": [], "fixes": [], "newly_inconclusive": [], "hosts_added": [],
           "hosts_gone": []}  # fmt: skip


def with_verdict(report: dict, host: str, phase: str, verdict: str) -> dict:
    report = copy.deepcopy(report)
    for r in report["results"]:
        if (r["host"], r["phase"]) == (host, phase):
            r["verdict"] = verdict
    return finish(report)


def test_the_same_report_changes_nothing():
    assert compare(sample_report(), sample_report()) == NOTHING


def test_one_flipped_verdict_is_exactly_one_regression():
    before = sample_report()
    after = with_verdict(before, "auth.example.com", "valid-ca", "fail")
    assert compare(after, before) == {
        **NOTHING,
        "regressions": [
            {"host": "auth.example.com", "phase": "valid-ca", "before": "pass", "after": "fail"}
        ],
    }


def test_fail_to_pass_is_a_fix():
    before = sample_report()
    after = with_verdict(before, "api.example.com", "valid-ca", "pass")
    assert compare(after, before) == {
        **NOTHING,
        "fixes": [
            {"host": "api.example.com", "phase": "valid-ca", "before": "fail", "after": "pass"}
        ],
    }


def test_anything_that_becomes_inconclusive_is_newly_inconclusive():
    before = sample_report()
    after = with_verdict(before, "api.example.com", "self-signed", "inconclusive")  # was pass
    after = with_verdict(after, "api.example.com", "valid-ca", "inconclusive")  # was fail
    changes = compare(after, before)
    assert changes["newly_inconclusive"] == [
        {"host": "api.example.com", "phase": "valid-ca", "before": "fail", "after": "inconclusive"},
        {"host": "api.example.com", "phase": "self-signed", "before": "pass",
         "after": "inconclusive"},
    ]  # fmt: skip
    assert changes["regressions"] == changes["fixes"] == []


def test_still_inconclusive_and_inconclusive_to_a_verdict_are_not_changes_to_report():
    before = sample_report()
    # auth.example.com wrong-key: inconclusive in both; static valid-ca: inconclusive -> fail.
    after = with_verdict(before, "static.cdn.example.com", "valid-ca", "fail")
    assert compare(after, before) == NOTHING


def test_hosts_added_and_gone_are_named_once_in_report_order():
    before = sample_report()
    after = copy.deepcopy(before)
    after["results"] = [r for r in after["results"] if r["host"] != "metrics.thirdparty.net"]
    for phase in ("valid-ca", "self-signed"):
        after["results"].append(
            row("new.example.com", phase, "reject", "not-seen", "inconclusive", "Not seen.", 0)
        )
    changes = compare(finish(after), before)
    assert changes["hosts_added"] == ["new.example.com"]
    assert changes["hosts_gone"] == ["metrics.thirdparty.net"]
    assert changes["regressions"] == changes["newly_inconclusive"] == []


def test_apply_baseline_returns_a_copy_with_the_changes_before_the_results():
    before = sample_report()
    after = with_verdict(before, "auth.example.com", "valid-ca", "fail")
    original = json.dumps(after)
    report = apply_baseline(after, before)
    assert json.dumps(after) == original, "the input is not modified"
    keys = list(report)
    assert keys.index("regressions") < keys.index("results")
    assert keys[: keys.index("baseline")] == [k for k in after if k not in ("results", "hints")]
    assert report["baseline"] == {
        "started": before["started"],
        "scenario": before["scenario"]["name"],
        "tool_version": "0.1.0",
        "summary": before["summary"],
    }
    assert len(report["regressions"]) == 1
    assert report["results"] == after["results"]
    assert changes_of(report)["regressions"] == report["regressions"]
    assert changes_of(after) is None


def test_comparing_again_replaces_the_old_comparison():
    before = sample_report()
    after = with_verdict(before, "auth.example.com", "valid-ca", "fail")
    once = apply_baseline(after, before)
    again = apply_baseline(once, after)
    assert again["regressions"] == []
    assert list(again) == list(once)


def test_a_baseline_that_is_not_a_report_is_an_input_error():
    with pytest.raises(InputError, match="baseline: not a mitm-pincheck report.json"):
        compare(sample_report(), {"schema": 1})
    with pytest.raises(InputError, match=r"baseline: results\[0\] lacks host, phase or verdict"):
        compare(sample_report(), {"results": [{"host": "a"}]})
    with pytest.raises(InputError):
        compare(sample_report(), [])


def test_backup_key_rows_are_matched_by_their_key_file():
    from mitm_pincheck.report.baseline import compare

    def report(first: str, second: str) -> dict:
        return {
            "results": [
                {
                    "host": "api.example.com",
                    "phase": "backup-key",
                    "key": "k/b1.pem",
                    "verdict": first,
                },
                {
                    "host": "api.example.com",
                    "phase": "backup-key",
                    "key": "k/b2.pem",
                    "verdict": second,
                },
            ]
        }

    changes = compare(report("pass", "fail"), report("pass", "pass"))
    assert changes["regressions"] == [
        {
            "host": "api.example.com",
            "phase": "backup-key",
            "key": "k/b2.pem",
            "before": "pass",
            "after": "fail",
        }
    ]
    # a key that is new in this run has no history: no change
    assert compare(report("pass", "fail"), {"results": []})["regressions"] == []
