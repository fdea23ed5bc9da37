"""The artifact store on a real S3 API: moto's server on loopback, reached through s3fs.

The endpoint is set the standard AWS way, `AWS_ENDPOINT_URL_S3`, with credentials in
`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`: exactly what a user sets for MinIO, R2 or any
other S3-compatible server. Requests are counted from the server's own request log.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run
from meshkit.errors import MeshError
from meshkit.store.maintenance import prune, verify
from meshkit.store.publish import publish_artifacts
from meshkit.store.store import Store
from test_store import WIDE, analytics_artifacts, at, stage_target  # noqa: F401 (a fixture)

boto3 = pytest.importorskip("boto3")
pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

BUCKET = "meshkit-test"
_LOG_LINE = re.compile(r'"(GET|PUT|HEAD|DELETE|POST) (\S+) HTTP')


class S3:
    """A moto server on 127.0.0.1 and the requests it has served."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.requests: list[tuple[str, str]] = []
        self.client = boto3.client("s3", endpoint_url=endpoint)

    def url(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix}"

    def gets(self, suffix: str) -> int:
        return sum(1 for method, path in self.requests if method == "GET" and
                   path.split("?")[0].endswith(suffix))

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


class _RequestLog(logging.Handler):
    def __init__(self, s3: S3) -> None:
        super().__init__(logging.INFO)
        self.s3 = s3

    def emit(self, record: logging.LogRecord) -> None:
        match = _LOG_LINE.search(record.getMessage())
        if match:
            self.s3.requests.append((match.group(1), match.group(2)))


@pytest.fixture(scope="module")
def s3_server():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
                            "AWS_ACCESS_KEY_ID": "meshkit", "AWS_SECRET_ACCESS_KEY": "meshkit",
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
        s3 = S3(f"http://{host}:{port}")
        s3.client.create_bucket(Bucket=BUCKET)
        handler = _RequestLog(s3)
        werkzeug = logging.getLogger("werkzeug")
        werkzeug.addHandler(handler)
        werkzeug.setLevel(logging.INFO)
        try:
            yield s3
        finally:
            werkzeug.removeHandler(handler)
            server.stop()


@pytest.fixture
def s3(s3_server, request):
    s3_server.requests.clear()
    s3_server.prefix = re.sub(r"\W", "-", request.node.name)
    return s3_server


def test_publish_resolve_and_cache_hit(s3, tmp_path, analytics_artifacts):
    url = s3.url(f"{s3.prefix}/mesh")
    record = publish_artifacts(Store(url, cache_dir=tmp_path / "publisher"), analytics_artifacts, "prod")
    keys = s3.keys(f"{s3.prefix}/mesh/analytics/prod/")
    assert f"{s3.prefix}/mesh/analytics/prod/latest.json" in keys
    assert f"{s3.prefix}/mesh/analytics/prod/runs/{record.run_id}/meshkit-run.json" in keys
    assert f"{s3.prefix}/mesh/analytics/prod/runs/{record.run_id}/manifest.json" in keys

    s3.requests.clear()
    consumer = Store(url, cache_dir=tmp_path / "consumer")
    found, interface = consumer.interface("analytics", "prod")
    assert found.run_id == record.run_id
    assert {(m.name, m.version) for m in interface.models} == {("fct_orders", "1"), ("fct_orders", "2")}
    assert consumer.downloads == 2, "the run's record and its interface"
    assert s3.gets("/interface.json") == 1

    again = Store(url, cache_dir=tmp_path / "consumer")  # another process on the same machine
    assert again.interface("analytics", "prod")[0].run_id == record.run_id
    assert again.downloads == 0, "an unchanged upstream is never downloaded twice"
    assert s3.gets("/interface.json") == 1 and s3.gets("/latest.json") == 2
    assert (tmp_path / "consumer" / record.files["interface.json"].sha256[:2]
            / record.files["interface.json"].sha256).is_file()

    manifest = again.read(found, "manifest.json")
    assert manifest == (analytics_artifacts / "manifest.json").read_bytes()
    again.read(found, "manifest.json")
    assert again.downloads == 1 and s3.gets("/manifest.json") == 1
    assert consumer.projects() == ["analytics"] and consumer.environments("analytics") == ["prod"]


def test_cache_detects_a_changed_upstream(s3, tmp_path, analytics_artifacts):
    url = s3.url(f"{s3.prefix}/mesh")
    publisher = Store(url, cache_dir=tmp_path / "publisher")
    first = publish_artifacts(publisher, stage_target(analytics_artifacts, tmp_path / "a", at(1)), "prod")
    consumer = Store(url, cache_dir=tmp_path / "consumer")
    assert consumer.latest("analytics", "prod").run_id == first.run_id
    second = publish_artifacts(publisher, stage_target(analytics_artifacts, tmp_path / "b", at(2)), "prod")
    assert Store(url, cache_dir=tmp_path / "consumer").latest("analytics", "prod").run_id == second.run_id
    # A damaged object is caught on read, whatever the cache holds for other runs.
    key = f"{s3.prefix}/mesh/analytics/prod/runs/{second.run_id}/interface.json"
    s3.client.put_object(Bucket=BUCKET, Key=key, Body=b'{"project": "analytics"')
    with pytest.raises(MeshError) as caught:
        Store(url, cache_dir=tmp_path / "fresh").interface("analytics", "prod")
    text = str(caught.value)
    assert "interface.json of project 'analytics' in environment 'prod' is corrupt" in text
    assert f"{url}/analytics/prod/runs/{second.run_id}/interface.json" in text
    assert "meshkit store repair analytics --env prod" in text


def test_later_completion_wins_and_prune(s3, tmp_path, analytics_artifacts):
    url = s3.url(f"{s3.prefix}/mesh")
    store = Store(url, cache_dir=tmp_path / "cache")
    ids = {m: publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / f"t{m}", at(m)),
                                "prod").run_id for m in (3, 1, 4, 2)}
    assert store.latest("analytics", "prod").run_id == ids[4]
    assert [r.run_id for r in store.runs("analytics", "prod")] == [ids[1], ids[2], ids[3], ids[4]]
    [result] = prune(store, 2)
    assert result.deleted == [ids[1], ids[2]] and result.kept == [ids[3], ids[4]]
    runs = {k.split("/runs/")[1].split("/")[0]
            for k in s3.keys(f"{s3.prefix}/mesh/analytics/prod/runs/")}
    assert runs == {ids[3], ids[4]}
    assert Store(url, cache_dir=tmp_path / "other").interface("analytics", "prod")[0].run_id == ids[4]


def test_repair_on_s3_is_seen_by_other_machines(s3, tmp_path, analytics_artifacts):
    url = s3.url(f"{s3.prefix}/mesh")
    good = publish_artifacts(Store(url, cache_dir=tmp_path / "a"),
                             stage_target(analytics_artifacts, tmp_path / "g", at(1)), "prod")
    bad = publish_artifacts(Store(url, cache_dir=tmp_path / "a"),
                            stage_target(analytics_artifacts, tmp_path / "b", at(2)), "prod")
    other = Store(url, cache_dir=tmp_path / "other-machine")
    assert [r.run_id for r in other.runs("analytics", "prod")] == [good.run_id, bad.run_id]
    key = f"{s3.prefix}/mesh/analytics/prod/runs/{bad.run_id}/manifest.json"
    s3.client.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
    result = run(["meshkit", "store", "repair", "analytics", "--store", url], cwd=tmp_path, env=WIDE)
    assert f"latest now names run {good.run_id} (was {bad.run_id})" in result.stdout
    # The other machine cached the damaged run's record; it still stops counting that run.
    other = Store(url, cache_dir=tmp_path / "other-machine")
    assert [r.run_id for r in other.runs("analytics", "prod")] == [good.run_id]
    assert other.latest("analytics", "prod").run_id == good.run_id


_PUBLISHER = r"""
import sys, time, pathlib
from meshkit.errors import MeshError
from meshkit.store.publish import publish_artifacts
from meshkit.store.store import Store
url, target, start = sys.argv[1], pathlib.Path(sys.argv[2]), float(sys.argv[3])
store = Store(url)
store.latest("analytics", "prod")  # connect before the race starts
while time.time() < start:
    pass
print(publish_artifacts(store, target, "prod").run_id, flush=True)
"""


def test_concurrent_publishers_later_run_wins(s3, tmp_path, analytics_artifacts):
    """Object stores have no lock: the publisher whose pointer write lands last settles it on
    the run that completed later, whichever that is."""
    url = s3.url(f"{s3.prefix}/mesh")
    for round_ in range(4):
        early = stage_target(analytics_artifacts, tmp_path / f"r{round_}e", at(10 + 2 * round_))
        late = stage_target(analytics_artifacts, tmp_path / f"r{round_}l", at(11 + 2 * round_))
        start = time.time() + 1.5
        order = [early, late] if round_ % 2 else [late, early]
        procs = [subprocess.Popen([sys.executable, "-c", _PUBLISHER, url, str(t), str(start)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for t in order]
        outs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        ids = dict(zip(order, (o[0].strip() for o in outs)))
        store = Store(url, cache_dir=tmp_path / "cache")
        assert store.latest("analytics", "prod").run_id == ids[late], f"round {round_}"
        assert verify(store, store.latest("analytics", "prod")) == []


def test_publisher_whose_pointer_write_landed_last_settles_on_the_later_run(
        s3, tmp_path, analytics_artifacts):
    """The race the lock-free protocol must survive, set up step by step: the earlier run's
    publisher read the pointer before the later run's publisher moved it, and wrote its own
    pointer after. Its settle step (list complete runs after writing) hands the pointer back."""
    url = s3.url(f"{s3.prefix}/mesh")
    early_store = Store(url, cache_dir=tmp_path / "early")
    early = publish_artifacts(early_store, stage_target(analytics_artifacts, tmp_path / "e", at(1)),
                              "prod")
    late = publish_artifacts(Store(url, cache_dir=tmp_path / "late"),
                             stage_target(analytics_artifacts, tmp_path / "l", at(2)), "prod")
    assert Store(url).pointer("analytics", "prod").run_id == late.run_id
    early_store.write_pointer("analytics", "prod", early)  # the stale write lands last
    assert Store(url).pointer("analytics", "prod").run_id == early.run_id
    early_store._settle_pointer(early)  # what publish() does after writing
    assert Store(url).latest("analytics", "prod").run_id == late.run_id


@pytest.mark.e2e
def test_jaffle_mesh_on_s3(s3, jaffle_mesh, tmp_path):
    url = s3.url(f"{s3.prefix}/mesh")
    mesh_file = jaffle_mesh / "mesh.yml"
    text = mesh_file.read_text()
    assert "store: .meshkit/store" in text
    mesh_file.write_text(text.replace("store: .meshkit/store", f"store: {url}"))

    run(["meshkit", "build", "-q"], cwd=jaffle_mesh)
    assert not (jaffle_mesh / ".meshkit" / "store").exists()
    keys = s3.keys(f"{s3.prefix}/mesh/")
    assert f"{s3.prefix}/mesh/analytics/prod/latest.json" in keys
    assert f"{s3.prefix}/mesh/finance/prod/latest.json" in keys
    finance = jaffle_mesh / "finance"
    compiled = next((finance / "target" / "compiled").rglob("agg_customer_payment_journey.sql"))
    assert '"jaffle_da"."prod"."fct_orders_v2"' in compiled.read_text()

    listing = run(["meshkit", "store", "ls", "--latest"], cwd=jaffle_mesh, env=WIDE).stdout
    assert url in listing and "analytics" in listing and "finance" in listing
    shown = run(["meshkit", "store", "show", "analytics"], cwd=jaffle_mesh, env=WIDE).stdout
    assert '"jaffle_da"."prod"."fct_orders_v2"' in shown

    # Plain dbt in the consumer, twice, on a machine that has not cached anything yet: the
    # upstream's interface is downloaded by the first process only.
    cache = tmp_path / "consumer-cache"
    s3.requests.clear()
    for _ in range(2):
        result = run(["dbt", "compile", "-s", "agg_customer_payment_journey"], cwd=finance,
                     env={"MESHKIT_CACHE_DIR": str(cache)})
        assert '"jaffle_da"."prod"."fct_orders_v2"' in result.stdout
    assert s3.gets("/analytics/prod/latest.json") == 2, "each dbt invocation checks the pointer"
    assert s3.gets("/interface.json") == 1 and s3.gets("/meshkit-run.json") == 1
    cached = {p.name for p in (cache / "blobs").rglob("*") if p.is_file()}
    assert len(cached) == 2, cached

    pruned = run(["meshkit", "store", "prune", "--keep", "1"], cwd=jaffle_mesh, env=WIDE).stdout
    assert "deleted" in pruned
    after = json.loads(run(["meshkit", "store", "ls", "--json"], cwd=jaffle_mesh).stdout)
    assert all(len(e["runs"]) == 1 for e in after["environments"])
