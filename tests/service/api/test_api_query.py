"""Query API end to end: every filter, pagination (also under concurrent ingest), histogram,
services, idempotent resend, and parameter errors — over HTTP against the real pipeline."""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import ApiKeys, auth, fetch_all, wait_for


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ingest(client: TestClient, key: str, records: list[dict[str, Any]]) -> None:
    response = client.post("/v1/logs", json=records, headers=auth(key))
    assert response.status_code == 202, response.text


@dataclass(frozen=True)
class Dataset:
    """Known records of two fresh services, all stored before the tests run."""

    a: str
    b: str
    now: datetime
    records: list[dict[str, Any]]


@pytest.fixture(scope="module")
def dataset(api_client: TestClient, api_keys: ApiKeys, pipeline_consumer: None) -> Dataset:
    tag = uuid.uuid4().hex[:8]
    a, b = f"qa-{tag}", f"qb-{tag}"
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    levels = ["debug", "info", "warn", "error", "fatal"]
    records: list[dict[str, Any]] = []
    for i in range(40):
        records.append(
            {
                "id": f"{tag}-{i}",
                "service": a if i % 2 == 0 else b,
                "timestamp": _ts(now - timedelta(minutes=i)),
                "level": levels[i % 5],
                "message": f"request {i} finished" + (" payment declined by bank" if i % 10 == 3 else ""),
                "attributes": {"user": f"u{i % 3}", "http": {"status": 500 if i % 7 == 0 else 200}},
                "trace_id": "feed" if i in (5, 6) else None,
            }
        )
    old = {"id": f"{tag}-old", "service": a, "timestamp": _ts(now - timedelta(hours=3)),
           "message": "old record", "level": "info"}
    _ingest(api_client, api_keys.ingest, [*records, old])
    assert wait_for(
        lambda: len(fetch_all(api_client, api_keys.query,
                              [("service", a), ("service", b), ("since", "4h")])) == 41
    )
    return Dataset(a=a, b=b, now=now, records=records)


def _ids(client: TestClient, key: str, params: list[tuple[str, str]]) -> list[str]:
    return [item["id"] for item in fetch_all(client, key, params)]


def _expected(ds: Dataset, keep: Any) -> list[str]:
    return [r["id"] for r in ds.records if keep(r)]  # records are newest first


def test_default_window_is_last_hour_and_since_widens(
    api_client: TestClient, api_keys: ApiKeys, dataset: Dataset
) -> None:
    got = _ids(api_client, api_keys.query, [("service", dataset.a)])
    assert got == _expected(dataset, lambda r: r["service"] == dataset.a)
    got_4h = _ids(api_client, api_keys.query, [("service", dataset.a), ("since", "4h")])
    assert got_4h[-1].endswith("-old") and len(got_4h) == len(got) + 1
    rfc = _ids(api_client, api_keys.query, [
        ("service", dataset.a), ("since", _ts(dataset.now - timedelta(minutes=10))),
        ("until", _ts(dataset.now - timedelta(minutes=4))),
    ])
    # Half-open [since, until): the record exactly at `until` (i=4) is excluded, `since` (i=10) kept.
    assert rfc == [f"{dataset.records[0]['id'][:-2]}-{i}" for i in (6, 8, 10)]


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ([("level", "error")], lambda r: r["level"] == "error"),
        ([("level", "error"), ("level", "FATAL")], lambda r: r["level"] in ("error", "fatal")),
        ([("level", "warning,debug")], lambda r: r["level"] in ("warn", "debug")),
        ([("min_level", "warn")], lambda r: r["level"] in ("warn", "error", "fatal")),
        ([("q", "declined")], lambda r: "declined" in r["message"]),
        ([("q", '"payment declined"')], lambda r: "payment declined" in r["message"]),
        ([("q", '"declined payment"')], lambda r: False),
        ([("attr.user", "u1")], lambda r: r["attributes"]["user"] == "u1"),
        ([("attr.http.status", "500")], lambda r: r["attributes"]["http"]["status"] == 500),
        ([("attr.user", "u1"), ("attr.http.status", "500")],
         lambda r: r["attributes"]["user"] == "u1" and r["attributes"]["http"]["status"] == 500),
        ([("trace_id", "FEED")], lambda r: r["trace_id"] == "feed"),
        ([("min_level", "error"), ("q", "finished")], lambda r: r["level"] in ("error", "fatal")),
    ],
    ids=["level", "levels", "level-commas-aliases", "min_level", "q-word", "q-phrase",
         "q-phrase-order", "attr", "attr-nested", "attr-two", "trace_id", "combined"],
)
def test_filters(
    api_client: TestClient, api_keys: ApiKeys, dataset: Dataset,
    params: list[tuple[str, str]], keep: Any,
) -> None:
    base = [("service", dataset.a), ("service", dataset.b)]
    assert _ids(api_client, api_keys.query, base + params) == _expected(dataset, keep)


def test_service_filter_repeatable_and_comma(
    api_client: TestClient, api_keys: ApiKeys, dataset: Dataset
) -> None:
    both = _ids(api_client, api_keys.query, [("service", f"{dataset.a},{dataset.b}")])
    assert both == _expected(dataset, lambda r: True)
    only_b = _ids(api_client, api_keys.query, [("service", dataset.b)])
    assert only_b == _expected(dataset, lambda r: r["service"] == dataset.b)


def test_items_have_the_documented_shape(
    api_client: TestClient, api_keys: ApiKeys, dataset: Dataset
) -> None:
    response = api_client.get(
        "/v1/logs", params={"service": dataset.a, "limit": 1}, headers=auth(api_keys.query)
    )
    item = response.json()["items"][0]
    assert set(item) == {"id", "timestamp", "service", "level", "message", "attributes",
                         "trace_id", "span_id"}
    assert item["timestamp"] == _ts(dataset.now)


def test_pagination_asc_and_desc_no_gaps_no_duplicates(
    api_client: TestClient, api_keys: ApiKeys, dataset: Dataset
) -> None:
    base = [("service", dataset.a), ("service", dataset.b), ("limit", "7")]
    desc = _ids(api_client, api_keys.query, base)
    asc = _ids(api_client, api_keys.query, [*base, ("order", "asc")])
    assert desc == _expected(dataset, lambda r: True)
    assert asc == list(reversed(desc))
    first = api_client.get("/v1/logs", params=base, headers=auth(api_keys.query)).json()
    assert len(first["items"]) == 7 and first["next_cursor"]


def test_pagination_while_ingesting_concurrently(
    api_client: TestClient, api_keys: ApiKeys, pipeline_consumer: None
) -> None:
    service = f"pg-{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    original = [
        {"id": f"{service}-{i}", "service": service, "message": "orig",
         "timestamp": _ts(start + timedelta(seconds=i))}
        for i in range(300)
    ]
    _ingest(api_client, api_keys.ingest, original)
    window = [("service", service), ("since", _ts(start)),
              ("until", _ts(start + timedelta(minutes=10)))]
    assert wait_for(lambda: len(_ids(api_client, api_keys.query, window)) == 300)

    stop = threading.Event()
    rng = random.Random(7)

    def writer() -> None:  # new rows land everywhere in the paged range, including ties
        n = 0
        while not stop.is_set():
            batch = [
                {"id": f"{service}-new-{n}-{j}", "service": service, "message": "new",
                 "timestamp": _ts(start + timedelta(seconds=rng.randrange(0, 300)))}
                for j in range(20)
            ]
            n += 1
            _ingest(api_client, api_keys.ingest, batch)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for order in ("desc", "asc"):
            seen = _ids(api_client, api_keys.query, [*window, ("limit", "13"), ("order", order)])
            assert len(seen) == len(set(seen)), f"duplicates across pages ({order})"
            missing = {r["id"] for r in original} - set(seen)
            assert not missing, f"gaps across pages ({order}): {sorted(missing)[:5]}"
    finally:
        stop.set()
        thread.join()


def test_idempotent_resend_never_duplicates(
    api_client: TestClient, api_keys: ApiKeys, pipeline_consumer: None
) -> None:
    service = f"idem-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    batch = [{"id": f"{service}-{i}", "service": service, "message": f"m{i}", "timestamp": _ts(now)}
             for i in range(10)]
    for _ in range(3):
        _ingest(api_client, api_keys.ingest, batch)
    # A resend with the same id but other content is still the same record.
    _ingest(api_client, api_keys.ingest, [{**batch[0], "message": "changed"}])
    marker = {"service": service, "message": "marker", "timestamp": _ts(now - timedelta(seconds=1))}
    _ingest(api_client, api_keys.ingest, [marker])  # consumed after every resend above
    params = [("service", service), ("since", "5m")]
    assert wait_for(lambda: "marker" in {i["message"] for i in fetch_all(api_client, api_keys.query, params)})
    ids = _ids(api_client, api_keys.query, params)
    assert len(ids) == 11 and len(set(ids)) == 11


def test_histogram_buckets_and_levels(
    api_client: TestClient, api_keys: ApiKeys, dataset: Dataset
) -> None:
    params = [("service", dataset.a), ("service", dataset.b), ("interval", "10m"),
              ("since", _ts(dataset.now - timedelta(minutes=50))), ("until", _ts(dataset.now + timedelta(seconds=1)))]
    response = api_client.get("/v1/logs/histogram", params=params, headers=auth(api_keys.query))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["interval"] == "10m"
    assert sum(b["count"] for b in body["buckets"]) == 40
    totals: dict[str, int] = {}
    for bucket in body["buckets"]:
        assert sum(bucket["levels"].values()) == bucket["count"]
        for level, n in bucket["levels"].items():
            totals[level] = totals.get(level, 0) + n
    assert totals == {"debug": 8, "info": 8, "warn": 8, "error": 8, "fatal": 8}
    filtered = api_client.get(
        "/v1/logs/histogram", params=[*params, ("min_level", "error"), ("q", "finished")],
        headers=auth(api_keys.query),
    ).json()
    assert sum(b["count"] for b in filtered["buckets"]) == 16


def test_histogram_interval_chosen_automatically(
    api_client: TestClient, api_keys: ApiKeys, dataset: Dataset
) -> None:
    day = api_client.get("/v1/logs/histogram", params={"service": dataset.a, "since": "1d"},
                         headers=auth(api_keys.query)).json()
    hour = api_client.get("/v1/logs/histogram", params={"service": dataset.a},
                          headers=auth(api_keys.query)).json()
    assert day["interval"] == "15m" and hour["interval"] == "30s"
    assert sum(b["count"] for b in day["buckets"]) == 21


def test_services_with_counts(api_client: TestClient, api_keys: ApiKeys, dataset: Dataset) -> None:
    body = api_client.get("/v1/services", params={"since": "4h"}, headers=auth(api_keys.query)).json()
    counts = {s["service"]: s["count"] for s in body["services"]}
    assert counts[dataset.a] == 21 and counts[dataset.b] == 20
    recent = api_client.get("/v1/services", params={"since": "15m"}, headers=auth(api_keys.query)).json()
    recent_counts = {s["service"]: s["count"] for s in recent["services"]}
    assert recent_counts[dataset.a] == len([r for r in dataset.records[:15] if r["service"] == dataset.a])


@pytest.mark.parametrize(
    ("path", "params", "status", "named"),
    [
        ("/v1/logs", {"limit": "0"}, 422, "limit"),
        ("/v1/logs", {"limit": "1001"}, 422, "limit"),
        ("/v1/logs", {"limit": "ten"}, 422, "limit"),
        ("/v1/logs", {"order": "sideways"}, 422, "order"),
        ("/v1/logs", {"since": "yesterday"}, 422, "since"),
        ("/v1/logs", {"until": "2026-13-40T00:00:00Z"}, 422, "until"),
        ("/v1/logs", {"since": "1h", "until": "2h"}, 422, "since"),
        ("/v1/logs", {"level": "loud"}, 422, "level"),
        ("/v1/logs", {"min_level": "loud"}, 422, "min_level"),
        ("/v1/logs", {"service": "bad name"}, 422, "service"),
        ("/v1/logs", {"trace_id": "xyz"}, 422, "trace_id"),
        ("/v1/logs", {"attr.": "v"}, 422, "attr."),
        ("/v1/logs", {"services": "typo"}, 422, "services"),
        ("/v1/logs", {"cursor": "not-a-cursor"}, 400, "cursor"),
        ("/v1/logs", {"q": "x" * 2000}, 422, "q"),
        ("/v1/logs/histogram", {"interval": "1ms"}, 422, "interval"),
        ("/v1/logs/histogram", {"interval": "1s", "since": "7d"}, 422, "interval"),
        ("/v1/services", {"since": "99999999d"}, 422, "since"),
        ("/v1/services", {"level": "error"}, 422, "level"),
    ],
)
def test_bad_parameters_are_named(
    api_client: TestClient, api_keys: ApiKeys, path: str, params: dict[str, str], status: int, named: str
) -> None:
    response = api_client.get(path, params=params, headers=auth(api_keys.query))
    assert response.status_code == status, response.text
    body = response.json()
    assert named in body["message"]
    assert any(d.get("field") == named for d in body["details"])
