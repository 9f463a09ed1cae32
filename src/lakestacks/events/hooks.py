"""Python hooks: the stack's ``hooks: [module:Class]``, called around stages and on events.

Kedro's hook specifications are the model, without its global plugin registry: the hooks
of one stack live in that stack's :class:`~lakestacks.events.Dispatcher` only.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from lakestacks.errors import UserError
from lakestacks.events.event import Event
from lakestacks.events.failures import HookFailure
from lakestacks.spec._refs import load_ref
from lakestacks.spec.loader import ResolvedStack

__all__ = ["HOOK_METHODS", "Hook", "LoadedHook", "load_hooks"]

HOOK_METHODS = ("before_stage", "after_stage", "on_error", "on_event")


class Hook(Protocol):
    """The methods a hook class may define; each is optional, define only those you need.

    A hook is called in the run's own thread, in the order ``hooks:`` lists them. What a
    method raises is recorded as a :class:`HookFailure` and the run goes on unchanged;
    ``KeyboardInterrupt`` and ``SystemExit`` are not failures and do stop the run.

    Example:
        >>> class PrintStages:  # in the stack: hooks: [my_project.hooks:PrintStages]
        ...     def before_stage(self, stage: str, stack: ResolvedStack) -> None:
        ...         print(f"{stack.stack.name}: {stage} starts")
        ...     def on_event(self, event: Event) -> None:
        ...         print(event.type, event.message)
    """

    def before_stage(self, stage: str, stack: ResolvedStack) -> None:
        """Before a stage runs, with the resolved stack it runs on."""

    def after_stage(self, stage: str, result: object) -> None:
        """After a stage returned, with what it returned."""

    def on_error(self, stage: str, error: BaseException) -> None:
        """When a stage raised, with the error (which the run then handles as usual)."""

    def on_event(self, event: Event) -> None:
        """For every lifecycle event, whatever webhooks select."""


def _name(obj: object) -> str:
    cls = obj if inspect.isclass(obj) else type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


@dataclass(frozen=True)
class LoadedHook:
    """A hook instance and the hook methods it defines.

    Attributes:
        name: Its class as ``module:Class``, for reports.
        instance: The hook object.
        methods: Its bound hook methods by name; the ones it lacks are absent.
    """

    name: str
    instance: object
    methods: Mapping[str, Callable[..., object]]

    @classmethod
    def of(cls, instance: object, name: str | None = None) -> LoadedHook:
        """Wrap a hook object; raise ``UserError`` if it defines none of the hook methods.

        Example:
            >>> class OnlyEvents:
            ...     def on_event(self, event: Event) -> None: ...
            >>> list(LoadedHook.of(OnlyEvents()).methods)
            ['on_event']
        """
        name = name or _name(instance)
        methods = {
            method: bound
            for method in HOOK_METHODS
            if callable(bound := getattr(instance, method, None))
        }
        if not methods:
            public = [m for m in dir(instance) if not m.startswith("_")]
            near = sorted(
                {c for m in public for c in difflib.get_close_matches(m, HOOK_METHODS, n=1)}
            )
            maybe = f"; did you mean {', '.join(near)}?" if near else ""
            raise UserError(f"hook {name} defines none of {', '.join(HOOK_METHODS)}{maybe}")
        return cls(name, instance, methods)

    def call(
        self, method: str, *args: object, stage: str | None = None, event: Event | None = None
    ) -> HookFailure | None:
        """Call one hook method if the hook defines it; what it raises comes back as a record.

        Example:
            >>> class Fails:
            ...     def on_error(self, stage: str, error: BaseException) -> None:
            ...         raise RuntimeError("pager down")
            >>> LoadedHook.of(Fails()).call("on_error", "training", KeyError("x"),
            ...                             stage="training").error
            'RuntimeError: pager down'
        """
        function = self.methods.get(method)
        if function is None:
            return None
        try:
            function(*args)
        except Exception as err:  # user code: any failure is recorded, none reaches the run
            return HookFailure(
                hook=self.name,
                method=method,
                error=" ".join(f"{type(err).__name__}: {err}".split()),
                stage=stage,
                event_id=event.id if event else None,
                event_type=event.type if event else None,
            )
        return None


def load_hooks(refs: Sequence[str], search_path: Sequence[str]) -> list[LoadedHook]:
    """Import each ``module:Class`` and instantiate it with no arguments (runs user code).

    Raises:
        UserError: a reference does not import, is not a class, cannot be instantiated
            without arguments, or defines no hook method. A broken hook is a broken
            stack: it stops the command before anything runs, like a bad generator.

    Example:
        >>> load_hooks(["my_project.hooks:Audit"], ["/path/to/project"])  # doctest: +SKIP
        [LoadedHook(name='my_project.hooks:Audit', ...)]
    """
    hooks: list[LoadedHook] = []
    for ref in refs:
        target = load_ref(ref, search_path)
        if not inspect.isclass(target):
            raise UserError(
                f"hook {ref} is a {type(target).__name__}, not a class; hooks: lists classes "
                "that lakestacks instantiates with no arguments"
            )
        try:
            instance = target()
        except Exception as err:  # user code
            raise UserError(
                f"could not create hook {ref}() with no arguments: {type(err).__name__}: {err}"
            ) from None
        hooks.append(LoadedHook.of(instance, ref))
    return hooks
