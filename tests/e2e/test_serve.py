"""`stacks serve` on a real loopback server: protocol, limits, auth, A/B, hot swap, the log.

One project is trained once for the module: v1 is the champion and v2, trained with manual
approval, is the challenger. Tests serve it with `serving.running` (uvicorn in a thread, real
HTTP on 127.0.0.1) or as a `stacks serve` process, and read the inference table with delta-rs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow.compute as pc
import pytest

from lakestacks import api, registry
from lakestacks.data.split import SPLIT_COLUMN
from lakestacks.data.tables import read_table, table_exists
from lakestacks.serving import ServeConfig, build_config, hash_token, running
from lakestacks.serving.config import LogConfig, TokenConfig
from tests.e2e.conftest import Project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "main.churn.churn_model"
STACKS = str(Path(sys.executable).parent / "stacks")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """v1 champion, v2 challenger (awaiting approval)."""
    project = Project(tmp_path_factory.mktemp("serve"))
    project.set("deployment.serving", {"inference_table": "inference_log"})
    assert project.run().status == "promoted"
    project.set("approval", {"mode": "manual"})
    project.set("evaluation.mode", "dry_run")  # v2 waits for approval whatever it scores
    project.set("training.trainer.seed", 2)
    assert project.run().exit_code == 4
    assert registry.alias_version(MODEL, registry.CHALLENGER) == 2
    return project


@pytest.fixture(scope="module")
def rows(trained: Project) -> pd.DataFrame:
    """Ten feature rows without nulls, as a client would send them."""
    model = registry.load_model(MODEL, 1)
    data = read_table(str(trained.lake / "main/churn/customers")).to_pandas()
    return data[model.columns].dropna().head(10).reset_index(drop=True)


def _config(project: Project, **changes: Any) -> ServeConfig:
    config = build_config(api.load_stack(project.path), port=0, poll_seconds=0.2)
    return dataclasses.replace(config, **changes)


def _logged(config: ServeConfig) -> pd.DataFrame:
    assert config.log is not None
    if not table_exists(config.log.path):
        return pd.DataFrame()
    return read_table(config.log.path).to_pandas()


@pytest.fixture
def fresh_log(trained: Project, tmp_path: Path) -> LogConfig:
    """An inference table of this test's own."""
    return LogConfig(
        str(tmp_path / "inference_log"), "main.churn.inference_log", 100_000, 5_000, 2.0
    )


def test_every_payload_format_scores_like_the_batch_path(
    trained: Project, rows: pd.DataFrame, fresh_log: LogConfig
) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    # The numpy runtime sums in float32 in another order than torch: equal to 1e-6.
    expected = pytest.approx(
        registry.load_model(MODEL, 1).predict(rows)["probability"].tolist(), abs=1e-6
    )
    records = json.loads(rows.to_json(orient="records"))
    columns = {c: rows[c].tolist() for c in rows.columns}
    bodies = {
        "dataframe_split": {"dataframe_split": json.loads(rows.to_json(orient="split"))},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs (columns)": {"inputs": columns},
        "inputs (records)": {"inputs": records},
        "inputs (rows)": {"inputs": rows.to_numpy().tolist()},
    }
    config = _config(trained, log=fresh_log)
    with running(config) as (url, _), httpx.Client(base_url=url) as http:
        for name, body in bodies.items():
            got = http.post("/invocations", json=body)
            assert got.status_code == 200, (name, got.text)
            assert [p["probability"] for p in got.json()["predictions"]] == expected, name
            assert got.headers["x-stacks-model-version"] == "1"
        csv = http.post(
            "/invocations", content=rows.to_csv(index=False), headers={"content-type": "text/csv"}
        )
        assert [p["probability"] for p in csv.json()["predictions"]] == expected
        routed = http.post("/serving-endpoints/churn_model/invocations", json=bodies["instances"])
        assert routed.status_code == 200
        # MLflow's own client, unchanged: a DataFrame (dataframe_split), a list (inputs), JSON.
        port = int(url.rsplit(":", 1)[1])
        client = ScoringServerClient("127.0.0.1", port)
        client.wait_server_ready(timeout=10)
        assert (
            json.loads(client.get_version())["endpoints"]["churn_model"]["champion"]["version"] == 1
        )
        for data in (rows, records, json.dumps({"dataframe_records": records})):
            answer = client.invoke(data).get_predictions()
            assert list(answer["probability"]) == expected
        assert http.get("/ping").status_code == 200 and http.get("/health").status_code == 200
        spec = http.get("/openapi.json").json()
        request = spec["paths"]["/serving-endpoints/churn_model/invocations"]["post"]
        props = request["requestBody"]["content"]["application/json"]["schema"]["properties"]
        assert props["dataframe_records"]["items"]["properties"]["tenure"]["anyOf"][0] == {
            "type": "integer"
        }
    logged = _logged(config)
    sent = 10 * (len(bodies) + 2 + 3)
    assert len(logged) == sent
    assert set(logged["status"]) == {200} and set(logged["arm"]) == {"champion"}
    assert logged["tenure"].dtype == "int64" and logged["probability"].notna().all()
    assert logged.groupby("request_id").size().eq(10).all()


def test_bad_requests_get_clear_errors_and_no_traces(
    trained: Project, rows: pd.DataFrame, fresh_log: LogConfig
) -> None:
    config = _config(trained, log=fresh_log, max_request_bytes=4_000)
    record = json.loads(rows.head(1).to_json(orient="records"))[0]
    with running(config) as (url, _), httpx.Client(base_url=url) as http:
        cases = [
            (
                {"dataframe_records": [{**record, "tenure": "ten"}]},
                400,
                "column 'tenure', row 0: expected an integer, got 'ten'",
            ),
            (
                {"dataframe_records": [{k: v for k, v in record.items() if k != "age"}]},
                400,
                "missing column 'age'",
            ),
            ({"dataframe_records": [{**record, "contract": 5}]}, 400, "column 'contract'"),
            ({"rows": [record]}, 400, "exactly one of dataframe_split"),
            ({"inputs": [record] * 200}, 413, "over the limit of 4000 bytes"),
        ]
        for body, status, message in cases:
            got = http.post("/invocations", json=body)
            assert got.status_code == status, got.text
            assert message in got.json()["message"]
            assert "Traceback" not in got.text and got.json()["request_id"]
        assert http.post("/invocations", content=b"{nope").status_code == 400
        assert (
            http.post(
                "/invocations", content=b"x", headers={"content-type": "text/plain"}
            ).status_code
            == 415
        )
        missing = http.post("/serving-endpoints/nope/invocations", json={"inputs": [record]})
        assert missing.status_code == 404 and "serving: churn_model" in missing.json()["message"]
        assert http.get("/invocations").status_code == 405
        metrics = http.get("/metrics").text
    assert 'stacks_request_errors_total{code="BAD_REQUEST",endpoint="churn_model"} 5.0' in metrics
    assert (
        'stacks_request_errors_total{code="REQUEST_TOO_LARGE",endpoint="churn_model"} 1.0'
        in metrics
    )
    logged = _logged(config)  # schema errors are logged as one row each; 413 never got that far
    assert sorted(logged["status"]) == [400] * 5 + [415]
    assert logged["error"].str.contains("tenure").any()


def test_hostile_requests_answer_4xx_not_500(
    trained: Project, rows: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16, items 1 and 3: what answered 500 (or was logged as an internal error) before."""
    import gzip
    import socket

    config = _config(trained, log=None, max_request_bytes=20_000)
    record = json.loads(rows.head(1).to_json(orient="records"))[0]
    plain = json.dumps({"dataframe_records": [record]}).encode()
    header = ",".join(record)
    values = ",".join(str(v) for v in record.values())
    json_type = {"content-type": "application/json"}
    with running(config) as (url, _), httpx.Client(base_url=url) as http:
        cases = [
            ({"dataframe_records": [{**record, "tenure": 2**63}]}, None, 400, "column 'tenure'"),
            (f"{header},tenure\n{values},3\n", "text/csv", 400, "names column 'tenure' twice"),
            (f"{header},\n{values},3\n", "text/csv", 400, "an empty column name"),
        ]
        for body, content_type, status, message in cases:
            if content_type is None:
                got = http.post("/invocations", json=body)
            else:
                got = http.post(
                    "/invocations", content=body, headers={"content-type": content_type}
                )
            assert got.status_code == status, got.text
            assert message in got.json()["message"]

        # gzip is decoded (and bounded); another encoding is refused, not misread.
        zipped = http.post(
            "/invocations",
            content=gzip.compress(plain),
            headers={**json_type, "content-encoding": "gzip"},
        )
        assert zipped.status_code == 200, zipped.text
        assert zipped.json() == http.post("/invocations", content=plain, headers=json_type).json()
        bomb = gzip.compress(b" " * 5_000_000)  # 5 KB that inflate to 5 MB
        got = http.post(
            "/invocations", content=bomb, headers={**json_type, "content-encoding": "gzip"}
        )
        assert got.status_code == 413, got.text
        got = http.post(
            "/invocations", content=plain, headers={**json_type, "content-encoding": "gzip"}
        )
        assert got.status_code == 400 and "not valid gzip" in got.json()["message"]
        got = http.post(
            "/invocations", content=plain, headers={**json_type, "content-encoding": "br"}
        )
        assert got.status_code == 415 and "content encoding 'br'" in got.json()["message"]

        # A request id is echoed only when it is short and plain; others are replaced.
        echoed = http.post(
            "/invocations", content=plain, headers={**json_type, "x-request-id": "abc-1.2:3"}
        )
        assert echoed.headers["x-request-id"] == "abc-1.2:3"
        for bad in ("x" * 129, "a b", "<script>"):
            got = http.post(
                "/invocations", content=plain, headers={**json_type, "x-request-id": bad}
            )
            assert got.status_code == 200
            assert len(got.headers["x-request-id"]) == 32 and got.headers["x-request-id"] != bad

        # A client that leaves mid-body is no internal error.
        host, port = url.removeprefix("http://").split(":")
        caplog.clear()
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(
                b"POST /invocations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b'content-length: 1000\r\n\r\n{"inputs": '
            )
            time.sleep(0.2)
        time.sleep(0.5)
        assert http.get("/ping").status_code == 200
        metrics = http.get("/metrics").text
    assert "internal error" not in caplog.text and "Traceback" not in caplog.text
    assert 'code="CLIENT_CLOSED_REQUEST"' in metrics


def test_slow_and_greedy_clients_are_bounded(trained: Project) -> None:
    """Issue 16, items 1 and 2: silent connections, slow headers and bodies are closed with a
    408, oversized headers get 431, and past the connection cap requests get 503, not a hang;
    `/ping` answers throughout."""
    import socket

    from lakestacks.spec.deployment import ServingLimits

    limits = ServingLimits(
        header_seconds=1.0, body_seconds=1.0, max_header_bytes=4096, max_connections=6
    )
    config = _config(trained, log=None, limits=limits)

    def read_all(sock: socket.socket) -> bytes:
        sock.settimeout(10)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)

    with running(config) as (url, _), httpx.Client(base_url=url) as http:
        host, port = url.removeprefix("http://").split(":")
        address = (host, int(port))
        silent = socket.create_connection(address)
        slow_headers = socket.create_connection(address)
        slow_headers.sendall(b"POST /invocations HTTP/1.1\r\nhost: x\r\n")
        slow_body = socket.create_connection(address)
        slow_body.sendall(
            b"POST /invocations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b'content-length: 1000\r\n\r\n{"inputs": '
        )
        assert http.get("/ping").status_code == 200
        for sock in (silent, slow_headers, slow_body):
            answer = read_all(sock)  # the server closes it: recv returns b"" at the end
            assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
            sock.close()

        big = http.get("/ping", headers={"x-padding": "x" * 5000})
        assert big.status_code == 431 and big.json()["error_code"] == "HEADERS_TOO_LARGE"

        held = [socket.create_connection(address) for _ in range(6)]
        try:
            time.sleep(0.2)
            with httpx.Client(base_url=url) as fresh:
                assert fresh.get("/ping").status_code == 503
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.3)
        assert http.get("/ping").status_code == 200


def test_tls_without_a_proxy(trained: Project, tmp_path: Path) -> None:
    """Issue 16, item 5: `stacks serve --ssl-certfile/--ssl-keyfile` serves HTTPS itself."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    config = _config(trained, log=None, tls=(str(cert), str(key)))
    with running(config) as (url, _):
        assert url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=url, verify=trust) as https:
            assert https.get("/ping").status_code == 200
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port gets no answer
            httpx.get(url.replace("https://", "http://") + "/ping", timeout=5)
    bad = subprocess.run(
        [STACKS, "serve", "-s", str(trained.path), "--port", "0",
         "--ssl-certfile", str(cert), "--ssl-keyfile", str(cert)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "matching private key" in bad.stderr, bad.stderr


def test_tokens_scopes_and_rate_limits(trained: Project, rows: pd.DataFrame) -> None:
    secret, scoped = "a-token-for-the-ci-job", "a-token-for-another-model"
    tokens = (
        TokenConfig("ci", bytes.fromhex(hash_token(secret)), None, 3.0),
        TokenConfig("other", bytes.fromhex(hash_token(scoped)), frozenset({"fraud_model"}), None),
    )
    config = _config(trained, tokens=tokens, log=None)
    body = {"dataframe_records": json.loads(rows.head(1).to_json(orient="records"))}
    with running(config) as (url, _), httpx.Client(base_url=url) as http:
        assert http.post("/invocations", json=body).status_code == 401
        bad = http.post(
            "/invocations", json=body, headers={"authorization": "Bearer wrong-token-xxxxx"}
        )
        assert bad.status_code == 401 and bad.json()["error_code"] == "UNAUTHENTICATED"
        forbidden = http.post(
            "/invocations", json=body, headers={"authorization": f"Bearer {scoped}"}
        )
        assert (
            forbidden.status_code == 403 and "may not call endpoint 'churn_model'" in forbidden.text
        )
        assert http.get("/metrics").status_code == 401 and http.get("/ping").status_code == 200
        assert http.post("/serving-endpoints/nope/invocations", json=body).status_code == 401
        auth = {"authorization": f"Bearer {secret}"}
        codes = [http.post("/invocations", json=body, headers=auth).status_code for _ in range(6)]
        assert codes[:3] == [200] * 3 and 429 in codes[3:]
        limited = http.post("/invocations", json=body, headers=auth)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        time.sleep(0.7)  # the bucket refills at 3 a second
        assert http.post("/invocations", json=body, headers=auth).status_code == 200
        assert http.get("/version", headers=auth).status_code == 200
        # The OpenAPI document names endpoints and columns: behind the token too (issue 16.5).
        assert http.get("/openapi.json").status_code == 401
        assert http.get("/openapi.json", headers=auth).status_code == 200
    public = dataclasses.replace(config, public_openapi=True)
    with running(public) as (url, _), httpx.Client(base_url=url) as http:
        assert http.get("/openapi.json").status_code == 200
        assert http.get("/metrics").status_code == 401


def test_traffic_split_records_the_arm(
    trained: Project, rows: pd.DataFrame, fresh_log: LogConfig
) -> None:
    config = build_config(
        api.load_stack(trained.path),
        ["churn_model@champion=70", "churn_model@challenger=30"],
        port=0,
    )
    config = dataclasses.replace(config, log=fresh_log)
    body = {"dataframe_records": json.loads(rows.head(1).to_json(orient="records"))}
    seen: Counter[tuple[str, str]] = Counter()
    with running(config) as (url, _), httpx.Client(base_url=url) as http:
        for _ in range(600):
            got = http.post("/invocations", json=body)
            assert got.status_code == 200
            seen[(got.headers["x-stacks-arm"], got.headers["x-stacks-model-version"])] += 1
        served = http.get("/version").json()["endpoints"]["churn_model"]
    assert set(seen) == {("champion", "1"), ("challenger", "2")}
    share = seen[("challenger", "2")] / 600
    assert 0.23 <= share <= 0.37, share  # 30% +- 4 standard deviations
    assert served["challenger"]["requests"] == seen[("challenger", "2")]
    logged = _logged(config)
    by_arm = logged.groupby("arm")["model_version"].agg(["count", "max"])
    assert by_arm.loc["challenger", "count"] == seen[("challenger", "2")]
    assert by_arm.loc["champion", "max"] == 1 and by_arm.loc["challenger", "max"] == 2


def test_hot_swap_under_load_fails_no_request(
    trained: Project, rows: pd.DataFrame, fresh_log: LogConfig
) -> None:
    config = _config(trained, log=fresh_log)
    body = {"dataframe_records": json.loads(rows.head(3).to_json(orient="records"))}
    versions: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def load(url: str) -> None:
        with httpx.Client(base_url=url) as http:
            while not stop.is_set():
                got = http.post("/invocations", json=body)
                if got.status_code != 200:
                    failures.append(got.text)
                versions[got.headers.get("x-stacks-model-version", "?")] += 1

    try:
        with running(config) as (url, _):
            clients = [threading.Thread(target=load, args=(url,)) for _ in range(3)]
            for c in clients:
                c.start()
            time.sleep(1.0)
            registry.promote(MODEL, 2, expected_champion=1)
            deadline = time.monotonic() + 30
            while versions["2"] < 50 and time.monotonic() < deadline:
                time.sleep(0.1)
            stop.set()
            for c in clients:
                c.join()
            served = httpx.get(f"{url}/version").json()["endpoints"]["churn_model"]["champion"]
            metrics = httpx.get(f"{url}/metrics").text
    finally:
        stop.set()
        registry.rollback(MODEL)  # v1 is the champion again for the other tests
        registry.set_alias(MODEL, registry.CHALLENGER, 2)
    assert failures == []
    assert versions["1"] > 0 and versions["2"] >= 50, versions
    assert served["version"] == 2
    labels = f'arm="champion",endpoint="churn_model",model="{MODEL}"'
    assert f"stacks_model_version{{{labels}}} 2.0" in metrics
    logged = _logged(config)
    assert len(logged) == 3 * sum(versions.values())
    # Each version's rows are one stretch of time: the swap happened once, between requests.
    last_v1 = logged.loc[logged["model_version"] == 1, "timestamp"].max()
    assert (
        logged.loc[logged["model_version"] == 2, "timestamp"] >= last_v1 - pd.Timedelta("1s")
    ).all()


def test_full_queue_answers_503_and_loses_nothing(
    trained: Project, rows: pd.DataFrame, fresh_log: LogConfig
) -> None:
    log = dataclasses.replace(fresh_log, queue_rows=5, flush_rows=1_000, flush_seconds=60.0)
    config = _config(trained, log=log)
    body = {"dataframe_records": json.loads(rows.head(1).to_json(orient="records"))}
    with running(config) as (url, app), httpx.Client(base_url=url) as http:
        codes = [http.post("/invocations", json=body).status_code for _ in range(8)]
        full = http.post("/invocations", json=body)
        assert app.log is not None and app.log.rows_written == 0  # nothing flushed yet
    assert codes == [200] * 5 + [503] * 3
    assert full.status_code == 503 and full.headers["retry-after"] == "1"
    assert full.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert len(_logged(config)) == 5  # written at shutdown


def _start(project: Project, *args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [STACKS, "serve", "--stack", str(project.path), "--port", "0", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "STACKS_SERVE_TOKENS": ""},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(
            f"stacks serve did not start: {proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, json.loads(line)


def test_cli_graceful_shutdown_writes_every_request(trained: Project, rows: pd.DataFrame) -> None:
    """The stack's own serving section: the log is written only at shutdown (60 s flush)."""
    trained.set("deployment.serving.log", {"flush_seconds": 60, "flush_rows": 100_000})
    table = trained.lake / "main/churn/inference_log"
    before = len(read_table(str(table)).to_pandas()) if table_exists(str(table)) else 0
    proc, ready = _start(trained, "--graceful-timeout", "4")
    try:
        assert (
            ready["event"] == "ready"
            and ready["endpoints"]["churn_model"]["champion"]["version"] == 1
        )
        records = json.loads(rows.to_json(orient="records"))
        sent = 0

        def send(n: int) -> None:
            nonlocal sent
            with httpx.Client(base_url=ready["url"]) as http:
                for i in range(n):
                    got = http.post("/invocations", json={"dataframe_records": [records[i % 10]]})
                    assert got.status_code == 200
                    sent += 1

        workers = [threading.Thread(target=send, args=(50,)) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        # An upload that stalls halfway must not hold the shutdown (issue 16, item 2).
        host, port = ready["url"].removeprefix("http://").split(":")
        stalled = socket.create_connection((host, int(port)))
        stalled.sendall(
            b"POST /invocations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b'content-length: 5000\r\n\r\n{"inputs": '
        )
        time.sleep(0.3)
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - stopping
        stalled.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took < 15, f"shutdown took {took:.1f} s with --graceful-timeout 4"
    assert proc.returncode == 0, err
    assert err == "" and "Traceback" not in out
    summary = json.loads(out)
    assert summary["event"] == "stopped" and summary["inference_log"]["rows_written"] == sent == 200
    assert len(read_table(str(table)).to_pandas()) == before + 200


def _load_then_kill(
    project: Project, records: list[dict[str, Any]], seconds: float
) -> tuple[dict[str, float], float]:
    """Serve, score from 4 loopback clients for ``seconds``, SIGKILL the server mid-load.
    Returns each answered request id with when it was answered, and when the kill came."""
    proc, ready = _start(project)
    answered: dict[str, float] = {}
    stop = threading.Event()

    def client(k: int) -> None:
        with httpx.Client(base_url=ready["url"]) as http:
            i = 0
            while not stop.is_set():
                rid = f"c{k}-{i}"
                try:
                    got = http.post(
                        "/invocations",
                        json={"dataframe_records": [records[i % len(records)]]},
                        headers={"x-request-id": rid},
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                if got.status_code == 200:
                    answered[rid] = time.monotonic()
                i += 1

    clients = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    try:
        for c in clients:
            c.start()
        time.sleep(seconds)
        killed = time.monotonic()
        proc.kill()
        proc.wait(30)
    finally:
        stop.set()
        for c in clients:
            c.join(30)
        if proc.poll() is None:
            proc.kill()
    return answered, killed


def _logged_ids(table: Path) -> set[str]:
    return (
        set(read_table(str(table)).to_pandas()["request_id"]) if table_exists(str(table)) else set()
    )


@pytest.mark.parametrize("durability", ["wal", "buffered"])
def test_sigkill_under_load_loses_what_the_readme_says(
    trained: Project, rows: pd.DataFrame, durability: str
) -> None:
    """Issue 16, item 6. wal: every answered request is in the table once a server starts
    again. buffered: only what was answered in the last flush_seconds may be lost."""
    flush = 0.5
    trained.set(
        "deployment.serving.log",
        {"flush_seconds": flush, "flush_rows": 100_000, "durability": durability},
    )
    table = trained.lake / "main/churn/inference_log"
    records = json.loads(rows.to_json(orient="records"))
    answered, killed = _load_then_kill(trained, records, 3.0)
    assert len(answered) > 50
    if durability == "wal":
        assert answered.keys() - _logged_ids(table)  # the kill did cut rows off the table...
        proc, ready = _start(trained)  # ...and the next server writes them first
        assert ready["recovered_rows"] > 0
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        lost = answered.keys() - _logged_ids(table)
        assert lost == set(), f"{len(lost)} of {len(answered)} answered requests lost"
    else:
        # The README's promise for buffered: rows answered more than flush_seconds before the
        # crash are in the table (1 s for the write itself, on a loaded 2-core machine).
        old = {rid for rid, at in answered.items() if at < killed - flush - 1.0}
        assert old and old <= _logged_ids(table)
    trained.set("deployment.serving.log", {"flush_seconds": 60, "flush_rows": 100_000})


def test_cli_errors_are_one_line(trained: Project) -> None:
    done = subprocess.run(
        [STACKS, "serve", "--stack", str(trained.path), "--model", "nope_model", "--port", "0"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: no registered model 'main.churn.nope_model'")
    assert "models: main.churn.churn_model" in line
    split = subprocess.run(
        [STACKS, "serve", "-s", str(trained.path), "-m", "churn_model@champion=90",
         "-m", "churn_model@challenger=20"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert split.returncode == 2 and "add up to 100" in split.stderr
    hashed = subprocess.run(
        [STACKS, "serve", "--hash-token"], input="a-token-for-the-ci-job\n",
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert hashed.stdout.strip() == hash_token("a-token-for-the-ci-job")


_BUILD_AND_LIST_IMPORTS = """
import json, sys
from lakestacks import api
from lakestacks.serving import build_config
from lakestacks.serving.server import build
app = build(build_config(api.load_stack(sys.argv[1]), port=0))
arms = app.describe()["endpoints"]["churn_model"]
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "lightning", "mlflow", "pandas"})
print(json.dumps({"runtime": {a: v["runtime"] for a, v in arms.items()}, "heavy": heavy}))
"""


def test_the_builtin_model_is_served_by_numpy_without_torch_or_mlflow(trained: Project) -> None:
    """Issue 16, item 7: importing torch and MLflow made a server ready in 5-7 s at ~600 MB;
    the built-in MLP's numpy bundle, found through the SQLite registry, needs neither."""
    done = subprocess.run(
        [sys.executable, "-c", _BUILD_AND_LIST_IMPORTS, str(trained.path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    loaded = json.loads(done.stdout)
    assert loaded == {"runtime": {"champion": "numpy"}, "heavy": []}, done.stderr


def test_a_version_without_a_usable_bundle_is_served_by_its_pyfunc(
    trained: Project, rows: pd.DataFrame, fresh_log: LogConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged bundle costs speed, never an answer: MLflow's pyfunc serves the version."""
    files = registry_reader(trained).model_files(MODEL, 2)
    assert files is not None
    weights = files.artifacts[registry.PORTABLE] / "weights.npz"
    expected = registry.load_model(MODEL, 2).predict(rows)["probability"].tolist()
    config = _config(trained, log=fresh_log, endpoints=build_config(
        api.load_stack(trained.path), ["churn_model/2"], port=0).endpoints)  # fmt: skip
    saved = weights.read_bytes()
    weights.write_bytes(b"damaged")
    try:
        with running(config) as (url, app), httpx.Client(base_url=url) as http:
            got = http.post("/invocations", json={"dataframe_records": rows.to_dict("records")})
            runtime = app.describe()["endpoints"]["churn_model"]["v2"]["runtime"]
    finally:
        weights.write_bytes(saved)
    assert got.status_code == 200, got.text
    assert [p["probability"] for p in got.json()["predictions"]] == expected  # the pyfunc's own
    assert runtime == "pyfunc"
    assert "numpy bundle did not load" in caplog.text


def registry_reader(project: Project) -> Any:
    from lakestacks.registry.sqlite_reader import open_reader

    reader = open_reader(api.load_stack(project.path).runtime.tracking_uri)
    assert reader is not None
    return reader


def test_the_signature_marks_optional_exactly_the_columns_with_nulls_in_train(
    trained: Project,
) -> None:
    """Issue 16, item 4: optional in the signature (MLflow's own, and ours) means imputed by
    design; every other column is required."""
    model = registry.load_model(MODEL, 1)
    customers = read_table(str(trained.lake / "main/churn/customers"))
    train = customers.filter(pc.equal(customers[SPLIT_COLUMN], "train"))
    with_nulls = {c for c in model.columns if train[c].null_count}
    assert with_nulls == {"monthly_charges", "total_charges", "payment_method"}
    signature = model.pyfunc.metadata.get_input_schema()  # as MLflow's loader reads it
    assert {s.name for s in signature.inputs if not s.required} == with_nulls
    assert {f.name for f in model.input_schema if f.nullable} == with_nulls
    assert registry.refuses_nulls(model)


def test_a_null_in_a_required_column_is_400_and_one_in_an_optional_column_scores(
    trained: Project, rows: pd.DataFrame, fresh_log: LogConfig
) -> None:
    """Issue 16, item 4: an all-null row was scored (means imputed) as probability null."""
    config = _config(trained, log=fresh_log)
    records = json.loads(rows.head(4).to_json(orient="records"))
    needs = "null, but the model needs a value (it had none missing in training)"
    # Optional columns null, or left out altogether: imputed as in training.
    optional = [
        {k: v for k, v in r.items() if k != "total_charges"}
        | {"monthly_charges": None, "payment_method": None}
        for r in records
    ]
    with running(config) as (url, _), httpx.Client(base_url=url) as http:
        got = http.post("/invocations", json={"dataframe_records": [dict.fromkeys(records[0])]})
        assert got.status_code == 400, got.text
        assert got.json()["message"] == f"column 'tenure', row 0: {needs}"
        late = [*records[:3], {**records[3], "age": None}]
        got = http.post("/invocations", json={"dataframe_records": late})
        assert got.status_code == 400 and got.json()["message"] == f"column 'age', row 3: {needs}"
        csv = rows.head(2).astype({"tenure": "object"})
        csv.loc[1, "tenure"] = None  # an empty field
        got = http.post(
            "/invocations", content=csv.to_csv(index=False), headers={"content-type": "text/csv"}
        )
        assert got.status_code == 400 and f"column 'tenure', row 1: {needs}" in got.text
        text = rows.head(2).astype({"contract": "object"})
        text.loc[0, "contract"] = None  # an empty string field is missing too, as in MLflow
        got = http.post(
            "/invocations", content=text.to_csv(index=False), headers={"content-type": "text/csv"}
        )
        assert got.status_code == 400 and f"column 'contract', row 0: {needs}" in got.text
        scored = http.post("/invocations", json={"dataframe_records": optional})
        assert scored.status_code == 200, scored.text
    answers = [p["probability"] for p in scored.json()["predictions"]]
    assert None not in answers
    # MLflow's own loader agrees: it drops the absent optional column, the encoder imputes it.
    frame = pd.DataFrame(optional).astype({"monthly_charges": "float64"})
    expected = registry.load_model(MODEL, 1).pyfunc.predict(frame)["probability"].tolist()
    assert answers == pytest.approx(expected, abs=1e-6)
    logged = _logged(config)
    assert sorted(logged["status"]) == [200] * 4 + [400] * 4


def _with_nulls(table: Any, column: str, rows: list[int]) -> Any:
    import numpy as np
    import pyarrow as pa

    mask = np.zeros(table.num_rows, dtype=bool)
    mask[rows] = True
    values = table[column]
    nulled = pc.if_else(pa.array(mask), pa.nulls(table.num_rows, values.type), values)
    return table.set_column(table.schema.get_field_index(column), column, nulled)


def test_batch_inference_scores_imputes_and_refuses_by_the_signature(trained: Project) -> None:
    """Issue 16, item 4: batch inference follows serving's rule and counts what it did."""
    import pyarrow.parquet as pq

    from lakestacks.data.tables import write_table

    data = read_table(str(trained.lake / "main/churn/customers")).slice(0, 200)
    data = _with_nulls(data, "tenure", [0, 1, 2, 3, 4])
    data = _with_nulls(data, "age", [3, 7])
    data = _with_nulls(data, "monthly_charges", list(range(10, 20)))
    write_table(str(trained.lake / "main/churn/batch_nulls"), data)
    pq.write_table(data, trained.root / "batch_nulls.parquet")  # a table of the stack's own
    refused = {0, 1, 2, 3, 4, 7}
    kept = [i for i in range(200) if i not in refused]
    optional = ["monthly_charges", "total_charges", "payment_method"]
    missing = data.to_pandas().loc[kept, optional].isna()
    before = json.loads(json.dumps(trained.doc["data"]))
    sources = {**before["sources"], "batch_nulls": {"path": "batch_nulls.parquet"}}
    trained.set("data", {**before, "sources": sources})
    trained.set("data.split.table", "customers")
    trained.set("deployment.batch", {"input": "batch_nulls", "output": "scored_nulls"})
    try:
        out = trained.run("batch_inference")
    finally:
        trained.set("deployment.batch", {"input": "customers", "output": "predictions"})
        trained.set("data", before)
    assert out.exit_code == 0, out.message
    b = out.batch
    assert b is not None and b.version == 1
    assert (b.rows, b.scored, b.refused) == (200, 194, 6)
    assert b.refused_values == {"tenure": 5, "age": 2}
    assert b.imputed_values == {c: int(n) for c, n in missing.sum().items() if n}
    assert b.imputed_values["monthly_charges"] >= 10
    assert b.imputed == int(missing.any(axis=1).sum())
    lines = [line for line in out.summaries["batch_inference"] if isinstance(line, str)]
    assert "(200 rows, 194 scored)" in lines[0]
    assert lines[1].startswith(f"batch: {b.imputed} scored row(s) had missing values imputed")
    assert "monthly_charges" in lines[1]
    assert lines[2].startswith("batch: 6 row(s) refused") and "tenure 5, age 2" in lines[2]
    written = read_table(str(trained.lake / "main/churn/scored_nulls")).to_pandas()
    assert set(written.index[written["probability"].isna()]) == refused
    assert set(written.index[written["prediction"].isna()]) == refused
    assert written.loc[3, "refused"] == "null in required column(s) tenure, age"
    assert written.loc[7, "refused"] == "null in required column(s) age"
    assert written.loc[kept, "refused"].isna().all()


CORPUS = Path(__file__).parents[1] / "serving_corpus" / "hostile.jsonl"
_DEFAULTS = {
    "host": "127.0.0.1",
    "authorization": "Bearer {TOKEN}",
    "content-type": "application/json",
    "connection": "close",
}


def _raw_request(entry: dict[str, Any], fill: dict[str, str]) -> bytes:
    """One corpus entry as the bytes a client sends (see tests/serving_corpus/README.md)."""
    import base64
    import gzip

    def expand(text: str) -> str:
        for key, (piece, times) in entry.get("repeat", {}).items():
            text = text.replace(key, piece * times)
        for key, value in fill.items():
            text = text.replace("{" + key + "}", value)
        return text

    def encode(text: str) -> bytes:
        return expand(text).encode("utf-8", "surrogateescape")

    if "raw" in entry:
        return encode(entry["raw"])
    body = (
        base64.b64decode(entry["body_b64"])
        if "body_b64" in entry
        else encode(entry.get("body", ""))
    )
    if entry.get("mangle_csv"):
        body += b"\xff\xfe,\xfd\n"
    if entry.get("gzip"):
        body = gzip.compress(body, mtime=0)
    if "chunked" in entry:
        data = encode(entry["chunked"])
        body = b"".join(
            b"%x\r\n%s\r\n" % (len(data[i : i + 7]), data[i : i + 7])
            for i in range(0, len(data), 7)
        )
        body += b"0\r\n\r\n"
    given = [(name, value) for name, value in entry.get("headers", [])]
    named = {name.lower() for name, _ in given}
    headers = [(k, v) for k, v in _DEFAULTS.items() if k not in named]
    headers += [(name, value) for name, value in given if value is not None]
    if entry.get("length", "auto") == "auto" and "transfer-encoding" not in named:
        headers.append(("content-length", str(len(body))))
    lines = [f"{entry['method']} {entry['target']} {entry.get('version', 'HTTP/1.1')}"]
    lines += [name if value == "__NOCOLON__" else f"{name}: {value}" for name, value in headers]
    head = encode("\r\n".join(lines) + "\r\n\r\n")
    request = head + body
    if entry.get("pipelined"):
        request = head.replace(b"connection: close", b"connection: keep-alive") + body + request
    return request


def _exchange(address: tuple[str, int], request: bytes) -> bytes:
    """Send raw bytes; read until the server closes (or 15 s pass)."""
    with socket.create_connection(address, timeout=15) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass  # the server may answer (413, 431) and close before reading it all
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def test_hostile_corpus_gives_no_500_no_trace_no_secret(
    trained: Project, rows: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16, acceptance: every request of tests/serving_corpus/hostile.jsonl, sent as raw
    bytes to a server with auth on, is answered without a 5xx, a traceback or the token, and
    `/ping` answers after each; nothing is logged as an internal error."""
    import logging
    import re

    from lakestacks.spec.deployment import ServingLimits

    entries = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    assert len(entries) >= 100 and len({e["name"] for e in entries}) == len(entries)
    secret = "corpus-secret-token-0123456789"  # noqa: S105 - a test token
    tokens = (TokenConfig("ci", bytes.fromhex(hash_token(secret)), None, None),)
    limits = ServingLimits(header_seconds=2.0, body_seconds=2.0, max_header_bytes=16_384)
    config = _config(trained, tokens=tokens, log=None, limits=limits, max_request_bytes=1_000_000)
    record = json.loads(rows.head(1).to_json(orient="records"))[0]
    fill = {
        "TOKEN": secret,
        "RECORD": json.dumps(record),
        "CSV_HEADER": ",".join(record),
        "CSV_ROW": ",".join(str(v) for v in record.values()),
    }
    statuses = re.compile(rb"HTTP/1\.[01] (\d{3})")
    failures: list[str] = []
    caplog.set_level(logging.WARNING)
    with running(config) as (url, _), httpx.Client(base_url=url) as http:
        uvicorn_log = logging.getLogger("uvicorn.error")
        uvicorn_log.addHandler(caplog.handler)  # uvicorn's loggers do not propagate to root
        try:
            host, port = url.removeprefix("http://").split(":")
            for entry in entries:
                answer = _exchange((host, int(port)), _raw_request(entry, fill))
                codes = [int(c) for c in statuses.findall(answer)]
                expect = entry.get("expect", "any")
                why = f"{entry['name']}: {answer[:200]!r}"
                if any(code >= 500 for code in codes):
                    failures.append(f"5xx: {why}")
                elif b"Traceback" in answer or secret.encode() in answer:
                    failures.append(f"trace or secret: {why}")
                elif expect != "any" and not (
                    codes and str(codes[-1]).startswith(expect.rstrip("x"))
                ):
                    failures.append(f"expected {expect}: {why}")
                if http.get("/ping").status_code != 200:
                    failures.append(f"/ping failed after {entry['name']}")
        finally:
            uvicorn_log.removeHandler(caplog.handler)
    assert failures == [], "\n".join(failures)
    assert "internal error" not in caplog.text and "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_the_api_against_its_own_openapi_document(
    trained: Project, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16, item 3: schemathesis generates requests from the served OpenAPI document, valid
    and invalid for it (bounded, derandomized); none is answered 5xx, with a trace or the token."""
    import logging
    import tempfile

    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "lakestacks-hypothesis")  # not the repo
    secret = "schemathesis-secret-token-0123"  # noqa: S105 - a test token
    tokens = (TokenConfig("ci", bytes.fromhex(hash_token(secret)), None, None),)
    config = _config(trained, tokens=tokens, log=None)
    auth = {"authorization": f"Bearer {secret}"}
    seen: Counter[str] = Counter()
    caplog.set_level(logging.WARNING)
    with running(config) as (url, _):
        document = httpx.get(f"{url}/openapi.json", headers=auth).json()
        schema = schemathesis.openapi.from_dict(document)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 6

        for operation in operations:
            modes = list(schemathesis.GenerationMode)  # valid for the document, and invalid
            if operation.method.upper() == "GET":
                modes = modes[:1]  # no parameters and no body: nothing to make invalid
            for mode in modes:

                @settings(
                    max_examples=100 if operation.method.upper() == "POST" else 10,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def check(case: schemathesis.Case) -> None:
                    answer = case.call(base_url=url, headers=auth, timeout=30)
                    seen[f"{case.method} {answer.status_code}"] += 1
                    where = f"{case.method} {case.path} {case.media_type}: {answer.text[:300]}"
                    assert answer.status_code < 500, where
                    assert "Traceback" not in answer.text and secret not in answer.text, where

                check()
        assert httpx.get(f"{url}/ping").status_code == 200
    assert seen["POST 400"] > 0, seen  # it reached the parser
    assert "internal error" not in caplog.text and "Traceback" not in caplog.text
