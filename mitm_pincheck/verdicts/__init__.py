"""Pure: kinds, journal events -> connections -> outcomes -> verdicts -> the report dict.

Nothing here imports mitmproxy or any package above it; tests/test_layout.py checks that."""
