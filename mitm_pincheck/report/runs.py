"""Reading finished runs for `report merge` and `report history`: one run at a time.

A run is its output directory (its `report.json`, else rebuilt from `journal.jsonl`), a
`report.json` file or a journal file. Every problem names the path and is an `InputError` (exit
2) raised before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from mitm_pincheck.errors import InputError

_ROW_KEYS = ("host", "phase", "verdict")


def load_run(path: str, warnings: list[str] | None = None) -> dict:
    """The report dict of one run; what a rebuild from a damaged journal skipped goes into
    `warnings`, named after the run."""
    p = Path(path)
    if p.is_dir():
        if (p / "report.json").is_file():
            return _read_report(p / "report.json", path)
        if (p / "journal.jsonl").is_file():
            return _rebuild(p / "journal.jsonl", path, warnings)
        raise InputError(f"{path}: no report.json or journal.jsonl in it: not a run's directory")
    if p.is_file():
        if p.suffix == ".json":
            return _read_report(p, path)
        return _rebuild(p, path, warnings)
    raise InputError(f"{path}: no such run directory or file")


def run_device(report: Mapping) -> str | None:
    """The device a one-device run recorded about itself (`device`: a label, or an object with
    `label` or `serial`), if any."""
    device = report.get("device")
    if isinstance(device, Mapping):
        device = device.get("label") or device.get("serial")
    return str(device) if device else None


def default_labels(paths: list[str], reports_devices: list[str | None]) -> list[str]:
    """A label per run: the device it recorded, else its directory's name; names that repeat
    grow their parent directories (`nightly/12/out`, `nightly/13/out`) until they differ."""
    parts = [Path(p).resolve() for p in paths]
    parts = [p.parent if p.is_file() else p for p in parts]
    depth = [1] * len(paths)

    def guess(i: int) -> str:
        return reports_devices[i] or "/".join(parts[i].parts[-depth[i] :]) or str(parts[i])

    while True:
        labels = [guess(i) for i in range(len(paths))]
        grow = [
            i
            for i, label in enumerate(labels)
            if labels.count(label) > 1 and not reports_devices[i] and depth[i] < len(parts[i].parts)
        ]
        if not grow:
            return labels
        for i in grow:
            depth[i] += 1


def _read_report(file: Path, shown: str) -> dict:
    try:
        with open(file, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise InputError(f"{shown}: cannot read {file.name} ({e.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(f"{shown}: {file.name} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{shown}: {file.name}:{e.lineno}: not JSON ({e.msg})") from None
    except RecursionError:
        raise InputError(f"{shown}: {file.name} is nested too deeply to be a report") from None
    _check(data, f"{shown}: {file.name}")
    return data


def _rebuild(journal: Path, shown: str, warnings: list[str] | None) -> dict:
    from mitm_pincheck.verdicts import results
    from mitm_pincheck.verdicts.journal import iter_events

    skipped: list[str] = []
    try:
        report = results.build_report(iter_events(journal, skipped))
    except InputError as e:
        raise InputError(f"{shown}: {e}") from None
    if warnings is not None:
        warnings.extend(f"{shown}: {w}" for w in skipped)
    _check(report, f"{shown}: {journal.name}")
    return report


def _check(data, where: str) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise InputError(f"{where}: not a mitm-pincheck report (no `results` list)")
    for i, row in enumerate(data["results"]):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in _ROW_KEYS):
            raise InputError(f"{where}: results[{i}] lacks host, phase or verdict")
    for key in ("scenario", "tool", "summary"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise InputError(f"{where}: `{key}` is not an object")
