"""The device dimension of a report: rows keyed host x phase x device, and where devices disagree.

A report from one device has rows without a `device` key and every writer shows it as before. A
report from several devices (a merge of CI jobs, or one run on several devices) has a `device`
label on every row and a top-level `devices` list; writers group by device and show first the
(host, phase) pairs whose verdict differs between devices: the same build passing on Android 13
and failing on Android 9 is what a QA lead wants to see before anything else.

Pure: report dicts in, data out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mitm_pincheck.report.proof import column

RowKey = tuple[str, str, str | None]


def row_key(row: Mapping) -> RowKey:
    """(host, column, device): the column is the phase (and a backup-key row's key file, see
    `proof.column`); device None for a report from one device."""
    device = row.get("device")
    return (str(row.get("host")), column(row), None if device is None else str(device))


def has_devices(report: Mapping) -> bool:
    return any(isinstance(r, Mapping) and r.get("device") for r in report.get("results") or ())


def device_order(report: Mapping) -> list[str]:
    """The report's device labels: the `devices` list's order, then any other in row order."""
    labels: dict[str, None] = {}
    for entry in report.get("devices") or ():
        label = entry.get("label") if isinstance(entry, Mapping) else entry
        if label:
            labels[str(label)] = None
    for row in report.get("results") or ():
        if isinstance(row, Mapping) and row.get("device"):
            labels[str(row["device"])] = None
    return list(labels)


def rows_of(report: Mapping, device: str | None) -> list[Mapping]:
    return [r for r in report.get("results") or () if r.get("device") == device]


def by_device(report: Mapping) -> dict[str, list[Mapping]]:
    """Device label -> its rows (report order), devices in the report's device order: one pass,
    so a merge of hundreds of runs does not scan every row once per device."""
    groups: dict[str, list[Mapping]] = {label: [] for label in device_order(report)}
    for row in report.get("results") or ():
        if row.get("device"):
            groups.setdefault(str(row["device"]), []).append(row)
    return groups


def disagreements(report: Mapping) -> list[dict]:
    """(host, column) pairs seen on two devices or more whose verdicts differ, in report order:
    `{host, phase, verdicts: {device: verdict}}` (`phase` is the column: a backup-key row's
    names its key), devices in the report's device order. n/a rows say nothing either way."""
    order = {label: i for i, label in enumerate(device_order(report))}
    by_pair: dict[tuple[str, str], dict[str, str]] = {}
    for row in report.get("results") or ():
        if not row.get("device") or row.get("verdict") == "n/a":
            continue
        pair = (str(row.get("host")), column(row))
        by_pair.setdefault(pair, {})[str(row["device"])] = str(row.get("verdict"))
    out = []
    for (host, phase), verdicts in by_pair.items():
        if len(verdicts) > 1 and len(set(verdicts.values())) > 1:
            ordered = dict(sorted(verdicts.items(), key=lambda kv: order.get(kv[0], len(order))))
            out.append({"host": host, "phase": phase, "verdicts": ordered})
    return out


def split_by_verdict(verdicts: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    """{device: verdict} -> [(verdict, devices)], the verdict of fewest devices first: with
    many devices, the odd ones out are what to read."""
    groups: dict[str, list[str]] = {}
    for device, verdict in verdicts.items():
        groups.setdefault(verdict, []).append(device)
    return sorted(groups.items(), key=lambda kv: len(kv[1]))


def summarise(rows: Iterable[Mapping]) -> dict[str, int]:
    verdicts = [r.get("verdict") for r in rows]
    summary = {"total": len(verdicts)}
    for v in ("pass", "fail", "inconclusive"):
        summary[v] = verdicts.count(v)
    if "n/a" in verdicts:  # rows of a key kind for a host without that key (schema 2)
        summary["n/a"] = verdicts.count("n/a")
    return summary
