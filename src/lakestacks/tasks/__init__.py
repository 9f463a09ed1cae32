"""Task kinds: what kind of model a stack trains, as plug-ins (see :mod:`.kind`)."""

from lakestacks.tasks.kind import TASKS_GROUP, FittedModel, TaskKind, kind_for, task_kind

__all__ = ["TASKS_GROUP", "FittedModel", "TaskKind", "kind_for", "task_kind"]
