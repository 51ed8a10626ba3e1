"""What is recorded from the network (verdicts/evidence.py): any bytes, capped, no secrets."""

from __future__ import annotations

import json

import pytest

from mitm_pincheck.verdicts import evidence, results


@pytest.mark.parametrize(
    "target, path, had_query",
    [
        ("/v1/me", "/v1/me", False),
        ("/v1/me?token=s", "/v1/me", True),
        ("/v1/me#frag", "/v1/me", True),
        ("/login;jsessionid=S/next", "/login/next", False),
        ("/a;v=1;w=2/b;x", "/a/b", False),
        ("/a%3Bjsessionid=S/b", "/a/b", False),
        ("/a%3Ftoken=S/b", "/a", True),
        ("/a%3ftoken=S", "/a", True),
        ("/a%253Ftoken=S", "/a", True),
        ("/a%23frag", "/a", True),
        ("/caf\udce9", "/caf\\xe9", False),
        ("", "", False),
    ],
)
def test_paths_lose_queries_parameters_and_foreign_bytes(target, path, had_query):
    assert evidence.split_path(target) == (path, had_query)


def test_lone_surrogates_of_any_kind_become_text_every_writer_takes():
    text = evidence.clean_text("x\udcff\ud800y")
    assert text == "x\\xff\\ud800y"
    text.encode("utf-8")
    assert evidence.clean_text("plain") == "plain"


def test_long_values_and_long_lists_are_cut_saying_so():
    assert evidence.cap_text("a" * 600) == "a" * 512 + "…[88 more characters cut]"
    assert evidence.cap_text("short") == "short"
    items = evidence.cap_items(str(i) for i in range(70))
    assert items[:64] == [str(i) for i in range(64)] and items[64] == "…[6 more cut]"
    assert evidence.cap_items(["a", "b"]) == ["a", "b"]


def test_credentials_of_a_row_are_capped():
    ts = 1795725190.0
    events = [
        {
            "ts": ts,
            "event": "run-start",
            "scenario": {"hosts": [{"host": "a.test", "pinned": True}], "phases": ["valid-ca"]},
        },
        {"ts": ts, "event": "phase-start", "phase": "valid-ca", "index": 0},
        {"ts": ts, "event": "conn", "id": "1", "phase": "valid-ca", "host": "a.test"},
    ] + [
        {"ts": ts, "event": "request", "id": "1", "method": "GET", "path": "/", "credentials": [c]}
        for c in (f"x-token-{i}" for i in range(100))
    ]
    row = results.build_report(events)["results"][0]
    assert row["verdict"] == "fail"
    assert row["evidence"]["credentials"][-1] == "…[84 more cut]"
    assert len(json.dumps(row)) < 5000
