"""``python -m lakestacks.cli``: the same as the ``stacks`` console script."""

from lakestacks.cli.main import main

main()
