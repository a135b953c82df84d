"""An OpenAI-compatible chat client for the paper's Table 2 prompts, and the extractive fallback.

The paper generates (i) item descriptions from titles and (ii) user-preference keywords from a user's
chronological history with Qwen3-8B (Sec. 5.2, Table 2). :class:`LLMClient` speaks the
``/v1/chat/completions`` protocol of vLLM, Ollama, llama.cpp server and OpenAI: bounded concurrency
(threads), per-request timeouts, retries with exponential backoff on timeouts / 5xx / 429, and an
on-disk answer cache keyed by (URL, model, prompt), so a re-run only asks what it has not asked before.

Without an endpoint there are no generated descriptions, and :func:`extractive_user_summary` writes the
user-preference keywords instead: the attributes (genres, people, categories…) most characteristic of
the user's *training* items by tf-idf across users, in the prompt's output form (comma-separated).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from typing_extensions import Self

from persona._cache import SqliteCache
from persona._retry import Retry, with_retries
from persona.errors import PersonaError

#: Table 2, "User Preference" prompt; ``<History>`` is replaced by the chronological history.
USER_PREFERENCE_PROMPT = (
    "Based on the titles and features of the items the user has interacted with in chronological order, "
    "summarize the user's preferences directly as concise and precise keywords, separated by commas. "
    'No additional commentary; exclude lines like "Here is a summary". Strictly output only the user\'s '
    "preferences. Example output: Drama Movie, Comedy, Action, Character Investment\n<History>"
)

#: Table 2, "Item Description" prompt, with the domain nouns as placeholders ({Things}, {thing}).
ITEM_DESCRIPTION_PROMPT = (
    "Based on the {Things} name and your general knowledge, provide an objective description of each "
    "{thing}. Ensure the response is concise and informative. No Additional Commentary. Strictly output "
    "only response. Example: {Thing} name: Dazed and Confused Response: It was bongs and bell bottoms, "
    "polyester and puka shells, macrame and mood rings. We rocked and rolled, we were jaded and innocent, "
    "but most of all, we were Dazed and Confused. With hilarious and touching honesty, this critically "
    "acclaimed comedy explores the last day of school - and one rowdy night - in the lives of a group of "
    "high school students in late May, 1976. Accompanied by the music of Aerosmith, Alice Cooper, Foghat "
    'and more, a superb ensemble cast delivers "the most slyly funny and dead-on portrait of American '
    'teenage life ever made." (Entertainment Weekly) Now, analyze the following {Thing} name: '
    "{title} Response:"
)

#: Domain → (Things, thing, Thing) nouns for the item prompt; the paper's wording is the movie row.
_DOMAIN_NOUNS = {
    "movie": ("Movies or TV", "movie or TV", "Movie and TV"),
    "book": ("Books", "book", "Book"),
    "magazine": ("Magazines", "magazine", "Magazine"),
    "product": ("Products", "product", "Product"),
}

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


class LLMError(PersonaError, RuntimeError):
    """The endpoint refused or failed a request after all retries; the message says which and why."""


def item_description_prompt(title: str, domain: str | None = "movie") -> str:
    """The Table 2 item-description prompt for one title.

    Args:
        title: The item's title.
        domain: Item domain (``movie``, ``book``, ``magazine``, ``product``); unknown → ``product``.
    """
    things, thing, thing_cap = _DOMAIN_NOUNS.get((domain or "product").lower(), _DOMAIN_NOUNS["product"])
    return ITEM_DESCRIPTION_PROMPT.format(Things=things, thing=thing, Thing=thing_cap, title=title)


def user_preference_prompt(history: Sequence[tuple[str, Sequence[str]]]) -> str:
    """The Table 2 user-preference prompt for one user.

    Args:
        history: The user's training items in chronological order, as (title, features) pairs; features
            are attribute names such as genres, people or categories.
    """
    lines = []
    for n, (title, feats) in enumerate(history, 1):
        f = ", ".join(dict.fromkeys(x for x in feats if x))
        lines.append(f"{n}. {title}" + (f" ({f})" if f else ""))
    return USER_PREFERENCE_PROMPT.replace("<History>", "\n".join(lines))


def clean_answer(text: str) -> str:
    """Strip reasoning blocks (Qwen3 ``<think>…</think>``), a leading ``Response:`` and outer whitespace."""
    text = _THINK.sub("", text)
    if "<think>" in text:  # an unterminated reasoning block: keep what follows it, if anything
        text = text.split("</think>")[-1] if "</think>" in text else ""
    text = text.strip()
    if text.lower().startswith("response:"):
        text = text[len("response:") :].strip()
    return text


def _endpoint(url: str) -> str:
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


class LLMClient:
    """Chat completions against an OpenAI-compatible endpoint, cached and retried.

    Args:
        url: Base URL (``http://host:8000/v1``), a server root (``/v1`` is appended) or the full
            ``…/chat/completions`` URL.
        model: Model name sent with each request.
        api_key: Bearer token, if the endpoint needs one.
        concurrency: Requests in flight at once in :meth:`complete_many`.
        timeout_s: Per-request timeout.
        retries: Further attempts after a timeout, connection error, 429 or 5xx answer.
        cache_dir: Folder of the answer cache (``llm_answers.sqlite``); None disables caching.
        backoff_s: First backoff delay; doubles per attempt (capped at 30 s), with jitter.
        temperature: Sampling temperature (0 makes answers reproducible on most servers).

    Attributes:
        stats: Counters ``requests``, ``cached``, ``retries``, ``failed``.

    Example:
        >>> client = LLMClient("http://localhost:8000/v1", "Qwen/Qwen3-8B", cache_dir=Path(".persona/llm"))
        >>> client.complete(item_description_prompt("Heat"))  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 4,
        timeout_s: float = 60.0,
        retries: int = 3,
        cache_dir: Path | str | None = None,
        backoff_s: float = 0.5,
        temperature: float = 0.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                f"LLM url {url!r} must start with http:// or https:// (e.g. http://localhost:8000/v1)"
            )
        if concurrency < 1 or retries < 0 or timeout_s <= 0:
            raise ValueError("LLM settings: concurrency >= 1, retries >= 0 and timeout_s > 0 are required")
        self.url = url
        self.endpoint = _endpoint(url)
        self.model = model
        self.concurrency = concurrency
        self.retries = retries
        self.backoff_s = backoff_s
        self.temperature = temperature
        self.stats = {"requests": 0, "cached": 0, "retries": 0, "failed": 0}
        self._stats_lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._cache = SqliteCache(Path(cache_dir) / "llm_answers.sqlite") if cache_dir is not None else None

    @classmethod
    def from_settings(cls, settings: Any, cache_dir: Path | str | None = None) -> LLMClient:
        """Build a client from :class:`persona.config.LLMSettings` (``settings.url`` must be set)."""
        if not settings.url:
            raise ValueError("no LLM endpoint configured: set [llm] url (or PERSONA_LLM__URL)")
        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        return cls(
            settings.url,
            settings.model,
            api_key=key,
            concurrency=settings.concurrency,
            timeout_s=settings.timeout_s,
            retries=settings.retries,
            cache_dir=cache_dir,
        )

    def _key(self, prompt: str) -> str:
        return hashlib.sha256(json.dumps([self.endpoint, self.model, prompt]).encode("utf-8")).hexdigest()

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1

    def complete(self, prompt: str, *, max_tokens: int = 512) -> str:
        """The model's answer to one user message (cached; retried on transient failures).

        Raises:
            LLMError: a 4xx answer (other than 429), an unreadable body, or failures on every attempt.
        """
        key = self._key(prompt)
        if self._cache is not None:
            hit = self._cache.get(key)
            if hit is not None:
                self._count("cached")
                return hit.decode("utf-8")
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self.temperature,
            "max_tokens": max_tokens,
        }
        attempts = self.retries + 1

        def attempt() -> str:
            self._count("requests")
            try:
                r = self._http.post(self.endpoint, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                raise Retry(self._exhausted(attempts, f"{type(e).__name__}: {e}")) from None
            if r.status_code == 429 or r.status_code >= 500:
                raise Retry(self._exhausted(attempts, f"HTTP {r.status_code}: {r.text[:200]}"))
            if r.status_code >= 400:
                raise LLMError(f"{self.endpoint}: HTTP {r.status_code} for model {self.model!r}: {r.text[:300]}")
            try:
                return clean_answer(r.json()["choices"][0]["message"]["content"] or "")
            except (ValueError, KeyError, IndexError, TypeError) as e:
                raise LLMError(
                    f"{self.endpoint}: answer is not a chat completion (expected choices[0].message.content): "
                    f"{r.text[:300]}"
                ) from e

        try:
            answer = with_retries(attempt, retries=self.retries, backoff_s=self.backoff_s, jitter=0.25,
                                  on_retry=lambda n, r: self._count("retries"))
        except LLMError:
            self._count("failed")
            raise
        if self._cache is not None:
            self._cache.put(key, answer.encode("utf-8"))
        return answer

    def _exhausted(self, attempts: int, last: str) -> LLMError:
        return LLMError(f"{self.endpoint}: no answer after {attempts} attempts; last error: {last}")

    def complete_many(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: int = 512,
        on_error: str = "raise",
        progress: Callable[[str, int, int], None] | None = None,
    ) -> list[str | None]:
        """Answers to many prompts, at most ``concurrency`` requests at once, in input order.

        Args:
            prompts: User messages.
            max_tokens: Answer length cap per request.
            on_error: ``"raise"`` stops at the first failed prompt; ``"skip"`` leaves ``None`` in its place.
            progress: Optional callback ``(description, done, total)``.
        """
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        out: list[str | None] = [None] * len(prompts)
        done = 0
        lock = threading.Lock()

        def one(i: int) -> None:
            nonlocal done
            try:
                out[i] = self.complete(prompts[i], max_tokens=max_tokens)
            except LLMError:
                if on_error == "raise":
                    raise
            with lock:
                done += 1
                if progress is not None:
                    progress("LLM requests", done, len(prompts))

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for fut in [pool.submit(one, i) for i in range(len(prompts))]:
                fut.result()
        return out

    def close(self) -> None:
        """Close the HTTP connection pool and the cache."""
        self._http.close()
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def extractive_user_summary(
    histories: Mapping[str, Sequence[str]],
    item_terms: Mapping[str, Sequence[str]],
    *,
    top_k: int = 8,
) -> dict[str, str]:
    """User-preference keywords without an LLM: the user's most characteristic item attributes.

    Each user is a bag of the attribute names (genres, people, categories, subjects…) of the items in
    their *training* history; terms are scored by tf-idf across users (tf = items of the user carrying
    the term, idf = ln((1 + n_users) / (1 + df)) + 1) and the ``top_k`` best are joined with ", " —
    the output form of the Table 2 user-preference prompt. Ties go to the more frequent, then the
    alphabetically first term, so the result is deterministic.

    Args:
        histories: user id → training item ids (valid/test items must not be passed).
        item_terms: item id → attribute names of the item.
        top_k: Keywords per user.

    Returns:
        user id → ``"Comedy, Western, Mel Brooks, …"`` (``""`` for a user whose items have no attributes).

    Example:
        >>> extractive_user_summary({"u": ["i1", "i2"], "v": ["i3"]},
        ...                         {"i1": ["Comedy"], "i2": ["Comedy", "Western"], "i3": ["Drama"]}, top_k=2)
        {'u': 'Comedy, Western', 'v': 'Drama'}
    """
    tf: dict[str, Counter[str]] = {}
    df: Counter[str] = Counter()
    for user, items in histories.items():
        c: Counter[str] = Counter()
        for it in items:
            c.update(list(dict.fromkeys(t for t in item_terms.get(it, ()) if t)))  # each term once per item
        tf[user] = c
        df.update(c.keys())
    n = len(histories)
    out = {}
    for user, c in tf.items():
        scored = sorted(
            c.items(), key=lambda kv: (-kv[1] * (math.log((1 + n) / (1 + df[kv[0]])) + 1), -kv[1], kv[0])
        )
        out[user] = ", ".join(t for t, _ in scored[:top_k])
    return out
