"""The client over real sockets against the sandbox: envelope, typed errors, retries, budget."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from jogg_flow.api import PostBudget
from jogg_flow.api.errors import (
    InvalidKey,
    NotFound,
    OutcomeUnknown,
    ParameterError,
    ServerError,
    TransportError,
)
from jogg_flow.api.open import OpenClient as Client
from jogg_flow.sandbox import Config, Fault, Sandbox

KEY = "jf-secret-key-7f3a9c1e55"


def client(sb: Sandbox, **kw) -> Client:
    kw.setdefault("retries", 3)
    return Client(sb.url, KEY, sleep=lambda s: None, **kw)


def product(c: Client) -> tuple[Any, str]:
    """A new product and its project: the open flow answers both at once."""
    product_id, project_id = c.create_product("https://shop.example/p/1")
    assert project_id is not None
    return product_id, project_id


def test_product_flow_round_trip():
    with Sandbox(Config(render_seconds=0.0)) as sb:
        c = client(sb)
        product_id, project_id = product(c)
        c.update_product(product_id, {"title": "T"})
        assert c.project_info(project_id).status == "idle"
        c.render(project_id, {"aspect_ratio": 1, "render_subtitle": 0})
        info = c.project_info(project_id)
        assert info.status == "succeeded" and info.duration == 3
        assert info.video_url is not None and info.video_url.endswith(".mp4")
        assert sb.backend.products[product_id]["title"] == "T"
        assert sb.backend.projects[project_id]["settings"]["aspect_ratio"] == 1
        assert c.headers["User-Agent"].startswith("jogg-flow/")


@pytest.mark.parametrize("http_status", [200, 401])
def test_wrong_key_raises_typed_error_without_the_key(http_status):
    with Sandbox(Config(api_keys=frozenset({"other"}), auth_http_status=http_status)) as sb:
        c = client(sb)
        with pytest.raises(InvalidKey) as err:
            c.create_product("https://shop.example/p/1")
        text = str(err.value) + repr(err.value) + repr(c)
        assert "10105" in text and KEY not in text
        assert err.value.rid and len(err.value.rid) == 32


def test_parameter_error_and_not_found_are_permanent():
    with Sandbox() as sb:
        c = client(sb)
        _, project_id = product(c)
        with pytest.raises(ParameterError, match="40000.*aspect_ratio"):
            c.render(project_id, {"aspect_ratio": 9})
        with pytest.raises(NotFound):
            c.project_info("0" * 32)
        assert sb.stats()["requests"]["POST /open/project/render"] == 1  # not retried


def test_transient_get_errors_are_retried():
    faults = [Fault("http_500", "GET *"), Fault("html_502", "GET *", skip=1),
              Fault("reset_before", "GET *", skip=2)]
    with Sandbox(Config(faults=faults)) as sb:
        retries = []
        c = client(sb, on_retry=lambda route, err, delay: retries.append(type(err).__name__))
        _, project_id = product(c)
        assert c.project_info(project_id).status == "idle"
        assert retries == ["ServerError", "ServerError", "TransportError"]


def test_gets_give_up_after_the_retry_limit():
    with Sandbox(Config(faults=[Fault("http_500", "GET *", times=0)])) as sb:
        with pytest.raises(ServerError, match="50000"):
            client(sb, retries=2).project_info("x")
        assert sb.stats()["requests"]["GET /open/prj_info"] == 3


@pytest.mark.parametrize("kind", ["drop_after_commit", "malformed", "http_500", "slow"])
def test_post_with_unknown_outcome_is_not_retried(kind):
    with Sandbox(Config(faults=[Fault(kind, "POST /open/project/render")], slow_seconds=1.0)) as sb:
        c = client(sb, timeout=(1.0, 0.3))
        _, project_id = product(c)
        with pytest.raises(OutcomeUnknown):
            c.render(project_id, {})
        assert sb.stats()["requests"]["POST /open/project/render"] == 1


def test_429_is_retried_after_retry_after():
    with Sandbox(Config(time_scale=100.0, faults=[Fault("rate_429", "POST *", times=2)])) as sb:
        c = client(sb, budget=PostBudget(20, 60.0))
        c.create_product("https://shop.example/p/1")
        stats = sb.stats()
        assert stats["products_created"] == 1 and stats["requests"]["POST /open/product"] == 3


def test_connection_refused_is_a_transport_error():
    sb = Sandbox()
    url = sb.url
    sb._server.server_close()
    c = Client(url, KEY, retries=1, sleep=lambda s: None)
    with pytest.raises(TransportError, match="cannot connect"):
        c.create_product("https://shop.example/p/1")


def test_shared_budget_keeps_concurrent_posts_under_the_server_limit():
    # The server counts 5 POSTs per 0.5 s window; four threads push 16 creates through a
    # client budget of the same size. A token bucket would burst past it; this must not.
    with Sandbox(Config(post_limit=5, post_window=0.5)) as sb:
        c = client(sb, budget=PostBudget(5, 0.5))
        threads = [threading.Thread(target=lambda: [c.create_product("https://a.example")
                                                    for _ in range(4)]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = sb.stats()
        assert stats["products_created"] == 16 and stats["rate_limited"] == 0


def test_missing_key_is_refused_before_any_request():
    with pytest.raises(InvalidKey, match="JOGG_API_KEY is not set"):
        Client("http://127.0.0.1:9", "")


def test_posts_that_never_left_do_not_spend_the_budget():
    sb = Sandbox()
    url = sb.url
    sb._server.server_close()
    budget = PostBudget(1, 60.0)
    c = Client(url, KEY, retries=3, sleep=lambda s: None, budget=budget)
    with pytest.raises(TransportError):
        c.create_product("https://shop.example/p/1")  # four attempts through a budget of one
    assert budget._expiries == [] and budget._inflight == 0


def test_a_retry_wait_wakes_when_the_run_stops():
    import time

    from jogg_flow.api.errors import Cancelled

    stop = threading.Event()
    with Sandbox(Config(faults=[Fault("http_500", "GET *", times=0)])) as sb:
        c = Client(sb.url, KEY, retries=5, backoff=(20.0, 60.0), stop=stop)
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            c.project_info("x")
        assert time.monotonic() - started < 10  # before: slept out a 10-20 s backoff
