"""`report merge`: one report from the runs of a CI matrix, rows keyed host x phase x device.

Each run (a job: one device or OS version) becomes a device label: `--label`, else the device
the run recorded, else its directory's name. Rows keep everything they had (evidence, proof) and
gain `device`, so the same writers draw the merged report. Runs of different scenarios, apps or
tool versions still merge; what differs is listed in `merged.differences` and as the first hint,
so no reader takes two scenarios for one.

Pure apart from reading the runs, one at a time: rows are kept, the rest of each run is
reduced to its summary before the next is read.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from mitm_pincheck import __version__
from mitm_pincheck.errors import InputError
from mitm_pincheck.report import devices, runs
from mitm_pincheck.verdicts.devices import combine_hints, named
from mitm_pincheck.verdicts.results import exit_code_for


def merge_runs(
    paths: Sequence[str], labels: Sequence[str] | None = None, warnings: list[str] | None = None
) -> dict:
    """The merged report dict of the runs at `paths` (directories, report.json or journals);
    what rebuilding a damaged journal skipped goes into `warnings`."""
    if not paths:
        raise InputError("report merge: give at least one run directory")
    if labels and len(labels) != len(paths):
        raise InputError(
            f"report merge: {len(labels)} --label for {len(paths)} runs: give one per run, "
            "in the same order, or none"
        )
    if labels:
        repeated = sorted({label for label in labels if list(labels).count(label) > 1})
        if repeated:
            raise InputError(f"report merge: --label {repeated[0]} is given twice")

    loaded = []  # (path, run metadata, rows): the rows are the only bulk kept
    for path in paths:
        report = runs.load_run(path, warnings)
        _share_strings(report["results"])
        loaded.append((path, _about(report), report["results"], runs.run_device(report)))
        del report
    if labels:
        names = list(labels)
    else:
        names = runs.default_labels(list(paths), [device for *_, device in loaded])

    rows: list[dict] = []
    entries: list[dict] = []
    run_notes: list[str] = []  # hints of a run on several devices that name no device
    owner: dict[tuple, str] = {}
    for (path, about, run_rows, _), label in zip(loaded, names, strict=True):
        for row in run_rows:
            inner = row.get("device")
            if inner:  # a run with several devices of its own
                device = f"{label}/{inner}" if labels else str(inner)
            else:
                device = label
            merged_row = {**row, "device": device}
            key = devices.row_key(merged_row)
            if key in owner:
                raise InputError(
                    f"report merge: {owner[key]} and {path} both have {key[0]} / {key[1]} on "
                    f"device {device}: label the runs apart with --label"
                )
            owner[key] = path
            rows.append(merged_row)
        inner = about.pop("devices")
        if not inner:
            entries.append({"label": label, "run": str(path), **about})
            continue
        # A run on several devices of its own: an entry per device, with that device's own
        # proof, summary and hints; what the run said of no device in particular is noted.
        own = [(d["label"], d["hints"]) for d in inner]
        shared = set(combine_hints(own))
        run_notes += [f"{path}: {h}" for h in about["hints"] if h not in shared]
        for d in inner:
            mine = [r for r in run_rows if r.get("device") == d["label"]]
            entries.append(
                {
                    "label": f"{label}/{d['label']}" if labels else d["label"],
                    "run": str(path),
                    **about,
                    "serial": d["serial"],
                    "listen": d["listen"],
                    "ca_trust": d["ca_trust"],
                    "summary": (summary := devices.summarise(mine)),
                    "exit_code": exit_code_for(summary),
                    "hints": d["hints"],
                }
            )
    loaded.clear()

    scenarios = [e["scenario_full"] for e in entries]
    phases = _union(p for s in scenarios for p in s.get("phases") or ())
    host_entries = _union_hosts(scenarios)
    hosts = [h["host"] for h in host_entries]
    device_index = {e["label"]: i for i, e in enumerate(entries)}
    rows.sort(key=_order(phases, hosts, device_index))

    differences = _differences(entries)
    for e in entries:
        del e["scenario_full"]
    summary = devices.summarise(rows)
    started = [e["started"] for e in entries if e.get("started")]
    finished = [e["finished"] for e in entries if e.get("finished")]
    hints = _hints(entries, differences, run_notes)
    names_seen = _union(s.get("name") for s in scenarios if s.get("name"))
    apps_seen = _union(s.get("app") for s in scenarios if s.get("app"))
    return {
        "schema": max((e.get("schema") or 1 for e in entries), default=1),
        "tool": {"name": "mitm-pincheck", "version": __version__, "mitmproxy": None},
        "scenario": {
            "name": " + ".join(map(str, names_seen)) or None,
            "file": _common(s.get("file") for s in scenarios),
            "app": " / ".join(map(str, apps_seen)) or None,
            "hosts": host_entries,
            "phases": phases,
        },
        "started": min(started) if started else None,
        "finished": max(finished) if finished else None,
        "duration": round(sum(e.get("duration") or 0 for e in entries), 3),
        "interrupted": any(e.get("interrupted") for e in entries),
        # Proof of CA trust is per device (a device's store or controls prove nothing for
        # another): each device's entry keeps its run's own `ca_trust`; none at the top.
        "ca_trust": None,
        "devices": [
            {k: v for k, v in e.items() if k not in ("finished", "schema")} for e in entries
        ],
        "merged": {"runs": len(paths), "differences": differences},
        "summary": summary,
        "exit_code": exit_code_for(summary),
        "results": rows,
        "hints": hints,
    }


_SHARED = ("host", "phase", "expected", "outcome", "verdict", "reason", "device")


def _share_strings(rows: list) -> None:
    """The runs of a matrix repeat the same hosts, phases and reasons row after row: keep one
    copy of each (a merge of 200 runs holds 90,000 rows)."""
    intern = sys.intern
    for row in rows:
        for key in _SHARED:
            value = row.get(key)
            if type(value) is str:
                row[key] = intern(value)
        evidence = row.get("evidence")
        if isinstance(evidence, dict):
            for key in ("alerts", "credentials", "notes"):
                values = evidence.get(key)
                if type(values) is list:
                    evidence[key] = [intern(v) if type(v) is str else v for v in values]
            if type(evidence.get("pattern")) is str:
                evidence["pattern"] = intern(evidence["pattern"])


def _about(report: Mapping) -> dict:
    scenario = report.get("scenario") or {}
    tool = report.get("tool") or {}
    about = {
        "scenario": scenario.get("name"),
        "app": scenario.get("app"),
        "tool_version": tool.get("version"),
        "started": report.get("started"),
        "finished": report.get("finished"),
        "duration": report.get("duration")
        if isinstance(report.get("duration"), int | float)
        else 0,
        "interrupted": bool(report.get("interrupted")),
        "ca_trust": report.get("ca_trust") if isinstance(report.get("ca_trust"), dict) else None,
        "summary": (summary := devices.summarise(report["results"])),
        "exit_code": exit_code_for(summary),
        "hints": [str(h) for h in report.get("hints") or ()],
        "schema": report.get("schema") if isinstance(report.get("schema"), int) else 1,
        "scenario_full": {
            "name": scenario.get("name"),
            "file": scenario.get("file"),
            "app": scenario.get("app"),
            "hosts": [h for h in scenario.get("hosts") or () if isinstance(h, Mapping)],
            "phases": [str(p) for p in scenario.get("phases") or ()],
        },
    }
    about["devices"] = _inner_devices(report)
    if "ca_trust_proven" in report:  # a schema-1 run: one run-wide flag instead of ca_trust
        about["ca_trust_proven"] = bool(report["ca_trust_proven"])
    return about


def _inner_devices(report: Mapping) -> list[dict]:
    """The devices of a run made on several at once (its `devices` entries and rows with a
    `device`): label, serial, listen, its own proof of CA trust and its own hints."""
    if not any(isinstance(r, Mapping) and r.get("device") for r in report["results"]):
        return []
    out = []
    for d in report.get("devices") or ():
        if not isinstance(d, Mapping) or not d.get("label"):
            continue
        out.append(
            {
                "label": str(d["label"]),
                "serial": str(d["serial"]) if d.get("serial") else None,
                "listen": str(d["listen"]) if d.get("listen") else None,
                "ca_trust": d["ca_trust"] if isinstance(d.get("ca_trust"), dict) else None,
                "hints": [str(h) for h in d.get("hints") or ()],
            }
        )
    return out


def _differences(entries: list[dict]) -> list[str]:
    """One line per scenario property whose value is not the same in every run."""
    checks = [
        ("scenario name", lambda s, e: s.get("name")),
        ("scenario file", lambda s, e: s.get("file")),
        ("app", lambda s, e: s.get("app")),
        ("phases", lambda s, e: ", ".join(s.get("phases") or ()) or "none"),
        ("hosts", lambda s, e: ", ".join(_host_text(h) for h in s.get("hosts") or ()) or "none"),
        ("tool version", lambda s, e: e.get("tool_version")),
    ]
    out = []
    for what, get in checks:
        groups: dict[str, list[str]] = {}
        for e in entries:
            value = get(e["scenario_full"], e)
            groups.setdefault("not given" if value in (None, "") else str(value), []).append(
                e["label"]
            )
        if len(groups) > 1:
            parts = [f"{value!r} in {named(labels)}" for value, labels in groups.items()]
            out.append(f"{what} differs: " + "; ".join(parts))
    return out


def _hints(entries: list[dict], differences: list[str], run_notes: list[str]) -> list[str]:
    hints = []
    if differences:
        hints.append(
            "These runs are not of one scenario: " + " · ".join(differences) + ". Rows compare "
            "only where host and phase are the same."
        )
    return hints + combine_hints((e["label"], e.pop("hints")) for e in entries) + run_notes


def _host_text(h: Mapping) -> str:
    text = str(h.get("host"))
    text += " (pinned)" if h.get("pinned") else ""
    if h.get("expect"):
        text += " expect " + ",".join(f"{k}={v}" for k, v in sorted(h["expect"].items()))
    return text


def _union(items) -> list:
    return list(dict.fromkeys(i for i in items if i is not None))


def _union_hosts(scenarios: list[dict]) -> list[dict]:
    seen: dict[str, dict] = {}
    for s in scenarios:
        for h in s.get("hosts") or ():
            if h.get("host") is not None:
                seen.setdefault(str(h["host"]), dict(h))
    return list(seen.values())


def _common(values) -> str | None:
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _order(phases: list[str], hosts: list[str], device_index: Mapping[str, int]):
    """Rows by phase (scenario order), host (scenario order; a host seen through a `*.` entry
    right after it), then device (the order the runs were given)."""
    phase_at = {p: i for i, p in enumerate(phases)}
    host_at = {h: i for i, h in enumerate(hosts)}
    late = len(hosts)

    def key(row: Mapping):
        device = str(row.get("device"))
        top = device.split("/", 1)[0]
        pattern = (row.get("evidence") or {}).get("pattern") or row.get("host")
        return (
            phase_at.get(row.get("phase"), len(phase_at)),
            host_at.get(pattern, host_at.get(row.get("host"), late)),
            row.get("host") != pattern,
            str(row.get("host")),
            device_index.get(device, device_index.get(top, len(device_index))),
            device,
        )

    return key
