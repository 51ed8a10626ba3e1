"""Follow-up phases: when a refusal hid the hosts behind it, repeat the phase for them.

A real app's flow stops at the first host that refuses the certificate (login fails, so the
catalogue is never fetched): the hosts behind it are `not-seen` in every forged phase, which is
inconclusive forever. A follow-up repeats the phase with the refusing hosts (and every other host
already seen) passed through untouched, and only the unseen hosts shown the phase's kind.

Pure: `plan` reads the journal events of the round that just ended and says whether another round
is due; `annotate` tells a report row that its outcome came from a follow-up. The `phase-start`
event of a follow-up carries `followup` (1, 2, ...), `shown` and `passed_through` (patterns).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mitm_pincheck.verdicts import kinds
from mitm_pincheck.verdicts.outcome import (
    NOT_SEEN,
    REJECTED_AFTER_HANDSHAKE,
    REJECTED_IN_HANDSHAKE,
    aggregate,
    classify,
    fold_connections,
)

_REFUSALS = (REJECTED_IN_HANDSHAKE, REJECTED_AFTER_HANDSHAKE)


@dataclass(frozen=True)
class FollowUp:
    round: int  # 1 for the first follow-up of a phase
    shown: tuple[str, ...]  # patterns shown the phase's kind: those not seen so far
    passed_through: tuple[str, ...]  # patterns that refused, in this or an earlier round

    def event_fields(self) -> dict:
        return {
            "followup": self.round,
            "shown": list(self.shown),
            "passed_through": list(self.passed_through),
        }


def outcomes_by_pattern(events: Iterable[dict]) -> dict[str, str]:
    """Each scenario pattern's aggregate outcome over the connections in `events`."""
    counted: dict[str, list[str]] = {}
    for conn in fold_connections(events):
        outcome = classify(conn)
        if outcome.counted:
            counted.setdefault(conn.pattern, []).append(outcome.outcome)
    return {pattern: aggregate(words) for pattern, words in counted.items()}


def plan(
    kind: str,
    shown: Iterable[str],
    round_events: Iterable[dict],
    previous: FollowUp | None,
    limit: int,
) -> FollowUp | None:
    """The next follow-up after a round that showed `kind` to `shown`, or None.

    Due when the round left some shown pattern unseen while another one refused the certificate
    (the app probably stopped there), and fewer than `limit` follow-ups ran. A round in which
    nothing refused ends it: the unseen hosts are then not behind a refusal of ours.
    """
    if not kinds.KINDS[kind].intercepts:
        return None  # passthrough: nothing of ours to refuse
    done = previous.round if previous else 0
    if done >= limit:
        return None
    shown = list(shown)
    outcomes = outcomes_by_pattern(round_events)
    refused = [p for p in shown if outcomes.get(p) in _REFUSALS]
    unseen = [p for p in shown if outcomes.get(p, NOT_SEEN) == NOT_SEEN]
    if not refused or not unseen:
        return None
    blockers = list(previous.passed_through) if previous else []
    blockers += [p for p in refused if p not in blockers]
    return FollowUp(done + 1, tuple(unseen), tuple(blockers))


def rounds_of(events: Iterable[Mapping]) -> dict[int, list[FollowUp]]:
    """The follow-ups each phase index had, from the run's `phase-start` events."""
    rounds: dict[int, list[FollowUp]] = {}
    for e in events:
        if e.get("event") != "phase-start" or not isinstance(e.get("followup"), int):
            continue
        index = e.get("index")
        if not isinstance(index, int) or e["followup"] < 1:
            continue
        rounds.setdefault(index, []).append(
            FollowUp(
                e["followup"],
                tuple(str(p) for p in e.get("shown") or ()),
                tuple(str(p) for p in e.get("passed_through") or ()),
            )
        )
    return rounds


def annotate(row: dict, rounds: list[FollowUp]) -> dict:
    """Say in `row` (a report row) that its host was shown the kind in a follow-up."""
    pattern = row["evidence"]["pattern"]
    mine = [r for r in rounds if pattern in r.shown]
    if not mine:
        return row
    last = mine[-1]  # a pattern leaves `shown` once seen: its last round is where it was seen
    blockers = ", ".join(last.passed_through)
    verb = "was" if len(last.passed_through) == 1 else "were"
    seen = row["outcome"] != NOT_SEEN
    row["evidence"]["followup"] = {
        "round": last.round,
        "passed_through": list(last.passed_through),
        "seen": seen,
    }
    if seen:
        row["reason"] = (
            f"{row['reason']} Seen once {blockers} {verb} passed through "
            f"(follow-up {last.round} of this phase)."
        )
    else:
        rounds_text = "1 follow-up" if len(mine) == 1 else f"{len(mine)} follow-ups"
        row["reason"] = (
            f"{row['reason']} Not seen either in {rounds_text} with {blockers} passed through: "
            "the app's flow may not reach it, or its trigger does not exercise it."
        )
    return row


def plan_devices(
    kind: str,
    shown: Iterable[str],
    round_events: Iterable[dict],
    previous: FollowUp | None,
    limit: int,
    devices: Iterable[str],
) -> FollowUp | None:
    """`plan` for a run on several devices: each device's round is judged on its own
    connections, and one follow-up (phases run in step) serves every device that needs one.

    It shows the patterns unseen on any of those devices and passes through the rest of the
    refusing ones: a pattern one device refused and another never reached is shown again."""
    shown = list(shown)
    by_device = split_by_device(round_events, devices)
    plans = [p for evs in by_device.values() if (p := plan(kind, shown, evs, previous, limit))]
    if not plans:
        return None
    unseen = [p for p in shown if any(p in f.shown for f in plans)]
    blockers = [p for f in plans for p in f.passed_through]
    blockers = [p for p in dict.fromkeys(blockers) if p not in unseen]
    return FollowUp(plans[0].round, tuple(unseen), tuple(blockers))


def split_by_device(events: Iterable[Mapping], devices: Iterable[str]) -> dict[str, list]:
    """Each device's share of `events`: its connections' events (a connection's device is on
    its `conn` event) and every event of no connection (phase-start, ...), in order."""
    out: dict[str, list] = {label: [] for label in devices}
    device_of: dict[object, object] = {}
    for e in events:
        if "id" not in e:
            for share in out.values():
                share.append(e)
            continue
        if e.get("event") == "conn":
            device_of[e["id"]] = e.get("device")
        share = out.get(device_of.get(e["id"]))  # type: ignore[arg-type]
        if share is not None:
            share.append(e)
    return out
