"""report.sarif: SARIF 2.1.0 for code-scanning views (GitHub, GitLab, Azure DevOps).

One result per failing row, one rule per certificate kind and direction: `accepts-<kind>` (the
app accepted a chain it had to refuse: a missing or broken pin, mapped to OWASP MASVS/MASTG in the
rule's properties) and `refuses-<kind>` (it refused a chain it had to accept: a set-up or scenario
problem, a warning with no standard). Inconclusive and passing rows are not results: code
scanning shows open problems, and the other formats already list what could not be decided.

The message quotes the same evidence as every other format (`standards.evidence_lines`): header
names and credential names, never a value. A result is located in the scenario file (code
scanning shows nothing without a location) and, logically, at the host; its fingerprint is the
host, phase and device, so the same row in the next run is the same alert. The log sets no
`automationDetails`: the CI job names its category (one per device of a matrix, e.g. GitHub's
upload-sarif `category:`), so one device's upload never replaces another's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import quote

from mitm_pincheck.report import standards
from mitm_pincheck.report.proof import column
from mitm_pincheck.verdicts.kinds import KINDS

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
VERSION = "2.1.0"
INFORMATION_URI = "https://mas.owasp.org/MASVS/controls/MASVS-NETWORK-2/"
FINGERPRINT = "pincheckRow/v1"
COMPACT_OVER = 2_000  # results

# GitHub ranks security alerts by `security-severity` (CVSS-like, 0-10) in the rule properties.
# Accepting the proxy CA's valid chain means no pinning: an attacker still needs a CA the device
# trusts. Accepting any other forged chain means certificate validation itself is broken:
# anyone on the path can read the traffic.
_SEVERITY_NO_PIN = "7.4"
_SEVERITY_NO_VALIDATION = "9.1"
_NO_PIN_KINDS = frozenset({"valid-ca", "pinned-key", "backup-key"})


def render_sarif(report: Mapping) -> str:
    log = build_sarif(report)
    # Indenting is done by json's pure-Python encoder: a log of thousands of results (a merge
    # of many runs) is written compact, by the C encoder, instead.
    indent = 2 if len(log["runs"][0]["results"]) <= COMPACT_OVER else None
    return json.dumps(log, indent=indent, ensure_ascii=False) + "\n"


def build_sarif(report: Mapping) -> dict:
    """The SARIF log (a dict) for one report: one run, its rules and its failing rows."""
    platform = standards.platform_of(report)
    scenario = report.get("scenario") or {}
    tool = report.get("tool") or {}
    regressions = {
        (c.get("host"), c.get("phase"), c.get("device"))
        for c in report.get("regressions") or []
        if isinstance(c, Mapping)
    }

    rules: list[dict] = []
    rule_index: dict[str, int] = {}
    results: list[dict] = []
    for row in report.get("results") or []:
        if not isinstance(row, Mapping) or row.get("verdict") != "fail":
            continue
        rule_id = _rule_id(row)
        if rule_id not in rule_index:
            rule_index[rule_id] = len(rules)
            rules.append(_rule(rule_id, str(row.get("phase")), platform))
        result = _result(row, rule_id, rule_index[rule_id], scenario, platform)
        if (row.get("host"), row.get("phase"), row.get("device")) in regressions:
            result["baselineState"] = "new"
        results.append(result)

    driver: dict = {
        "name": str(tool.get("name") or "mitm-pincheck"),
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }
    if tool.get("version"):
        driver["version"] = str(tool["version"])
        driver["semanticVersion"] = str(tool["version"])

    run: dict = {
        "tool": {"driver": driver},
        "invocations": [_invocation(report)],
        "results": results,
        "properties": _run_properties(report),
    }
    artifact = _artifact_location(scenario.get("file"))
    if artifact is not None and "uriBaseId" in artifact:
        run["originalUriBaseIds"] = {"SRCROOT": {"description": _message("The repository root.")}}
    return {"$schema": SCHEMA_URI, "version": VERSION, "runs": [run]}


# --- rules ------------------------------------------------------------------------------------


def _rule_id(row: Mapping) -> str:
    direction = "accepts" if row.get("expected") == "reject" else "refuses"
    return f"{direction}-{_slug(row.get('phase'))}"


def _rule(rule_id: str, phase: str, platform: str | None) -> dict:
    kind = KINDS.get(phase)
    presents = kind.presents if kind else f"the certificate of the {phase} phase"
    if rule_id.startswith("accepts-"):
        found = standards.applicable(platform)
        short = f"The app accepted the {phase} certificate, which it had to refuse"
        full = (
            f"Under the {phase} phase the proxy presents {presents}. The app sent application "
            "data over it, so whoever holds such a certificate can read and change its traffic."
        )
        if kind:
            full += f" This catches {kind.catches}."
        severity = _SEVERITY_NO_PIN if phase in _NO_PIN_KINDS else _SEVERITY_NO_VALIDATION
        properties = {
            "tags": ["security", "certificate-pinning", *(s.id for s in found)],
            "precision": "very-high",
            "problem.severity": "error",
            "security-severity": severity,
            "masvs": [s.id for s in found if s.id.startswith("MASVS-")],
            "mastg": [s.id for s in found if s.id.startswith("MASTG-")],
            "standards": [
                {"id": s.id, "title": s.title, "platform": s.platform, "url": s.url} for s in found
            ],
        }
        help_uri = found[0].url if found else INFORMATION_URI
        level = "error"
    else:
        short = f"The app refused the {phase} certificate, which it was expected to accept"
        full = (
            f"Under the {phase} phase the proxy presents {presents}, and the scenario expects the "
            "app to accept it. A refusal here is a set-up or scenario problem (the proxy CA is not "
            "trusted, or the host is pinned after all), not a missing pin."
        )
        properties = {"tags": ["certificate-pinning", "setup"], "problem.severity": "warning"}
        help_uri = INFORMATION_URI
        level = "warning"
    return {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", rule_id)),
        "shortDescription": _message(short),
        "fullDescription": _message(full),
        "help": _message(full),
        "helpUri": help_uri,
        "defaultConfiguration": {"level": level},
        "properties": properties,
    }


# --- results ----------------------------------------------------------------------------------


def _result(
    row: Mapping, rule_id: str, index: int, scenario: Mapping, platform: str | None
) -> dict:
    host = _safe(row.get("host"))
    phase = _safe(row.get("phase"))
    device = row.get("device")
    finding = rule_id.startswith("accepts-")
    where = f" on {_safe(device)}" if device else ""
    lead = (
        f"{host}{where} accepted the {phase} certificate it had to refuse."
        if finding
        else f"{host}{where} refused the {phase} certificate it was expected to accept."
    )
    lines = [lead, _safe(row.get("reason") or "")]
    lines += [_safe(line) for line in standards.evidence_lines(row)]
    proof = (row.get("evidence") or {}).get("proof")
    if isinstance(proof, Mapping) and proof.get("source"):
        lines.append(f"proof that the app trusts the proxy CA: {_safe(proof['source'])}")
    found = standards.standards_for(row, platform)
    if found:
        lines.append("maps to: " + "; ".join(s.label for s in found))

    location: dict = {
        "logicalLocations": [
            {
                "name": host,
                "fullyQualifiedName": "/".join(
                    _safe(p) for p in (device, row.get("host"), column(row)) if p
                ),
                "kind": "resource",
            }
        ]
    }
    artifact = _artifact_location(scenario.get("file"))
    if artifact is not None:
        # GitHub code scanning wants a region; the report does not keep the host's line, so
        # the alert points at the top of the scenario file.
        location["physicalLocation"] = {"artifactLocation": artifact, "region": {"startLine": 1}}

    evidence = row.get("evidence") or {}
    properties: dict = {
        "host": host,
        "phase": phase,
        "expected": _safe(row.get("expected")),
        "outcome": _safe(row.get("outcome")),
        "connections": row.get("connections", 0) or 0,
        "credentials": [_safe(c) for c in evidence.get("credentials") or []],
        "standards": [s.id for s in found],
    }
    if device:
        properties["device"] = _safe(device)
    if row.get("key"):  # a backup-key row: which key file
        properties["key"] = _safe(row["key"])
    if isinstance(proof, Mapping):
        properties["proof"] = json.loads(json.dumps(proof, default=str))
    key = "\0".join(str(p or "") for p in (row.get("host"), column(row), device))
    return {
        "ruleId": rule_id,
        "ruleIndex": index,
        "kind": "fail",
        "level": "error" if finding else "warning",
        "message": _message("\n".join(line for line in lines if line)),
        "locations": [location],
        "partialFingerprints": {
            FINGERPRINT: hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        },
        "properties": properties,
    }


# --- run --------------------------------------------------------------------------------------


def _invocation(report: Mapping) -> dict:
    invocation: dict = {"executionSuccessful": not report.get("interrupted")}
    for key, field in (("started", "startTimeUtc"), ("finished", "endTimeUtc")):
        when = _utc(report.get(key))
        if when:
            invocation[field] = when
    if isinstance(report.get("exit_code"), int):
        invocation["exitCode"] = report["exit_code"]
    if report.get("interrupted"):
        invocation["toolExecutionNotifications"] = [
            {"level": "warning", "message": _message("The run was interrupted.")}
        ]
    return invocation


def _run_properties(report: Mapping) -> dict:
    scenario = report.get("scenario") or {}
    properties: dict = {
        "scenario": _safe(scenario.get("name") or ""),
        "summary": dict(report.get("summary") or {}),
    }
    if isinstance(report.get("ca_trust"), Mapping):
        properties["ca_trust"] = json.loads(json.dumps(report["ca_trust"], default=str))
    elif "ca_trust_proven" in report:  # schema 1
        properties["ca_trust_proven"] = bool(report["ca_trust_proven"])
    if scenario.get("app"):
        properties["app"] = _safe(scenario["app"])
    for key in ("devices", "merged"):
        if report.get(key):
            properties[key] = json.loads(json.dumps(report[key], default=str))
    return properties


def _artifact_location(file) -> dict | None:
    """The scenario file as a URI: relative paths against the checkout, absolute ones as file:."""
    if not file:
        return None
    text = str(file)
    # A file name that was not UTF-8 reaches us with lone surrogates (surrogateescape): they
    # go back to their bytes, percent-encoded.
    if PureWindowsPath(text).drive:
        return {"uri": "file:///" + _quote(PureWindowsPath(text).as_posix())}
    path = PurePosixPath(text)
    if path.is_absolute():
        return {"uri": "file://" + _quote(str(path))}
    return {"uri": _quote(str(path)), "uriBaseId": "SRCROOT"}


def _quote(path: str) -> str:
    try:
        return quote(path, errors="surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no byte escaped to
        return quote(path, errors="replace")


def _utc(value) -> str | None:
    """`2026-11-26T20:00:00+00:00` -> `2026-11-26T20:00:00Z`, as SARIF recommends."""
    if not value:
        return None
    text = str(value)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _message(text: str) -> dict:
    return {"text": text}


def _slug(value) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(value or "scenario")).strip("-") or "scenario"


def _safe(value) -> str:
    """One line of text with no control characters: hosts come from the network."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)
