"""Journal events -> the report dict (`report.json`, schema in docs/internals.md).

Pure: everything comes from the events, so `mitm-pincheck report DIR` rebuilds the same report
from `journal.jsonl` alone. Only fields listed in the schema are ever copied out of an event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime

from mitm_pincheck.errors import InputError
from mitm_pincheck.verdicts import apppins, evidence, followup, kinds, seen
from mitm_pincheck.verdicts import devices as ondevices
from mitm_pincheck.verdicts.clients import Clients
from mitm_pincheck.verdicts.outcome import (
    ACCEPTED,
    NOT_SEEN,
    OUTCOMES,
    REJECTED_AFTER_HANDSHAKE,
    REJECTED_IN_HANDSHAKE,
    RESUMED,
    STALLED,
    Connection,
    ConnOutcome,
    aggregate,
    classify,
    fold_connections,
)
from mitm_pincheck.verdicts.seen import Refusals
from mitm_pincheck.verdicts.verdict import (
    FAIL,
    HOW_TO_PROVE,
    INCONCLUSIVE,
    NOT_APPLICABLE,
    PASS,
    PROOF_CONTROL,
    PROOF_DECLARED,
    PROOF_DEVICE_STORE,
    PROOF_PINNED_KEY,
    decide,
    unused_closes_unreliable,
)

# 2: per-row `evidence.proof` and a top-level `ca_trust` replace the run-wide `ca_trust_proven`;
# rows of the key kinds (`key`, verdict "n/a"); `summary["n/a"]`.
SCHEMA = 2
MAX_REQUESTS = 10
# The journal event `run --android` writes before the first phase: where the proxy CA is.
CA_STORE_EVENT = "ca-store"


def build_report(events: Iterable[dict]) -> dict:
    """The report dict for one run, from its journal events in the order they were written.

    One pass, and only the few run and phase events are kept: connection events are folded as
    they stream by, so a journal of 100,000 connections needs no list of all its events.

    A run on several devices (`run-start.devices`) is judged device by device, each on its own
    connections and its own proof of CA trust, and gets a row per host x phase x device."""
    control: list[dict] = []  # run-start, phase-*, trigger-*, ca-store, run-end: a handful
    span = [None, None]  # first and last `ts`
    clients = Clients()
    refusals = Refusals()
    # The same, per `device` tag (a run on several devices tags each client event with one).
    tagged_clients: dict[str | None, Clients] = {}
    tagged_refusals: dict[str | None, Refusals] = {}
    # A run on exactly one device: what is not tagged can only be that device's (one listener).
    alone: list[str | None] = []

    def scan() -> Iterator[dict]:
        for e in events:
            if not isinstance(e, dict):
                continue
            ts = e.get("ts")
            if isinstance(ts, int | float) and not isinstance(ts, bool):
                span[0] = ts if span[0] is None else min(span[0], ts)
                span[1] = ts if span[1] is None else max(span[1], ts)
            if "id" not in e:
                control.append(e)
            clients.add(e)
            refusals.add(e)
            if e.get("event") == "run-start" and not alone:
                labels = [d["label"] for d in ondevices.of_run_start(e.get("devices"))]
                alone.append(labels[0] if len(labels) == 1 else None)
            if e.get("event") in ("conn", "ignored-client", "connect-refused"):
                tag = e.get("device") if isinstance(e.get("device"), str) else None
                tag = (alone or [None])[0] if tag is None else tag
                tagged_clients.setdefault(tag, Clients()).add(e)
                tagged_refusals.setdefault(tag, Refusals()).add(e)
            yield e

    conns = fold_connections(scan())
    run_start = next((e for e in control if e.get("event") == "run-start"), None)
    if run_start is None:
        raise InputError("the journal has no run-start event: it is not a mitm-pincheck journal")

    scenario = _scenario(run_start.get("scenario") or {})
    phases: list[str] = scenario["phases"]
    started, interrupted_phases = _phase_progress(control, phases)
    interrupted = _interrupted(control)
    mode = str(run_start.get("mode") or "regular")
    run_devices = ondevices.of_run_start(run_start.get("devices"))
    labels = [d["label"] for d in run_devices]

    stray_hints: list[str] = []
    if not run_devices:  # a run as before devices: everything is the one client's
        parts = [(None, conns, _last_store(control, None), clients, refusals)]
    else:
        mine = {label: [] for label in labels}
        for c in conns:
            if c.device is None and len(labels) == 1:
                c.device = labels[0]
            if c.device in mine:
                mine[c.device].append(c)
        stray_hints = _stray_hint(labels, conns, tagged_refusals)
        conns = [c for label in labels for c in mine[label]]
        parts = [
            (
                label,
                mine[label],
                _last_store(control, label, alone=len(labels) == 1),
                tagged_clients.get(label, Clients()),
                tagged_refusals.get(label, Refusals()),
            )
            for label in labels
        ]

    row_hosts = {entry["host"]: _row_hosts(entry["host"], conns) for entry in scenario["hosts"]}
    followups = followup.rounds_of(control)
    package = apppins.package_event(control)

    judged = []  # per device: (label, rows, trust, hints)
    ran: list[bool] = []
    for label, device_conns, store, device_clients, device_refusals in parts:
        by_phase = _attribute(device_conns, phases, started)
        trust = _trust(by_phase, phases, scenario, store)
        rows, ran = _rows(
            scenario,
            phases,
            by_phase,
            trust,
            row_hosts,
            started,
            interrupted_phases,
            interrupted,
            followups,
            package,
        )
        _unused_closes(rows)
        approached = seen.reword(rows, device_refusals)
        hints = _hints(rows, ran, trust, mode, approached) + device_clients.hints()
        judged.append((label, rows, trust, hints))

    if len(judged) > 1:
        # Row by row, each device's row of it in the run's order: every device has the same
        # rows (the same hosts, phases and rounds), so phase, host, device order follows.
        results = [
            {**rows[i], "device": label} for i in range(len(ran)) for label, rows, _, _ in judged
        ]
    else:
        results = judged[0][1]
    hints = ondevices.combine_hints((label or "", h) for label, _, _, h in judged) + stray_hints
    summary = _summary(results)
    first, last = span
    report = {
        "schema": SCHEMA,
        "tool": _tool(run_start.get("tool") or {}),
        "scenario": scenario,
        "started": _iso(first),
        "finished": _iso(last),
        "duration": round(last - first, 3) if first is not None and last is not None else 0.0,
        "interrupted": interrupted,
        # Proof of CA trust is per device: in a run on several, each device's entry has its own.
        "ca_trust": _trust_summary(judged[0][2]) if len(judged) == 1 else None,
        "summary": summary,
        "exit_code": exit_code_for(summary),
        "results": results,
        "hints": hints,
        "clients": _clients(clients, labels, tagged_clients),
    }
    if len(run_devices) == 1:
        report["device"] = dict(run_devices[0])
    elif run_devices:
        report["devices"] = [
            {
                **device,
                "ca_trust": _trust_summary(trust),
                "summary": (device_summary := _summary(rows)),
                "exit_code": exit_code_for(device_summary),
                "hints": device_hints,
            }
            for device, (_, rows, trust, device_hints) in zip(run_devices, judged, strict=True)
        ]
    return report


def _rows(
    scenario: Mapping,
    phases: list[str],
    by_phase: Mapping[int, list[Connection]],
    trust: Mapping,
    row_hosts: Mapping[str, list[str]],
    started: set[int],
    interrupted_phases: set[int],
    interrupted: bool,
    followups: Mapping[int, list],
    package: Mapping | None,
) -> tuple[list[dict], list[bool]]:
    """One device's rows, in phase then host order, and parallel to them whether the row's
    phase started at all."""
    results = []
    ran: list[bool] = []
    for index, phase in enumerate(phases):
        rows_conns = _by_row(by_phase.get(index, []))
        for entry in scenario["hosts"]:
            key, shown = _round_key(phases, index, entry)
            if not shown:
                continue  # a later backup-key round, and this host has no key for it
            for host in row_hosts[entry["host"]]:
                proof = _proof(trust, phase, entry, host)
                if key is None and phase in kinds.KEY_KINDS:
                    results.append(_not_applicable_row(host, phase, entry))
                elif index not in started:
                    results.append(_not_run_row(host, phase, entry, interrupted, key))
                else:
                    row_conns = rows_conns.get(_row_key(entry["host"], host), [])
                    cut_short = index in interrupted_phases
                    row = _row(host, phase, entry, row_conns, proof, cut_short, key)
                    row = followup.annotate(row, followups.get(index, []))
                    results.append(apppins.annotate(row, package))
                ran.append(index in started)
    return results, ran


def _summary(results: list[dict]) -> dict[str, int]:
    counted = [r for r in results if r["verdict"] != NOT_APPLICABLE]
    return {
        "total": len(counted),
        PASS: sum(r["verdict"] == PASS for r in counted),
        FAIL: sum(r["verdict"] == FAIL for r in counted),
        INCONCLUSIVE: sum(r["verdict"] == INCONCLUSIVE for r in counted),
        NOT_APPLICABLE: len(results) - len(counted),
    }


def _last_store(control: list[dict], device: str | None, alone: bool = False) -> dict | None:
    """The `ca-store` event that speaks for `device` (None: a run without devices, whose
    one device is the only one checked; `alone`: the run's only device, so an untagged one is
    its): a device's store proves nothing for another."""
    for e in reversed(control):
        if e.get("event") != CA_STORE_EVENT:
            continue
        tag = e.get("device")
        if device is None or tag == device or (alone and tag is None):
            return e
    return None


def _stray_hint(
    labels: list[str], conns: list[Connection], refusals: Mapping[str | None, Refusals]
) -> list[str]:
    """A run with devices counts only what is tagged with one of them (or, with one device,
    not tagged at all): say what was left out (a journal edited by hand, or one from a newer
    writer)."""
    stray_conns = [c for c in conns if c.device not in labels]
    stray_refused = {
        tag: sum(len(s) for s in r.seen.values())
        for tag, r in refusals.items()
        if tag not in labels
    }
    tags = {c.device for c in stray_conns} | {t for t, n in stray_refused.items() if n}
    if not tags:
        return []
    what = []
    if stray_conns:
        what.append(f"{len(stray_conns)} connection" + ("" if len(stray_conns) == 1 else "s"))
    refused = sum(stray_refused.values())
    if refused:
        what.append(f"{refused} refused CONNECT" + ("" if refused == 1 else "s"))
    # (tags from a hand-edited journal: each capped, and only the first few named)
    names = ondevices.named(sorted(repr(evidence.cap_text(t, 64)) for t in tags if t is not None))
    if None in tags:
        names = ", ".join(n for n in (names, "no device") if n)
    return [
        f"{' and '.join(what)} of a device not in this run ({names}; its devices are "
        f"{', '.join(labels)}) {'was' if len(stray_conns) + refused == 1 else 'were'} not "
        "counted: was the journal edited?"
    ]


def _clients(every: Clients, labels: list[str], tagged: Mapping[str | None, Clients]) -> dict:
    """The report's `clients`: in a run on several devices, each address with the device it
    came through (two emulators behind `adb reverse` both come from 127.0.0.1)."""
    if not labels:
        return every.to_dict()
    if len(labels) == 1:
        return tagged.get(labels[0], Clients()).to_dict()
    clients = tagged
    out: dict[str, list[dict]] = {"counted": [], "ignored": []}
    for label in labels:
        if label in clients:
            mine = clients[label].to_dict()
            for key in out:
                out[key] += [{**entry, "device": label} for entry in mine[key]]
    return out


def rows_of_phase(report: Mapping, index: int) -> list[dict]:
    """The rows of the scenario's phase `index`: a backup-key round's rows only, not every
    round's (the live view shows each phase as it ends)."""
    scenario = report.get("scenario") or {}
    phases = [str(p) for p in scenario.get("phases") or ()]
    if not 0 <= index < len(phases):
        return []
    phase = phases[index]
    entries = {e["host"]: e for e in scenario.get("hosts") or () if isinstance(e, Mapping)}
    out = []
    for r in report.get("results") or ():
        if r.get("phase") != phase:
            continue
        entry = entries.get((r.get("evidence") or {}).get("pattern"))
        if phase == "backup-key" and entry is not None:
            key, shown = _round_key(phases, index, entry)
            if not shown or (key["file"] if key else None) != r.get("key"):
                continue
        out.append(r)
    return out


def exit_code_for(summary: Mapping[str, int]) -> int:
    """1 if anything failed, else 3 if anything is inconclusive (or nothing was tested), else 0."""
    if summary.get(FAIL, 0):
        return 1
    if summary.get(INCONCLUSIVE, 0) or not summary.get("total", 0):
        return 3
    return 0


# --- scenario and run bookkeeping --------------------------------------------------------------


def _scenario(raw: Mapping) -> dict:
    hosts = []
    for h in raw.get("hosts") or ():
        if not isinstance(h, Mapping) or not h.get("host"):
            continue
        expect = h.get("expect") or {}
        hosts.append(
            {
                "host": str(h["host"]),
                "pinned": bool(h.get("pinned")),
                "expect": {str(k): str(v) for k, v in expect.items()}
                if isinstance(expect, Mapping)
                else {},
                "control": h.get("control") is True,
                "keys": _keys(h.get("keys")),
            }
        )
    return {
        "name": raw.get("name"),
        "file": raw.get("file"),
        "app": raw.get("app"),
        "hosts": hosts,
        "phases": [str(p) for p in raw.get("phases") or ()],
        "ca_trust": "system" if raw.get("ca_trust") == "system" else None,
    }


def _keys(raw) -> dict | None:
    """A host's `keys` as the journal records them: labels and SPKI pins, never key material."""
    if not isinstance(raw, Mapping):
        return None

    def key(k) -> dict | None:
        if not isinstance(k, Mapping) or not k.get("file"):
            return None
        return {"file": str(k["file"]), "pin": str(k.get("pin") or "")}

    backup = raw.get("backup") if isinstance(raw.get("backup"), list) else []
    return {
        "current": key(raw.get("current")),
        "backup": [b for b in (key(k) for k in backup) if b is not None],
        "at": "intermediate" if raw.get("at") == "intermediate" else "leaf",
    }


def _round_key(phases: list[str], index: int, entry: Mapping) -> tuple[dict | None, bool]:
    """The key `entry` is shown in phase `index` (None: no key), and whether it has a row there.

    `backup-key` runs one round per backup key (the scenario's phases list it once per round):
    round j shows each host its j-th backup key; a host with fewer keys has no row in the later
    rounds, and a host with none has one n/a row in the first."""
    phase = phases[index]
    keys = entry.get("keys") or {}
    if phase == "pinned-key":
        return keys.get("current"), True
    if phase == "backup-key":
        j = phases[:index].count("backup-key")
        backup = keys.get("backup") or []
        if j < len(backup):
            return backup[j], True
        return None, j == 0
    return None, True


def _tool(raw: Mapping) -> dict:
    return {
        "name": raw.get("name") or "mitm-pincheck",
        "version": raw.get("version"),
        "mitmproxy": raw.get("mitmproxy"),
    }


def _phase_progress(events: list[dict], phases: list[str]) -> tuple[set[int], set[int]]:
    """Indices of the phases that started, and of those that ended because of an interruption."""
    started: set[int] = set()
    interrupted: set[int] = set()
    for e in events:
        name = e.get("event")
        if name not in ("phase-start", "phase-end"):
            continue
        index = _phase_index(e, phases, started)
        if index is None:
            continue
        if name == "phase-start":
            started.add(index)
        elif e.get("reason") == "interrupted":
            interrupted.add(index)
    return started, interrupted


def _phase_index(e: Mapping, phases: list[str], started: set[int]) -> int | None:
    index = e.get("index")
    if isinstance(index, int) and 0 <= index < len(phases):
        return index
    # No usable index: the first phase of that name not yet started (or the last started one).
    candidates = [i for i, p in enumerate(phases) if p == e.get("phase")]
    fresh = [i for i in candidates if i not in started]
    if e.get("event") == "phase-start":
        return fresh[0] if fresh else None
    done = [i for i in candidates if i in started]
    return done[-1] if done else None


def _interrupted(events: list[dict]) -> bool:
    run_end = next((e for e in reversed(events) if e.get("event") == "run-end"), None)
    if run_end is None:  # the run never finished writing: killed, crashed, or still running
        return True
    if run_end.get("interrupted"):
        return True
    return any(e.get("event") == "phase-end" and e.get("reason") == "interrupted" for e in events)


def _attribute(
    conns: list[Connection], phases: list[str], started: set[int]
) -> dict[int, list[Connection]]:
    """Group connections by phase index, dropping any whose phase is not in the scenario."""
    by_phase: dict[int, list[Connection]] = {}
    for c in conns:
        index = c.phase_index
        if index is None or not (0 <= index < len(phases)) or phases[index] != c.phase:
            named = [i for i, p in enumerate(phases) if p == c.phase]
            ran = [i for i in named if i in started]
            index = (ran or named or [None])[0]
        if index is not None:
            by_phase.setdefault(index, []).append(c)
    return by_phase


def _row_hosts(pattern: str, conns: list[Connection]) -> list[str]:
    """A `*.` pattern expands to every host seen through it in any phase, else stays itself."""
    if not pattern.startswith("*."):
        return [pattern]
    seen = sorted({c.host for c in conns if c.pattern == pattern and c.host})
    return seen or [pattern]


def _row_key(pattern: str, host: str) -> tuple[str, str]:
    """Which row a connection belongs to: its pattern, and for a `*.` pattern its host too."""
    return (pattern, host if pattern.startswith("*.") else "")


def _by_row(conns: list[Connection]) -> dict[tuple[str, str], list[Connection]]:
    rows: dict[tuple[str, str], list[Connection]] = {}
    for c in conns:
        rows.setdefault(_row_key(c.pattern, c.host), []).append(c)
    return rows


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):  # a journal edited by hand
        return None


# --- rows -----------------------------------------------------------------------------------------


def _expected(phase: str, entry: Mapping) -> str:
    try:
        exp = kinds.expected(phase, entry["pinned"], entry["expect"])
    except KeyError:
        raise InputError(f"the journal names an unknown certificate kind: {phase!r}") from None
    if exp not in kinds.EXPECTATIONS:
        raise InputError(
            f"{entry['host']}: expect for {phase} must be accept or reject, not {exp!r}"
        )
    return exp


def _row(
    host: str,
    phase: str,
    entry: Mapping,
    conns: list[Connection],
    proof: dict | None,
    phase_interrupted: bool,
    key: Mapping | None = None,
) -> dict:
    classified = [(c, classify(c)) for c in conns]
    counted = [(c, o) for c, o in classified if o.counted]
    outcome = aggregate(o for _, o in counted)
    expected = _expected(phase, entry)

    requests = [r for c, _ in counted for r in c.requests]
    credentials = evidence.cap_items(_dedupe(cred for r in requests for cred in r.credentials), 16)
    first_request = next((r for c, o in counted if o.outcome == ACCEPTED for r in c.requests), None)
    detail = next((o.detail for _, o in counted if o.outcome == outcome), None)

    verdict = decide(
        phase,
        expected,
        outcome,
        proof,
        key=key["file"] if key else None,
        host=host,
        request={"method": first_request.method, "path": first_request.path}
        if first_request
        else None,
        credentials=credentials,
        alert=detail,
    )
    reason = verdict.reason
    if outcome == NOT_SEEN and phase_interrupted:
        reason = f"No connection to {host} before the run was interrupted during this phase."

    row = {
        "host": host,
        "phase": phase,
        "expected": expected,
        "outcome": outcome,
        "verdict": verdict.verdict,
        "reason": reason,
        "connections": len(counted),
        "evidence": {
            "pattern": entry["host"],
            "pinned": entry["pinned"],
            "outcomes": _count_outcomes(o for _, o in counted),
            "alerts": _dedupe(a for c, _ in counted for a in c.alerts),
            "requests": [r.to_dict() for r in requests[:MAX_REQUESTS]],
            "credentials": credentials,
            "notes": _dedupe(n for c in conns for n in c.notes),
            "resumed": sum(o.outcome == RESUMED for _, o in classified),
            "stalled": sum(o.outcome == STALLED for _, o in classified),
            "proof": proof,
        },
    }
    return _with_key(row, phase, key)


def _unused_closes(results: list[dict]) -> None:
    """Pre-connecting: a host that accepted a kind yet closed some of that phase's connections
    unused opens connections it may never use, so its `rejected-after-handshake` rows are
    inconclusive (docs/kinds.md, "Connections closed unused")."""
    preconnecting = {
        r["host"]
        for r in results
        if r["outcome"] == ACCEPTED and r["evidence"]["outcomes"].get(REJECTED_AFTER_HANDSHAKE)
    }
    for r in results:
        if r["host"] in preconnecting and r["outcome"] == REJECTED_AFTER_HANDSHAKE:
            alerts = r["evidence"]["alerts"]
            v = unused_closes_unreliable(
                r["phase"], r["host"], alerts[0] if alerts else None, r.get("key")
            )
            r["verdict"], r["reason"] = v.verdict, v.reason


def _not_run_row(
    host: str, phase: str, entry: Mapping, interrupted: bool, key: Mapping | None = None
) -> dict:
    why = " because the run was interrupted" if interrupted else ""
    row = {
        "host": host,
        "phase": phase,
        "expected": _expected(phase, entry),
        "outcome": NOT_SEEN,
        "verdict": INCONCLUSIVE,
        "reason": f"The {phase} phase did not run{why}.",
        "connections": 0,
        "evidence": _empty_evidence(entry),
    }
    return _with_key(row, phase, key)


def _not_applicable_row(host: str, phase: str, entry: Mapping) -> dict:
    which = "keys.current" if phase == "pinned-key" else "keys.backup"
    return {
        "host": host,
        "phase": phase,
        "expected": _expected(phase, entry),
        "outcome": NOT_APPLICABLE,
        "verdict": NOT_APPLICABLE,
        "reason": f"The scenario gives {host} no {which}, so it was passed through in the "
        f"{phase} phase: nothing to judge (not counted).",
        "connections": 0,
        "evidence": _empty_evidence(entry),
    }


def _empty_evidence(entry: Mapping) -> dict:
    return {
        "pattern": entry["host"],
        "pinned": entry["pinned"],
        "outcomes": {},
        "alerts": [],
        "requests": [],
        "credentials": [],
        "notes": [],
        "resumed": 0,
        "stalled": 0,
        "proof": None,
    }


def _with_key(row: dict, phase: str, key: Mapping | None) -> dict:
    """Rows of the key kinds say which key they showed: `key` (the file as the scenario names
    it) keeps backup-key rows apart, and stable across runs, for baselines."""
    if key is None:
        return row
    if phase == "backup-key":
        row["key"] = key["file"]
    row["evidence"]["key"] = {"file": key["file"], "pin": key.get("pin") or ""}
    return row


# --- proof that the app trusts the proxy CA -------------------------------------------------------


def _trust(
    by_phase: Mapping[int, list[Connection]],
    phases: list[str],
    scenario: Mapping,
    store: Mapping | None,
) -> dict:
    """What this run (or one of its devices) proves about the app's trust in the proxy CA, from
    which each row picks its proof: the rows (pattern, host) that sent application data under
    pinned-key and under valid-ca, the control hosts among the latter, the device's store, the
    scenario's word."""
    accepted: dict[str, set[tuple[str, str]]] = {"pinned-key": set(), "valid-ca": set()}
    hosts: dict[tuple[str, str], str] = {}
    for index, conns in by_phase.items():
        kind = phases[index]
        if kind not in accepted:
            continue
        for c in conns:
            if classify(c).outcome == ACCEPTED:
                accepted[kind].add(_row_key(c.pattern, c.host))
                hosts[_row_key(c.pattern, c.host)] = c.host
    controls = {e["host"] for e in scenario["hosts"] if e.get("control")}
    control_hosts = sorted(
        {hosts[k] for k in accepted["valid-ca"] if k[0] in controls and k in hosts}
    )
    return {
        "pinned_key": accepted["pinned-key"],
        "valid_ca": accepted["valid-ca"],
        "hosts": hosts,
        "control": control_hosts,
        "device_store": _device_store(store),
        "declared": scenario.get("ca_trust") == "system",
    }


def _device_store(event: Mapping | None) -> dict | None:
    """The `ca-store` event's finding, as the report carries it (None: no device was checked)."""
    if event is None:
        return None
    store = event.get("store")
    return {
        "store": store if store in ("system", "user", "none", "unknown") else "unknown",
        "path": str(event["path"]) if event.get("path") else None,
        "serial": str(event["serial"]) if event.get("serial") else None,
    }


def _proof(trust: Mapping, phase: str, entry: Mapping, host: str) -> dict | None:
    """The strongest proof that the app trusts the proxy CA for this row's host; None for kinds
    that need none (every correct client refuses them whatever it trusts) or when there is none."""
    k = kinds.KINDS.get(phase)
    if k is not None and not k.needs_ca_trust:
        return None
    rk = _row_key(entry["host"], host)
    if rk in trust["pinned_key"]:
        return {"source": PROOF_PINNED_KEY, "host": host}
    if rk in trust["valid_ca"]:
        return {"source": PROOF_CONTROL, "host": host}
    if trust["control"]:
        return {"source": PROOF_CONTROL, "host": trust["control"][0]}
    store = trust["device_store"]
    if store and store["store"] == "system":
        return {"source": PROOF_DEVICE_STORE, "path": store["path"]}
    if trust["declared"]:
        return {"source": PROOF_DECLARED}
    return None


def _trust_summary(trust: Mapping) -> dict:
    """report.json's top-level `ca_trust`: which proofs this run had."""
    pinned = sorted({trust["hosts"][k] for k in trust["pinned_key"] if k in trust["hosts"]})
    store = trust["device_store"]
    sources = [
        name
        for name, present in (
            (PROOF_PINNED_KEY, bool(pinned)),
            (PROOF_CONTROL, bool(trust["control"])),
            (PROOF_DEVICE_STORE, bool(store and store["store"] == "system")),
            (PROOF_DECLARED, trust["declared"]),
        )
        if present
    ]
    return {
        "sources": sources,
        "pinned_key": pinned,
        "control": list(trust["control"]),
        "device_store": store,
        "declared": trust["declared"],
    }


def _count_outcomes(outcomes: Iterable[ConnOutcome]) -> dict[str, int]:
    words = [o.outcome for o in outcomes]
    return {w: words.count(w) for w in OUTCOMES if w in words}


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- hints ----------------------------------------------------------------------------------------


def _hints(
    results: list[dict],
    ran: list[bool],
    trust: Mapping,
    mode: str = "regular",
    approached: set[str] = frozenset(),
) -> list[str]:
    hints = []
    ran_rows = [
        r
        for r, did_run in zip(results, ran, strict=True)
        if did_run and r["verdict"] != NOT_APPLICABLE
    ]
    if mode.startswith("wireguard"):
        why = (
            "the device may not route its traffic through the WireGuard tunnel, or the app "
            "never contacted it"
        )
    else:
        why = (
            "the app may bypass the system proxy (Flutter/Dart and some SDKs do); "
            "try `--mode wireguard`"
        )
    for host in _dedupe(r["host"] for r in ran_rows if r["host"] not in approached):
        if all(r["outcome"] == NOT_SEEN for r in ran_rows if r["host"] == host):
            if host.startswith("*."):
                who = f"No host matching {host} was seen"
            else:
                who = f"{host} was never seen"
            hints.append(f"{who}: {why}.")
    unproven = _dedupe(
        r["host"]
        for r in results
        if r["verdict"] == INCONCLUSIVE
        and r["outcome"] in (REJECTED_IN_HANDSHAKE, REJECTED_AFTER_HANDSHAKE)
        and r["evidence"].get("proof") is None
        and (kinds.KINDS.get(r["phase"]) is None or kinds.KINDS[r["phase"]].needs_ca_trust)
    )
    if unproven:
        hosts = ", ".join(unproven)
        hints.append(
            f"Refusals by {hosts} count for nothing without a proof that the app trusts the "
            "proxy CA for that host (it may not: a CA in the user store is ignored by apps "
            f"targeting Android 7+ unless they opt in): {HOW_TO_PROVE}."
        )
    store = trust["device_store"]
    if store and store["store"] != "system":
        where = {
            "user": "only in the device's user store",
            "none": "in neither of the device's stores",
        }.get(store["store"], "not in the device's system store (the user store was unreadable)")
        hints.append(
            f"The proxy CA was {where} at the start of the run: that is no proof that the app "
            "trusts it. 'mitm-pincheck android install-ca' puts it in the system store on an "
            "emulator with a Google APIs image."
        )
    resumed = sum(r["evidence"]["resumed"] for r in results)
    if resumed:
        conns = "1 connection" if resumed == 1 else f"{resumed} connections"
        verb = "was" if resumed == 1 else "were"
        hints.append(
            f"{conns} resumed an earlier TLS session and {verb} not counted: a resumed session "
            "shows the client no certificate, so it is evidence of nothing."
        )
    return hints
