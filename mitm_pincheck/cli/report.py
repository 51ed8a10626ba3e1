"""`mitm-pincheck report` (placeholder until its issue lands)."""


def register(subparsers) -> None:
    pass
