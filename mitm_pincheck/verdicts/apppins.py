"""What the app's own package says about a row's host: the pin-set it configures, and the audit
findings that explain a verdict (an expired pin-set is not enforced, so the app accepts).

Pure: reads the `app-package` journal event (pins/package.py `run_record`) and a report row.
It only adds words and evidence; it never changes an outcome or a verdict: a configured pin-set
says what the app should do, not what it did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mitm_pincheck.verdicts.outcome import ACCEPTED, REJECTED_AFTER_HANDSHAKE, REJECTED_IN_HANDSHAKE

_REFUSED = (REJECTED_IN_HANDSHAKE, REJECTED_AFTER_HANDSHAKE)
# Findings that explain an app accepting a certificate it should refuse.
_EXPLAINS_ACCEPTANCE = (
    "pin-set-expired",
    "pinning-not-enforced",
    "override-pins",
    "user-ca-trusted",
)


def package_event(events: Iterable[Mapping]) -> Mapping | None:
    return next((e for e in events if e.get("event") == "app-package"), None)


def rules_for(host: str, package: Mapping) -> list[Mapping]:
    """The package's most specific rules for `host` (one from the config, one from the code,
    when both have one)."""
    host = host.lower().rstrip(".")
    matching = []
    for rule in package.get("rules") or ():
        if not isinstance(rule, Mapping):
            continue
        name = str(rule.get("name") or "")
        if host == name:
            matching.append((2, len(name), rule))
        elif rule.get("include_subdomains") and host.endswith("." + name):
            matching.append((1, len(name), rule))
    if not matching:
        return []
    best = max((m[0], m[1]) for m in matching)
    return [r for rank, length, r in matching if (rank, length) == best]


def annotate(row: dict, package: Mapping | None) -> dict:
    """Name in `row` the pin-set its host is configured with, and the findings behind a verdict."""
    if package is None:
        return row
    rules = rules_for(str(row["host"]), package)
    pinned = [r for r in rules if r.get("pinned")]
    outcome = row["outcome"]
    notes: list[str] = []
    if row["phase"] == "valid-ca" and outcome in _REFUSED:
        if pinned:
            notes.append(f"The app pins it: {'; '.join(str(r.get('origin')) for r in pinned)}.")
        else:
            notes.append(
                "No pin-set in the app package covers it: the refusal comes from pins the "
                "reader could not place, or from a CA the app does not trust."
            )
    explained = []
    if outcome == ACCEPTED:
        for r in rules:
            explained += [
                f for f in r.get("findings") or () if f.get("code") in _EXPLAINS_ACCEPTANCE
            ]
        if not pinned:
            explained += [
                f for f in package.get("findings") or () if f.get("code") in _EXPLAINS_ACCEPTANCE
            ]
        for f in explained:
            notes.append(f"pins audit: {f.get('code')}: {f.get('message')}.")
    if not rules and not notes:
        return row
    row["evidence"]["app_config"] = {
        "rules": [
            {
                "origin": r.get("origin"),
                "pinned": bool(r.get("pinned")),
                "expiration": r.get("expiration"),
            }
            for r in rules
        ],
        "findings": [f.get("code") for f in explained],
    }
    if notes:
        row["reason"] = " ".join([row["reason"], *notes])
    return row
