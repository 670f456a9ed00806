"""``python -m audiomlqa``: the same command line as ``audiomlqa``."""

from audiomlqa.cli import main

main()
