"""mitm-pincheck: does this app really enforce certificate pinning, host by host?"""

__version__ = "0.1.0"
