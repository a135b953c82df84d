"""Persona learning: text features, LLM texts, the PyG export, meta-paths and HDGI.

The CLI and pipeline call :func:`train_personas`, :func:`infer_persona`, :func:`user_summary_vectors`,
:func:`describe_items` and :func:`summarise_users`; the rest is the toolbox they are built from.
"""

from .diagnostics import heldout_genre_report, kmeans_nmi, planted_taste_report, random_vectors
from .export import IdMaps, build_hetero, export_graph, hetero_from_frames
from .hdgi import HDGI, HDGIEncoder, PersonaModel, PersonaResult, SemanticAttention, train_hdgi
from .llm import LLMClient, LLMError, extractive_user_summary, item_description_prompt, user_preference_prompt
from .metapaths import MetaPath, MetaPathBuilder, default_metapaths, parse_metapath
from .personas import encode_graph_text, infer_persona, load_persona_model, train_personas
from .summaries import describe_items, summarise_users, user_summary_vectors
from .text import TextEncoder, entity_text, item_text, relation_text

__all__ = [
    "HDGI",
    "HDGIEncoder",
    "IdMaps",
    "LLMClient",
    "LLMError",
    "MetaPath",
    "MetaPathBuilder",
    "PersonaModel",
    "PersonaResult",
    "SemanticAttention",
    "TextEncoder",
    "build_hetero",
    "default_metapaths",
    "describe_items",
    "encode_graph_text",
    "entity_text",
    "export_graph",
    "extractive_user_summary",
    "heldout_genre_report",
    "hetero_from_frames",
    "infer_persona",
    "item_description_prompt",
    "item_text",
    "kmeans_nmi",
    "load_persona_model",
    "parse_metapath",
    "planted_taste_report",
    "random_vectors",
    "relation_text",
    "summarise_users",
    "train_hdgi",
    "train_personas",
    "user_preference_prompt",
    "user_summary_vectors",
]
