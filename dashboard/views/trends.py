"""Trends: rising hashtags and labels over time, trend clusters with example images, and white space (trend
clusters that no catalog product answers, ranked as sourcing ideas). Analytics in atelier.trends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from atelier.config import AtelierError
from atelier.demo_trends import write_trend_export
from atelier.labels import ZeroShotLabeler
from atelier.trend_store import catalog_embeddings
from atelier.trends import PERIODS, SUMMARY_COLUMNS, TrendCluster, rising_terms, trend_clusters, white_space
from atelier.triton_client import EmbeddingModel
from dashboard import services
from dashboard.components import literal, product_image
from ingest.trends_import import import_trend_posts

CHART_TERMS = 5  # rising hashtags drawn over time
EXAMPLE_TERMS = 3  # rising hashtags shown with example images
EXAMPLES = 4  # example images per trend
CLUSTER_COLUMNS = 2
LORA_SHIFT = "lora_shift"  # .json and .png, written by `atelier eval lora` beside the LoRA
EXPORT_TYPES = ["json", "jsonl", "ndjson", "csv"]


@st.cache_data(ttl=60, show_spinner="Loading the trend posts…")
def load_posts(collection: str, count: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The collection's posts and embeddings (cached by name and row count: an import elsewhere shows at once)."""
    return services.trend_store().posts()


@st.cache_data(ttl=60, show_spinner="Clustering…")
def load_clusters(collection: str, count: int, k: int) -> list[TrendCluster]:
    posts, embeddings = load_posts(collection, count)
    return trend_clusters(embeddings, posts, k)


@st.cache_data(ttl=60, show_spinner="Loading the catalog's embeddings…")
def load_catalog(collection: str, model_json: str) -> tuple[list[dict[str, str]], np.ndarray]:
    return catalog_embeddings(services.store(), EmbeddingModel.from_json(model_json))


@st.cache_resource
def labeler() -> ZeroShotLabeler:
    return ZeroShotLabeler(services.triton())


def run_import(export: Path) -> None:
    """Import an export into the trends collection with a progress bar; the page reruns to show the result."""
    settings = services.settings()
    with st.status(f"Importing {export.name}…", expanded=True) as status:
        bar = st.progress(0.0, text="Reading the export…")
        try:
            report = import_trend_posts(
                export, services.triton(), services.trend_store(),
                settings.home / "rejects" / f"trends-{export.stem}.jsonl", labeler=labeler(),
                progress=lambda done, total: bar.progress(done / total, text=f"{done} / {total} posts"))
        except AtelierError as error:
            status.update(label=literal(f"Import failed: {error}"), state="error")
            return
        status.update(label=f"Imported {report.upserted} posts", state="complete")
    st.session_state.trend_import = report.summary() | {"reasons": [r.reason for r in report.rejects[:5]]}
    load_posts.clear()
    load_clusters.clear()
    st.rerun()


def import_panel() -> None:
    st.markdown("Import an export of social posts (Instagram's data download, a Pinterest export or a scraping "
                "tool's JSON, JSONL or CSV): on the command line, `atelier trends import FILE`, or upload it here. "
                "Uploaded exports need http(s) image URLs; for local image files use the command line.")
    upload = st.file_uploader("Trend export", type=EXPORT_TYPES, key="trend-export")
    upload_column, demo_column = st.columns(2)
    if upload_column.button("Import the upload", disabled=upload is None, key="import-upload") and upload is not None:
        folder = services.settings().home / "trend-uploads"
        folder.mkdir(parents=True, exist_ok=True)
        export = folder / Path(upload.name).name
        export.write_bytes(upload.getvalue())
        run_import(export)
    if demo_column.button("Import the demo posts", key="import-demo",
                          help="120 drawn posts over ten weeks: #sage rises, #neon falls"):
        run_import(write_trend_export(services.settings().home / "demo-trends"))


def import_result() -> None:
    report = st.session_state.pop("trend_import", None)
    if report:
        st.success(f"Imported {report['upserted']} of {report['rows']} posts; the collection holds "
                   f"{report['collection_rows']}.")
        if report["rejected"]:
            st.warning(literal(f"{report['rejected']} rejected (all reasons in {report['rejects_path']}): "
                               + "; ".join(report["reasons"])))


def examples(posts: list[dict[str, Any]]) -> None:
    for column, post in zip(st.columns(EXAMPLES), posts[:EXAMPLES]):
        with column:
            product_image(post["image"], f"{post['likes']} likes · {post['date']:%d %b %Y}")


def controls() -> tuple[str, int, int, bool]:
    with st.sidebar:
        st.subheader("Rising terms")
        by = st.selectbox("Period", list(PERIODS), index=1, key="trend-period")
        recent = st.slider("Recent periods", 1, 8, 1, key="trend-recent",
                           help="the last periods, compared with the ones before them")
        min_count = st.slider("Min posts", 1, 20, 3, key="trend-min-count", help="terms in fewer posts are left out")
        weighted = st.toggle("Weight by likes", key="trend-likes", help="a post counts 1 + log2(1 + likes)")
    return by, recent, min_count, weighted


def rising_section(posts: list[dict[str, Any]], by: str, recent: int, min_count: int, weighted: bool) -> None:
    st.header("Rising")
    terms = sum(len(post["hashtags"]) + len(post.get("labels", {})) for post in posts)
    try:
        table = rising_terms(posts, by=by, min_count=min_count, top=max(terms, 1), recent=recent,
                             likes_weighted=weighted)
    except AtelierError as error:
        st.warning(literal(error))
        return
    hashtags, labels = table[table["kind"] == "hashtag"], table[table["kind"] == "label"]
    unit = "likes-weighted posts" if weighted else "posts"
    if hashtags.empty:
        st.info(f"No hashtag is in {min_count} posts or more.")
    else:
        st.subheader("Hashtags over time")
        counts = hashtags.head(CHART_TERMS).drop(columns=list(SUMMARY_COLUMNS)).T  # periods by their first day
        st.line_chart(counts, x_label=f"{by} from", y_label=f"{unit} a {by}")
        summary_table(hashtags, unit)
        for term in hashtags.index[:EXAMPLE_TERMS]:
            tagged = [post for post in reversed(posts) if term[1:] in post["hashtags"]]
            st.markdown(f"**{literal(term)}** · score {hashtags.loc[term, 'score']:+.2f} · latest posts")
            examples(tagged)
    if any("labels" in post for post in posts):
        label_section(labels, unit)


def summary_table(table: pd.DataFrame, unit: str) -> None:
    st.dataframe(table[list(SUMMARY_COLUMNS[1:])], width="stretch", column_config={
        "total": st.column_config.NumberColumn("posts"),
        "recent": st.column_config.NumberColumn(f"recent ({unit} a period)", format="%.2f"),
        "earlier": st.column_config.NumberColumn(f"earlier ({unit} a period)", format="%.2f"),
        "score": st.column_config.NumberColumn("rising score", format="%+.2f",
                                               help="log2 of the recent rate over the earlier one, smoothed"),
    })


def label_section(labels: pd.DataFrame, unit: str) -> None:
    st.subheader("Labels")
    if labels.empty:
        st.info("No label value is in enough posts.")
        return
    attributes = sorted({term.split(": ", 1)[0] for term in labels.index})
    attribute = st.selectbox("Attribute", attributes, key="trend-label-attribute")
    values = labels[labels.index.str.startswith(f"{attribute}: ")]
    chart = values[["earlier", "recent"]].rename(index=lambda term: term.split(": ", 1)[1])
    st.bar_chart(chart, stack=False, x_label=attribute, y_label=f"{unit} a period")
    summary_table(labels, unit)


def cluster_card(cluster: TrendCluster, posts_by_id: dict[str, dict[str, Any]]) -> None:
    st.markdown(f"**{literal(cluster.name)}** · {cluster.size} posts · {cluster.likes} likes")
    st.caption(literal(" ".join(f"#{tag} ({count})" for tag, count in cluster.hashtags) or "no hashtags"))
    examples([posts_by_id[post_id] for post_id in cluster.examples(EXAMPLES)])


def cluster_section(posts: list[dict[str, Any]], collection: str, count: int) -> list[TrendCluster]:
    st.header("Trend clusters")
    st.write("Posts grouped by what their images look like; the most typical posts first.")
    if len(posts) < 2:
        st.info("Clusters need two posts or more.")
        return []
    k = st.slider("Clusters", 2, min(12, len(posts)), min(6, len(posts)), key="trend-k")
    try:
        clusters = load_clusters(collection, count, k)
    except AtelierError as error:
        st.warning(literal(error))
        return []
    posts_by_id = {post["id"]: post for post in posts}
    for start in range(0, len(clusters), CLUSTER_COLUMNS):
        for column, cluster in zip(st.columns(CLUSTER_COLUMNS), clusters[start : start + CLUSTER_COLUMNS]):
            with column, st.container(border=True):
                cluster_card(cluster, posts_by_id)
    return clusters


def white_space_section(clusters: list[TrendCluster], posts: list[dict[str, Any]]) -> None:
    st.header("White space")
    st.write("Trend clusters with no close catalog product, ranked by the demand the catalog does not answer "
             "(posts and likes, times 1 - similarity): sourcing ideas.")
    model = services.trend_store().recorded_model()
    try:
        products, vectors = load_catalog(services.store().collection, model.to_json())
        ids = [product["id"] for product in products]
        closest = [c.similarity for c in white_space(clusters, vectors, ids, 1.0)]
    except AtelierError as error:
        st.warning(literal(error))
        return
    # The default splits this catalog's trends at their median closest similarity, so the page opens on the
    # trends the catalog answers least, whatever the embedding model's scale of similarities.
    threshold = st.slider("Similarity threshold", min(0.0, round(min(closest), 2)), 1.0,
                          round(float(np.median(closest)), 2), 0.01, key="white-space-threshold",
                          help="a cluster whose closest catalog product is less similar than this is white space")
    coverage = white_space(clusters, vectors, ids, threshold)
    by_id = {product["id"]: product for product in products}
    st.dataframe(pd.DataFrame([{
        "trend": c.cluster.name, "white space": c.white_space, "score": c.score, "demand": c.demand,
        "similarity": c.similarity, "closest product": by_id[c.product_id]["title"],
    } for c in coverage]), hide_index=True, width="stretch", column_config={
        "score": st.column_config.NumberColumn(format="%.2f"), "demand": st.column_config.NumberColumn(format="%.2f"),
        "similarity": st.column_config.NumberColumn(format="%.3f")})
    gaps = [c for c in coverage if c.white_space]
    if not gaps:
        st.info(f"No white space at this threshold: every trend has a catalog product at least {threshold:.2f} "
                "similar.")
        return
    posts_by_id = {post["id"]: post for post in posts}
    for rank, gap in enumerate(gaps, 1):
        with st.container(border=True):
            st.markdown(f"**Sourcing idea {rank}: {literal(gap.cluster.name)}** · score {gap.score:.2f} · "
                        f"demand {gap.demand:.2f} · closest similarity {gap.similarity:.3f}")
            trend_column, product_column = st.columns([4, 1])
            with trend_column:
                cluster_card(gap.cluster, posts_by_id)
            with product_column:
                product = by_id[gap.product_id]
                st.caption("Closest catalog product")
                product_image(product["image_uri"])
                st.markdown(f"**{literal(product['title'])}**")


def lora_section() -> None:
    """What a LoRA trained on trend posts (or a shopper's purchases) does to txt2img: the newest shift report."""
    st.header("Drawing with the trends")
    reports = sorted(services.settings().home.glob(f"models/*/{LORA_SHIFT}.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        st.info("No LoRA has been measured yet. Train one on these posts, over the txt2img trained on the demo "
                "catalog, and measure how far it moves prompts that name no colour: `atelier train lora "
                "--trends-weight 1 --steps 300`, then `atelier eval lora --lora <the file it prints>`.")
        return
    report = json.loads(reports[-1].read_text())
    top, weights = report["data"]["top"], report["weights"]
    before, after = weights[min(weights, key=float)], weights[max(weights, key=float)]
    distance = {a: (before["total_variation_to_data"][a], after["total_variation_to_data"][a])
                for a in ("color", "garment")}
    st.markdown(f"A LoRA trained towards the **{literal(report.get('toward', 'trend posts'))}** "
                f"({report['data']['pictures']} pictures; most common colour {literal(top['color'])}, garment "
                f"{literal(top['garment'])}), fused at weight {max(weights, key=float)}: the colours drawn for "
                f"prompts that name none (\"{literal(report['prompts'][0])}\", …) move from "
                f"{distance['color'][0]:.2f} to **{distance['color'][1]:.2f}** from its pictures' colours, the "
                f"garments from {distance['garment'][0]:.2f} to **{distance['garment'][1]:.2f}** (total variation "
                "distance: 0 = drawn as often as in its pictures, 1 = nothing in common).")
    st.image(str(reports[-1].with_suffix(".png")))
    st.caption(f"LoRA {literal(report['lora'])} on {literal(report['base'])} · judged by the trained CLIP · "
               f"{len(report['prompts'])} prompts x {report['seeds']} seeds per weight (`atelier eval lora`)")


st.title("Trends")
import_result()
store = services.trend_store()
try:
    count = store.count()
except AtelierError as error:
    st.error(literal(error))
    st.stop()
if count == 0:
    st.info(f"The trends collection {store.collection!r} is empty.")
    import_panel()
    st.stop()

posts, _ = load_posts(store.collection, count)
st.caption(f"{len(posts)} posts from {posts[0]['date']:%d %b %Y} to {posts[-1]['date']:%d %b %Y} · "
           f"collection {store.collection!r}")
rising_section(posts, *controls())
found = cluster_section(posts, store.collection, count)
if found:
    white_space_section(found, posts)
lora_section()
with st.expander("Import more posts"):
    import_panel()
