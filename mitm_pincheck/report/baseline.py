"""Compare a report with an earlier one: what this build broke, fixed, or can no longer tell.

Pure: takes report dicts, returns data. `apply_baseline` adds the comparison to a copy of the
report at top level, and every writer shows it before anything else.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping

from mitm_pincheck.errors import InputError
from mitm_pincheck.report.proof import row_id
from mitm_pincheck.verdicts import evidence

# A report.json of a few thousand rows is a few megabytes; far more is not one.
MAX_BYTES = 256 * 1024 * 1024

# (key in the report, heading every format uses), in the order formats show them.
CHANGE_KEYS: tuple[tuple[str, str], ...] = (
    ("regressions", "Regressions (pass → fail)"),
    ("newly_inconclusive", "Newly inconclusive"),
    ("fixes", "Fixes (fail → pass)"),
    ("hosts_added", "Hosts added"),
    ("hosts_gone", "Hosts gone"),
)
_ROW_CHANGES = ("regressions", "newly_inconclusive", "fixes")
_HOST_CHANGES = ("hosts_added", "hosts_gone")


def load(path: str) -> dict:
    """An earlier report.json, checked enough that comparing with it cannot fail."""
    where = f"--baseline {path}"
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise InputError(f"{where}: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise InputError(f"{where}: larger than {MAX_BYTES >> 20} MB; not a report.json")
    if data[:2] == b"\x1f\x8b":
        raise InputError(f"{where}: gzip-compressed; decompress it first (gunzip)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{where}: not UTF-8 text; not a report.json") from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}:{e.lineno}: not JSON ({e.msg})") from None
    except (RecursionError, ValueError):
        raise InputError(
            f"{where}: nested too deeply or too large a number to be a report"
        ) from None
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise InputError(f"{where}: not a mitm-pincheck report.json (no results list)")
    _verdicts(report, where)  # every row has a host, a phase and a verdict
    return report


def compare(report: Mapping, baseline: Mapping) -> dict:
    """Per (host, phase, device) present in both: pass → fail is a regression, fail → pass a
    fix, anything → inconclusive is newly inconclusive. Hosts are added or gone by name.
    backup-key rows are matched by their key file too, so each backup key keeps its own
    history. A report from several devices compared with a baseline from one device compares
    every device's row with the baseline's row for that host and phase.

    Each row change is `{host, phase, before, after}` (verdicts), plus `key` for backup-key
    rows and `device` when the row has one, in this report's order.
    """
    current = _verdicts(report, "report")
    before = _verdicts(baseline, "baseline")
    # backup-key rows are told apart by their key: (host, "backup-key FILE") -> (phase, FILE)
    keyed = {
        _row_key(r)[:2]: (evidence.cap_text(r["phase"], 64), evidence.cap_text(r["key"]))
        for r in report.get("results") or []
        if isinstance(r, Mapping) and r.get("key")
    }
    changes: dict[str, list] = {key: [] for key, _ in CHANGE_KEYS}
    for (host, phase, device), after in current.items():
        was = before.get((host, phase, device))
        if was is None and device is not None:
            was = before.get((host, phase, None))
        if was is None:
            continue
        change = {"host": host, "phase": phase, "before": was, "after": after}
        if (key := keyed.get((host, phase))) is not None:
            change["phase"], change["key"] = key
        if device is not None:
            change["device"] = device
        if was == "pass" and after == "fail":
            changes["regressions"].append(change)
        elif was == "fail" and after == "pass":
            changes["fixes"].append(change)
        elif after == "inconclusive" and was != "inconclusive":
            changes["newly_inconclusive"].append(change)
    current_hosts = _hosts(current)
    before_hosts = _hosts(before)
    changes["hosts_added"] = [h for h in current_hosts if h not in before_hosts]
    changes["hosts_gone"] = [h for h in before_hosts if h not in current_hosts]
    return changes


def apply_baseline(report: Mapping, baseline: Mapping) -> dict:
    """A copy of `report` with the comparison's keys, placed before `results` in report.json,
    and `baseline` naming the run it was compared with."""
    changes = compare(report, baseline)
    about = {
        "started": _text(baseline.get("started")),
        "scenario": _text(_object(baseline.get("scenario")).get("name")),
        "tool_version": _text(_object(baseline.get("tool")).get("version")),
        "summary": _summary(baseline.get("summary")),
    }
    added = {"baseline": about, **changes}
    out: dict = {}
    for key, value in report.items():
        if key in added:
            continue  # a report that was compared before: the new comparison wins
        if key == "results":
            out.update(added)
        out[key] = copy.deepcopy(value)
    for key, value in added.items():
        out.setdefault(key, value)
    return out


def changes_of(report: Mapping) -> dict | None:
    """The comparison carried by a report, or None when it was not compared with a baseline."""
    if not any(key in report for key, _ in CHANGE_KEYS):
        return None
    return {key: list(report.get(key) or []) for key, _ in CHANGE_KEYS}


def has_changes(changes: Mapping | None) -> bool:
    return bool(changes) and any(changes.get(key) for key, _ in CHANGE_KEYS)


def change_index(report: Mapping) -> dict[tuple, tuple[str, dict]]:
    """(host, column, device) -> (change key, change) for row changes, so a cell can say "was
    pass"; the column is the phase, and for backup-key the phase and the key file
    (`proof.column`); device is None for a one-device report. Look rows up with
    `change_key(row)`."""
    index: dict[tuple, tuple[str, dict]] = {}
    for key in _ROW_CHANGES:
        for change in report.get(key) or []:
            index[change_key(change)] = (key, change)
    return index


def change_key(row: Mapping) -> tuple:
    """The key of a row (or of a change) in `change_index`."""
    return (*row_id(row), row.get("device") or None)


def _verdicts(report: Mapping, what: str) -> dict[tuple[str, str, str | None], str]:
    results = report.get("results") if isinstance(report, Mapping) else None
    if not isinstance(results, list):
        raise InputError(f"{what}: not a mitm-pincheck report.json (no `results` list)")
    verdicts: dict[tuple[str, str, str | None], str] = {}
    for i, row in enumerate(results):
        if not isinstance(row, Mapping) or not all(
            isinstance(row.get(k), str) for k in ("host", "phase", "verdict")
        ):
            raise InputError(f"{what}: results[{i}] lacks host, phase or verdict (as text)")
        verdicts[_row_key(row)] = evidence.cap_text(row["verdict"], 64)
    return verdicts


def _object(value) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _text(value) -> str | None:
    return evidence.cap_text(value, 128) if isinstance(value, str) else None


def _summary(value) -> dict | None:
    """The baseline's counts, only the whole numbers among them."""
    if not isinstance(value, Mapping):
        return None
    return {
        evidence.cap_text(k, 32): v
        for k, v in list(value.items())[:16]
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**53
    }


def _row_key(row: Mapping) -> tuple[str, str, str | None]:
    """(host, column, device) as text of a sane length: a backup-key row's column names its
    key; device is None for a one-device report."""
    host, column = row_id(row)
    device = row.get("device")
    device = evidence.cap_text(device, 128) if isinstance(device, str) and device else None
    return (evidence.cap_text(host), evidence.cap_text(column), device)


def _hosts(verdicts: Mapping[tuple[str, str, str | None], str]) -> list[str]:
    return list(dict.fromkeys(host for host, _, _ in verdicts))
