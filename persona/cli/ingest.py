"""``persona ingest …`` and ``persona enrich …``: sources into the graph store."""

from __future__ import annotations

import os

# Spinning OpenMP workers steal the second core from everything else on small machines (measured ~10×
# slower SASRec epochs on a busy 2-core box); passive waiting costs little when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path
from typing import Annotated, Any

import typer

from persona import workflows
from persona._ui import console, progress_bar, table
from persona.config import IngestSettings, Settings
from persona.errors import ConfigError, NotFoundError

from ._base import (
    ConfigOpt,
    DomainOpt,
    HopsOpt,
    KCoreOpt,
    QuietOpt,
    RdfOpt,
    RejectsOpt,
    SkipOpt,
    StoreOpt,
    _config_default,
    _fail,
    _settings,
    _Typer,
    app,
)

ingest_app = _Typer(help="Load a source into the graph store.", no_args_is_help=True)
enrich_app = _Typer(help="Add external knowledge to items already in the store.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(enrich_app, name="enrich")


def _reader_args(s: Settings, hops: int | None, k_core: int | None, skip_invalid: bool, rejects: Path | None) -> dict[str, Any]:
    """The arguments every reader shares: flags over the ``[ingest]`` settings, and the value ranges."""
    return {"hops": s.ingest.hops if hops is None else hops, "k_core": s.ingest.k_core if k_core is None else k_core,
            "skip_invalid": skip_invalid, "rejects": rejects, **_ranges(s)}


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
    _print_predicates(report.stats)
    interesting = {k: v for k, v in report.stats.items() if v and k != "predicate_types"}
    if interesting:
        console.print(table("parser notes", interesting, names=("note", "value")))


def _print_predicates(stats: dict[str, Any]) -> None:
    """The predicate → relationship type → label mapping the knowledge triples went through."""
    from persona.ingest.rdf import predicate_map
    from persona.kgstore.schema import predicate_source

    mapping = [
        {"predicate": p, "type": t, "label": lab, "triples": n, "rule": predicate_source(p)}
        for p, t, lab, n in predicate_map(stats)
    ]
    if mapping:
        console.print(
            table(
                "predicates → relationship types",
                mapping,
                caption="override a rule in the config file: [ingest.predicates] \"PREDICATE\" = [\"TYPE\", \"Label\"]",
            )
        )


@ingest_app.command("movielens")
def ingest_movielens(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Folder with the GroupLens ML-100K files (u.data, u.item, u.user).")
    ],
    link: Annotated[Path | None, typer.Option("--link", metavar="FILE", help="RecBole .link file: item_id → DBpedia IRI.")] = None,
    rdf: RdfOpt = None,
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
            directory, link=link, rdf=tuple(rdf or ()), **_reader_args(s, hops, k_core, skip_invalid, rejects),
        ),
        quiet,
        "movielens",
    )


@ingest_app.command("amazon")
def ingest_amazon(
    reviews: Annotated[Path, typer.Option("--reviews", metavar="FILE", help="Amazon 2018 reviews, JSON lines (.gz ok).")],
    meta: Annotated[Path, typer.Option("--meta", metavar="FILE", help="Amazon 2018 metadata, JSON lines (.gz ok).")],
    link: Annotated[Path | None, typer.Option("--link", metavar="FILE", help="RecBole .link file: asin → DBpedia IRI.")] = None,
    rdf: RdfOpt = None,
    hops: HopsOpt = None,
    k_core: KCoreOpt = None,
    domain: DomainOpt = None,
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
            reviews, meta, rdf=tuple(rdf or ()), link=link, domain=domain,
            **_reader_args(s, hops, k_core, skip_invalid, rejects),
        ),
        quiet,
        "amazon",
    )


@ingest_app.command("atomic")
def ingest_atomic(
    prefix: Annotated[
        str, typer.Argument(metavar="PREFIX", help="Path prefix of RecBole atomic files: PREFIX.inter, .item, .user, .kg, .link.")
    ],
    rdf: RdfOpt = None,
    hops: HopsOpt = None,
    k_core: KCoreOpt = None,
    domain: DomainOpt = None,
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
            prefix, rdf=tuple(rdf or ()), domain=domain, **_reader_args(s, hops, k_core, skip_invalid, rejects),
        ),
        quiet,
        "atomic",
    )


@ingest_app.command("demo")
def ingest_demo(
    users: Annotated[int | None, typer.Option("--users", min=10, metavar="N", help="Number of users."
                                              + _config_default(IngestSettings, "demo_users", "ingest"))] = None,
    items: Annotated[int | None, typer.Option("--items", min=10, metavar="M", help="Number of items."
                                              + _config_default(IngestSettings, "demo_items", "ingest"))] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, metavar="S", help="Random seed.")] = 0,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """A generated Amazon-like dataset with planted personas (ground truth in User.planted_taste)."""
    from persona.ingest import generate_demo

    s = _settings(store, config)
    n_users = s.ingest.demo_users if users is None else users
    n_items = s.ingest.demo_items if items is None else items
    _run_ingest(s, lambda: generate_demo(users=n_users, items=n_items, seed=seed), quiet, "demo")


@enrich_app.command("dbpedia")
def enrich_dbpedia(
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", metavar="URL", help="SPARQL endpoint." + _config_default(IngestSettings, "sparql_endpoint", "ingest")),
    ] = None,
    predicates: Annotated[
        list[str] | None,
        typer.Option("--predicates", metavar="IRI", help="Predicate IRI to fetch; repeatable (default: the schema's table)."),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, metavar="N", help="Items per SPARQL query.")] = 50,
    rate_limit: Annotated[float, typer.Option("--rate-limit", min=0.0, metavar="SECONDS", help="Seconds between queries.")] = 1.0,
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
            rows = st.run_named("enrich_linked_items")
        if not rows:
            raise NotFoundError(f"{s.store}: no Item has an iri; ingest with --link first")
        return fetch_dbpedia(
            {r["id"]: r["iri"] for r in rows}, endpoint=endpoint or s.ingest.sparql_endpoint, predicates=predicates or None, batch=batch,
            rate_limit_s=rate_limit, cache_dir=s.workdir / "sparql-cache", offline=offline,
        )

    _run_ingest(s, parse, quiet, "dbpedia")
