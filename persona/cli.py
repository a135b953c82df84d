"""The ``persona`` command line. Each command parses its options and calls one plain function."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import warnings

# Spinning OpenMP workers steal the second core from everything else on small machines (measured ~10×
# slower SASRec epochs on a busy 2-core box); passive waiting costs little when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from persona import __version__, workflows
from persona._ui import console, err_console, progress_bar, table
from persona.config import AppSettings, HDGISettings, IngestSettings, RecSettings, Settings, load_settings
from persona.errors import ConfigError, NotFoundError, PersonaError, is_disk_full


def _tidy_params(params: list[Any]) -> list[Any]:
    """Help that shows flags as flags: no ``<bool>`` after a flag, a name (not ``<list[str]>``) after a
    repeatable option. Options that set their own ``metavar`` keep it."""
    for p in params:
        if getattr(p, "metavar", None) is not None:
            continue
        if getattr(p, "is_flag", False) or getattr(p, "count", False):
            p.metavar = ""
        elif getattr(p, "multiple", False) and getattr(p, "name", None):
            p.metavar = p.name.upper()
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy_params(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy_params(super().get_params(ctx))


class _Typer(typer.Typer):
    """A Typer whose commands turn every :class:`PersonaError` into one line on stderr and exit 2.

    Anything else is a bug and keeps its traceback. A full disk (``ENOSPC`` from any library) is named as
    such; files are written atomically (:func:`persona.errors.atomic_save`), so nothing partial stays.
    Help shows flags without a type and repeatable options with a name (:func:`_tidy_params`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("cls", _Group)
        super().__init__(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", _Command)
        return _guarded(super().command(*args, **kwargs))

    def callback(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", _Group)
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


# Third-party chatter kept out of our output unless --verbose: torch_geometric's import triggers torch's
# "`torch.jit.script` is deprecated" FutureWarning; transformers and huggingface_hub draw a tqdm bar
# ("Loading weights") every time the text model loads. All of them read these settings when imported,
# which happens inside the commands, after the root callback below.
_QUIET_ENV = {"TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1"}
_JIT_WARNING = r"`torch\.jit\.script` is deprecated"
_env_we_set: set[str] = set()


def quiet_third_party(verbose: bool = False) -> None:
    """Silence (or, ``verbose``, restore) third-party warnings and progress bars in this process."""
    if verbose:
        for k in _env_we_set:
            os.environ.pop(k, None)
        _env_we_set.clear()
        filters = cast(list, warnings.filters)  # a list at run time; typeshed says Sequence
        filters[:] = [f for f in filters if not (f[1] is not None and f[1].pattern == _JIT_WARNING)]
        return
    for k, v in _QUIET_ENV.items():
        if k not in os.environ:
            os.environ[k] = v
            _env_we_set.add(k)
    warnings.filterwarnings("ignore", message=_JIT_WARNING, category=FutureWarning)
    # modules already imported (e.g. in a test process) read their settings at import: tell them directly
    if "huggingface_hub" in sys.modules:
        try:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        except ImportError:  # pragma: no cover
            pass
    if "transformers" in sys.modules:
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
        except ImportError:  # pragma: no cover
            pass


@app.callback()
def _main(
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Let third-party libraries print their warnings and progress bars too."),
    ] = False,
) -> None:
    """Persona-driven, knowledge-graph-backed session recommendation."""
    quiet_third_party(verbose)


app.add_typer(ingest_app, name="ingest")
app.add_typer(train_app, name="train")
app.add_typer(enrich_app, name="enrich")

def _config_default(model: Any, field: str, section: str, note: str = "") -> str:
    """Help text for an option whose default comes from the config file, shown like Typer's own
    ``[default: …]`` line: ``[default: 1, or [ingest] hops]``."""
    value = model.model_fields[field].default
    return "\n\n[dim]" + escape(f"[default: {value}{note}, or [{section}] {field}]") + "[/dim]"


StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", "-s", metavar="URI",
        help="Store URI: embedded:PATH or bolt://host:port (default: PERSONA_STORE, the config file's store, "
        "or embedded:persona.db).",
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", metavar="FILE", help="TOML config file (default ./persona.toml if present).")
]
RdfOpt = Annotated[
    list[Path], typer.Option("--rdf", metavar="FILE", help="RDF file (N-Triples, Turtle, RDF/XML; .gz ok). Repeatable.")
]
HopsOpt = Annotated[
    int | None,
    typer.Option(
        "--hops", min=1, metavar="N",
        help="Keep RDF triples within this many hops of a linked item." + _config_default(IngestSettings, "hops", "ingest"),
    ),
]
KCoreOpt = Annotated[
    int | None,
    typer.Option(
        "--k-core", min=0, metavar="K",
        help="Keep users and items with ≥ K interactions (the paper uses 5; 0 = off)."
        + _config_default(IngestSettings, "k_core", "ingest"),
    ),
]
SkipOpt = Annotated[bool, typer.Option("--skip-invalid", help="Skip bad records (counted, written to --rejects) instead of failing.")]
RejectsOpt = Annotated[
    Path | None, typer.Option("--rejects", metavar="FILE", help="Where --skip-invalid writes rejected records (JSON lines).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
DomainOpt = Annotated[str | None, typer.Option("--domain", metavar="NAME", help="Item domain (default: from the file name).")]


def _settings(store: str | None, config: Path | None, **extra: Any) -> Settings:
    from persona.kgstore import parse_uri

    s = load_settings(config, store=store, **extra)
    parse_uri(s.store)  # a typo in the URI is refused before anything is opened or created
    return s


def _default_password() -> str:
    from persona.config import Neo4jSettings

    return Neo4jSettings().password.get_secret_value()


def mask_secrets(message: str) -> str:
    """``message`` with URI passwords and the configured Neo4j password replaced by ``***``."""
    from persona.kgstore import mask_uri

    out = mask_uri(message)
    for secret in {os.environ.get("NEO4J_PASSWORD", ""), os.environ.get("PERSONA_NEO4J__PASSWORD", "")}:
        # the development default ("persona-kg", printed in the README) is no secret, and masking it would
        # mangle every message that names the project
        if len(secret) >= 4 and secret != _default_password():
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
        console.print(table("parser notes", interesting, names=("note", "value")))


@ingest_app.command("movielens")
def ingest_movielens(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Folder with the GroupLens ML-100K files (u.data, u.item, u.user).")
    ],
    link: Annotated[Path | None, typer.Option("--link", metavar="FILE", help="RecBole .link file: item_id → DBpedia IRI.")] = None,
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
    reviews: Annotated[Path, typer.Option("--reviews", metavar="FILE", help="Amazon 2018 reviews, JSON lines (.gz ok).")],
    meta: Annotated[Path, typer.Option("--meta", metavar="FILE", help="Amazon 2018 metadata, JSON lines (.gz ok).")],
    link: Annotated[Path | None, typer.Option("--link", metavar="FILE", help="RecBole .link file: asin → DBpedia IRI.")] = None,
    rdf: RdfOpt = [],
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
            reviews, meta, rdf=tuple(rdf), link=link, hops=hops if hops is not None else s.ingest.hops,
            k_core=k_core if k_core is not None else s.ingest.k_core, skip_invalid=skip_invalid, rejects=rejects, **_ranges(s), domain=domain,
        ),
        quiet,
        "amazon",
    )


@ingest_app.command("atomic")
def ingest_atomic(
    prefix: Annotated[
        str, typer.Argument(metavar="PREFIX", help="Path prefix of RecBole atomic files: PREFIX.inter, .item, .user, .kg, .link.")
    ],
    rdf: RdfOpt = [],
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
            prefix, rdf=tuple(rdf), hops=hops if hops is not None else s.ingest.hops, k_core=k_core if k_core is not None else s.ingest.k_core,
            skip_invalid=skip_invalid, rejects=rejects, **_ranges(s), domain=domain,
        ),
        quiet,
        "atomic",
    )


@ingest_app.command("demo")
def ingest_demo(
    users: Annotated[int, typer.Option("--users", min=10, metavar="N", help="Number of users.")] = 1000,
    items: Annotated[int, typer.Option("--items", min=10, metavar="M", help="Number of items.")] = 600,
    seed: Annotated[int, typer.Option("--seed", min=0, metavar="S", help="Random seed.")] = 0,
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
    endpoint: Annotated[str, typer.Option("--endpoint", metavar="URL", help="SPARQL endpoint.")] = "https://dbpedia.org/sparql",
    predicates: Annotated[
        list[str],
        typer.Option("--predicates", metavar="IRI", help="Predicate IRI to fetch; repeatable (default: the schema's table)."),
    ] = [],
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
            {r["id"]: r["iri"] for r in rows}, endpoint=endpoint, predicates=predicates or None, batch=batch,
            rate_limit_s=rate_limit, cache_dir=s.workdir / "sparql-cache", offline=offline,
        )

    _run_ingest(s, parse, quiet, "dbpedia")


DeviceOpt = Annotated[
    str | None,
    typer.Option("--device", metavar="DEVICE", help="'cpu', 'cuda' or 'cuda:N' for text encoding, HDGI and SASRec (default: the config's)."),
]


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
    err_console.print(f"[dim]{escape(msg)}[/]", highlight=False, soft_wrap=True)


@train_app.callback(invoke_without_command=True)
def train_cmd(
    ctx: typer.Context,
    user_emb: Annotated[
        str | None,
        typer.Option("--user-emb", metavar="KIND", help="Retriever user embedding: none | random | llm | kg."
                     + _config_default(RecSettings, "user_emb", "rec")),
    ] = None,
    item_emb: Annotated[
        str | None,
        typer.Option("--item-emb", metavar="KIND", help="Retriever item embedding: random | text."
                     + _config_default(RecSettings, "item_emb", "rec")),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, metavar="S", help="Random seed of the recommender." + _config_default(RecSettings, "seed", "rec")),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, metavar="N", help="SASRec epochs: the length of the cosine schedule (early stopping may end sooner)."
                     + _config_default(RecSettings, "epochs", "rec")),
    ] = None,
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
    _print_metrics(f"test metrics (full ranking), run {rep.run_id}", rep.metrics)
    console.print(table("run", run_rows(rep.timings, rep.written), caption=f"run dir: {rep.run_dir}"))


_TIMING_NAMES = {"personas_s": "personas", "load_s": "loading", "rec_s": "recommender", "write_back_s": "write-back"}


def run_rows(timings: dict[str, float], written: dict[str, int]) -> dict[str, Any]:
    """The ``run`` table of ``persona train``: seconds per stage (shown ``77.9 s``), then what was written."""
    rows: dict[str, Any] = {f"{_TIMING_NAMES.get(k, k.removesuffix('_s'))} time": float(v) for k, v in timings.items()}
    if timings:
        rows["total time"] = float(sum(timings.values()))
    rows.update({f"{k} written": v for k, v in written.items()})
    return rows


_METRIC_LABELS = {"hr@10": "HR@10", "ndcg@10": "NDCG@10", "mrr": "MRR", "hr@100": "HR@100"}


def _print_metrics(title: str, metrics: dict[str, dict[str, float]]) -> None:
    keys = _METRIC_LABELS
    rows = [{"stage": stage, **{lab: m.get(k, m.get(lab)) for k, lab in keys.items()}} for stage, m in metrics.items()]
    console.print(table(title, rows, ["stage", *keys.values()], kinds={lab: "metric" for lab in keys.values()}))


@train_app.command("personas")
def train_personas_cmd(
    device: DeviceOpt = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, metavar="N", help="Maximum HDGI epochs." + _config_default(HDGISettings, "epochs", "hdgi")),
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Text-initialise the graph and learn HDGI personas; write them to User.persona."""
    from persona.pipeline import train_personas_recorded

    s = _train_settings(store, config, device)
    if epochs:
        s.hdgi = s.hdgi.model_copy(update={"epochs": epochs})
    with progress_bar(quiet) as progress, workflows.connect(s) as st:
        res = train_personas_recorded(st, s, progress=progress, log=_status)
    console.print(table(f"personas, run {res.run_id}", {
        "users": len(res.user_ids), "dimension": int(res.personas.shape[1]), "epochs": len(res.losses),
        "final loss": float(res.losses[-1]) if res.losses else None,
    }))
    att = getattr(res, "attention", None)
    if isinstance(att, dict) and att and all(isinstance(v, (int, float)) for v in att.values()):
        console.print(table("meta-path attention (mean over users)", {k: float(v) for k, v in att.items()},
                            kinds="weight", names=("meta-path", "attention")))


@app.command("experiment")
def experiment_cmd(
    seeds: Annotated[int, typer.Option("--seeds", min=1, metavar="N", help="Number of seeds (0..N-1); mean ± std over them.")] = 5,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Output folder for results.csv, summary.csv, results.md and results.png.")
    ] = Path("runs/table3"),
    skip_personas: Annotated[bool, typer.Option("--skip-personas", help="Reuse the personas already in the store.")] = False,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, metavar="N", help="SASRec epochs per model: the length of the cosine schedule (early stopping may end sooner)."
                     + _config_default(RecSettings, "epochs", "rec")),
    ] = None,
    variants: Annotated[
        str | None,
        typer.Option(
            "--variants", metavar="USER/ITEM,…",
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
    print_experiment(out, summary_md)


def experiment_rows(summary: Any) -> list[dict[str, str]]:
    """Table 3 rows from ``summary.csv`` (``stage, user_emb, item_emb, <metric>_mean, <metric>_std``):
    the retriever variant as ``--variants`` spells it (``kg/text``), cells ``mean`` over ``± std`` to 4
    places (the mean alone for one seed)."""
    from persona._ui import fmt_metric

    out = []
    for r in summary.to_dict("records"):
        row = {"stage": str(r["stage"]), "retriever": f"{r['user_emb']}/{r['item_emb']}"}
        for key, label in _METRIC_LABELS.items():
            mean, std = r.get(f"{key}_mean"), r.get(f"{key}_std")
            if mean is None or not math.isfinite(float(mean)):
                row[label] = "n/a"
            elif std is None or not math.isfinite(float(std)):
                row[label] = fmt_metric(float(mean))
            else:
                row[label] = f"{fmt_metric(float(mean))}\n± {fmt_metric(float(std))}"
        out.append(row)
    return out


def print_experiment(out: Path, summary_md: str) -> None:
    """Table 3 as a Rich table (from ``summary.csv``), the run's notes below it, then the files written."""
    import pandas as pd

    summary_csv = Path(out) / "summary.csv"
    lines = [ln.strip() for ln in summary_md.splitlines()]
    heading = lines[0] if lines and not lines[0].startswith("|") else ""
    notes = [ln[2:] for ln in lines if ln.startswith("- ")]
    skipped = [ln for ln in lines if ln.startswith("Skipped:")]
    if summary_csv.is_file():
        rows = experiment_rows(pd.read_csv(summary_csv))
        caption = " ".join(x for x in (heading, "Reranked rows: plain SASRec (none/random) reranks that retriever's "
                                       "candidates; kg = KG+LLM personas, llm = LLM summaries.") if x)
        console.print(table("Table 3 (test split)", rows, caption=caption, section_by="stage",
                            right=list(_METRIC_LABELS.values())))
    else:  # pragma: no cover - pipeline.experiment always writes it
        console.print(summary_md, markup=False, highlight=False)
    for line in skipped + notes:
        console.print(escape(line.replace("**", "")), style="dim", highlight=False)
    console.print(f"written: {out}/results.csv, summary.csv, results.md, results.png", highlight=False, soft_wrap=True)


RunOpt = Annotated[str | None, typer.Option("--run", metavar="ID", help="A run of the store (default: its newest train run; see `persona runs`).")]


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
        final = m.get("reranked") or {}
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
        list[str],
        typer.Option(
            "--param", "-p", metavar="NAME[:TYPE]=VALUE",
            help="A $NAME value; repeatable. Plain VALUE: JSON if it parses (5, [1,2]), else a string. "
            "TYPE: int, float, str, bool, list, map or json, e.g. k:int=5, id:str=007, ids:list='[\"a\",\"b\"]'.",
        ),
    ] = [],
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
    params = dict(workflows.parse_param(p) for p in param)
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
