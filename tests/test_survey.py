"""`mitm-pincheck survey`: curl plays three hosts of an app, one trusting the proxy CA, one
pinning, one trusting only the real CA; the survey must tell them apart, and `--passive` only
list them."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml
from conftest import need

from mitm_pincheck.cli import main
from mitm_pincheck.report import survey as survey_report
from mitm_pincheck.verdicts.survey import build_survey

OPEN, PINNED, STRICT = "open.test", "pinned.test", "cdn.svc.test"


def _trigger(device_trust, backend) -> str:
    curl = need("curl")
    base = f'{curl} -s -o /dev/null --max-time 5 --proxy "$PINCHECK_PROXY"'
    return "; ".join(
        [
            f"{base} --cacert {shlex.quote(str(device_trust))} https://{OPEN}/",
            f"{base} --cacert {shlex.quote(str(device_trust))} "
            f"--pinnedpubkey sha256//{backend.pin} https://{PINNED}/",
            f"{base} --cacert {shlex.quote(str(backend.ca_path))} https://{STRICT}/",
            "true",
        ]
    )


def _survey(tmp_path, backend, confdir, trigger, *extra) -> int:
    argv = ["survey", "--out", str(tmp_path / "out"), "--listen", "127.0.0.1:0", "-q"]
    argv += ["--confdir", str(confdir), "--trigger", trigger, "--settle", "0.3"]
    argv += ["--duration", "20", "--upstream-trust", str(backend.ca_path)]
    for host in (OPEN, PINNED, STRICT):
        argv += ["--resolve", f"{host}=127.0.0.1:{backend.port}"]
    return main(argv + list(extra))


def test_survey_tells_accepting_pinned_and_untrusting_hosts_apart(
    tmp_path, backend, confdir, device_trust, capsys
):
    assert _survey(tmp_path, backend, confdir, _trigger(device_trust, backend)) == 0
    out = tmp_path / "out"
    survey = json.loads((out / "survey.json").read_text())
    hosts = {h["host"]: h for h in survey["hosts"]}
    assert set(hosts) == {OPEN, PINNED, STRICT}
    assert hosts[OPEN]["outcome"] == "accepted"
    assert hosts[OPEN]["suggests"].startswith("accepted the proxy CA: not pinned")
    assert hosts[PINNED]["outcome"] == "rejected-after-handshake"
    assert hosts[STRICT]["outcome"] == "rejected-in-handshake"
    assert "add `keys` and run `pinned-key`" in hosts[STRICT]["suggests"]
    # the same journal rebuilds the same survey
    from mitm_pincheck.verdicts.journal import iter_events

    assert build_survey(iter_events(out / "journal.jsonl", [])) == survey
    draft = yaml.safe_load((out / "survey.yaml").read_text())
    assert {h["host"]: h["pinned"] for h in draft["hosts"]} == {
        OPEN: False,
        PINNED: True,
        STRICT: True,
    }
    assert main(["validate", str(out / "survey.yaml")]) == 0
    assert OPEN in (out / "survey.html").read_text()
    printed = capsys.readouterr().out
    assert "rejected-in-handshake" in printed and "survey.yaml" in printed
    # `report DIR` on a survey's directory rebuilds the survey's files, not an empty report
    (out / "survey.json").unlink()
    assert main(["report", str(out)]) == 0
    assert json.loads((out / "survey.json").read_text()) == survey
    assert not (out / "report.json").exists()
    assert main(["report", str(out), "--baseline", str(out / "survey.json")]) == 2


def test_passive_survey_only_lists_the_hosts(tmp_path, backend, confdir, device_trust):
    # curl trusting only the real CA succeeds everywhere: nothing of ours is shown
    curl = need("curl")
    base = f'{curl} -s -o /dev/null --max-time 5 --proxy "$PINCHECK_PROXY"'
    trigger = "; ".join(
        f"{base} --cacert {shlex.quote(str(backend.ca_path))} https://{h}/" for h in (OPEN, STRICT)
    )
    assert _survey(tmp_path, backend, confdir, trigger + "; true", "--passive") == 0
    survey = json.loads((tmp_path / "out" / "survey.json").read_text())
    assert survey["passive"] is True
    assert {h["host"]: h["outcome"] for h in survey["hosts"]} == {
        OPEN: "passed-through",
        STRICT: "passed-through",
    }


def _events(*hosts: str) -> list[dict]:
    events = [{"event": "run-start", "ts": 1.0, "scenario": {"hosts": [], "survey": "active"}}]
    for i, host in enumerate(hosts):
        events.append({"event": "conn", "id": str(i), "phase": "valid-ca", "host": host})
        events.append({"event": "handshake", "id": str(i)})
        events.append(
            {
                "event": "request",
                "id": str(i),
                "method": "GET",
                "path": "/",
                "credentials": ["cookie"],
            }
        )
    events.append({"event": "run-end", "ts": 2.0, "interrupted": False})
    return events


def test_hostile_host_names_are_escaped_and_kept_out_of_the_draft():
    evil = "<script>x</script>.example.com\x1b[2J"
    survey = build_survey(_events("ok.example.com", evil))
    page = survey_report.render_html(survey)
    assert "<script>x" not in page and "&lt;script&gt;x" in page
    assert page.count("<script>") == 1  # the shared base page's own
    assert "\x1b" not in survey_report.render_text(survey)
    draft = yaml.safe_load(survey_report.draft_scenario(survey))
    assert [h["host"] for h in draft["hosts"]] == ["ok.example.com"]
    assert "sent cookie over the proxy's certificate" in survey_report.render_text(survey)


def test_a_survey_that_saw_nothing_is_exit_3_with_a_hint():
    survey = build_survey(_events())
    assert survey["exit_code"] == 3
    assert "No host was seen" in survey_report.render_text(survey)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--settle", "1"], "--settle needs --trigger"),
        (["--duration", "0"], "--duration must be a positive"),
        (["--resolve", "a.test"], "expected HOST=IP:PORT"),
        (["--resolve", "a.test=nowhere"], "--resolve"),
        (["--trigger", " "], "--trigger: empty command"),
    ],
)
def test_survey_bad_usage_is_exit_2(argv, message, tmp_path, capsys):
    assert main(["survey", "--out", str(tmp_path / "o"), *argv]) == 2
    assert message in capsys.readouterr().err
