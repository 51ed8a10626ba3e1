"""What every writer shows about the proof of CA trust, and how rows of the key kinds are named.

Pure string functions over the report dict, so the terminal table, HTML, Markdown and JUnit say
the same thing in the same words.
"""

from __future__ import annotations

from collections.abc import Mapping

NONE = "none"


def column(row: Mapping) -> str:
    """The row's column: its phase, and for backup-key the key file (one column per key)."""
    phase = str(row.get("phase"))
    key = row.get("key")
    return f"{phase} {key}" if key else phase


def row_id(row: Mapping) -> tuple[str, str]:
    """(host, column): what identifies a row across runs, for baselines."""
    return (str(row.get("host")), column(row))


def grid(results: list[Mapping]) -> tuple[list[str], dict[tuple[str, str], Mapping]]:
    """Columns and (host, column) -> row for a host x phase grid. A host's n/a row of a phase
    that has a column per key fills each of those columns, instead of a column of its own."""
    keyed = {str(r.get("phase")) for r in results if r.get("key")}
    columns: list[str] = []
    cells: dict[tuple[str, str], Mapping] = {}
    spread: list[Mapping] = []
    for r in results:
        if r.get("verdict") == "n/a" and not r.get("key") and r.get("phase") in keyed:
            spread.append(r)
            continue
        col = column(r)
        if col not in columns:
            columns.append(col)
        cells[(str(r.get("host")), col)] = r
    for r in spread:
        for col in columns:
            if col.split(" ", 1)[0] == r.get("phase"):
                cells.setdefault((str(r.get("host")), col), r)
    return columns, cells


def needs_proof(row: Mapping) -> bool:
    """Refusals of the row's kind count only with a proof of CA trust (the proxy-CA kinds)."""
    from mitm_pincheck.verdicts.kinds import KINDS

    kind = KINDS.get(str(row.get("phase")))
    return kind is None or kind.needs_ca_trust


def proof_label(proof: Mapping | None, host: str | None = None) -> str:
    """A proof in one or two words: `pinned-key`, `control (cdn.example.com)`, ..."""
    if not proof:
        return NONE
    source = str(proof.get("source"))
    if source == "control" and proof.get("host"):
        other = proof["host"]
        return "control (itself)" if other == host else f"control ({other})"
    if source == "declared":
        return "declared (scenario's word)"
    return source


def host_proofs(report: Mapping) -> list[tuple[str, str]]:
    """(host, proof label) per host whose rows need a proof, in report order. The proof is
    per host, so any of its rows that carries one says it."""
    found: dict[str, str] = {}
    for row in report.get("results") or []:
        evidence = row.get("evidence") or {}
        host = str(row.get("host"))
        if "proof" not in evidence or row.get("verdict") == "n/a" or not needs_proof(row):
            continue
        label = proof_label(evidence.get("proof"), host)
        if found.get(host, NONE) == NONE:
            found[host] = label
    return list(found.items())


def trust_line(report: Mapping) -> str:
    """One line: which proofs of CA trust the run had, per host (and device: a device's proof
    says nothing for another)."""
    by_device: dict[str | None, list[Mapping]] = {}
    for row in report.get("results") or []:
        device = row.get("device")
        by_device.setdefault(str(device) if device else None, []).append(row)
    pairs = [
        (f"{h} on {device}" if device else h, p)
        for device, rows in by_device.items()
        for h, p in host_proofs({"results": rows})
    ]
    if not pairs:
        return ""
    return "CA trust proof: " + " · ".join(f"{h} {p}" for h, p in pairs)
