"""Reading the enriched graph: ``persona recommend``, ``explain``, ``runs``, ``stats``, ``cypher`` and the
explorer (``persona app``)."""

from __future__ import annotations

import os

# Spinning OpenMP workers steal the second core from everything else on small machines (measured ~10×
# slower SASRec epochs on a busy 2-core box); passive waiting costs little when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from typing import Annotated

import typer

from persona import workflows
from persona._json import dumps as dumps_json
from persona._ui import console, table
from persona.config import AppSettings

from ._base import (
    ConfigOpt,
    RunOpt,
    StoreOpt,
    _config_default,
    _fail,
    _settings,
    _Typer,
    app,
)


def _session_items(items: str | None) -> list[str]:
    ids = [i.strip() for i in (items or "").split(",") if i.strip()]
    if not ids:
        _fail("--items: no item ids given (expected ID,ID,…)")
    return ids


@app.command("explain")
def explain_cmd(
    user: Annotated[str | None, typer.Option("--user", "-u", metavar="ID", help="A known user: explain their written-back list.")] = None,
    items: Annotated[
        str | None, typer.Option("--items", "-i", metavar="ID,ID,…", help="An anonymous session: explain its recommendations.")
    ] = None,
    item: Annotated[str | None, typer.Option("--item", metavar="ID", help="Only this recommended item.")] = None,
    k: Annotated[int, typer.Option("--k", "--paths", min=1, max=20, metavar="N", help="Paths per item.")] = 3,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100, metavar="K", help="Items of a session's list.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: one object per item with its scored paths.")] = False,
    run: RunOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Why each item is recommended: scored paths through the graph from what was consumed to the item.

    Shared entities are weighted by specificity (inverse item frequency) and by the persona's attention
    on their meta-paths; direct item-item links and similar users who consumed the item count too.
    """
    from persona import pipeline

    if (user is None) == (items is None):
        _fail("give exactly one of --user ID or --items ID,ID,…")
    s = _settings(store, config)
    if user is not None:
        out = pipeline.explain_user(s, user, item=item, k=k, run_id=run)
        title = f"why these items for user {user} (run {out[0]['run']})"
    else:
        if item is not None:
            _fail("--item goes with --user; a session's list is explained whole")
        ids = _session_items(items)
        out = pipeline.explain_session(s, ids, k=k, top_k=top_k, run_id=run)
        title = f"why these items after session {', '.join(ids)}"
    if as_json:
        print(dumps_json(out))
        return
    rows = [{"rank": r["rank"], "item": r["item"], "title": r["title"], "why": r["reason"],
             "best path score": r["paths"][0]["score"] if r["paths"] else None} for r in out]
    console.print(table(title, rows))


runs_app = _Typer(help="The training runs recorded in the store.", invoke_without_command=True)
app.add_typer(runs_app, name="runs")


@runs_app.callback(invoke_without_command=True)
def runs_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List the store's runs, newest first: kind, time, settings digest, headline metrics."""
    if ctx.invoked_subcommand is not None:
        return
    from persona import runs as runs_mod
    from persona.workflows import connect

    s = _settings(store, config)
    with connect(s, read_only=True) as st:
        recorded = runs_mod.list_runs(st)
    if as_json:
        print(dumps_json([{"id": r.id, "kind": r.kind, "created_at": r.created_at, "settings_digest": r.settings_digest,
                           "persona_run": r.persona_run, "metrics": r.headline()} for r in recorded]))
        return
    if not recorded:
        console.print(f"no runs recorded in {s.store}: `persona train --store {s.store}` records one")
        return
    rows = []
    for r in recorded:
        m = r.headline()
        final = m.get("final") or m.get("reranked") or {}  # runs before the fused final stage: the paper's list
        ret = m.get("retriever") or {}
        rows.append({"run": r.id, "kind": r.kind, "created (UTC)": r.created_at[:16].replace("T", " "),
                     "retriever NDCG@10": ret.get("ndcg@10"), "final NDCG@10": final.get("ndcg@10")})
    console.print(table(f"runs in {s.store}", rows))


@runs_app.command("show")
def runs_show_cmd(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="A run id (see `persona runs`).")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """One run in full: settings, metrics and where its model files are (JSON)."""
    from persona import runs as runs_mod
    from persona.workflows import connect

    s = _settings(store, config)
    with connect(s, read_only=True) as st:
        r = runs_mod.get_run(st, run_id)
    print(dumps_json({"id": r.id, "kind": r.kind, "created_at": r.created_at, "store_id": r.store_id,
                      "settings_digest": r.settings_digest, "persona_run": r.persona_run, "artefacts": r.artefacts,
                      "settings": r.settings, "metrics": r.metrics}))


@app.command("recommend")
def recommend_cmd(
    user: Annotated[str | None, typer.Option("--user", "-u", metavar="ID", help="A known user id.")] = None,
    items: Annotated[
        str | None,
        typer.Option("--items", "-i", metavar="ID,ID,…", help="An anonymous session: item ids, comma-separated, oldest first."),
    ] = None,
    k: Annotated[
        int, typer.Option("--top-k", "-k", "--k", min=1, max=100, metavar="K", help="How many items (1–100: the retriever's candidate count).")
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    run: RunOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Ranked items for a known user, or for an anonymous session (persona inferred from its items).

    The model is the newest train run recorded in the store (or --run); see `persona runs`.
    """
    from persona import pipeline

    if (user is None) == (items is None):
        _fail("give exactly one of --user ID or --items ID,ID,…")
    s = _settings(store, config)
    if user is not None:
        recs = pipeline.recommend_user(s, user, k=k, run_id=run)
        title = f"top {len(recs)} for user {user}"
    else:
        ids = _session_items(items)
        recs = pipeline.recommend_session(s, ids, k=k, run_id=run)
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
    console.print(table(f"nodes in {s.store}", counts["nodes"], names=("label", "nodes")))
    console.print(table(f"relationships in {s.store}", counts["rels"], names=("type", "relationships")))


@app.command("cypher")
def cypher_cmd(
    query: Annotated[
        str | None,
        typer.Argument(metavar="QUERY", help="One Cypher statement; values as $name with --param name=value."),
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", "-f", metavar="FILE", help="Read the statement from FILE ('-': standard input).")
    ] = None,
    example: Annotated[
        str | None,
        typer.Option("--example", "-e", metavar="NAME", help="Run cypher/examples/NAME (the variant for the store's backend)."),
    ] = None,
    list_examples: Annotated[bool, typer.Option("--list-examples", help="List the examples and exit.")] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", metavar="NAME[:TYPE]=VALUE",
            help="A $NAME value; repeatable. Plain VALUE: JSON if it parses (5, [1,2]), else a string. "
            "TYPE: int, float, str, bool, list, map or json, e.g. k:int=5, id:str=007, ids:list='[\"a\",\"b\"]'.",
        ),
    ] = None,
    write: Annotated[bool, typer.Option("--write", help="Allow writes (otherwise the database runs it read-only).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run Cypher on the graph: read-only unless --write.

    Give the statement as QUERY, with --file, or as a shipped --example (see --list-examples).
    """
    from persona.kgstore import parse_uri, queries

    s = _settings(store, config)
    backend = parse_uri(s.store)[0]
    given = [n for n, v in (("QUERY", query), ("--file", file), ("--example", example)) if v is not None]
    if list_examples:
        if given:
            _fail(f"--list-examples takes no {' or '.join(given)}")
        rows = workflows.list_examples(backend)
        if as_json:
            print(dumps_json(rows))
        else:
            console.print(table("examples (run one with: persona cypher --example NAME --param …)", rows,
                                caption=f"$params and variants for this store: {backend}"))
        return
    if len(given) != 1:
        _fail("give exactly one of QUERY, --file FILE or --example NAME" + (f" (got {', '.join(given)})" if given else ""))
    params = dict(workflows.parse_param(p) for p in param or ())
    if example is not None:
        text, where = workflows.statement(queries.example(example, backend), f"example {example!r}"), f"example {example!r}"
    elif file is not None:
        text, where = workflows.read_query_file(file), ("standard input" if file == "-" else file)
    else:
        text, where = workflows.statement(query or "", "QUERY"), "the query"
    workflows.check_params(text, params, where)
    rows = workflows.cypher(s, text, params, write=write)
    if as_json:
        print(dumps_json(rows))
    elif rows:
        console.print(table(f"{len(rows)} row(s)" if len(rows) != 1 else "1 row", rows))
    else:
        console.print("(no rows)")


@app.command("app")
def app_cmd(
    port: Annotated[
        int | None,
        typer.Option("--port", "-p", min=1, max=65535, metavar="PORT", help="Port." + _config_default(AppSettings, "port", "app")),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option("--host", "--address", metavar="HOST", help="Address to bind: 127.0.0.1 is this machine only; "
                     "0.0.0.0 exposes the page, which shows user histories, to the network."
                     + _config_default(AppSettings, "host", "app")),
    ] = None,
    headless: Annotated[bool, typer.Option("--headless", help="Do not open a browser.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    r"""Open the Streamlit explorer: a user's persona neighbourhood beside their recommendations.

    The store is fixed here (--store, PERSONA_STORE or the config file); visitors can only switch
    between the stores listed in \[app] stores.
    """
    from persona.app import launch

    s = _settings(store, config)
    try:
        launch(s.store, port or s.app.port, address=host or s.app.host, headless=headless, config=config)
    except RuntimeError as e:
        _fail(str(e))


