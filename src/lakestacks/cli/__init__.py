"""The ``stacks`` command line: one module per command group, each parsing, calling
:mod:`lakestacks.api` and rendering."""
