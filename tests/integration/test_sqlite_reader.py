"""The direct SQLite registry reader answers as MLflow's client does, or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lakestacks.registry.sqlite_reader import UNKNOWN, open_reader

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

NAME = "main.t.model"


def _model_dir(root: Path, n: int) -> Path:
    folder = root / f"model{n}"
    folder.mkdir()
    inputs = [{"type": "long", "name": "a", "required": True}]
    mlmodel = {
        "flavors": {"python_function": {"artifacts": {"bundle": {"path": "artifacts/b"}}}},
        "signature": {"inputs": json.dumps(inputs), "outputs": None},
        "metadata": {"n": n},
    }
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return folder


def test_aliases_and_versions_match_mlflow(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    client.create_registered_model(NAME)
    for n in (1, 2, 3):
        client.create_model_version(NAME, str(_model_dir(tmp_path, n)))
    client.set_registered_model_alias(NAME, "champion", "2")
    client.set_registered_model_alias(NAME, "challenger", "3")
    reader = open_reader(uri)
    assert reader is not None

    assert reader.alias_version(NAME, "champion") == 2
    assert reader.alias_version(NAME, "challenger") == 3
    assert reader.alias_version(NAME, "nope") is None
    assert reader.alias_version("other.model", "champion") is None
    assert reader.alias_version(NAME, "latest") == UNKNOWN  # MLflow's own rule: ask it

    files = reader.model_files(NAME, 2)
    assert files is not None
    download = client.get_model_version_download_uri(NAME, "2")
    assert files.folder == Path(download.removeprefix("file://"))
    assert files.inputs == [{"type": "long", "name": "a", "required": True}]
    assert files.metadata == {"n": 2}
    assert files.artifacts == {"bundle": files.folder / "artifacts" / "b"}
    assert reader.model_files(NAME, 9) is None

    # A moved alias is seen at the next lookup; a deleted version is gone, as for MLflow.
    client.set_registered_model_alias(NAME, "champion", "3")
    assert reader.alias_version(NAME, "champion") == 3
    client.delete_model_version(NAME, "1")
    assert reader.model_files(NAME, 1) is None


def test_anything_but_a_local_sqlite_registry_is_left_to_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert open_reader("http://127.0.0.1:5000") is None
    assert open_reader("postgresql://u@127.0.0.1/test") is None
    assert open_reader(f"sqlite:///{tmp_path / 'absent.db'}") is None
    (tmp_path / "other.db").write_bytes(b"")  # a SQLite file without MLflow's tables
    assert open_reader(f"sqlite:///{tmp_path / 'other.db'}") is None

    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    client.create_registered_model(NAME)
    client.create_model_version(NAME, "s3://bucket/models/1")
    reader = open_reader(uri)
    assert reader is not None
    assert reader.model_files(NAME, 1) is None  # not a local folder
    monkeypatch.setenv("MLFLOW_WORKSPACE", "team-a")
    assert open_reader(uri) is None
