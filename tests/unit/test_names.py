"""Project names for `stacks init`: what is accepted, and what a refusal says."""

from __future__ import annotations

import pytest

from lakestacks.errors import UserError
from lakestacks.scaffold import package_name


@pytest.mark.parametrize(
    ("name", "package"), [("churn", "churn"), ("churn-model", "churn_model"), ("a1_b", "a1_b")]
)
def test_valid_names_and_their_packages(name: str, package: str) -> None:
    assert package_name(name) == package


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../x", "'../x' is a path, not a name: give the project's name (e.g. 'x')"),
        ("/abs/churn", "is a path, not a name: give the project's name (e.g. 'churn')"),
        ("import", "'import' is a Python keyword, so it cannot name the package; use e.g."),
        (
            "my project",
            "'my project' has a space, which a package name cannot hold; use e.g. 'my_project'",
        ),
        ("Churn", "'Churn' has capitals; project names are lowercase; use e.g. 'churn'"),
        ("json", "would shadow Python's own 'json' module"),
        ("mlflow", "would shadow the 'mlflow' module"),
        ("9lives", "starting with a letter; use e.g. 'project_9lives'"),
        ("churn!", "use lowercase letters, digits, '-' and '_'"),
        ("", "the project name is empty"),
    ],
)
def test_bad_names_say_why_and_what_instead(name: str, message: str) -> None:
    with pytest.raises(UserError) as err:
        package_name(name)
    assert message in str(err.value)
