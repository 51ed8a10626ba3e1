"""`mitm-pincheck run` (placeholder until its issue lands)."""


def register(subparsers) -> None:
    pass
