"""Writes the corpus of corrupted journals and bad baselines that tests/test_corrupt_inputs.py
feeds to `mitm-pincheck report` (issue 12). Rerun after changing it:

    .venv/bin/python tests/data/corrupt/make_corpus.py

Each file's name says what `report` must do with it: `ok-` (a report, maybe with warnings),
`warn-` (a report, and at least one warning), `error-` (exit 2 with one clear line).
"""

from __future__ import annotations

import copy
import gzip
import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
JOURNALS = HERE / "journals"
BASELINES = HERE / "baselines"

T0 = 1795725190.0
RUN_START = {
    "ts": T0,
    "event": "run-start",
    "tool": {"name": "mitm-pincheck", "version": "0.1.0", "mitmproxy": "11.0.2"},
    "scenario": {
        "name": "corpus",
        "file": "corpus.yaml",
        "app": "com.example.app",
        "hosts": [
            {"host": "open.test", "pinned": False, "expect": {}},
            {"host": "pinned.test", "pinned": True, "expect": {}},
        ],
        "phases": ["valid-ca", "self-signed"],
        "settle": 0.3,
        "timeout": 8,
    },
    "listen": "127.0.0.1:8080",
    "mode": "regular",
    "ca": {"fingerprint_sha256": "aa:bb"},
}


def events() -> list[dict]:
    """A small, valid journal: open.test accepts valid-ca and refuses self-signed."""
    ev = [copy.deepcopy(RUN_START)]
    t = T0
    for index, phase in enumerate(RUN_START["scenario"]["phases"]):
        t += 1
        ev.append({"ts": t, "event": "phase-start", "phase": phase, "index": index})
        cid = f"c{index}"
        ev.append(
            {
                "ts": t + 0.1,
                "event": "conn",
                "id": cid,
                "phase": phase,
                "kind": phase,
                "host": "open.test",
                "pattern": "open.test",
                "notes": [],
                "client": "127.0.0.1",
            }
        )
        if phase == "valid-ca":
            ev.append(
                {
                    "ts": t + 0.2,
                    "event": "handshake",
                    "id": cid,
                    "resumed": False,
                    "tls_version": "TLSv1.3",
                    "alpn": "http/1.1",
                }
            )
            ev.append(
                {
                    "ts": t + 0.3,
                    "event": "request",
                    "id": cid,
                    "method": "GET",
                    "host": "open.test",
                    "path": "/v1/me",
                    "header_names": ["authorization", "host"],
                    "credentials": ["authorization"],
                    "has_query": False,
                }
            )
        else:
            ev.append(
                {
                    "ts": t + 0.2,
                    "event": "handshake-failed",
                    "id": cid,
                    "alert": "unknown_ca",
                    "error": "the client sent an alert",
                }
            )
        ev.append({"ts": t + 0.4, "event": "closed", "id": cid, "by": "client"})
        ev.append({"ts": t + 0.5, "event": "phase-end", "phase": phase, "index": index})
    ev.append({"ts": t + 1, "event": "run-end", "interrupted": False})
    return ev


def lines(ev: list[dict]) -> str:
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in ev)


def find(ev: list[dict], name: str, n: int = 0) -> dict:
    return [e for e in ev if e["event"] == name][n]


def journal_cases() -> dict[str, str | bytes]:
    cases: dict[str, str | bytes] = {}

    def mutate(name: str, fn) -> None:
        ev = events()
        fn(ev)
        cases[name] = lines(ev)

    def set_field(name: str, event: str, key: str, value, n: int = 0) -> None:
        mutate(name, lambda ev: find(ev, event, n).__setitem__(key, value))

    def set_scenario(name: str, key: str, value) -> None:
        mutate(name, lambda ev: ev[0]["scenario"].__setitem__(key, value))

    cases["ok-valid"] = lines(events())
    set_field("warn-ts-1e20", "run-start", "ts", 1e20)
    cases["warn-ts-infinity"] = lines(events()).replace(f'"ts":{T0}', '"ts":Infinity', 1)
    cases["warn-ts-minus-infinity"] = lines(events()).replace(f'"ts":{T0}', '"ts":-Infinity', 1)
    cases["warn-ts-nan"] = lines(events()).replace(f'"ts":{T0}', '"ts":NaN', 1)
    cases["warn-ts-10-to-the-400"] = lines(events()).replace(f'"ts":{T0}', '"ts":1' + "0" * 400)
    set_field("warn-ts-text", "phase-start", "ts", "yesterday")
    set_field("warn-ts-negative", "conn", "ts", -5)
    set_field("warn-ts-bool", "conn", "ts", True)
    set_field("warn-scenario-text", "run-start", "scenario", "corpus.yaml")
    set_field("warn-scenario-list", "run-start", "scenario", ["open.test"])
    set_field("ok-scenario-null", "run-start", "scenario", None)
    set_field("warn-tool-text", "run-start", "tool", "mitm-pincheck 0.1")
    set_field("warn-tool-list", "run-start", "tool", [1, 2])
    set_scenario("warn-hosts-text", "hosts", "open.test")
    set_scenario("warn-hosts-number", "hosts", 7)
    set_scenario("warn-phases-text", "phases", "valid-ca")
    set_scenario("warn-phases-numbers", "phases", [1, 2])
    set_scenario("error-phases-unknown-kind", "phases", ["valid-ca", "no-such-kind"])
    set_scenario("warn-host-entry-number", "hosts", [{"host": 5, "pinned": True}, "x"])
    mutate("warn-expect-list", lambda ev: ev[0]["scenario"]["hosts"][0].__setitem__("expect", []))
    mutate("warn-pinned-text", lambda ev: ev[0]["scenario"]["hosts"][0].__setitem__("pinned", "no"))
    set_scenario("warn-name-object", "name", {"a": {"b": {"c": "d"}}})
    set_field("warn-header-names-text", "request", "header_names", "cookie")
    set_field("warn-header-names-number", "request", "header_names", 42)
    set_field("warn-header-names-objects", "request", "header_names", [{"n": "cookie"}])
    set_field("warn-credentials-object", "request", "credentials", {"cookie": True})
    set_field("warn-credentials-text", "request", "credentials", "cookie")
    set_field("warn-method-object", "request", "method", {"GET": 1})
    set_field("warn-has-query-text", "request", "has_query", "yes")
    set_field("ok-path-100-kilobytes", "request", "path", "/" + "p" * 100_000)
    set_field("ok-path-lone-surrogate", "request", "path", "/caf\udce9;jsessionid=SECRET")
    set_field("ok-header-name-surrogates", "request", "header_names", ["x-\ud800", "x-\udcff"])
    set_field("ok-twenty-thousand-headers", "request", "header_names", ["h"] * 20_000)
    set_field("warn-alert-object", "handshake-failed", "alert", {"code": 48})
    mutate(
        "warn-alert-event-object",
        lambda ev: ev.insert(
            4, {"ts": T0 + 1.25, "event": "alert", "id": "c0", "alert": {"name": "x"}}
        ),
    )
    set_field("warn-id-object", "conn", "id", {"id": 1})
    set_field("warn-id-list", "handshake", "id", ["c0"])
    set_field("warn-index-text", "phase-start", "index", "0")
    set_field("warn-index-huge", "phase-start", "index", 10**30)
    set_field("warn-index-bool", "phase-end", "index", True)
    set_field("warn-phase-object", "phase-start", "phase", {"kind": "valid-ca"})
    set_field("warn-reason-object", "phase-end", "reason", {"why": "settle"})
    set_field("warn-notes-text", "conn", "notes", "a note")
    set_field("warn-notes-nested", "conn", "notes", [["nested"]])
    set_field("warn-host-list", "conn", "host", ["open.test"])
    set_field("warn-closed-by-object", "closed", "by", {"who": "client"})
    set_field("warn-direction-list", "handshake", "resumed", "yes")
    set_field("warn-returncode-float", "run-end", "interrupted", 1e308)
    deep = "[" * 20_000 + "]" * 20_000
    cases["warn-deeply-nested-line"] = lines(events()) + deep + "\n"
    mutate(
        "ok-deeply-nested-field",
        lambda ev: find(ev, "conn").__setitem__("extra", json.loads("[" * 50 + "]" * 50)),
    )
    cases["warn-line-is-a-list"] = lines(events()) + "[1, 2, 3]\n"
    cases["warn-line-is-a-number"] = lines(events()) + "12345\n"
    cases["warn-event-is-a-number"] = lines(events()) + '{"event": 5}\n'
    cases["warn-partial-last-line"] = lines(events()) + '{"ts":1795725199,"event":"co'
    cases["warn-binary-garbage"] = lines(events()).encode() + b"\xff\xfe\x00\x9c garbage\n"
    cases["warn-nul-bytes"] = lines(events()) + "\x00\x00\x00\n"
    cases["warn-many-bad-lines"] = lines(events()) + "not json\n" * 500
    cases["ok-crlf-lines"] = lines(events()).replace("\n", "\r\n")
    cases["ok-utf8-bom"] = "\ufeff" + lines(events())
    cases["ok-two-run-starts"] = lines(events()) + lines(events()[:1])
    cases["error-no-run-start"] = lines(events()[1:])
    cases["error-empty"] = ""
    cases["error-only-garbage"] = "garbage\n" * 3
    return cases


def report_of_valid_journal() -> dict:
    from mitm_pincheck.verdicts import results

    return results.build_report(iter(events()))


def baseline_cases() -> dict[str, str | bytes]:
    good = report_of_valid_journal()
    text = json.dumps(good, indent=2)
    cases: dict[str, str | bytes] = {}

    def mutate(name: str, fn) -> None:
        report = copy.deepcopy(good)
        fn(report)
        cases[name] = json.dumps(report, indent=2)

    cases["ok-valid"] = text
    cases["error-gzipped"] = gzip.compress(text.encode())
    cases["error-deeply-nested"] = "[" * 20_000 + "]" * 20_000
    cases["error-deeply-nested-in-results"] = '{"results": [' + "[" * 20_000 + "]" * 20_000 + "]}"
    mutate("ok-scenario-text", lambda r: r.__setitem__("scenario", "corpus.yaml"))
    mutate("ok-tool-list", lambda r: r.__setitem__("tool", ["x"]))
    mutate("ok-summary-text", lambda r: r.__setitem__("summary", "all good"))
    mutate("ok-started-object", lambda r: r.__setitem__("started", {"at": 1}))
    mutate("error-results-object", lambda r: r.__setitem__("results", {"a": 1}))
    mutate("error-results-numbers", lambda r: r.__setitem__("results", [1, 2]))
    mutate("error-row-host-number", lambda r: r["results"][0].__setitem__("host", 5))
    mutate("error-row-verdict-object", lambda r: r["results"][0].__setitem__("verdict", {}))
    mutate("error-row-without-phase", lambda r: r["results"][0].pop("phase"))
    mutate("error-no-results", lambda r: r.pop("results"))
    mutate("ok-host-100-kilobytes", lambda r: r["results"][0].__setitem__("host", "h" * 100_000))
    cases["ok-summary-nan"] = text.replace('"pass": ', '"pass": NaN, "was": ', 1)
    cases["ok-summary-10-to-the-400"] = text.replace(
        '"total": ', '"total": 1' + "0" * 400 + ', "was": ', 1
    )
    cases["ok-utf8-bom"] = "\ufeff" + text
    cases["error-not-json"] = "this is not json\n"
    cases["error-empty"] = ""
    cases["error-binary"] = bytes(range(256))
    cases["error-utf16"] = text.encode("utf-16")
    cases["error-top-level-list"] = json.dumps([good])
    cases["error-truncated"] = text[: len(text) // 2]
    cases["error-journal-given-as-baseline"] = lines(events())
    return cases


def write(directory: Path, cases: dict[str, str | bytes], suffix: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, content in cases.items():
        data = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
        (directory / f"{name}{suffix}").write_bytes(data)


if __name__ == "__main__":
    write(JOURNALS, journal_cases(), ".jsonl")
    write(BASELINES, baseline_cases(), ".json")
    print(f"{len(journal_cases())} journals, {len(baseline_cases())} baselines in {HERE}")
