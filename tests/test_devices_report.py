"""One run on several devices: a row per host x phase x device, each device judged on its own
evidence (a device's controls or store prove nothing for another), and every writer shows it."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import pytest
from test_live import screen
from test_results import API, CDN, Journal, control

from mitm_pincheck.errors import InputError
from mitm_pincheck.proxy.progress import Progress
from mitm_pincheck.report import devices, table, writers
from mitm_pincheck.report.live import LiveView
from mitm_pincheck.report.merge import merge_runs
from mitm_pincheck.verdicts.devices import combine_hints
from mitm_pincheck.verdicts.results import build_report, rows_of_phase

A = {"label": "A", "serial": "emulator-5554", "listen": "127.0.0.1:8081"}
B = {"label": "B", "serial": "emulator-5556", "listen": "127.0.0.1:8082"}
STORE = "/apex/com.android.conscrypt/cacerts/c8750f0d.0"
_TAGGED = {"conn", "connect-refused", "ignored-client", "trigger-start", "trigger-exit", "ca-store"}


class DeviceJournal(Journal):
    """A journal of a run on `devices`: events of a connection tagged with `self.device`."""

    def __init__(self, hosts, devices=(A, B), **kw):
        super().__init__(hosts, **kw)
        self.events[0]["devices"] = [dict(d) for d in devices]
        self.device = None

    def add(self, name, **fields):
        if name in _TAGGED and self.device is not None:
            fields.setdefault("device", self.device)
        super().add(name, **fields)

    def on(self, device):
        self.device = device
        return self


def rows(report, host, phase):
    return {
        r.get("device"): r for r in report["results"] if (r["host"], r["phase"]) == (host, phase)
    }


def control_on_a_only() -> DeviceJournal:
    """A pinned API and an unpinned control CDN; A trusts the proxy CA (its control accepts
    valid-ca), B does not (its control refuses it too): both refuse everything for the API."""
    j = DeviceJournal([(API, True), control(CDN)])
    j.start()
    j.on("A").rejected_after(API)
    j.on("A").accepted(CDN)
    j.on("B").rejected_after(API)
    j.on("B").rejected_in(CDN)
    j.end()
    for _ in range(2):  # self-signed, wrong-key: need no proof
        j.start()
        for d in ("A", "B"):
            j.on(d).rejected_in(API)
            j.on(d).rejected_in(CDN)
        j.end()
    j.finish()
    return j


def test_a_control_on_one_device_proves_nothing_for_another():
    report = control_on_a_only().report()
    api = rows(report, API, "valid-ca")
    assert api["A"]["verdict"] == "pass"
    assert api["A"]["evidence"]["proof"] == {"source": "control", "host": CDN}
    assert api["B"]["verdict"] == "inconclusive"
    assert api["B"]["evidence"]["proof"] is None
    # Kinds that need no proof are judged alike on both.
    assert {d: r["verdict"] for d, r in rows(report, API, "self-signed").items()} == {
        "A": "pass",
        "B": "pass",
    }
    assert report["ca_trust"] is None
    trust = {d["label"]: d["ca_trust"] for d in report["devices"]}
    assert trust["A"]["sources"] == ["control"] and trust["A"]["control"] == [CDN]
    assert trust["B"]["sources"] == []


def test_rows_are_ordered_by_phase_then_host_then_device_and_carry_the_device():
    report = control_on_a_only().report()
    order = [(r["phase"], r["host"], r["device"]) for r in report["results"]]
    assert order == [
        (phase, host, device)
        for phase in ("valid-ca", "self-signed", "wrong-key")
        for host in (API, CDN)
        for device in ("A", "B")
    ]
    assert len(set(map(devices.row_key, report["results"]))) == len(order)
    assert [(r["host"], r["device"]) for r in rows_of_phase(report, 1)] == [
        (API, "A"),
        (API, "B"),
        (CDN, "A"),
        (CDN, "B"),
    ]


def test_devices_entries_and_summaries():
    report = control_on_a_only().report()
    entries = {d["label"]: d for d in report["devices"]}
    assert list(entries) == ["A", "B"]
    assert {k: entries["A"][k] for k in ("serial", "listen")} == {
        "serial": "emulator-5554",
        "listen": "127.0.0.1:8081",
    }
    assert entries["A"]["exit_code"] == 0 and entries["A"]["summary"]["pass"] == 6
    assert entries["B"]["summary"]["inconclusive"] >= 1
    assert report["summary"]["total"] == 12
    assert report["summary"]["pass"] == sum(e["summary"]["pass"] for e in entries.values())
    assert report["exit_code"] == max(e["exit_code"] for e in entries.values())
    assert "device" not in report


def test_a_device_store_proves_only_for_its_own_device_and_hints_name_the_devices():
    j = DeviceJournal([(API, True), ("unseen.example.com", False)], phases=["valid-ca"])
    j.on("A").add("ca-store", store="system", path=STORE, serial="emulator-5554")
    j.on("B").add("ca-store", store="user", path=None, serial="emulator-5556")
    j.start()
    j.on("A").rejected_in(API)
    j.on("B").rejected_in(API)
    j.end()
    j.finish()
    report = j.report()
    api = rows(report, API, "valid-ca")
    assert api["A"]["verdict"] == "pass"
    assert api["A"]["evidence"]["proof"] == {"source": "device-store", "path": STORE}
    assert api["B"]["verdict"] == "inconclusive" and api["B"]["evidence"]["proof"] is None
    stores = {d["label"]: d["ca_trust"]["device_store"] for d in report["devices"]}
    assert stores["A"]["store"] == "system" and stores["B"]["store"] == "user"
    hints = report["hints"]
    assert any(h.startswith("Refusals by api.example.com") and h.endswith("(on B)") for h in hints)
    assert any("only in the device's user store" in h and h.endswith("(on B)") for h in hints)
    assert any(
        h.startswith("unseen.example.com was never seen") and h.endswith("(on every device)")
        for h in hints
    )


def test_declared_trust_applies_to_every_device():
    j = DeviceJournal([(API, True)], phases=["valid-ca"], ca_trust="system")
    j.start()
    j.on("A").rejected_in(API)
    j.on("B").rejected_in(API)
    j.end()
    j.finish()
    api = rows(j.report(), API, "valid-ca")
    assert {d: r["evidence"]["proof"] for d, r in api.items()} == {
        "A": {"source": "declared"},
        "B": {"source": "declared"},
    }


def test_clients_and_refusals_are_per_device():
    j = DeviceJournal([(API, True)], phases=["self-signed"])
    j.start()
    for d in ("A", "B"):  # two devices behind adb reverse: both 127.0.0.1, one client each
        cid = j.on(d).rejected_in(API)
        next(e for e in j.events if e.get("id") == cid and e["event"] == "conn")["client"] = (
            "127.0.0.1"
        )
    j.on("B").add("connect-refused", host=API, pattern=API, phase="self-signed", status=502)
    j.end()
    j.finish()
    report = j.report()
    assert not any("client addresses" in h for h in report["hints"])
    assert report["clients"]["counted"] == [
        {"address": "127.0.0.1", "connections": 1, "device": "A"},
        {"address": "127.0.0.1", "connections": 1, "device": "B"},
    ]
    # A's refusal stands; B's refused CONNECT is B's alone (its row saw the refusal too).
    assert rows(report, API, "self-signed")["A"]["verdict"] == "pass"


def test_a_connection_of_an_unknown_device_is_not_counted_and_a_hint_says_so():
    j = DeviceJournal([(API, True)], phases=["self-signed"])
    j.start()
    j.on("A").rejected_in(API)
    j.on("C").accepted(API)  # a device this run does not have: a journal edited by hand
    j.on(None).accepted(API)  # no device at all
    j.end()
    j.finish()
    report = j.report()
    api = rows(report, API, "self-signed")
    assert api["A"]["verdict"] == "pass" and api["A"]["connections"] == 1
    assert api["B"]["outcome"] == "not-seen" and api["B"]["connections"] == 0
    (hint,) = [h for h in report["hints"] if "not counted" in h and "device not in" in h]
    assert "2 connections" in hint and "'C'" in hint and "no device" in hint


def test_combine_hints_says_where_each_holds():
    assert combine_hints([("A", ["x", "y"]), ("B", ["x"])]) == [
        "x (on every device)",
        "y (on A)",
    ]
    assert combine_hints([("", ["x", "y"])]) == ["x", "y"]
    many = [(str(i), ["z"] if i % 2 else []) for i in range(20)]
    assert combine_hints(many) == ["z (on 1, 3, 5, 7, 9, 11 and 4 more)"]


def test_a_one_device_run_keeps_plain_rows_and_merge_labels_it_by_its_device(tmp_path):
    def run(device, accepted):
        j = DeviceJournal([(API, True)], devices=[device], phases=["self-signed"])
        j.start()
        (j.on(device["label"]).accepted if accepted else j.on(device["label"]).rejected_in)(API)
        j.end()
        j.finish()
        return j.report()

    one = run(A, accepted=False)
    assert all("device" not in r for r in one["results"])
    assert one["device"] == A and "devices" not in one
    assert one["ca_trust"] is not None
    writers.write_all(one, tmp_path / "a")
    writers.write_all(run(B, accepted=True), tmp_path / "b")
    merged = merge_runs([str(tmp_path / "a"), str(tmp_path / "b")])
    assert devices.device_order(merged) == ["A", "B"]
    assert devices.disagreements(merged) == [
        {"host": API, "phase": "self-signed", "verdicts": {"B": "fail", "A": "pass"}}
    ]


def test_without_devices_the_report_is_as_before():
    j = Journal([(API, True)], phases=["self-signed"])
    j.start()
    j.rejected_in(API)
    j.end()
    j.finish()
    report = j.report()
    assert "device" not in report and "devices" not in report
    assert report["ca_trust"] is not None
    assert all("device" not in r for r in report["results"])


def test_every_writer_shows_each_device_and_where_they_disagree(tmp_path):
    report = control_on_a_only().report()
    writers.write_all(report, tmp_path)
    suites = ET.parse(tmp_path / "junit.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["A", "B"]
    props = {
        s.get("name"): {p.get("name"): p.get("value") for p in s.find("properties")} for s in suites
    }
    assert props["A"]["ca_trust"] == "control" and props["B"]["ca_trust"] == "none"
    markdown = (tmp_path / "report.md").read_text()
    disagree = markdown.split("## Where devices disagree", 1)[1].split("\n## ", 1)[0]
    assert API in disagree and "valid-ca" in disagree
    assert f"{API} on A control ({CDN})" in markdown and f"{API} on B none" in markdown
    text = table.render_table(report, width=200)
    assert "device A:" in text and "device B:" in text and "devices disagree on 2" in text
    page = (tmp_path / "report.html").read_text()
    assert "Where devices disagree" in page and "devices disagree" in page
    assert "A: control · B: none" in page
    json.loads((tmp_path / "report.sarif").read_text())


def test_report_dir_rebuilds_the_same_report_from_the_journal(tmp_path):
    from mitm_pincheck.cli import main

    j = control_on_a_only()
    (tmp_path / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in j.events))
    code = main(["report", str(tmp_path)])
    rebuilt = json.loads((tmp_path / "report.json").read_text())
    expected = build_report(j.events)
    assert code == expected["exit_code"] == 3
    assert rebuilt["results"] == expected["results"]
    assert rebuilt["devices"] == expected["devices"]
    assert [s.get("name") for s in ET.parse(tmp_path / "junit.xml").getroot()] == ["A", "B"]


def test_in_a_one_device_run_what_is_untagged_is_that_device_s_and_another_tag_is_not(tmp_path):
    j = DeviceJournal([(API, True)], devices=[A], phases=["self-signed", "valid-ca"])
    j.on(None).add("ca-store", store="system", path=STORE, serial="emulator-5554")
    j.start()
    j.on(None).rejected_in(API)
    j.on("C").accepted(API)
    j.end()
    j.start()
    j.on("A").rejected_in(API)
    j.end()
    j.finish()
    report = j.report()
    assert [(r["phase"], r["verdict"], r["connections"]) for r in report["results"]] == [
        ("self-signed", "pass", 1),
        ("valid-ca", "pass", 1),
    ]
    assert report["results"][1]["evidence"]["proof"] == {"source": "device-store", "path": STORE}
    assert any("1 connection of a device not in this run ('C'" in h for h in report["hints"])
    out = io.StringIO()
    view = LiveView(out, False, [API], ["self-signed", "valid-ca"], devices=["A"])
    progress = Progress(view, 5.0)
    for event in j.events:
        progress.on_event(event)
    assert f"PASS    {API}: expected reject" in out.getvalue()  # as a run without devices
    assert " · " not in out.getvalue()


@pytest.mark.parametrize(("interactive", "given"), [(False, None), (True, ["A", "B"])])
def test_the_live_view_shows_both_devices_verdicts_of_one_host_and_phase(interactive, given):
    """Progress learns the devices from run-start; `devices=` only orders them up front."""
    out = io.StringIO()
    view = LiveView(
        out,
        interactive,
        [API, CDN],
        ["valid-ca", "self-signed", "wrong-key"],
        width=120,
        height=30,
        color=False,
        devices=given,
    )
    progress = Progress(view, 5.0)
    for event in control_on_a_only().events:
        progress.on_event(event)
    if interactive:
        grid = {
            line.split("  ")[0]: line.split()[-3:]
            for line in screen(out.getvalue())
            if "·" in line.split("  ")[0]
        }
        assert grid[f"{API} · A"][0] == "PASS"
        assert grid[f"{API} · B"][0] == "INCONCL"
    else:
        text = out.getvalue()
        assert f"PASS    {API} · A: expected reject" in text
        assert f"INCONCL {API} · B: expected reject" in text
        assert "more than one client" not in text
    progress.close()


def test_merge_of_runs_on_several_devices_has_an_entry_per_device_with_its_own_proof(tmp_path):
    for name in ("r1", "r2"):
        writers.write_all(control_on_a_only().report(), tmp_path / name)
    runs = [str(tmp_path / "r1"), str(tmp_path / "r2")]
    merged = merge_runs(runs, ["r1", "r2"])
    assert devices.device_order(merged) == ["r1/A", "r1/B", "r2/A", "r2/B"]
    trust = {d["label"]: d["ca_trust"]["sources"] for d in merged["devices"]}
    assert trust == {"r1/A": ["control"], "r1/B": [], "r2/A": ["control"], "r2/B": []}
    assert merged["merged"]["runs"] == 2
    assert any(
        h.startswith("Refusals by api.example.com") and h.endswith("(on r1/B, r2/B)")
        for h in merged["hints"]
    )
    writers.write_all(merged, tmp_path / "out")
    suites = ET.parse(tmp_path / "out" / "junit.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["r1/A", "r1/B", "r2/A", "r2/B"]
    with pytest.raises(InputError, match="label the runs apart"):
        merge_runs(runs)


def test_closes_unused_on_one_device_make_only_that_device_s_late_refusals_inconclusive():
    j = DeviceJournal([control(CDN)], phases=["valid-ca", "wrong-key"])
    j.start()
    j.on("A").accepted(CDN)
    j.on("A").rejected_after(CDN)  # A pre-connects: it closes some connections unused
    j.on("B").accepted(CDN)
    j.end()
    j.start()
    j.on("A").rejected_after(CDN, alert="bad_certificate")
    j.on("B").rejected_after(CDN, alert="bad_certificate")
    j.end()
    j.finish()
    late = rows(j.report(), CDN, "wrong-key")
    assert late["A"]["verdict"] == "inconclusive"
    assert late["B"]["verdict"] == "pass"


def test_a_journal_naming_too_many_or_hostile_devices_is_cut_down():
    from mitm_pincheck.verdicts.devices import MAX_RUN_DEVICES, of_run_start

    many = [{"label": f"d{i}", "serial": None, "listen": "127.0.0.1:1"} for i in range(5000)]
    assert len(of_run_start(many)) == MAX_RUN_DEVICES
    hostile = [
        {"label": "x" * 10_000},
        {"label": "a\x1b[31mred"},
        {"label": "ok", "serial": "s" * 10_000, "listen": "\x1b[2J"},
        {"label": "ok"},
        "not a device",
        {"label": 7},
    ]
    (entry,) = of_run_start(hostile)
    assert entry["label"] == "ok"
    assert len(entry["serial"]) < 200 and "\x1b" not in entry["listen"]


def test_stray_device_tags_are_named_capped_and_few():
    from mitm_pincheck.verdicts import results

    events = [
        {
            "event": "run-start",
            "ts": 1.0,
            "scenario": {"hosts": [{"host": "a.test", "pinned": True}], "phases": ["self-signed"]},
            "devices": [{"label": "A"}, {"label": "B"}],
        },
        {"event": "phase-start", "phase": "self-signed", "index": 0, "ts": 2.0},
    ]
    for i in range(50):
        events.append(
            {"event": "conn", "id": f"c{i}", "phase": "self-signed", "host": "a.test"}
            | {"pattern": "a.test", "device": f"{i}" + "z" * 5000, "ts": 3.0}
        )
    events.append({"event": "run-end", "ts": 4.0})
    report = results.build_report(events)
    (hint,) = [h for h in report["hints"] if "not counted" in h]
    assert len(hint) < 2000 and "and 44 more" in hint
    assert {r["outcome"] for r in report["results"]} == {"not-seen"}
