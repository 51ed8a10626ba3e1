"""SPKI pins, pinning-configuration audits, and (later) app packages."""
