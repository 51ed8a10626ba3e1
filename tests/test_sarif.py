"""report/sarif.py: valid SARIF 2.1.0, one result per failing row, rules per kind with standards."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from report_samples import HOSTILE_HOST, big_report, finish, hostile_report, sample_report

from mitm_pincheck.report import baseline, standards
from mitm_pincheck.report.sarif import FINGERPRINT, build_sarif, render_sarif

SCHEMA_FILE = Path(__file__).parent / "data" / "sarif" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    # the schema's `date-time` and `uri` formats are only checked with jsonschema[format-nongpl]
    assert {"date-time", "uri"} <= set(cls.FORMAT_CHECKER.checkers)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def errors(validator, log) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)
    ]


def failing(report) -> set[tuple[str, str]]:
    return {(r["host"], r["phase"]) for r in report["results"] if r["verdict"] == "fail"}


def result_rows(log) -> set[tuple[str, str]]:
    return {(r["properties"]["host"], r["properties"]["phase"]) for r in log["runs"][0]["results"]}


@pytest.mark.parametrize("make", [sample_report, big_report, hostile_report])
def test_the_log_is_valid_sarif_2_1_0_with_one_result_per_failing_row(make, validator):
    report = make()
    log = json.loads(render_sarif(report))
    assert errors(validator, log) == []
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    assert len(results) == len(failing(report))
    assert result_rows(log) == failing(report)


def test_a_merged_report_from_several_devices_is_valid_sarif(validator, tmp_path):
    from mitm_pincheck.report import writers
    from mitm_pincheck.report.merge import merge_runs

    runs = []
    for name in ("pixel-7", "emulator-5554"):
        writers.write_all(sample_report(), tmp_path / name)
        runs.append(str(tmp_path / name))
    merged = merge_runs(runs)
    log = build_sarif(merged)
    assert errors(validator, log) == []
    assert len(log["runs"][0]["results"]) == merged["summary"]["fail"]


def test_the_validator_catches_a_broken_log(validator):
    """The schema check means something: a log missing what SARIF requires is refused."""
    log = build_sarif(sample_report())
    broken = copy.deepcopy(log)
    del broken["runs"][0]["tool"]["driver"]["name"]
    assert errors(validator, broken)
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    assert errors(validator, broken)
    broken = copy.deepcopy(log)
    del broken["runs"][0]["results"][0]["message"]
    assert errors(validator, broken)
    broken = copy.deepcopy(log)
    broken["runs"][0]["invocations"][0]["startTimeUtc"] = "yesterday"
    assert errors(validator, broken)
    broken = copy.deepcopy(log)
    broken["runs"][0]["tool"]["driver"]["informationUri"] = "not a uri"
    assert errors(validator, broken)


def test_a_report_with_no_failure_has_no_result_and_is_still_valid(validator):
    report = sample_report()
    for r in report["results"]:
        r["verdict"] = "pass"
    log = build_sarif(finish(report))
    assert errors(validator, log) == []
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["tool"]["driver"]["rules"] == []


def test_rules_are_per_kind_and_direction_and_findings_carry_the_mas_mapping():
    report = sample_report()
    log = build_sarif(report)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    expected_ids = {
        ("accepts-" if r["expected"] == "reject" else "refuses-") + r["phase"]
        for r in report["results"]
        if r["verdict"] == "fail"
    }
    assert set(ids) == expected_ids
    assert "accepts-valid-ca" in ids and "refuses-valid-ca" in ids
    for rule in rules:
        props = rule["properties"]
        if rule["id"].startswith("accepts-"):
            assert props["masvs"] == ["MASVS-NETWORK-2"]
            assert set(props["mastg"]) == {"MASTG-TEST-0244", "MASTG-TEST-0068"}
            assert rule["defaultConfiguration"]["level"] == "error"
            assert float(props["security-severity"]) > 0
            assert rule["helpUri"].startswith("https://mas.owasp.org/")
        else:  # a refusal is a set-up problem, not a missing pin: no standard, no severity
            assert "masvs" not in props and "security-severity" not in props
            assert rule["defaultConfiguration"]["level"] == "warning"
    for result in log["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_an_android_scenario_maps_to_the_android_test_only():
    report = sample_report()
    report["scenario"]["platform"] = "android"
    rule = next(
        r
        for r in build_sarif(report)["runs"][0]["tool"]["driver"]["rules"]
        if r["id"] == "accepts-valid-ca"
    )
    assert rule["properties"]["mastg"] == ["MASTG-TEST-0244"]


def test_the_message_carries_the_evidence_of_every_format_and_names_only():
    report = sample_report()
    log = build_sarif(report)
    result = next(
        r
        for r in log["runs"][0]["results"]
        if (r["properties"]["host"], r["properties"]["phase"]) == ("api.example.com", "valid-ca")
    )
    row = next(
        r for r in report["results"] if (r["host"], r["phase"]) == ("api.example.com", "valid-ca")
    )
    text = result["message"]["text"]
    assert text.startswith("api.example.com accepted the valid-ca certificate it had to refuse.")
    assert row["reason"] in text
    for line in standards.evidence_lines(row):
        assert line in text
    assert "credentials sent over the forged connection: authorization, cookie" in text
    assert "POST api.example.com/v1/cart (had a query string)" in text
    assert result["properties"]["credentials"] == ["authorization", "cookie"]
    assert result["level"] == "error"
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "scenarios/shop.yaml", "uriBaseId": "SRCROOT"},
        "region": {"startLine": 1},
    }
    assert result["locations"][0]["logicalLocations"][0]["name"] == "api.example.com"


def test_hostile_values_arrive_as_inert_text_without_control_characters():
    text = render_sarif(hostile_report())
    log = json.loads(text)
    hostile = [r for r in log["runs"][0]["results"] if r["properties"]["host"] == HOSTILE_HOST]
    assert len(hostile) == 1
    message = hostile[0]["message"]["text"]
    assert "\x1b" not in text and "\x07" not in text  # JSON-escaped or not, they are gone
    assert "\\u001b" not in text and "\\u0007" not in text
    assert "\ufffd[31mescape\ufffd" in message


def test_the_proof_and_the_device_are_carried_and_the_fingerprint_tells_devices_apart():
    report = sample_report()
    row = next(r for r in report["results"] if r["verdict"] == "fail")
    row["evidence"]["proof"] = {"source": "control", "host": "open.example.com"}
    twin = copy.deepcopy(row)
    row["device"], twin["device"] = "pixel-7", "emulator-5554"
    report["results"].append(twin)
    results = build_sarif(finish(report))["runs"][0]["results"]
    mine = [r for r in results if r["properties"].get("device")]
    assert [r["properties"]["device"] for r in mine] == ["pixel-7", "emulator-5554"]
    assert mine[0]["properties"]["proof"] == {"source": "control", "host": "open.example.com"}
    assert "proof that the app trusts the proxy CA: control" in mine[0]["message"]["text"]
    assert " on pixel-7 " in mine[0]["message"]["text"]
    fingerprints = {r["partialFingerprints"][FINGERPRINT] for r in results}
    assert len(fingerprints) == len(results)


def test_the_fingerprint_is_stable_across_runs_and_verdict_reasons():
    one = build_sarif(sample_report())["runs"][0]["results"]
    report = sample_report()
    for r in report["results"]:
        r["reason"] = "reworded"
        r["connections"] = 9
    two = build_sarif(report)["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in one] == [r["partialFingerprints"] for r in two]


def test_a_regression_since_the_baseline_is_a_new_result():
    before = sample_report()
    for r in before["results"]:
        r["verdict"] = "pass"
    report = baseline.apply_baseline(sample_report(), finish(before))
    results = build_sarif(report)["runs"][0]["results"]
    assert results and {r.get("baselineState") for r in results} == {"new"}


def test_an_absolute_scenario_path_is_a_file_uri_and_a_missing_one_leaves_only_the_host(
    validator,
):
    report = sample_report()
    report["scenario"]["file"] = "/home/ci/app/scen arios/shop.yaml"
    log = build_sarif(report)
    assert errors(validator, log) == []
    location = log["runs"][0]["results"][0]["locations"][0]
    assert location["physicalLocation"]["artifactLocation"] == {
        "uri": "file:///home/ci/app/scen%20arios/shop.yaml"
    }
    report["scenario"]["file"] = None
    location = build_sarif(report)["runs"][0]["results"][0]["locations"][0]
    assert "physicalLocation" not in location and location["logicalLocations"]


def test_an_interrupted_run_is_not_a_successful_execution(validator):
    report = sample_report()
    report["interrupted"] = True
    log = build_sarif(report)
    assert errors(validator, log) == []
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["startTimeUtc"] == "2026-11-26T20:00:00Z"
    assert invocation["exitCode"] == report["exit_code"]


def test_each_backup_key_row_is_its_own_alert(validator):
    report = sample_report()
    row = next(r for r in report["results"] if r["verdict"] == "fail")
    a, b = copy.deepcopy(row), copy.deepcopy(row)
    a.update(phase="backup-key", key="backup-a.pem", expected="accept")
    b.update(phase="backup-key", key="backup-b.pem", expected="accept")
    report["results"] += [a, b]
    log = build_sarif(finish(report))
    assert errors(validator, log) == []
    mine = [r for r in log["runs"][0]["results"] if r["properties"].get("key")]
    assert [r["properties"]["key"] for r in mine] == ["backup-a.pem", "backup-b.pem"]
    assert len({r["partialFingerprints"][FINGERPRINT] for r in mine}) == 2
    assert {r["ruleId"] for r in mine} == {"refuses-backup-key"}
