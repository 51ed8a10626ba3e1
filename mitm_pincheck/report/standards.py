"""What a finding is, which OWASP MAS standard it maps to, and the evidence every format quotes.

A finding is a result row where the app did not reject a certificate it had to reject: the
verdict is `fail` with `expected: reject` (the app accepted a forged chain, so its traffic can be
read), or, shown as "not verified", `inconclusive` with `expected: reject`. A fail with
`expected: accept` (a control or an unpinned host that refused our chain) is a set-up or
scenario problem, not a missing pin, so it maps to no standard.

Titles were checked against the OWASP MAS sources. MASTG-TEST-0068 is the iOS v1 test, marked
deprecated in favour of the v2 tests; it is still the ID most audit templates quote for iOS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ANY_PLATFORM = "any"
MAX_REQUESTS = 10  # an app can send hundreds; the first few prove the leak


@dataclass(frozen=True)
class Standard:
    id: str
    title: str
    platform: str  # "any", "android" or "ios"
    url: str

    @property
    def label(self) -> str:
        """`MASTG-TEST-0244 (Android)`: the ID, with the platform when it is not universal."""
        if self.platform == ANY_PLATFORM:
            return self.id
        return f"{self.id} ({_PLATFORM_NAMES[self.platform]})"


_PLATFORM_NAMES = {"android": "Android", "ios": "iOS"}

STANDARDS: tuple[Standard, ...] = (
    Standard(
        id="MASVS-NETWORK-2",
        title="The app performs identity pinning for all remote endpoints under the "
        "developer's control",
        platform=ANY_PLATFORM,
        url="https://mas.owasp.org/MASVS/controls/MASVS-NETWORK-2/",
    ),
    Standard(
        id="MASTG-TEST-0244",
        title="Missing Certificate Pinning in Network Traffic",
        platform="android",
        url="https://mas.owasp.org/MASTG/tests/android/MASVS-NETWORK/MASTG-TEST-0244/",
    ),
    Standard(
        id="MASTG-TEST-0068",
        title="Testing Custom Certificate Stores and Certificate Pinning",
        platform="ios",
        url="https://mas.owasp.org/MASTG/tests/ios/MASVS-NETWORK/MASTG-TEST-0068/",
    ),
)


def platform_of(report: Mapping) -> str | None:
    """The app's platform when the scenario names one (`android`/`ios`), else None (show both)."""
    scenario = report.get("scenario") or {}
    platform = str(scenario.get("platform") or "").strip().lower()
    return platform if platform in _PLATFORM_NAMES else None


def applicable(platform: str | None = None) -> tuple[Standard, ...]:
    """The standards a finding of this run maps to: all of them when the platform is unknown."""
    if platform is None:
        return STANDARDS
    return tuple(s for s in STANDARDS if s.platform in (ANY_PLATFORM, platform))


def is_finding(row: Mapping) -> bool:
    """A failing row where the app accepted what it had to reject: a missing or broken pin."""
    return row.get("verdict") == "fail" and row.get("expected") == "reject"


def standards_for(row: Mapping, platform: str | None = None) -> tuple[Standard, ...]:
    """The standards a row is evidence about: violated (fail) or not verified (inconclusive)."""
    if row.get("expected") != "reject" or row.get("verdict") not in ("fail", "inconclusive"):
        return ()
    return applicable(platform)


def evidence_lines(row: Mapping) -> list[str]:
    """The evidence a verdict cites, one fact a line, the same in every format.

    Only what the journal may hold: connection count, the client's alerts, which credential
    headers went over our certificate, and request method + host + path. Never values.
    """
    evidence = row.get("evidence") or {}
    count = row.get("connections", 0) or 0
    lines = [f"connections: {count}"]
    if evidence.get("alerts"):
        lines.append("alerts from the client: " + ", ".join(map(str, evidence["alerts"])))
    if evidence.get("credentials"):
        lines.append(
            "credentials sent over the forged connection: "
            + ", ".join(map(str, evidence["credentials"]))
        )
    requests = evidence.get("requests") or []
    for request in requests[:MAX_REQUESTS]:
        lines.append("request: " + request_line(request))
    if len(requests) > MAX_REQUESTS:
        lines.append(f"... and {len(requests) - MAX_REQUESTS} more requests")
    return lines


def request_line(request: Mapping) -> str:
    """`GET api.example.com/v1/me`: method, host and path; the query string is never recorded."""
    method = request.get("method") or "?"
    host = request.get("host") or ""
    path = request.get("path") or ""
    suffix = " (had a query string)" if request.get("has_query") else ""
    return f"{method} {host}{path}{suffix}"
