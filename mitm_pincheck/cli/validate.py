"""`mitm-pincheck validate` (placeholder until its issue lands)."""


def register(subparsers) -> None:
    pass
