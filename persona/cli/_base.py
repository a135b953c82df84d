"""The shared parts of the ``persona`` command line: the root :data:`app`, the error guard every command
gets (:class:`PersonaError` → one ``error:`` line, exit 2), common options, settings and output helpers."""

from __future__ import annotations

import functools
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

from persona import __version__
from persona._ui import err_console
from persona.config import IngestSettings, Settings, load_settings
from persona.errors import PersonaError, is_disk_full


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
    list[Path] | None, typer.Option("--rdf", metavar="FILE", help="RDF file (N-Triples, Turtle, RDF/XML; .gz ok). Repeatable.")
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


DeviceOpt = Annotated[
    str | None,
    typer.Option("--device", metavar="DEVICE", help="'cpu', 'cuda' or 'cuda:N' for text encoding, HDGI and SASRec (default: the config's)."),
]
RunOpt = Annotated[str | None, typer.Option("--run", metavar="ID", help="A run of the store (default: its newest train run; see `persona runs`).")]


def _settings(store: str | None, config: Path | None, **extra: Any) -> Settings:
    from persona.kgstore import parse_uri

    s = load_settings(config, store=store, **extra)
    parse_uri(s.store)  # a typo in the URI is refused before anything is opened or created
    return s


def apply_device(s: Settings, device: str | None) -> None:
    """``--device``: checked first (one clear line, before any work, when CUDA is not there), then set for
    every stage — text encoding, HDGI and SASRec."""
    if device:
        from persona.rec._torch import resolve_device

        resolve_device(device)
        s.text.device = s.rec.device = s.hdgi.device = device


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

