"""Operations command line: see `python -m tools.ops --help`."""
