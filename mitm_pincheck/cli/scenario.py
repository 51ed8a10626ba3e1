"""`mitm-pincheck scenario` (placeholder until its issue lands)."""


def register(subparsers) -> None:
    pass
