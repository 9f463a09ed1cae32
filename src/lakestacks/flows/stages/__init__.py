"""lakestacks' built-in stages, registered under the ``lakestacks.stages`` entry points like
any plug-in's (see :mod:`lakestacks.flows.stage`). Each module adapts one flow to the
``Stage`` protocol: when it applies, what it reads and writes, how it is reused and
summarised; the work itself stays in the flow modules."""
