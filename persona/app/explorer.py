"""persona-kg explorer: one user's persona neighbourhood beside their recommendations.

Serve it with ``persona app`` (:func:`persona.app.launch`), or ``streamlit run app/explorer.py`` with
``-- --config FILE`` for a persona-kg config file. The store URI comes from ``PERSONA_STORE`` (or the
config file), fixed by the operator at launch: a visitor can switch only between the stores the
operator listed (``[app] stores`` / ``PERSONA_APP__STORES``), never type one in, so the server's Neo4j
credentials are never sent to a host a visitor chooses. ``?user=ID`` in the address opens that user.

The page only reads: stores are opened read-only (see :func:`persona.kgstore.open_store`: every
statement's plan is checked, writes are refused on both backends).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from persona.app import (
    ExplorerData,
    Neighbourhood,
    UserProfile,
    neighbourhood_dot,
    session_rows,
    summary_source_label,
)
from persona.kgstore import StoreError, mask_uri, open_store

from persona.config import Settings, load_settings

USER_OPTIONS = 200  # ids offered by the user picker at once; the search box narrows the rest


def _config_arg() -> Path | None:
    """``--config FILE`` from the script arguments (``streamlit run explorer.py -- --config FILE``)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--config", type=Path, default=None)
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.config


def _close(data: ExplorerData) -> None:
    data.store.close()


@st.cache_resource(show_spinner="Opening the store…", on_release=_close)
def _open(uri: str, user: str, password: str, database: str | None) -> ExplorerData:
    """One read-only store per URI for the whole server (shared by browser sessions, see ExplorerData)."""
    return ExplorerData(open_store(uri, user=user, password=password, database=database, read_only=True))


def _session_function() -> Callable[..., Any] | None:
    """``persona.workflows.recommend_session`` if this installation provides it, else None."""
    try:
        from persona import workflows
    except ImportError:
        return None
    fn = getattr(workflows, "recommend_session", None)
    return fn if callable(fn) else None


# ---------------------------------------------------------------------------------------------- sidebar
def _pick_user(data: ExplorerData) -> str | None:
    """User picker in the sidebar, kept in step with ``?user=ID``."""
    if "user_pick" not in st.session_state and st.query_params.get("user"):
        st.session_state["user_pick"] = st.query_params["user"]
    search = st.sidebar.text_input("Find a user id", key="user_search", placeholder="part of an id")
    options = data.find_users(search, USER_OPTIONS)
    current = st.session_state.get("user_pick")
    if current and current not in options:
        options = [current, *options]  # an id from the address stays selectable, even if unknown
    if not options:
        st.sidebar.warning(f"no user id contains {search!r}")
        return None
    user = st.sidebar.selectbox("User", options, key="user_pick")
    if user is not None and st.query_params.get("user") != user:
        st.query_params["user"] = user
    return user


# ---------------------------------------------------------------------------------------------- sections
def _header(user: str, profile: UserProfile, history: pd.DataFrame) -> None:
    st.title(f"User {user}")
    split = history["split"].value_counts()
    facts = [
        (
            f"{len(history)} interactions (train {split.get('train', 0)}, valid {split.get('valid', 0)}, "
            f"test {split.get('test', 0)})"
        )
    ]
    if profile.persona is not None:
        facts.append(
            f"persona: {profile.persona.shape[0]} dimensions, run {profile.persona_run or '?'}, "
            f"model {profile.persona_model or '?'}"
        )
    if profile.planted_taste is not None:
        facts.append(f"planted taste {profile.planted_taste} (demo ground truth, never a model input)")
    st.caption(" · ".join(facts))


def _neighbourhood(data: ExplorerData, nb: Neighbourhood) -> None:
    st.subheader("Persona neighbourhood")
    if nb.note:
        st.info(nb.note)
    if nb.items.empty and nb.attributes.empty and nb.similar.empty:
        st.info("nothing to draw: this user has no training interactions")
        return
    st.graphviz_chart(neighbourhood_dot(nb), width="stretch")
    st.caption(
        f"Blue: the user · boxes: {len(nb.items)} of {nb.n_train} training items · ellipses: the "
        f"{len(nb.attributes)} attributes most of those items share · orange: the {len(nb.similar)} most "
        "similar users by persona, each linked to the top attributes most of their own training items "
        "reach (thicker: more items)"
    )
    if not nb.similar.empty:
        briefs = data.user_briefs(nb.similar["user"].tolist())
        table = nb.similar.merge(briefs, on="user", how="left")
        lines = []
        for r in table.itertuples(index=False):
            summary = r.summary if isinstance(r.summary, str) and r.summary else ""
            if len(summary) > 140:
                summary = summary[:139] + "…"
            n_train = "?" if pd.isna(r.n_train) else int(r.n_train)
            items = "1 training item" if n_train == 1 else f"{n_train} training items"
            lines.append(f"- [{r.user}](?user={r.user}) · similarity {r.similarity:.3f} · {items}  \n  {summary}")
        with st.expander(f"{len(table)} most similar users", expanded=False):
            st.markdown("\n".join(lines))
    if not nb.attributes.empty:
        with st.expander("Top attributes", expanded=False):
            st.dataframe(
                nb.attributes.rename(columns={"n_items": "your items", "shared_by": "similar users sharing"}),
                hide_index=True,
                width="stretch",
            )


def _attention(profile: UserProfile) -> None:
    st.subheader("Meta-path attention")
    if profile.attention_error:
        st.warning(profile.attention_error)
        return
    if not profile.attention:
        st.info("no attention weights stored for this user (they come with the persona: `persona train`)")
        return
    df = pd.DataFrame({"meta-path": list(profile.attention), "weight": list(profile.attention.values())})
    chart = (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("weight:Q", title="attention weight"),
            y=alt.Y("meta-path:N", sort="-x", title=None, axis=alt.Axis(labelLimit=320)),
            tooltip=["meta-path", alt.Tooltip("weight:Q", format=".3f")],
        )
        .properties(height=alt.Step(24))
    )
    st.altair_chart(chart, width="stretch")
    st.caption("Attention weights: " + " · ".join(f"{k} {v:.3f}" for k, v in profile.attention.items()))


def _summary(profile: UserProfile) -> None:
    st.subheader("Summary")
    if not profile.summary:
        st.info("no summary stored for this user (`persona experiment` writes them for its LLM row, "
                "as does `persona train --user-emb llm`)")
        return
    st.markdown(f"**{summary_source_label(profile.summary_source)}**")
    st.markdown(profile.summary)


def _history(history: pd.DataFrame) -> None:
    st.subheader(f"History ({len(history)})")
    if history.empty:
        st.info("this user has no interactions")
        return
    st.dataframe(
        history[["pos", "title", "split", "rating", "item"]],
        hide_index=True,
        width="stretch",
        height=min(420, 38 + 35 * len(history)),
    )


def _recommendations(data: ExplorerData, user: str, history: pd.DataFrame, has_recs: bool) -> None:
    st.subheader("Recommendations")
    recs = data.recommendations(user) if has_recs else pd.DataFrame(columns=["run", "rank", "item", "title", "score"])
    if recs.empty:
        st.info("no recommendations stored for this user "
                "(`persona train` writes them; `persona recommend` only prints a list)")
        return
    runs = sorted(recs["run"].dropna().unique().tolist(), reverse=True)
    run = runs[0] if len(runs) <= 1 else st.selectbox("Run", runs, key="rec_run")
    shown = recs[recs["run"] == run] if runs else recs
    shown = shown.sort_values("rank")
    held = history.loc[history["split"] == "test", "item"].tolist()
    valid = history.loc[history["split"] == "valid", "item"].tolist()
    marks = shown["item"].map(lambda i: "held-out test item" if i in held else ("validation item" if i in valid else ""))
    table = pd.DataFrame(
        {
            "rank": shown["rank"].astype(int).values,
            "title": shown["title"].fillna(shown["item"]).values,
            "score": shown["score"].astype(float).values,
            "item": shown["item"].values,
            "note": marks.values,
        }
    )

    def highlight(row: pd.Series) -> list[str]:
        colour = {"held-out test item": "background-color: #c6efce; font-weight: 600",
                  "validation item": "background-color: #fff2cc"}.get(row["note"], "")
        return [colour] * len(row)

    st.caption(f"run {run or '?'} · {len(table)} items")
    st.table(table.style.apply(highlight, axis=1).format({"score": "{:.4f}"}), hide_index=True)
    if not held:
        st.caption("This user has no held-out test item (fewer than three interactions).")
    else:
        hit = table[table["item"].isin(held)]
        if len(hit):
            st.success(f"Held-out test item “{hit['title'].iloc[0]}” is at rank {int(hit['rank'].iloc[0])}.")
        else:
            title = history.loc[history["item"] == held[0], "title"].iloc[0]
            st.info(f"Held-out test item “{title if isinstance(title, str) else held[0]}” is not in this list.")


def _session_panel(data: ExplorerData, settings: Settings, fn: Callable[..., Any]) -> None:
    """Recommend for a hand-picked, anonymous session (no user)."""
    st.divider()
    st.header("Anonymous session")
    st.caption("Pick items as if a new visitor had viewed them, in order; no user is involved.")
    titles: dict[str, str] = st.session_state.setdefault("session_titles", {})
    search = st.text_input("Find items by title", key="session_search")
    found = data.search_items(search, 50)
    titles.update({r.item: r.title for r in found.itertuples(index=False) if isinstance(r.title, str)})
    picked = st.session_state.get("session_items", [])
    options = list(dict.fromkeys([*picked, *found["item"].tolist()]))
    c1, c2 = st.columns([4, 1])
    picked = c1.multiselect("Session items", options, key="session_items", format_func=lambda i: f"{titles.get(i, i)} ({i})")
    k = c2.number_input("How many", min_value=1, max_value=100, value=10, key="session_k")
    if not picked:
        return
    try:
        rows = session_rows(fn(settings, list(picked), k=int(k)))
    except ValueError as e:
        st.error(f"the session recommender answered something unexpected: {e}")
        return
    missing = [i for i in rows["item"] if i not in titles]
    if missing:
        titles.update({i: t for i, t in data.item_titles(missing).items() if t})
    rows["title"] = [t if isinstance(t, str) and t else titles.get(i, i) for i, t in zip(rows["item"], rows["title"])]
    st.table(rows[["rank", "title", "score", "item"]].style.format({"score": "{:.4f}"}, na_rep=""), hide_index=True)


# ---------------------------------------------------------------------------------------------- page
def _user_page(data: ExplorerData, user: str, has_recs: bool, has_attrs: bool, uri: str) -> None:
    profile = data.user(user)
    if profile is None:
        st.warning(f"No user with id “{user}” in {uri}. Pick a user in the sidebar.")
        return
    history = data.history(user)
    _header(user, profile, history)
    k_users = st.sidebar.slider("Similar users", 0, 20, 5, key="k_users")
    n_attrs = st.sidebar.slider("Attributes shown", 1, 25, 8, key="n_attrs")
    n_items = st.sidebar.slider("Training items shown", 1, 30, 10, key="n_items")
    left, right = st.columns([3, 2], gap="large")
    with left:
        try:
            nb = data.neighbourhood(
                user, profile.persona, history=history, k_users=k_users, n_attributes=n_attrs, n_items=n_items,
                with_attributes=has_attrs,
            )
            _neighbourhood(data, nb)
        except StoreError as e:
            st.error(f"could not read the neighbourhood: {e}")
        _attention(profile)
        _summary(profile)
        _history(history)
    with right:
        try:
            _recommendations(data, user, history, has_recs)
        except StoreError as e:
            st.error(f"could not read the recommendations: {e}")


def store_choices(settings: Settings) -> list[str]:
    """The stores a visitor may pick: the launch store, then the operator's ``[app] stores`` list."""
    out: list[str] = []
    for uri in [settings.store, *settings.app.stores]:
        if uri and uri not in out:
            out.append(uri)
    return out


def _pick_store(settings: Settings) -> str | None:
    choices = store_choices(settings)
    if len(choices) <= 1:
        if choices:
            st.sidebar.caption(f"store: {mask_uri(choices[0])}")
        return choices[0] if choices else None
    return st.sidebar.selectbox("Store", choices, format_func=mask_uri, key="store_choice",
                                help="The stores the operator configured ([app] stores).")


def main() -> None:
    """Draw the page."""
    st.set_page_config(page_title="persona-kg explorer", page_icon="🧭", layout="wide")
    try:
        settings = load_settings(_config_arg())
    except (FileNotFoundError, ValueError) as e:
        st.error(f"cannot read the configuration: {e}")
        return
    st.sidebar.header("persona-kg explorer")
    uri = _pick_store(settings)
    if not uri:
        st.info("No store is configured: start the explorer with `persona app --store URI`.")
        return
    try:
        data = _open(uri, settings.neo4j.user, settings.neo4j.password.get_secret_value(), settings.neo4j.database)
        overview = data.overview()
    except StoreError as e:
        st.error(f"Cannot reach the store {mask_uri(uri)}.\n\n{e}")
        st.caption("Check the URI given to `persona app --store` (or PERSONA_STORE); an embedded store must exist "
                   "(`persona ingest …`) and not be held by a running `persona` command; a Neo4j "
                   "server must be running (`scripts/neo4j.sh start`).")
        return
    st.sidebar.caption(" · ".join(f"{k} {v:,}" for k, v in overview.nodes.items() if k in ("User", "Item")))
    if overview.users == 0:
        st.info(f"The store {mask_uri(uri)} holds no users yet. Load data with `persona ingest …`, then `persona train`.")
        return
    user = _pick_user(data)
    if user is not None:
        _user_page(data, user, overview.has_recommendations, overview.has_attributes, uri)
    fn = _session_function()
    if fn is not None:
        try:
            _session_panel(data, settings.model_copy(update={"store": uri}), fn)
        except StoreError as e:
            st.error(f"could not recommend for the session: {e}")


try:
    main()
except StoreError as e:
    st.error(f"The store failed: {e}")
except Exception as e:  # noqa: BLE001 (a page must not end in a bare traceback; details stay one click away)
    st.error(f"Unexpected error: {type(e).__name__}: {e}")
    with st.expander("details"):
        st.exception(e)
