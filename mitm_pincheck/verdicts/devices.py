"""The devices of a run on several devices, and hints that several devices gave.

One run can test several devices at once (`run-start.devices`, a listener each): every
connection is tagged with its device's label, and the report judges each device on its own
evidence. `report merge` joins runs made one device each. Both say a hint once, with the devices
it holds for: `combine_hints` is that wording for both.

Pure: journal and report values in, data out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mitm_pincheck.verdicts.evidence import cap_text, clean_text

MAX_NAMED = 6  # devices (or runs) named in one line before "and N more"
# A run names at most 32 devices (scenario/devices.py); a journal that names more was not
# written by a run, and each device multiplies the rows: the rest are not devices of the run.
MAX_RUN_DEVICES = 64
MAX_LABEL = 128


def of_run_start(raw: object) -> list[dict]:
    """`run-start.devices` as the report carries it: `{label, serial, listen}` per device, in
    the run's order. Entries without a label, repeats of a label, labels a run never writes
    (too long, control characters) and entries past MAX_RUN_DEVICES are left out (a journal
    edited by hand); an empty list is a run as before devices."""
    if not isinstance(raw, list):
        return []
    out: list[dict] = []
    labels: set[str] = set()
    for entry in raw:
        if not isinstance(entry, Mapping):
            continue
        label = entry.get("label")
        if not isinstance(label, str) or not _plain(label) or len(label) > MAX_LABEL:
            continue  # too long, or characters no run writes in a label (control characters...)
        if label in labels:
            continue
        labels.add(label)
        serial, listen = entry.get("serial"), entry.get("listen")
        out.append(
            {
                "label": label,
                "serial": _printable(serial) if serial else None,
                "listen": _printable(listen) if listen else None,
            }
        )
        if len(out) == MAX_RUN_DEVICES:
            break
    return out


def _plain(text: str) -> bool:
    return bool(text) and text.isprintable() and clean_text(text) == text


def _printable(value: object) -> str:
    text = cap_text(value, MAX_LABEL)
    return "".join(c if c.isprintable() else "?" for c in text)


def combine_hints(by_device: Iterable[tuple[str, Sequence[str]]]) -> list[str]:
    """Each device's hints as one list, each hint once, in the order first given: with more
    than one device, followed by where it holds, "(on every device)" or "(on A, B)"; with one
    device, as it is."""
    devices = list(by_device)
    where: dict[str, list[str]] = {}
    for label, hints in devices:
        for text in hints:
            labels = where.setdefault(text, [])
            if label not in labels:
                labels.append(label)
    if len(devices) < 2:
        return list(where)
    return [
        f"{text} (on {'every device' if len(labels) == len(devices) else named(labels)})"
        for text, labels in where.items()
    ]


def named(labels: Sequence[str]) -> str:
    """`A, B, C`, or the first few `and N more`."""
    shown = ", ".join(labels[:MAX_NAMED])
    more = len(labels) - MAX_NAMED
    return f"{shown} and {more} more" if more > 0 else shown
