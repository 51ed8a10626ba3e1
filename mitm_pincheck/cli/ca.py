"""`mitm-pincheck ca` (placeholder until its issue lands)."""


def register(subparsers) -> None:
    pass
