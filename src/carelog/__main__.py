"""``python -m carelog``: the same as the ``carelog`` command."""

from carelog.cli import main

main()
