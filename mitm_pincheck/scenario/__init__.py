"""Scenario files: YAML -> a typed `Scenario`, and the host names and patterns in them."""

from mitm_pincheck.scenario.model import (
    DEFAULT_SETTLE,
    DEFAULT_TIMEOUT,
    HOST_KEYS,
    TOP_KEYS,
    HostSpec,
    Scenario,
)
from mitm_pincheck.scenario.scenario import load, parse

__all__ = [
    "DEFAULT_SETTLE",
    "DEFAULT_TIMEOUT",
    "HOST_KEYS",
    "TOP_KEYS",
    "HostSpec",
    "Scenario",
    "load",
    "parse",
]
