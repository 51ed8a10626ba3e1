"""`mitm-pincheck kinds` (placeholder until its issue lands)."""


def register(subparsers) -> None:
    pass
