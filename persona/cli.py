"""The ``persona`` command line. Each command parses its options and calls one plain function."""

from __future__ import annotations

import json
import os
import sys

# Spinning OpenMP workers steal the second core from everything else on small machines (measured ~10×
# slower SASRec epochs on a busy 2-core box); passive waiting costs little when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from persona import workflows
from persona._ui import console, err_console, progress_bar, table
from persona.config import Settings, load_settings

app = typer.Typer(
    name="persona",
    help="Persona-driven, knowledge-graph-backed session recommendation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ingest_app = typer.Typer(help="Load a source into the graph store.", no_args_is_help=True)
enrich_app = typer.Typer(help="Add external knowledge to items already in the store.", no_args_is_help=True)
train_app = typer.Typer(help="Learn personas and train the recommender (the whole pipeline without a subcommand).")
app.add_typer(ingest_app, name="ingest")
app.add_typer(train_app, name="train")
app.add_typer(enrich_app, name="enrich")

StoreOpt = Annotated[
    Optional[str],
    typer.Option("--store", "-s", help="Store URI: embedded:PATH (default embedded:persona.db, env PERSONA_STORE) or bolt://host:port."),
]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML config file (default ./persona.toml if present).")]
RdfOpt = Annotated[list[Path], typer.Option("--rdf", help="RDF file (N-Triples, Turtle, RDF/XML; .gz ok). Repeatable.")]
HopsOpt = Annotated[Optional[int], typer.Option("--hops", help="Keep RDF triples within this many hops of a linked item.")]
KCoreOpt = Annotated[Optional[int], typer.Option("--k-core", help="Keep users and items with ≥ k interactions (paper: 5).")]
SkipOpt = Annotated[bool, typer.Option("--skip-invalid", help="Skip bad records (counted, written to --rejects) instead of failing.")]
RejectsOpt = Annotated[Optional[Path], typer.Option("--rejects", help="Where --skip-invalid writes rejected records (JSON lines).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _settings(store: str | None, config: Path | None, **extra: Any) -> Settings:
    try:
        return load_settings(config, store=store, **extra)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _run_ingest(settings: Settings, parse: Any, quiet: bool, source: str) -> None:
    from persona.ingest import FetchError
    from persona.ingest.errors import InputError
    from persona.kgstore import StoreError

    try:
        with progress_bar(quiet) as progress:
            report = workflows.load_frames(settings, parse, progress=progress)
    except InputError as e:
        _fail(f"{e}\nnothing was written to {settings.store}", 2)
    except (FileNotFoundError, ValueError) as e:
        _fail(f"{e}\nnothing was written to {settings.store}", 2)
    except FetchError as e:
        _fail(f"{e}\nnothing was written to {settings.store}", 2)
    except StoreError as e:
        _fail(f"{e}\nre-run the same command to resume: existing rows are not written twice")
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
            directory, link=link, rdf=tuple(rdf), hops=hops or s.ingest.hops, k_core=k_core if k_core is not None else s.ingest.k_core,
            skip_invalid=skip_invalid, rejects=rejects,
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
            reviews, meta, rdf=tuple(rdf), link=link, hops=hops or s.ingest.hops,
            k_core=k_core if k_core is not None else s.ingest.k_core, skip_invalid=skip_invalid, rejects=rejects, domain=domain,
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
            prefix, rdf=tuple(rdf), hops=hops or s.ingest.hops, k_core=k_core if k_core is not None else s.ingest.k_core,
            skip_invalid=skip_invalid, rejects=rejects, domain=domain,
        ),
        quiet,
        "atomic",
    )


@ingest_app.command("demo")
def ingest_demo(
    users: Annotated[int, typer.Option("--users", help="Number of users.")] = 1000,
    items: Annotated[int, typer.Option("--items", help="Number of items.")] = 600,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
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
    batch: Annotated[int, typer.Option("--batch", help="Items per SPARQL query.")] = 50,
    rate_limit: Annotated[float, typer.Option("--rate-limit", help="Seconds between queries.")] = 1.0,
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
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed of the recommender.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="SASRec epochs: the length of the cosine schedule (early stopping may end sooner).")] = None,
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
    try:
        with progress_bar(quiet) as progress:
            rep = train(s, skip_personas=skip_personas, seed=seed, progress=progress, log=_status)
    except (ValueError, KeyError, FileNotFoundError) as e:
        _fail(str(e))
    _print_metrics(f"test metrics (full ranking) — run {rep.run_id}", rep.metrics)
    console.print(table("run", {**{k: round(v, 1) for k, v in rep.timings.items()}, **rep.written, "run dir": str(rep.run_dir)}))


def _print_metrics(title: str, metrics: dict[str, dict[str, float]]) -> None:
    keys = {"hr@10": "HR@10", "ndcg@10": "NDCG@10", "mrr": "MRR", "hr@100": "HR@100"}
    rows = [{"stage": stage, **{lab: m.get(k, m.get(lab)) for k, lab in keys.items()}} for stage, m in metrics.items()]
    console.print(table(title, rows, ["stage", *keys.values()]))


@train_app.command("personas")
def train_personas_cmd(
    device: DeviceOpt = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Maximum HDGI epochs.")] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Text-initialise the graph and learn HDGI personas; write them to User.persona."""
    from persona.learn.personas import train_personas

    s = _train_settings(store, config, device)
    if epochs:
        s.hdgi = s.hdgi.model_copy(update={"epochs": epochs})
    try:
        with progress_bar(quiet) as progress, workflows.connect(s) as st:
            res = train_personas(st, s, workdir=Path(s.workdir), progress=progress, log=_status)
    except (ValueError, KeyError) as e:
        _fail(str(e))
    console.print(table(f"personas — run {res.run_id}", {
        "users": len(res.user_ids), "dimension": int(res.personas.shape[1]), "epochs": len(res.losses),
        "final loss": float(res.losses[-1]) if res.losses else None,
    }))
    att = getattr(res, "attention", None)
    if isinstance(att, dict) and att and all(isinstance(v, (int, float)) for v in att.values()):
        console.print(table("meta-path attention (mean over users)", {k: float(v) for k, v in att.items()}))


@app.command("experiment")
def experiment_cmd(
    seeds: Annotated[int, typer.Option("--seeds", help="Number of seeds (0..N-1); mean ± std over them.")] = 5,
    out: Annotated[Path, typer.Option("--out", help="Output folder for results.csv/.md/.png.")] = Path("runs/table3"),
    skip_personas: Annotated[bool, typer.Option("--skip-personas", help="Reuse the personas already in the store.")] = False,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="SASRec epochs per model: the length of the cosine schedule (early stopping may end sooner).")] = None,
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

    try:
        rows = parse_variants(variants) if variants else None
    except ValueError as e:
        _fail(str(e), 2)
    s = _train_settings(store, config, device, epochs=epochs)
    try:
        with progress_bar(quiet) as progress:
            summary_md = experiment(s, seeds=list(range(seeds)), out_dir=out, skip_personas=skip_personas,
                                    variants=rows, progress=progress, log=_status)
    except (ValueError, KeyError, FileNotFoundError) as e:
        _fail(str(e))
    console.print(summary_md)
    console.print(f"written: {out}/results.csv, results.md, results.png")


@app.command("recommend")
def recommend_cmd(
    user: Annotated[Optional[str], typer.Option("--user", "-u", help="A known user id.")] = None,
    items: Annotated[Optional[str], typer.Option("--items", help="An anonymous session: item ids, comma-separated, oldest first.")] = None,
    k: Annotated[int, typer.Option("--k", help="How many items.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Ranked items for a known user, or for an anonymous session (persona inferred from its items)."""
    from persona import pipeline

    if (user is None) == (items is None):
        _fail("give exactly one of --user ID or --items ID,ID,…")
    s = _settings(store, config)
    try:
        if user is not None:
            recs = pipeline.recommend_user(s, user, k=k)
            title = f"top {k} for user {user}"
        else:
            ids = [i.strip() for i in items.split(",") if i.strip()]  # type: ignore[union-attr]
            recs = pipeline.recommend_session(s, ids, k=k)
            title = f"top {k} after session {', '.join(ids)}"
    except (KeyError, FileNotFoundError, ValueError) as e:
        _fail(str(e).strip('"'))
    if as_json:
        print(recs.to_json(orient="records", indent=2))
    else:
        console.print(table(title, recs.to_dict("records")))


@app.command("stats")
def stats_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Node counts per label and relationship counts per type."""
    from persona.kgstore import StoreError

    s = _settings(store, config)
    try:
        counts = workflows.stats(s)
    except StoreError as e:
        _fail(str(e))
    if as_json:
        print(json.dumps(counts, indent=2))
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
    from persona.kgstore import StoreError

    s = _settings(store, config)
    try:
        params = dict(workflows.parse_param(p) for p in param)
        rows = workflows.cypher(s, query, params, write=write)
    except (StoreError, ValueError) as e:
        _fail(str(e))
    if as_json:
        print(json.dumps(rows, indent=2, default=_json_default))
    elif rows:
        console.print(table(f"{len(rows)} row(s)", rows))
    else:
        console.print("(no rows)")


@app.command("app")
def app_cmd(
    port: Annotated[Optional[int], typer.Option("--port", help="Port (default 8501).")] = None,
    address: Annotated[Optional[str], typer.Option("--address", help="Address to bind (default 127.0.0.1 via Streamlit's config).")] = None,
    headless: Annotated[bool, typer.Option("--headless", help="Do not open a browser.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Open the Streamlit explorer: a user's persona neighbourhood beside their recommendations."""
    from persona.app import launch

    try:
        launch(store, port, address=address, headless=headless, config=config)
    except RuntimeError as e:
        _fail(str(e))


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
