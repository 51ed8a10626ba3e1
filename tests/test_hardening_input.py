"""Wrong words and loose ends (issue 12): numbers YAML 1.1 reads as text, nesting, aliases,
public-suffix wildcards, a CA key others can read, symlinks planted in an export directory,
`--mode local` on Linux, and proxy passwords that need percent-encoding."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import need, rows, write_scenario

from mitm_pincheck import scenario as scenario_mod
from mitm_pincheck.cli import main
from mitm_pincheck.errors import ScenarioError

PY = sys.executable
HOST = "- {host: api.example.com, pinned: true}"


def parse(text: str):
    return scenario_mod.parse(text, file="s.yaml")


@pytest.mark.parametrize("written, seconds", [("1e3", 1000.0), ("2.5E1", 25.0), ("1.0e+3", 1000)])
def test_a_timeout_written_1e3_is_a_number(written, seconds):
    assert parse(f"hosts:\n  {HOST}\ntimeout: {written}\n").timeout == seconds


@pytest.mark.parametrize("written", ["1.0e+300", "1e9", "86401", ".inf"])
def test_an_absurd_timeout_is_refused_with_the_allowed_range(written):
    with pytest.raises(ScenarioError) as e:
        parse(f"hosts:\n  {HOST}\ntimeout: {written}\n")
    assert e.value.key == "timeout" and "at most 86400" in e.value.message


def test_a_quoted_1e3_is_still_text():
    with pytest.raises(ScenarioError, match="expected a number"):
        parse(f"hosts:\n  {HOST}\ntimeout: '1e3'\n")


def test_a_scenario_nested_500_deep_is_a_clear_error(tmp_path, capsys):
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: x\nhosts: " + "[" * 500 + "]" * 500 + "\n")
    assert main(["validate", str(deep)]) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_a_host_reused_through_an_alias_is_named_as_such():
    text = "hosts:\n  - &a {host: api.example.com, pinned: true}\n  - *a\n"
    with pytest.raises(ScenarioError) as e:
        parse(text)
    assert "YAML alias" in e.value.message and "lines 2 and 2" not in e.value.message


# pages.dev joined the Public Suffix List after 2019: the bundled list must be a current one
@pytest.mark.parametrize(
    "pattern", ["*.co.uk", "*.com.au", "*.github.io", "*.CO.UK.", "*.pages.dev", "*.web.app"]
)
def test_a_wildcard_over_a_public_suffix_is_refused(pattern):
    with pytest.raises(ScenarioError, match="public suffix"):
        parse(f'hosts:\n  - {{host: "{pattern}", pinned: true}}\n')


@pytest.mark.parametrize("pattern", ["*.example.co.uk", "*.svc.test", "*.shop.demo"])
def test_a_wildcard_under_a_registrable_domain_is_fine(pattern):
    assert parse(f'hosts:\n  - {{host: "{pattern}", pinned: true}}\n').hosts[0].host == pattern


def test_a_partial_line_in_the_middle_is_an_unreadable_line(tmp_path, capsys):
    journal = tmp_path / "journal.jsonl"
    journal.write_text('{"ts": 1, "event": "run-start", "scenario": {}}\n{"ts": 2, "ev\n')
    main(["report", str(journal), "--out", str(tmp_path / "o")])
    assert ":2: skipped an unreadable line" in capsys.readouterr().err


def test_run_warns_about_a_ca_key_others_can_read(tmp_path, backend, confdir):
    loose = tmp_path / "loose"
    shutil.copytree(confdir, loose)
    (loose / "mitmproxy-ca.pem").chmod(0o644)
    scenario = write_scenario(
        tmp_path, backend, hosts=[{"host": "open.test", "pinned": False}], phases=["valid-ca"]
    )
    scenario.write_text(scenario.read_text().replace("timeout: 8", "timeout: 0.5"))
    p = subprocess.run(
        [PY, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(tmp_path / "o")]
        + ["--listen", "127.0.0.1:0", "--confdir", str(loose)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert p.returncode == 3, p.stderr
    assert "readable by others (mode 0644)" in p.stderr and "chmod 600" in p.stderr


def test_ca_export_replaces_a_planted_symlink_instead_of_writing_through_it(
    tmp_path, confdir, capsys
):
    out = tmp_path / "export"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / "mitm-pincheck-ca.pem").symlink_to(victim)
    assert main(["ca", "export", "--out", str(out), "--confdir", str(confdir)]) == 0
    assert victim.read_text() == "precious"
    assert not (out / "mitm-pincheck-ca.pem").is_symlink()
    assert (out / "mitm-pincheck-ca.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE")


@pytest.mark.skipif(sys.platform != "linux", reason="local mode needs Windows or macOS")
def test_local_mode_that_cannot_start_says_why_not_address_in_use(tmp_path, backend, confdir):
    scenario = write_scenario(tmp_path, backend, hosts=[{"host": "open.test", "pinned": False}])
    p = subprocess.run(
        [PY, "-m", "mitm_pincheck", "run", str(scenario), "--out", str(tmp_path / "o")]
        + ["--mode", "local", "--confdir", str(confdir), "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and "in local mode" in p.stderr and "Windows" in p.stderr
    assert "address in use" not in p.stderr and "Traceback" not in p.stderr


def test_a_proxy_password_with_reserved_characters_reaches_the_trigger_encoded(
    run_scenario, device_trust
):
    curl = need("curl")
    codes = []

    def client(kind, env):
        p = subprocess.run(
            [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"]
            + ["--proxy", env["PINCHECK_PROXY"], "--cacert", str(device_trust)]
            + ["https://open.test/"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
        codes.append(p.stdout)

    report = run_scenario(
        client,
        proxyauth="lab user:p@ss/w%rd #1",
        hosts=[{"host": "open.test", "pinned": False}],
        phases=["valid-ca"],
        timeout=3,
    )
    assert codes == ["200"]
    assert rows(report)[("open.test", "valid-ca")]["outcome"] == "accepted"
