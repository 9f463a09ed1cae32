"""Task kinds as plug-ins: what kind of model a stack trains.

A task kind owns everything that depends on it: how the training table feeds the model and
how it is fitted, the input example logged with it, how a registered version is scored on
the test split and which metrics apply, and the request formats serving accepts. The
pipeline only asks the stack's kind. Kinds register under the entry-point group
``lakestacks.tasks`` (the tabular ones in lakestacks' own ``pyproject.toml``); the stack
names one in ``training.task`` (``auto``: classification when the model has
``predict_proba``, else regression).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lakestacks.errors import UserError
from lakestacks.spec import ResolvedStack
from lakestacks.spec._refs import load_ref
from lakestacks.spec.plugins import TASKS_GROUP

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    from lakestacks.evaluation import MetricFn
    from lakestacks.registry import LoadedModel, Predictor

__all__ = ["TASKS_GROUP", "FittedModel", "TaskKind", "kind_for", "task_kind"]


@runtime_checkable
class FittedModel(Protocol):
    """A model a task kind trained, as the training flow logs and registers it."""

    best_checkpoint: str | None  # the flow moves it out of the run's temporary folder

    @property
    def task(self) -> str:
        """The task kind's name."""
        ...

    @property
    def feature_columns(self) -> list[str]:
        """The input columns the model reads."""
        ...

    @property
    def epochs_run(self) -> int:
        """Epochs completed."""
        ...

    @property
    def history(self) -> list[dict[str, float]]:
        """Per-epoch metrics."""
        ...

    @property
    def device(self) -> str:
        """Where it trained."""
        ...

    def predictor(self) -> Predictor:
        """What the registered pyfunc calls to predict."""
        ...

    def artifacts(self) -> Mapping[str, Any]:
        """JSON artifacts logged beside the model, by file name (e.g. its encoder)."""
        ...


@runtime_checkable
class TaskKind(Protocol):
    """One kind of model (tabular classification, regression; later chat, instruction,
    continued pretraining).

    Attributes:
        name: The ``training.task`` value, e.g. ``classification``.
        request_formats: The request bodies serving accepts for it (MLflow's names).
    """

    name: str
    request_formats: tuple[str, ...]

    def fit(
        self,
        resolved: ResolvedStack,
        table_path: str,
        version: int,
        *,
        checkpoint_dir: str,
        progress: bool,
    ) -> tuple[FittedModel, dict[str, int]]:
        """Train on the pinned splits of ``table_path`` at ``version``; the model and the
        rows per split."""
        ...

    def input_example(self, rows: pa.Table) -> Any:
        """The input example logged with the model, from the first rows of its columns."""
        ...

    def truth(self, test: pa.Table, target: str) -> npt.NDArray[np.float32]:
        """The test split's target, as the metrics read it."""
        ...

    def predictions(self, model: LoadedModel, test: pa.Table) -> npt.NDArray[np.float64]:
        """A registered version's predictions on the test split, as the metrics read them."""
        ...

    def metrics(
        self,
        names: Sequence[str],
        y_true: npt.NDArray[Any],
        y_pred: npt.NDArray[Any],
        custom: Mapping[str, MetricFn],
    ) -> dict[str, float]:
        """The named metrics (built-in and the user's)."""
        ...

    def curves(self, y_true: npt.NDArray[Any], y_pred: npt.NDArray[Any]) -> dict[str, Any]:
        """The evaluation's curves as JSON-safe data, small enough to keep with the run (a
        classifier's ROC, precision-recall and confusion matrix; a regressor's residuals),
        which ``evaluation.curve_plots`` draws."""
        ...


def task_kind(name: str) -> TaskKind:
    """The task kind registered as ``name``.

    Raises:
        UserError: no kind has that name, or its plug-in does not load.
    """
    found = {point.name: point for point in entry_points(group=TASKS_GROUP)}
    if name not in found:
        known = ", ".join(sorted(found)) or "none (reinstall lakestacks)"
        raise UserError(f"unknown training.task {name!r}; task kinds: {known}")
    point = found[name]
    try:
        loaded = point.load()
    except Exception as exc:
        raise UserError(
            f"task kind {name!r} ({point.value}) cannot be loaded: {type(exc).__name__}: {exc}"
        ) from None
    kind = loaded() if isinstance(loaded, type) else loaded
    if not isinstance(kind, TaskKind):
        raise UserError(f"task kind {name!r} ({point.value}) lacks the TaskKind protocol")
    return kind


def kind_for(resolved: ResolvedStack) -> TaskKind:
    """The stack's task kind; ``auto`` looks at the model class (``predict_proba``:
    classification, else regression)."""
    section = resolved.stack.training
    if section is None:
        raise UserError("this stack has no training section, so no task kind")
    name = section.task
    if name == "auto":
        model_cls = load_ref(section.model, resolved.search_path)
        name = (
            "classification"
            if callable(getattr(model_cls, "predict_proba", None))
            else ("regression")
        )
    return task_kind(name)
