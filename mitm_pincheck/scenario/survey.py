"""The scenario of a survey: no hosts listed, every host the device contacts is under test.

`mitm-pincheck survey` runs one phase with this scenario: `valid-ca` for every TLS host (which
ones refuse the proxy CA?), or `passthrough` with `--passive` (which hosts are there at all?).
"""

from __future__ import annotations

from dataclasses import dataclass

from mitm_pincheck.scenario.hostnames import HostNameError, check_host
from mitm_pincheck.scenario.model import HostSpec, Scenario

SURVEY_KIND = "valid-ca"
PASSIVE_KIND = "passthrough"


@dataclass(frozen=True)
class SurveyScenario(Scenario):
    passive: bool = False

    def host_for(self, name: str) -> HostSpec | None:
        """Every name the device asks for is under test, as itself (so its row is its own).

        A name that is no host name (a hostile SNI) is left alone: passed through, unrecorded.
        """
        try:
            host = check_host(str(name).lower().rstrip("."), wildcard_ok=False)
        except HostNameError:
            return None
        return HostSpec(host=host, pinned=False)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "survey": "passive" if self.passive else "active"}


def survey_scenario(
    *,
    passive: bool = False,
    trigger: str | None = None,
    settle: float,
    timeout: float,
    resolve=None,
    upstream_trust=None,
) -> SurveyScenario:
    return SurveyScenario(
        name="survey",
        phases=(PASSIVE_KIND if passive else SURVEY_KIND,),
        trigger=trigger,
        settle=settle,
        timeout=timeout,
        resolve=resolve or {},
        upstream_trust=upstream_trust,
        isolate=False,
        max_followups=0,
        passive=passive,
    )
