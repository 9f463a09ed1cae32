"""The ``notifications:`` and ``hooks:`` sections through `stacks validate` and the loader.

The broken-stack corpus (``tests/stacks/broken/webhook_*.yaml``) covers one problem a file;
these cover what a corpus header cannot say: that a secret never reaches the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakestacks.cli.main import app
from lakestacks.errors import StackError
from lakestacks.spec import EventType, json_schema, load_stack

SECRET = "do-not-print-me-7f3a"  # noqa: S105 -- a test value, checked to stay hidden
TOKEN = "tok-q-9c1e"  # noqa: S105

HEAD = """\
version: 1
name: churn
catalog: main.churn
data:
  sources:
    customers:
      generator: lakestacks.data.generators:churn_customers
"""


def _stack(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def _validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *args])
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://x", "this has scheme 'ftp' (got 'ftp://x')"),
        ("not a url", "this has no scheme (got 'not a url')"),
        ("https:///path-only", "this has no host"),
        ("http://h.example:99999/x", "port out of range"),
        ("http://h.example/a b", "no spaces"),
    ],
)
def test_a_bad_url_is_a_validate_error_at_its_line(tmp_path: Path, url: str, says: str) -> None:
    path = _stack(tmp_path, f"notifications:\n  webhooks:\n    - url: {url}\n")

    code, out = _validate(str(path))

    assert code == 2, out
    assert f"{path}:10:12: notifications.webhooks[0].url: " in out
    assert "http:// or https://" in out
    assert says in out
    assert "Traceback" not in out


def test_an_unknown_event_lists_the_valid_names(tmp_path: Path) -> None:
    path = _stack(
        tmp_path,
        "notifications:\n  webhooks:\n    - url: https://h.example/x\n"
        "      events: [promoted, approve, rollback]\n",
    )

    code, out = _validate(str(path))

    assert code == 2, out
    assert "2 problems" in out
    assert f"{path}:11:26: notifications.webhooks[0].events[1]: unknown event 'approve'" in out
    assert "did you mean 'approved'?" in out
    assert f"{path}:11:35: notifications.webhooks[0].events[2]" in out
    assert ", ".join(e.value for e in EventType) in out


def test_the_secret_never_reaches_validate_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    good = (
        "notifications:\n  webhooks:\n"
        "    - url: https://bot:pw-x@h.example/x?token=${HOOK_TOKEN}\n"
        "      secret: ${HOOK_SECRET}\n"
        "      headers: {Authorization: 'Bearer ${HOOK_TOKEN}'}\n"
    )
    path = _stack(tmp_path, good)
    outputs = [_validate(str(path), *flags) for flags in ([], ["--show"], ["--json"])]
    for code, out in outputs:
        assert code == 0, out
        assert SECRET not in out and TOKEN not in out and "pw-x" not in out
    shown = json.loads(outputs[2][1])["resolved"]["notifications"]["webhooks"][0]
    assert shown["secret"] == "***"  # noqa: S105 -- the mask, not a password
    assert shown["headers"] == {"Authorization": "***"}
    assert shown["url"] == "https://h.example/x?***"
    assert "secret: '***'" in outputs[1][1]

    # The loaded model keeps the real values for delivery; its repr hides them.
    hook = load_stack(path).stack.notifications.webhooks[0]
    assert hook.secret == SECRET and hook.headers["Authorization"] == f"Bearer {TOKEN}"
    assert SECRET not in repr(hook) and TOKEN not in repr(hook)

    bad = good.replace("https://bot", "ftp://bot") + "      retries: 11\n      secret2: x\n"
    code, out = _validate(str(_stack(tmp_path, bad)))
    assert code == 2, out
    assert "3 problems" in out
    assert SECRET not in out and TOKEN not in out and "pw-x" not in out
    assert "(got 'ftp://***@h.example/x?***')" in out


def test_wrongly_typed_secrets_are_not_echoed(tmp_path: Path) -> None:
    path = _stack(
        tmp_path,
        "notifications:\n  webhooks:\n    - url: https://h.example/x\n"
        "      secret: 918273645\n      headers: {X-Token: 56473829}\n",
    )

    with pytest.raises(StackError) as caught:
        load_stack(path)

    text = str(caught.value)
    assert "918273645" not in text and "56473829" not in text
    assert [p.path for p in caught.value.problems] == [
        "notifications.webhooks[0].secret",
        "notifications.webhooks[0].headers.X-Token",
    ]
    assert "must be text, got a number" in text


def test_a_section_that_is_not_a_mapping_is_not_echoed(tmp_path: Path) -> None:
    path = _stack(tmp_path, f"notifications:\n  - url: https://h.example/x\n    secret: {SECRET}\n")

    with pytest.raises(StackError) as caught:
        load_stack(path)

    assert SECRET not in str(caught.value)
    assert "'notifications' must be a mapping, got a list" in str(caught.value)


def test_reserved_headers_and_bad_header_names_are_errors(tmp_path: Path) -> None:
    path = _stack(
        tmp_path,
        "notifications:\n  webhooks:\n    - url: https://h.example/x\n"
        "      headers: {X-Event-Id: mine}\n"
        "    - url: https://h.example/y\n"
        "      headers: {'bad name': v}\n",
    )

    with pytest.raises(StackError) as caught:
        load_stack(path)

    text = str(caught.value)
    assert "header 'X-Event-Id' is set by lakestacks itself" in text
    assert "'bad name' is not a valid header name" in text


def test_defaults_and_an_empty_secret(tmp_path: Path) -> None:
    path = _stack(
        tmp_path,
        "notifications:\n  webhooks:\n    - url: HTTPS://h.example/x\n"
        "      secret: ${UNSET_HOOK_SECRET:-}\n",
    )

    hook = load_stack(path, environ={}).stack.notifications.webhooks[0]

    assert hook.secret is None  # `${VAR:-}` unset: unsigned, not signed with ""
    assert hook.events == list(EventType)
    assert (hook.timeout_seconds, hook.retries, hook.backoff_seconds) == (5.0, 3, 0.5)
    plain = load_stack(_stack(tmp_path, "")).stack
    assert plain.notifications.webhooks == [] and plain.hooks == []


def test_hooks_are_checked_statically(tmp_path: Path) -> None:
    (tmp_path / "my_hooks.py").write_text(
        "raise SystemExit('imported at validation')\nclass Audit:\n    pass\n", encoding="utf-8"
    )
    ok = _stack(tmp_path, "hooks: [my_hooks:Audit]\n")
    assert load_stack(ok).stack.hooks == ["my_hooks:Audit"]  # found, not imported

    code, out = _validate(str(_stack(tmp_path, "hooks: [my_hooks:Audti]\n")))
    assert code == 2, out
    assert f"{tmp_path / 'stack.yaml'}:8:9: hooks[0]: " in out
    assert "did you mean 'Audit'?" in out


def test_the_json_schema_describes_both_sections() -> None:
    schema = json_schema()
    assert "notifications" in schema["properties"] and "hooks" in schema["properties"]
    webhook = schema["$defs"]["Webhook"]
    assert webhook["additionalProperties"] is False
    assert set(webhook["properties"]) == {
        "url", "events", "secret", "timeout_seconds", "retries", "backoff_seconds", "headers",
    }  # fmt: skip
    assert all(p.get("description") for p in webhook["properties"].values())
    assert schema["$defs"]["EventType"]["enum"] == [e.value for e in EventType]
