"""`report` on a corpus of corrupted journals and bad baselines (tests/data/corrupt, written by
its make_corpus.py): a report with warnings, or exit 2 with one clear line; never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mitm_pincheck.cli import main

CORPUS = Path(__file__).resolve().parent / "data" / "corrupt"
JOURNALS = sorted((CORPUS / "journals").glob("*.jsonl"))
BASELINES = sorted((CORPUS / "baselines").glob("*.json"))
VALID_JOURNAL = CORPUS / "journals" / "ok-valid.jsonl"


def strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def check(argv: list[str], expectation: str, out: Path, capsys) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    if expectation == "error":
        assert code == 2, err
        assert err.startswith("mitm-pincheck: error: ") and len(err.splitlines()) == 1, err
        assert not (out / "report.json").exists()
        return
    assert code in (0, 1, 3), err
    if expectation == "warn":
        assert "mitm-pincheck: warning: " in err
    report = strict_json((out / "report.json").read_text(encoding="utf-8"))
    assert len((out / "report.json").read_bytes()) < 1_000_000
    assert report["results"] or code == 3  # no rows left to judge: nothing was tested
    for name in ("report.json", "report.html", "junit.xml", "report.md"):
        assert "SECRET" not in (out / name).read_text(encoding="utf-8")  # ;jsessionid=SECRET


def test_the_corpus_is_large_enough():
    assert len(JOURNALS) >= 40 and len(BASELINES) >= 20


@pytest.mark.parametrize("journal", JOURNALS, ids=lambda p: p.stem)
def test_report_on_a_corrupted_journal(journal, tmp_path, capsys):
    out = tmp_path / "out"
    check(["report", str(journal), "--out", str(out)], journal.stem.split("-")[0], out, capsys)


@pytest.mark.parametrize("baseline", BASELINES, ids=lambda p: p.stem)
def test_report_against_a_bad_baseline(baseline, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["report", str(VALID_JOURNAL), "--out", str(out), "--baseline", str(baseline)]
    check(argv, baseline.stem.split("-")[0], out, capsys)
