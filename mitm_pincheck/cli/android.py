"""`mitm-pincheck android` (placeholder until its issue lands)."""


def register(subparsers) -> None:
    pass
