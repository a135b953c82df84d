"""The ``persona`` command line. Each command parses its options and calls one plain function."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys

# Spinning OpenMP workers steal the second core from everything else on small machines (measured ~10×
# slower SASRec epochs on a busy 2-core box); passive waiting costs little when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from persona import __version__, workflows
from persona._ui import console, err_console, progress_bar, table
from persona.config import Settings, load_settings
from persona.errors import ConfigError, PersonaError, is_disk_full


class _Typer(typer.Typer):
    """A Typer whose commands turn every :class:`PersonaError` into one line on stderr and exit 2.

    Anything else is a bug and keeps its traceback. A full disk (``ENOSPC`` from any library) is named as
    such; files are written atomically (:func:`persona.errors.atomic_save`), so nothing partial stays.
    """

    def command(self, *args: Any, **kwargs: Any) -> Any:
        return _guarded(super().command(*args, **kwargs))

    def callback(self, *args: Any, **kwargs: Any) -> Any:
        return _guarded(super().callback(*args, **kwargs))


def _guarded(register: Any) -> Any:
    def wrap(fn: Any) -> Any:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except PersonaError as e:
                _fail(str(e))
            except (OSError, RuntimeError) as e:
                if is_disk_full(e):
                    _fail(f"disk full: {e}; free space and re-run")
                raise

        register(run)
        return fn

    return wrap


app = _Typer(
    name="persona",
    help="Persona-driven, knowledge-graph-backed session recommendation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
ingest_app = _Typer(help="Load a source into the graph store.", no_args_is_help=True)
enrich_app = _Typer(help="Add external knowledge to items already in the store.", no_args_is_help=True)
train_app = _Typer(help="Learn personas and train the recommender (the whole pipeline without a subcommand).")


def _version(value: bool) -> None:
    if value:
        print(f"persona-kg {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
) -> None:
    """Persona-driven, knowledge-graph-backed session recommendation."""


app.add_typer(ingest_app, name="ingest")
app.add_typer(train_app, name="train")
app.add_typer(enrich_app, name="enrich")

StoreOpt = Annotated[
    Optional[str],
    typer.Option("--store", "-s", help="Store URI: embedded:PATH (default embedded:persona.db, env PERSONA_STORE) or bolt://host:port."),
]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML config file (default ./persona.toml if present).")]
RdfOpt = Annotated[list[Path], typer.Option("--rdf", help="RDF file (N-Triples, Turtle, RDF/XML; .gz ok). Repeatable.")]
HopsOpt = Annotated[Optional[int], typer.Option("--hops", min=1, help="Keep RDF triples within this many hops of a linked item (default 1, or [ingest] hops).")]
KCoreOpt = Annotated[Optional[int], typer.Option("--k-core", min=0, help="Keep users and items with ≥ k interactions (paper: 5; default 0 = off, or [ingest] k_core).")]
SkipOpt = Annotated[bool, typer.Option("--skip-invalid", help="Skip bad records (counted, written to --rejects) instead of failing.")]
RejectsOpt = Annotated[Optional[Path], typer.Option("--rejects", help="Where --skip-invalid writes rejected records (JSON lines).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _settings(store: str | None, config: Path | None, **extra: Any) -> Settings:
    from persona.kgstore import parse_uri

    s = load_settings(config, store=store, **extra)
    parse_uri(s.store)  # a typo in the URI is refused before anything is opened or created
    return s


_URI_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^/@\s:]*):[^@\s/]*@")


def mask_secrets(message: str) -> str:
    """``message`` with URI passwords and the configured Neo4j password replaced by ``***``."""
    out = _URI_CREDENTIALS.sub(r"\1:***@", message)
    for secret in {os.environ.get("NEO4J_PASSWORD", ""), os.environ.get("PERSONA_NEO4J__PASSWORD", "")}:
        if len(secret) >= 4:
            out = out.replace(secret, "***")
    return out


def _fail(message: str, code: int = 2) -> None:
    """Print one error line (secrets masked) and exit with ``code`` (2: a failure the user can fix)."""
    err_console.print(f"[bold red]error:[/] {escape(mask_secrets(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _ranges(s: Settings) -> dict[str, Any]:
    """The plausibility ranges of ``[ingest]`` for the readers (ratings, timestamps)."""
    ing = s.ingest
    return {"rating_min": ing.rating_min, "rating_max": ing.rating_max, "ts_min": ing.ts_min, "ts_max": ing.ts_max}


def _run_ingest(settings: Settings, parse: Any, quiet: bool, source: str) -> None:
    from persona.ingest import FetchError
    from persona.ingest.errors import InputError
    from persona.kgstore import StoreError

    try:
        with progress_bar(quiet) as progress:
            report = workflows.load_frames(settings, parse, progress=progress)
    except (InputError, FetchError, ConfigError) as e:
        _fail(f"{e}\nnothing was written to {settings.store}")
    except workflows.LoadInterrupted as e:
        _fail(f"{e}\nre-run the same command to resume: existing rows are not written twice")
    except StoreError as e:
        _fail(f"{e}\nnothing was written to {settings.store}")
    rows = [
        {"kind": kind, "name": name, "parsed": report.parsed.get(name, 0), "written": report.written.get(name, 0), "in store": n}
        for kind in ("nodes", "rels")
        for name, n in report.counts[kind].items()
    ]
    console.print(table(f"ingest {source} → {settings.store}", rows))
    interesting = {k: v for k, v in report.stats.items() if v}
    if interesting:
        console.print(table("parser notes", {k: v for k, v in interesting.items()}))


@ingest_app.command("movielens")
def ingest_movielens(
    directory: Annotated[Path, typer.Argument(help="Folder with the GroupLens ML-100K files (u.data, u.item, u.user).")],
    link: Annotated[Optional[Path], typer.Option("--link", help="RecBole .link file: item_id → DBpedia IRI.")] = None,
    rdf: RdfOpt = [],
    hops: HopsOpt = None,
    k_core: KCoreOpt = None,
    skip_invalid: SkipOpt = False,
    rejects: RejectsOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """MovieLens 100K (+ optional DBpedia links and triples)."""
    from persona.ingest import read_movielens

    s = _settings(store, config)
    _run_ingest(
        s,
        lambda: read_movielens(
            directory, link=link, rdf=tuple(rdf), hops=hops if hops is not None else s.ingest.hops, k_core=k_core if k_core is not None else s.ingest.k_core,
            skip_invalid=skip_invalid, rejects=rejects, **_ranges(s),
        ),
        quiet,
        "movielens",
    )


@ingest_app.command("amazon")
def ingest_amazon(
    reviews: Annotated[Path, typer.Option("--reviews", help="Amazon 2018 reviews, JSON lines (.gz ok).")],
    meta: Annotated[Path, typer.Option("--meta", help="Amazon 2018 metadata, JSON lines (.gz ok).")],
    link: Annotated[Optional[Path], typer.Option("--link", help="RecBole .link file: asin → DBpedia IRI.")] = None,
    rdf: RdfOpt = [],
    hops: HopsOpt = None,
    k_core: KCoreOpt = None,
    domain: Annotated[Optional[str], typer.Option("--domain", help="Item domain (default: from the file name).")] = None,
    skip_invalid: SkipOpt = False,
    rejects: RejectsOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Amazon Review Data 2018: reviews + metadata (also_buy, also_view, brand, category)."""
    from persona.ingest import read_amazon

    s = _settings(store, config)
    _run_ingest(
        s,
        lambda: read_amazon(
            reviews, meta, rdf=tuple(rdf), link=link, hops=hops if hops is not None else s.ingest.hops,
            k_core=k_core if k_core is not None else s.ingest.k_core, skip_invalid=skip_invalid, rejects=rejects, **_ranges(s), domain=domain,
        ),
        quiet,
        "amazon",
    )


@ingest_app.command("atomic")
def ingest_atomic(
    prefix: Annotated[str, typer.Argument(help="Path prefix of RecBole atomic files: PREFIX.inter, .item, .user, .kg, .link.")],
    rdf: RdfOpt = [],
    hops: HopsOpt = None,
    k_core: KCoreOpt = None,
    domain: Annotated[Optional[str], typer.Option("--domain", help="Item domain (default: from the file name).")] = None,
    skip_invalid: SkipOpt = False,
    rejects: RejectsOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """RecBole atomic files (the Amazon-KG v2.0 format)."""
    from persona.ingest import read_atomic

    s = _settings(store, config)
    _run_ingest(
        s,
        lambda: read_atomic(
            prefix, rdf=tuple(rdf), hops=hops if hops is not None else s.ingest.hops, k_core=k_core if k_core is not None else s.ingest.k_core,
            skip_invalid=skip_invalid, rejects=rejects, **_ranges(s), domain=domain,
        ),
        quiet,
        "atomic",
    )


@ingest_app.command("demo")
def ingest_demo(
    users: Annotated[int, typer.Option("--users", min=10, help="Number of users.")] = 1000,
    items: Annotated[int, typer.Option("--items", min=10, help="Number of items.")] = 600,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """A generated Amazon-like dataset with planted personas (ground truth in User.planted_taste)."""
    from persona.ingest import generate_demo

    s = _settings(store, config)
    _run_ingest(s, lambda: generate_demo(users=users, items=items, seed=seed), quiet, "demo")


@enrich_app.command("dbpedia")
def enrich_dbpedia(
    endpoint: Annotated[str, typer.Option("--endpoint", help="SPARQL endpoint.")] = "https://dbpedia.org/sparql",
    predicates: Annotated[list[str], typer.Option("--predicates", help="Predicate IRIs to fetch (default: the schema's table).")] = [],
    batch: Annotated[int, typer.Option("--batch", min=1, help="Items per SPARQL query.")] = 50,
    rate_limit: Annotated[float, typer.Option("--rate-limit", min=0.0, help="Seconds between queries.")] = 1.0,
    offline: Annotated[bool, typer.Option("--offline", help="Replay the on-disk cache only; never contact the endpoint.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Fetch 1-hop DBpedia triples of linked items (Item.iri) over SPARQL, cached on disk."""
    from persona.ingest import fetch_dbpedia

    s = _settings(store, config)

    def parse() -> Any:
        with workflows.connect(s) as st:
            rows = st.run("MATCH (i:Item) WHERE i.iri IS NOT NULL RETURN i.id AS id, i.iri AS iri")
        if not rows:
            raise ValueError(f"{s.store}: no Item has an iri; ingest with --link first")
        return fetch_dbpedia(
            {r["id"]: r["iri"] for r in rows}, endpoint=endpoint, predicates=predicates or None, batch=batch,
            rate_limit_s=rate_limit, cache_dir=s.workdir / "sparql-cache", offline=offline,
        )

    _run_ingest(s, parse, quiet, "dbpedia")


DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="'cpu', 'cuda' or 'cuda:N' for text encoding, HDGI and SASRec.")]


def _train_settings(store: str | None, config: Path | None, device: str | None, **rec: Any) -> Settings:
    s = _settings(store, config)
    if device:
        from persona.rec._torch import resolve_device

        resolve_device(device)  # one clear line, before any work, when CUDA is not there
        s.text.device = s.rec.device = s.hdgi.device = device
    upd = {k: v for k, v in rec.items() if v is not None}
    if upd:
        s.rec = s.rec.model_copy(update=upd)
    return s


def _status(msg: str) -> None:
    err_console.print(f"[dim]{msg}[/]", highlight=False)


@train_app.callback(invoke_without_command=True)
def train_cmd(
    ctx: typer.Context,
    user_emb: Annotated[Optional[str], typer.Option("--user-emb", help="Retriever user embedding: none | random | llm | kg.")] = None,
    item_emb: Annotated[Optional[str], typer.Option("--item-emb", help="Retriever item embedding: random | text.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", min=0, help="Random seed of the recommender.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, help="SASRec epochs: the length of the cosine schedule (early stopping may end sooner).")] = None,
    skip_personas: Annotated[bool, typer.Option("--skip-personas", help="Reuse the personas already in the store.")] = False,
    device: DeviceOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Text embeddings → personas → retriever → reranker → evaluation → write-back."""
    if ctx.invoked_subcommand is not None:
        return
    from persona.pipeline import train

    if user_emb not in (None, "none", "random", "llm", "kg"):
        _fail(f"--user-emb {user_emb!r}: expected none, random, llm or kg")
    if item_emb not in (None, "random", "text"):
        _fail(f"--item-emb {item_emb!r}: expected random or text")
    s = _train_settings(store, config, device, user_emb=user_emb, item_emb=item_emb, epochs=epochs)
    with progress_bar(quiet) as progress:
        rep = train(s, skip_personas=skip_personas, seed=seed, progress=progress, log=_status)
    _print_metrics(f"test metrics (full ranking) — run {rep.run_id}", rep.metrics)
    console.print(table("run", {**{k: round(v, 1) for k, v in rep.timings.items()}, **rep.written, "run dir": str(rep.run_dir)}))


def _print_metrics(title: str, metrics: dict[str, dict[str, float]]) -> None:
    keys = {"hr@10": "HR@10", "ndcg@10": "NDCG@10", "mrr": "MRR", "hr@100": "HR@100"}
    rows = [{"stage": stage, **{lab: m.get(k, m.get(lab)) for k, lab in keys.items()}} for stage, m in metrics.items()]
    console.print(table(title, rows, ["stage", *keys.values()]))


@train_app.command("personas")
def train_personas_cmd(
    device: DeviceOpt = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, help="Maximum HDGI epochs.")] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Text-initialise the graph and learn HDGI personas; write them to User.persona."""
    from persona.learn.personas import train_personas

    s = _train_settings(store, config, device)
    if epochs:
        s.hdgi = s.hdgi.model_copy(update={"epochs": epochs})
    with progress_bar(quiet) as progress, workflows.connect(s) as st:
        res = train_personas(st, s, workdir=Path(s.workdir), progress=progress, log=_status)
    console.print(table(f"personas — run {res.run_id}", {
        "users": len(res.user_ids), "dimension": int(res.personas.shape[1]), "epochs": len(res.losses),
        "final loss": float(res.losses[-1]) if res.losses else None,
    }))
    att = getattr(res, "attention", None)
    if isinstance(att, dict) and att and all(isinstance(v, (int, float)) for v in att.values()):
        console.print(table("meta-path attention (mean over users)", {k: float(v) for k, v in att.items()}))


@app.command("experiment")
def experiment_cmd(
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Number of seeds (0..N-1); mean ± std over them.")] = 5,
    out: Annotated[Path, typer.Option("--out", help="Output folder for results.csv/.md/.png.")] = Path("runs/table3"),
    skip_personas: Annotated[bool, typer.Option("--skip-personas", help="Reuse the personas already in the store.")] = False,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, help="SASRec epochs per model: the length of the cosine schedule (early stopping may end sooner).")] = None,
    variants: Annotated[
        Optional[str],
        typer.Option(
            "--variants",
            help="Rows to run as USER/ITEM pairs, comma-separated (e.g. none/random,kg/text); "
            "default: the paper's five.",
        ),
    ] = None,
    device: DeviceOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Reproduce the paper's Table 3 on the store's data: five retriever rows, reranking, mean ± std."""
    from persona.pipeline import experiment, parse_variants

    rows = parse_variants(variants) if variants else None
    s = _train_settings(store, config, device, epochs=epochs)
    with progress_bar(quiet) as progress:
        summary_md = experiment(s, seeds=list(range(seeds)), out_dir=out, skip_personas=skip_personas,
                                variants=rows, progress=progress, log=_status)
    console.print(summary_md)
    console.print(f"written: {out}/results.csv, results.md, results.png")


@app.command("recommend")
def recommend_cmd(
    user: Annotated[Optional[str], typer.Option("--user", "-u", help="A known user id.")] = None,
    items: Annotated[Optional[str], typer.Option("--items", help="An anonymous session: item ids, comma-separated, oldest first.")] = None,
    k: Annotated[int, typer.Option("--top-k", "-k", "--k", min=1, max=100, help="How many items (1–100: the retriever's candidate count).")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Ranked items for a known user, or for an anonymous session (persona inferred from its items)."""
    from persona import pipeline

    if (user is None) == (items is None):
        _fail("give exactly one of --user ID or --items ID,ID,…")
    s = _settings(store, config)
    if user is not None:
        recs = pipeline.recommend_user(s, user, k=k)
        title = f"top {len(recs)} for user {user}"
    else:
        ids = [i.strip() for i in items.split(",") if i.strip()]  # type: ignore[union-attr]
        if not ids:
            _fail("--items: no item ids given (expected ID,ID,…)")
        recs = pipeline.recommend_session(s, ids, k=k)
        title = f"top {len(recs)} after session {', '.join(ids)}"
    if as_json:
        print(dumps_json(recs.to_dict("records")))
    else:
        console.print(table(title, recs.to_dict("records")))


@app.command("stats")
def stats_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Node counts per label and relationship counts per type."""
    s = _settings(store, config)
    counts = workflows.stats(s)
    if as_json:
        print(dumps_json(counts))
        return
    if not counts["nodes"] and not counts["rels"]:
        console.print(f"{s.store} is empty: load data with `persona ingest …`")
        return
    console.print(table(f"nodes in {s.store}", counts["nodes"]))
    console.print(table(f"relationships in {s.store}", counts["rels"]))


@app.command("cypher")
def cypher_cmd(
    query: Annotated[str, typer.Argument(help="One Cypher statement; values as $name with --param name=value.")],
    param: Annotated[list[str], typer.Option("--param", "-p", help="NAME=VALUE (JSON values allowed). Repeatable.")] = [],
    write: Annotated[bool, typer.Option("--write", help="Allow writes (otherwise the database runs it read-only).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run Cypher on the graph: read-only unless --write."""
    s = _settings(store, config)
    params = dict(workflows.parse_param(p) for p in param)
    rows = workflows.cypher(s, query, params, write=write)
    if as_json:
        print(dumps_json(rows))
    elif rows:
        console.print(table(f"{len(rows)} row(s)", rows))
    else:
        console.print("(no rows)")


@app.command("app")
def app_cmd(
    port: Annotated[Optional[int], typer.Option("--port", "-p", min=1, max=65535, help="Port (default 8501, or [app] port).")] = None,
    host: Annotated[
        Optional[str],
        typer.Option("--host", "--address", help="Address to bind (default 127.0.0.1: this machine only; "
                     "0.0.0.0 exposes the page, which shows user histories, to the network)."),
    ] = None,
    headless: Annotated[bool, typer.Option("--headless", help="Do not open a browser.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Open the Streamlit explorer: a user's persona neighbourhood beside their recommendations.

    The store is fixed here (--store, PERSONA_STORE or the config file); visitors can only switch
    between the stores listed in [app] stores.
    """
    from persona.app import launch

    s = _settings(store, config)
    try:
        launch(s.store, port or s.app.port, address=host or s.app.host, headless=headless, config=config)
    except RuntimeError as e:
        _fail(str(e))


def _strict(o: Any) -> Any:
    """Make ``o`` strict-JSON-able: NaN and ±inf become null (JSON has no such numbers)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): _strict(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_strict(v) for v in o]
    try:
        import numpy as np

        if isinstance(o, np.ndarray):
            return _strict(o.tolist())
        if isinstance(o, np.generic):
            return _strict(o.item())
    except ImportError:  # pragma: no cover
        pass
    return o


def dumps_json(o: Any) -> str:
    """Strict JSON (RFC 8259: no NaN/Infinity), indented; the same types from both stores."""
    return json.dumps(_strict(o), indent=2, default=_json_default, allow_nan=False, ensure_ascii=False)


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
