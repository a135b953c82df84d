"""persona-kg explorer: a user's persona neighbourhood, the reasons behind each recommendation, the
persona map and the run's evaluation.

Serve it with ``persona app`` (:func:`persona.app.launch`, 127.0.0.1 unless ``--host`` says otherwise), or
``streamlit run app/explorer.py`` with ``-- --config FILE`` for a persona-kg config file. The store URI
comes from ``PERSONA_STORE`` (or the config file), fixed by the operator at launch: a visitor can switch
only between the stores the operator listed (``[app] stores`` / ``PERSONA_APP__STORES``), never type one
in, so the server's Neo4j credentials are never sent to a host a visitor chooses. ``?user=ID`` in the
address opens that user.

The page only reads: stores are opened read-only (see :func:`persona.kgstore.open_store`: every
statement's plan is checked, writes are refused on both backends). What is costly and the same for every
visitor (the store connection, the persona map, a run's evaluation, the session model) is cached for the
whole server with ``st.cache_resource`` / ``st.cache_data``.

Why one long module: a Streamlit page is one script that reruns top to bottom; its panels are functions
here, the data they read is in :mod:`persona.app.data` and the graph component in :mod:`persona.app._component`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from persona.app import (
    ExplorerData,
    Neighbourhood,
    UserProfile,
    neighbourhood_graph,
    summary_source_label,
)
from persona.app._component import graph_component
from persona.app._why import reason_lines
from persona.app.analysis import (
    activity_buckets,
    cluster_summaries,
    list_quality,
    natural_key,
    persona_map,
    top_by_user,
)
from persona.config import Settings, load_settings
from persona.errors import PersonaError
from persona.explain import readable_name
from persona.kgstore import StoreError, mask_uri, open_store

USER_OPTIONS = 200  # ids offered by the user picker at once; the search box narrows the rest
VIEWS = ("User", "Persona map", "Run & evaluation", "Anonymous session")
HIT_K = 10


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


@st.cache_resource(show_spinner="Loading the run's models (once per server)…", max_entries=4)
def _session_model(uri: str, run_id: str, _settings: Settings) -> Any:
    """The run's recommender, persona model and explanation index, loaded once per store and run."""
    from persona.app._session import SessionModel

    return SessionModel(_settings, run_id)


@st.cache_data(show_spinner="Projecting the personas…", max_entries=8)
def _persona_map(uri: str, persona_run: str, _data: ExplorerData) -> tuple[pd.DataFrame, float]:
    m = persona_map(_data.personas())
    return m.points, m.explained


@st.cache_data(show_spinner=False, max_entries=16)
def _label_counts(uri: str, persona_run: str, label: str, _data: ExplorerData) -> pd.DataFrame:
    return _data.user_labels(label)


@st.cache_data(show_spinner="Evaluating the run's lists…", max_entries=8)
def _evaluation(uri: str, run_id: str, _data: ExplorerData) -> dict[str, Any]:
    held = _data.held_out_run(run_id)
    quality = list_quality(_data.run_recommended(run_id), _data.item_popularity(), _data.catalogue_size())
    return {"held": held, "buckets": activity_buckets(held, HIT_K), "quality": quality}


@st.cache_data(show_spinner=False, max_entries=8, ttl=600)
def _user_ids(uri: str, search: str, _data: ExplorerData) -> list[str]:
    """User ids containing ``search``, in natural order (``2`` before ``10``)."""
    return sorted(_data.find_users(search, 1_000_000), key=natural_key)


# ---------------------------------------------------------------------------------------------- sidebar
def _pick_user(data: ExplorerData, uri: str) -> str | None:
    """User picker in the sidebar, kept in step with ``?user=ID``."""
    if "user_pick" not in st.session_state and st.query_params.get("user"):
        st.session_state["user_pick"] = st.query_params["user"]
    search = st.sidebar.text_input("Find a user id", key="user_search", placeholder="part of an id")
    options = _user_ids(uri, search.strip(), data)[:USER_OPTIONS]
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


# ---------------------------------------------------------------------------------------------- user view
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


def _path_entities(data: ExplorerData, recs: pd.DataFrame) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Labels and names of the entities, and titles of the history items, on the stored paths of ``recs``."""
    from persona.app._why import parse_why

    ents: set[str] = set()
    items: set[str] = set()
    for why in recs.get("why", pd.Series(dtype=object)):
        for p in parse_why(why):
            if p.entity:
                ents.add(p.entity)
            if p.history:
                items.add(p.history)
    names = data.entity_names(sorted(ents))
    entities = {r.id: (r.label, readable_name(r.name if isinstance(r.name, str) else None, r.id)) for r in names.itertuples(index=False)}
    titles = {k: v for k, v in data.item_titles(sorted(items)).items() if v} if items else {}
    return entities, titles


def _graph_event(recs: pd.DataFrame) -> None:
    """Apply a click on a recommendation in the graph (the component's last value) to the picker."""
    event = st.session_state.get("nb_graph")
    if not isinstance(event, dict) or event.get("nonce") == st.session_state.get("_graph_nonce"):
        return
    st.session_state["_graph_nonce"] = event.get("nonce")
    if event.get("event") == "select" and event.get("item") in set(recs["item"]):
        st.session_state["why_pick"] = event["item"]


def _neighbourhood(data: ExplorerData, nb: Neighbourhood, recs: pd.DataFrame, selected: str | None) -> None:
    st.subheader("Persona neighbourhood")
    if nb.note:
        st.info(nb.note)
    if nb.items.empty and nb.attributes.empty and nb.similar.empty and recs.empty:
        st.info("nothing to draw: this user has no training interactions")
        return
    entities, titles = _path_entities(data, recs)
    spec = neighbourhood_graph(nb, recs, selected=selected, entities=entities, titles=titles)
    graph_component(spec, key="nb_graph", height=560)
    st.caption(
        f"Blue: the user · boxes: {len(nb.items)} of {nb.n_train} training items · ellipses: the "
        f"{len(nb.attributes)} most specific attributes they share (rare in the catalogue, frequent in this "
        f"history) · orange: the {len(nb.similar)} most similar users by persona · green: the "
        f"{len(recs)} recommendations, linked to the history by their explanation paths (red: the selected one's)"
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
        with st.expander("Most specific attributes", expanded=False):
            table = nb.attributes.rename(columns={"n_items": "your items", "shared_by": "similar users sharing",
                                                  "items_with": "catalogue items"})
            st.dataframe(table.round({"specificity": 2}), hide_index=True, width="stretch")


def _attention(profile: UserProfile) -> None:
    st.subheader("Meta-path attention")
    if profile.attention_error:
        st.warning(profile.attention_error)
        return
    if not profile.attention:
        st.info("no attention weights stored for this user (they come with the persona: `persona train`)")
        return
    df = pd.DataFrame({"meta-path": list(profile.attention), "weight": [round(v, 4) for v in profile.attention.values()]})
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


def _shown_recommendations(data: ExplorerData, user: str, has_recs: bool) -> tuple[pd.DataFrame, list[str]]:
    """The user's list of one run (a picker when there are several) and the runs that wrote lists."""
    recs = data.recommendations(user) if has_recs else pd.DataFrame(columns=["run", "rank", "item", "title", "score", "reason", "why"])
    if recs.empty:
        return recs, []
    runs = sorted(recs["run"].dropna().unique().tolist(), reverse=True)
    run = runs[0] if len(runs) <= 1 else st.selectbox("Run", runs, key="rec_run")
    shown = recs[recs["run"] == run] if runs else recs
    shown = shown.sort_values("rank").reset_index(drop=True)
    shown["title"] = shown["title"].where(shown["title"].notna(), shown["item"])
    return shown, runs


def _recommendations(shown: pd.DataFrame, history: pd.DataFrame, held_out: pd.DataFrame) -> None:
    held = history.loc[history["split"] == "test", "item"].tolist()
    valid = history.loc[history["split"] == "valid", "item"].tolist()
    marks = shown["item"].map(lambda i: "held-out test item" if i in held else ("validation item" if i in valid else ""))
    table = pd.DataFrame(
        {
            "rank": shown["rank"].astype(int).values,
            "title": shown["title"].values,
            "score": shown["score"].astype(float).values,
            "item": shown["item"].values,
            "note": marks.values,
        }
    )

    def highlight(row: pd.Series) -> list[str]:
        colour = {"held-out test item": "background-color: #c6efce; font-weight: 600",
                  "validation item": "background-color: #fff2cc"}.get(row["note"], "")
        return [colour] * len(row)

    run = shown["run"].iloc[0] if len(shown) else None
    st.caption(f"run {run or '?'} · {len(table)} items, from the whole history (the next items to offer)")
    st.table(table.style.apply(highlight, axis=1).format({"score": "{:.4f}"}), hide_index=True)
    if not held:
        st.caption("This user has no held-out test item (fewer than three interactions).")
        return
    hit = table[table["item"].isin(held)]
    if len(hit):
        st.success(f"Held-out test item “{hit['title'].iloc[0]}” is at rank {int(hit['rank'].iloc[0])}.")
    else:
        title = history.loc[history["item"] == held[0], "title"].iloc[0]
        st.info(f"Held-out test item “{title if isinstance(title, str) else held[0]}” is not in this list: the list "
                "is computed from the whole history, test item included, and never repeats an item. Its rank at "
                "test time is below.")


def _held_out_rank(held_out: pd.DataFrame, run: str | None) -> None:
    st.subheader("Held-out item at test time")
    if held_out.empty:
        st.caption("No test-time rank stored for this user (`persona train` writes HELD_OUT edges for each "
                   "user with a test item).")
        return
    rows = held_out[held_out["run"] == run] if run in set(held_out["run"]) else held_out.tail(1)
    r = rows.iloc[-1]
    title = r["title"] if isinstance(r["title"], str) and r["title"] else r["item"]
    final, retr, cand = int(r["final_rank"]), int(r["retriever_rank"]), int(r["candidates"])
    verdict = f"a hit at HR@{HIT_K}" if final <= HIT_K else f"a miss at HR@{HIT_K}"
    text = (f"“{title}”: rank **{final}** of the full catalogue at test time (model shown the training and "
            f"validation history) — {verdict}. Retriever rank {retr}; the reranker reorders its top {cand}. "
            f"Run {r['run']}.")
    (st.success if final <= HIT_K else st.warning)(text)


def _why(shown: pd.DataFrame, nb: Neighbourhood | None, data: ExplorerData) -> str | None:
    """The recommendation picker and the selected one's reasons in words; returns the selected item."""
    st.subheader("Why this recommendation?")
    if shown.empty:
        return None
    items = shown["item"].tolist()
    label = {r.item: f"#{int(r.rank)} {r.title}" for r in shown.itertuples(index=False)}
    if st.session_state.get("why_pick") not in items:
        st.session_state["why_pick"] = items[0]
    item = st.radio("Recommendation", items, key="why_pick", format_func=lambda i: label.get(i, i),
                    label_visibility="collapsed")
    row = shown[shown["item"] == item].iloc[0]
    entities, titles = _path_entities(data, shown[shown["item"] == item])
    links: dict[str, list[str]] = {}
    if nb is not None and len(nb.all_links):
        recency = {i: n for n, i in enumerate(nb.titles)}  # training items, oldest first
        for r in nb.all_links.itertuples(index=False):
            links.setdefault(r.attr, []).append(r.item)
        for attrs in links.values():  # most recent first, like explain's "like …"
            attrs.sort(key=lambda i: -recency.get(i, -1))
        titles = {**nb.titles, **titles}
    names = {k: v[1] for k, v in entities.items()}
    lines = reason_lines(row.get("why"), row.get("reason"), str(row["title"]), titles, names, links)
    st.markdown(f"**{row['title']}**")
    st.markdown("\n".join(f"- {ln}" for ln in lines))
    return str(item)


def _user_view(data: ExplorerData, user: str, has_recs: bool, has_attrs: bool, uri: str) -> None:
    profile = data.user(user)
    if profile is None:
        st.warning(f"No user with id “{user}” in {uri}. Pick a user in the sidebar.")
        return
    history = data.history(user)
    _header(user, profile, history)
    k_users = st.sidebar.slider("Similar users", 0, 20, 5, key="k_users")
    n_attrs = st.sidebar.slider("Attributes shown", 1, 25, 8, key="n_attrs")
    n_items = st.sidebar.slider("Training items shown", 1, 30, 10, key="n_items")
    by_count = st.sidebar.toggle("Rank attributes by count", value=False, key="by_count",
                                 help="Off: by specificity (inverse item frequency × how many of the user's items).")
    left, right = st.columns([3, 2], gap="large")
    nb: Neighbourhood | None = None
    try:
        nb = data.neighbourhood(
            user, profile.persona, history=history, k_users=k_users, n_attributes=n_attrs, n_items=n_items,
            with_attributes=has_attrs, rank_by="count" if by_count else "specificity",
        )
    except StoreError as e:
        left.error(f"could not read the neighbourhood: {e}")
    with right:
        st.subheader("Recommendations")
        selected = None
        try:
            shown, _runs = _shown_recommendations(data, user, has_recs)
            held_out = data.held_out(user)
            if shown.empty:
                st.info("no recommendations stored for this user "
                        "(`persona train` writes them; `persona recommend` only prints a list)")
            else:
                _graph_event(shown)
                _recommendations(shown, history, held_out)
                selected = _why(shown, nb, data)
            _held_out_rank(held_out, shown["run"].iloc[0] if len(shown) else None)
        except StoreError as e:
            st.error(f"could not read the recommendations: {e}")
            shown = pd.DataFrame(columns=["run", "rank", "item", "title", "score", "reason", "why"])
    with left:
        if nb is not None:
            try:
                _neighbourhood(data, nb, shown, selected)
            except StoreError as e:
                st.error(f"could not read the neighbourhood: {e}")
        _attention(profile)
        _summary(profile)
        _history(history)


# ---------------------------------------------------------------------------------------------- persona map
def _map_view(data: ExplorerData, uri: str, user: str | None, overview: Any) -> None:
    st.title("Persona map")
    personas = data.personas()
    if personas.empty:
        st.info("No personas stored yet: `persona train` writes one per user.")
        return
    run = str(personas["persona_run"].mode().iloc[0]) if personas["persona_run"].notna().any() else "?"
    try:
        points, explained = _persona_map(uri, run, data)
    except ValueError as e:
        st.warning(str(e))
        return
    points = points.copy()
    options = ["cluster"]
    if points["planted_taste"].notna().any():
        options.append("planted taste")
    genre_label = next((lab for lab in ("Genre", "LiteraryGenre", "Category") if overview.nodes.get(lab)), None)
    if genre_label:
        options.append(f"top {genre_label.lower()}")
    for col in ("occupation", "gender"):
        if points[col].notna().any():
            options.append(col)
    colour = st.selectbox("Colour by", options, key="map_colour")
    if colour == "planted taste":
        points["colour"] = points["planted_taste"].map(lambda v: "?" if pd.isna(v) else f"taste {int(v)}")
    elif colour.startswith("top "):
        top = top_by_user(_label_counts(uri, run, genre_label or "Genre", data))
        points["colour"] = points["user"].map(top).fillna("none")
    elif colour in ("occupation", "gender"):
        points["colour"] = points[colour].fillna("unknown").astype(str)
    else:
        points["colour"] = points["cluster"]
    similar: list[str] = []
    if user is not None:
        sim = data.similar_edges(user, 10)
        similar = sim["user"].tolist()
    points["role"] = ["this user" if u == user else ("similar user" if u in similar else "other") for u in points["user"]]
    n_colours = points["colour"].nunique()
    scale = alt.Scale(scheme="tableau20" if n_colours > 10 else "tableau10")
    base = alt.Chart(points).encode(
        x=alt.X("x:Q", title="PC 1", axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("y:Q", title="PC 2", axis=alt.Axis(labels=False, ticks=False)),
        tooltip=["user:N", alt.Tooltip("colour:N", title=colour), "cluster:N", "role:N"],
    )
    dots = base.mark_circle(size=28, opacity=0.7).encode(color=alt.Color("colour:N", title=colour, scale=scale))
    ring = base.transform_filter(alt.datum.role != "other").mark_point(filled=False, strokeWidth=2).encode(
        size=alt.condition(alt.datum.role == "this user", alt.value(380), alt.value(140)),
        shape=alt.condition(alt.datum.role == "this user", alt.value("diamond"), alt.value("circle")),
        color=alt.value("#111111"),
    )
    label = base.transform_filter(alt.datum.role == "this user").mark_text(dy=-16, fontWeight="bold").encode(text="user:N")
    st.altair_chart((dots + ring + label).properties(height=560).interactive(), width="stretch")
    who = f"user {user} (diamond) and their {len(similar)} most similar users (rings)" if user else "no user picked"
    st.caption(f"{len(points)} personas, PCA of the unit-normalised persona vectors (the axes keep "
               f"{explained:.0%} of the variance; scikit-learn) · highlighted: {who} · hover a point for its id")
    st.subheader("Clusters (k-means on the personas) and their most specific attributes")
    labels = [lab for lab in ("Person", "Genre", "LiteraryGenre", "Series", "Category", "Brand", "Subject", "Company")
              if overview.nodes.get(lab)]
    counts = []
    for lab in labels:
        c = _label_counts(uri, run, lab, data)
        counts.append(c.assign(label=lab))
    allc = pd.concat(counts, ignore_index=True) if counts else pd.DataFrame(columns=["user", "label", "attr", "name", "n"])
    if len(allc):
        allc["name"] = [readable_name(n if isinstance(n, str) else None, a) for n, a in zip(allc["name"], allc["attr"])]
    st.dataframe(cluster_summaries(points, allc), hide_index=True, width="stretch")


# ---------------------------------------------------------------------------------------------- run view
def _run_view(data: ExplorerData, uri: str) -> None:
    st.title("The run and its evaluation")
    runs = [r for r in data.runs() if r.kind == "train"]
    if not runs:
        st.info(f"No training run is recorded in {mask_uri(uri)}: `persona train --store …` records one "
                "(metrics, held-out ranks, lists).")
        return
    ids = [r.id for r in runs]
    run_id = ids[0] if len(ids) == 1 else st.selectbox("Run", ids, key="eval_run", help="Newest first.")
    run = runs[ids.index(run_id)]
    st.caption(f"run {run.id} · created {run.created_at} · persona run {run.persona_run or '–'}")
    rows = []
    for stage, m in run.metrics.items():
        if isinstance(m, dict):
            name = "final (reranked)" if stage == "reranked" and "final" not in run.metrics else stage
            rows.append({"stage": name,
                         **{k: m.get(k) for k in ("hr@10", "ndcg@10", "mrr", "hr@100", "n_users") if k in m}})
    if rows:
        st.subheader("Test metrics (full ranking)")
        st.dataframe(pd.DataFrame(rows).round(4), hide_index=True, width="stretch")
    ev = _evaluation(uri, run.id, data)
    held, buckets, q = ev["held"], ev["buckets"], ev["quality"]
    st.subheader(f"HR@{HIT_K} by user activity")
    if held.empty:
        st.info("This run wrote no held-out ranks (HELD_OUT edges).")
    else:
        st.caption(f"{len(held)} users with a held-out test item; HR@{HIT_K} from their stored test-time ranks: "
                   f"retriever {(held['retriever_rank'] <= HIT_K).mean():.3f}, final {(held['final_rank'] <= HIT_K).mean():.3f}")
        long = buckets.melt(id_vars=["activity", "users"], value_vars=["hr_retriever", "hr_final"], var_name="stage",
                            value_name="HR@10")
        long["stage"] = long["stage"].map({"hr_retriever": "retriever", "hr_final": "final"})
        order = buckets["activity"].tolist()
        chart = alt.Chart(long).mark_bar().encode(
            x=alt.X("activity:N", sort=order, title="training items per user"), xOffset="stage:N",
            y=alt.Y("HR@10:Q"), color="stage:N", tooltip=["activity", "users", "stage", alt.Tooltip("HR@10:Q", format=".3f")],
        ).properties(height=280)
        st.altair_chart(chart, width="stretch")
        st.dataframe(buckets.round(3), hide_index=True, width="stretch")
    st.subheader("Coverage and popularity bias of the lists")
    c1, c2, c3 = st.columns(3)
    c1.metric("Catalogue coverage", f"{q.coverage:.1%}", help=f"{q.distinct} of {q.catalogue} items appear in a list")
    c2.metric("Popularity percentile of recommended items", f"{q.rec_popularity:.0f}",
              delta=f"{q.rec_popularity - q.history_popularity:+.0f} vs what users consumed", delta_color="off")
    c3.metric("Slots taken by the top-10 % items", f"{q.top10_share:.0%}")


# ---------------------------------------------------------------------------------------------- session view
def _session_view(data: ExplorerData, settings: Settings, uri: str) -> None:
    """Recommend for a hand-picked, anonymous session (no user), with reasons."""
    st.header("Anonymous session")
    st.caption("Pick items as if a new visitor had viewed them, in order; no user is involved.")
    runs = [r for r in data.runs() if r.kind == "train"]
    if not runs:
        st.info(f"No training run is recorded in {mask_uri(uri)}, so there is no model to ask: run "
                "`persona train --store …` first.")
        return
    titles: dict[str, str] = st.session_state.setdefault("session_titles", {})
    search = st.text_input("Find items by title", key="session_search")
    found = data.search_items(search, 50)
    titles.update({r.item: r.title for r in found.itertuples(index=False) if isinstance(r.title, str)})
    picked = st.session_state.get("session_items", [])
    options = list(dict.fromkeys([*picked, *found["item"].tolist()]))
    if not options:
        st.info(f"No item title contains {search!r}.")
    c1, c2 = st.columns([4, 1])
    picked = c1.multiselect("Session items", options, key="session_items", format_func=lambda i: f"{titles.get(i, i)} ({i})")
    k = c2.number_input("How many", min_value=1, max_value=100, value=10, key="session_k")
    if not picked:
        st.info("Pick one or more items to see what the model recommends next, and why.")
        return
    try:
        model = _session_model(uri, runs[0].id, settings)
        answer = model.recommend(list(picked), k=int(k))
    except PersonaError as e:
        st.warning(f"No recommendations for this session: {e}")
        return
    except ValueError as e:  # e.g. the persona model knows none of the items
        st.warning(f"No recommendations for this session: {e}")
        return
    st.caption(f"run {answer.run} · persona inferred from the session's items, nearest stored users: "
               f"{', '.join(answer.similar[:5]) or 'none'}")
    st.table(answer.recs[["rank", "title", "score", "item"]].style.format({"score": "{:.4f}"}, na_rep=""), hide_index=True)
    lines = []
    for r in answer.recs.itertuples(index=False):
        why = answer.reasons.get(str(r.item), [])
        lines.append(f"**#{int(r.rank)} {r.title}** — " + " ".join(why[:2]))
    st.subheader("Why these items?")
    st.markdown("\n\n".join(lines))


# ---------------------------------------------------------------------------------------------- page
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
    view = st.sidebar.radio("View", VIEWS, key="view")
    user = _pick_user(data, uri) if view in ("User", "Persona map") else st.session_state.get("user_pick")
    if view == "User":
        if user is not None:
            _user_view(data, user, overview.has_recommendations, overview.has_attributes, uri)
    elif view == "Persona map":
        _map_view(data, uri, user, overview)
    elif view == "Run & evaluation":
        _run_view(data, uri)
    else:
        _session_view(data, settings.model_copy(update={"store": uri}), uri)


try:
    main()
except PersonaError as e:
    st.error(f"The page could not be drawn: {e}")
except Exception as e:  # noqa: BLE001 (a page must not end in a bare traceback; details stay one click away)
    st.error(f"Something went wrong drawing this page ({type(e).__name__}: {e}). Reload the page; if it "
             "persists, the server log has the details.")
