"""`mitm-pincheck pins` (placeholder until its issue lands)."""


def register(subparsers) -> None:
    pass
