"""Report writers: each renders the same report dict (see `results.build_report`)."""
