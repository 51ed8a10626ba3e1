"""Errors a user can act on. The CLI turns them into one line on stderr and exit code 2."""

# Exit code of a crash (a bug in mitm-pincheck): never 1, which CI reads as "a check failed".
EXIT_CRASH = 4


class InputError(Exception):
    """Bad usage or bad input: a file, an argument, a device that is not there."""


class ScenarioError(InputError):
    """A scenario file that can't be used, located as precisely as possible."""

    def __init__(self, file: str, line: int | None, key: str | None, message: str):
        self.file = file
        self.line = line
        self.key = key
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
