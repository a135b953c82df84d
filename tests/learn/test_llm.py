"""The chat client against a real HTTP server on 127.0.0.1, the Table 2 prompts, the extractive fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from persona.learn.llm import (
    LLMClient,
    LLMError,
    clean_answer,
    extractive_user_summary,
    item_description_prompt,
    user_preference_prompt,
)

from .chat_server import ChatServer


def test_complete_sends_openai_body_and_parses_answer(tmp_path: Path) -> None:
    with (
        ChatServer(api_key="k3y") as srv,
        LLMClient(srv.url, "qwen-test", api_key="k3y", cache_dir=tmp_path) as c,
    ):
        assert c.complete("hello there", max_tokens=32) == "ECHO: hello there"
        body = srv.requests[0]
        assert body["model"] == "qwen-test"
        assert body["messages"] == [{"role": "user", "content": "hello there"}]
        assert body["max_tokens"] == 32 and body["temperature"] == 0.0


def test_cache_answers_repeats_without_a_request(tmp_path: Path) -> None:
    with ChatServer() as srv:
        with LLMClient(srv.url, "m", cache_dir=tmp_path) as c:
            a = c.complete("cached prompt")
        with LLMClient(srv.url, "m", cache_dir=tmp_path) as c2:  # a new client, same cache folder
            assert c2.complete("cached prompt") == a
            assert c2.stats["cached"] == 1 and c2.stats["requests"] == 0
        with LLMClient(srv.url, "other-model", cache_dir=tmp_path) as c3:  # the key includes the model
            c3.complete("cached prompt")
        assert len(srv.requests) == 2


def test_transient_500_is_retried(tmp_path: Path) -> None:
    with ChatServer() as srv, LLMClient(srv.url, "m", retries=2, backoff_s=0.01, cache_dir=tmp_path) as c:
        assert c.complete("FLAKY once") == "ECHO: FLAKY once"
        assert c.stats["retries"] == 1 and c.stats["requests"] == 2
        assert len(srv.requests) == 2


def test_timeouts_exhaust_retries_then_raise() -> None:
    with (
        ChatServer(slow_s=1.0) as srv,
        LLMClient(srv.url, "m", timeout_s=0.2, retries=1, backoff_s=0.01) as c,
    ):
        with pytest.raises(LLMError, match="no answer after 2 attempts; last error: ReadTimeout"):
            c.complete("SLOW please")
        assert c.stats["failed"] == 1


def test_client_error_is_not_retried() -> None:
    with ChatServer() as srv, LLMClient(srv.url, "m", retries=3, backoff_s=0.01) as c:
        with pytest.raises(LLMError, match="HTTP 400 for model 'm'"):
            c.complete("BAD request")
        assert len(srv.requests) == 1


def test_complete_many_bounds_concurrency_and_keeps_order(tmp_path: Path) -> None:
    prompts = [f"prompt {i}" for i in range(12)]
    with ChatServer(delay_s=0.05) as srv, LLMClient(srv.url, "m", concurrency=3, cache_dir=tmp_path) as c:
        seen = []
        out = c.complete_many(prompts, progress=lambda d, n, t: seen.append((n, t)))
        assert out == [f"ECHO: {p}" for p in prompts]
        assert 2 <= srv.max_in_flight <= 3
        assert seen[-1] == (12, 12)


def test_complete_many_skip_leaves_none_for_failures() -> None:
    with ChatServer() as srv, LLMClient(srv.url, "m", retries=0) as c:
        assert c.complete_many(["ok", "BAD one"], on_error="skip") == ["ECHO: ok", None]
        with pytest.raises(LLMError):
            c.complete_many(["BAD two"])
        assert len(srv.requests) == 3


def test_reasoning_block_is_stripped() -> None:
    with ChatServer() as srv, LLMClient(srv.url, "m") as c:
        assert c.complete("THINK first") == "ECHO: THINK first"
    assert clean_answer("Response: Drama, Comedy") == "Drama, Comedy"
    assert clean_answer("<think>never closed") == ""


def test_unreachable_endpoint_names_the_url() -> None:
    with (
        LLMClient("http://127.0.0.1:9/v1", "m", retries=0, timeout_s=1) as c,
        pytest.raises(LLMError, match=r"127\.0\.0\.1:9/v1/chat/completions: no answer after 1 attempts"),
    ):
        c.complete("x")


def test_url_forms_and_bad_url() -> None:
    assert LLMClient("http://h:1/v1", "m").endpoint == "http://h:1/v1/chat/completions"
    assert LLMClient("http://h:1", "m").endpoint == "http://h:1/v1/chat/completions"
    assert LLMClient("http://h:1/v1/chat/completions/", "m").endpoint == "http://h:1/v1/chat/completions"
    with pytest.raises(ValueError, match="must start with http"):
        LLMClient("localhost:8000", "m")


def test_prompts_follow_table_2() -> None:
    p = item_description_prompt("Heat", "movie")
    assert p.startswith("Based on the Movies or TV name and your general knowledge")
    assert p.endswith("Now, analyze the following Movie and TV name: Heat Response:")
    assert "Book name: Dune Response:" in item_description_prompt("Dune", "book")
    u = user_preference_prompt([("Alien", ["Horror", "Ridley Scott"]), ("Heat", [])])
    assert u.startswith(
        "Based on the titles and features of the items the user has interacted with in chronological order"
    )
    assert "Example output: Drama Movie, Comedy, Action, Character Investment" in u
    assert u.endswith("\n1. Alien (Horror, Ridley Scott)\n2. Heat")


def test_extractive_summary_prefers_characteristic_terms() -> None:
    hist = {"u1": ["a", "b", "c"], "u2": ["d"], "u3": ["e"]}
    terms = {
        "a": ["Drama", "Western"],
        "b": ["Drama", "Western", "Mel Brooks"],
        "c": ["Drama"],
        "d": ["Drama"],
        "e": ["Drama", "Horror"],
    }
    out = extractive_user_summary(hist, terms, top_k=3)
    # tf-idf: Western (tf 2, df 1) beats Drama (tf 3, df 3); Mel Brooks has tf 1, df 1
    assert out == {"u1": "Western, Drama, Mel Brooks", "u2": "Drama", "u3": "Horror, Drama"}
    assert extractive_user_summary({"u": ["zz"]}, terms) == {"u": ""}
