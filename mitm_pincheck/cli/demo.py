"""`mitm-pincheck demo` (placeholder until its issue lands)."""


def register(subparsers) -> None:
    pass
