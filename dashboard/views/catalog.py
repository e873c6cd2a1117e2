"""Catalog: browse the products with filters, add products from a catalog file or from shop pages (a sitemap or
a list of URLs), watch the ingest, and read the rejects with their reasons."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from atelier.catalog_store import build_filter
from atelier.config import AtelierError
from dashboard import services
from dashboard.components import label_filters, literal, product_grid
from ingest.fetch import ImageSources
from ingest.pipeline import IngestReport, ingest_catalog
from ingest.uploads import lay_out

PAGE_SIZE = 20
FILTERS = ("category", "color", "pattern", "brand")


def browse() -> None:
    try:
        values = services.attribute_values()
        total = services.store().count()
    except AtelierError as error:
        st.error(literal(error))
        return
    text = st.text_input("Find by title, brand or id", placeholder="striped shorts, Vell & Co, demo-000042",
                         key="browse-text")
    columns = st.columns(len(FILTERS) + 1)
    equals = {name: column.multiselect(name.capitalize(), values.get(name, []), key=f"browse-{name}")
              for name, column in zip(FILTERS, columns)}
    max_price = columns[-1].number_input("Max price", min_value=0.0, value=None, step=5.0, key="browse-max-price")
    equals.update(label_filters(values, "browse"))
    expr = build_filter({k: v for k, v in equals.items() if v}, None, max_price, text)
    matching = services.store().count(expr)
    pages = max(1, -(-matching // PAGE_SIZE))
    page = st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, key="browse-page")
    st.caption(f"{matching} of {total} products")
    product_grid(services.store().browse(expr, PAGE_SIZE, (page - 1) * PAGE_SIZE), scored=False)


def ingest_with_progress(source: Path, label: str, allow_private: bool = False) -> IngestReport | None:
    """Ingest a catalog file with a progress bar; the report, or None after an error shown on the page. Local
    images are read from the upload folder only."""
    bar = st.progress(0.0, text=f"Ingesting {label}…")
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Ingesting {label}: {done} of {total} rows")

    rejects = services.settings().home / "rejects" / f"{source.stem}.jsonl"
    try:
        report = ingest_catalog(source, services.triton(), services.store(), rejects, progress=progress,
                                sources=ImageSources.under([source.parent], allow_private))
    except AtelierError as error:
        st.error(literal(error))
        return None
    bar.progress(1.0, text=f"{label}: done in {time.perf_counter() - started:.1f} s")
    services.attribute_values.clear()
    return report


def show_report(report: IngestReport) -> None:
    st.success(f"{report.upserted - report.replaced} products added, {report.replaced} replaced (an id already "
               f"stored, now with this file's content), {report.unchanged} unchanged, {report.rejected} rejected; "
               f"the catalog has {report.collection_rows}.")
    if report.rejects:
        st.subheader("Rejects")
        st.dataframe(pd.DataFrame([{"record": r.line, "reason": r.reason,
                                    "id": r.row.get("id", ""), "title": r.row.get("title", "")}
                                   for r in report.rejects]), hide_index=True, width="stretch")


def add_file() -> None:
    uploads = st.file_uploader("A catalog file (CSV, JSONL or Parquet; columns id, title, image, and optionally "
                               "category, garment, color, pattern, brand, price, source) with its images: the image "
                               "files, or a zip of them", type=["csv", "jsonl", "ndjson", "parquet", "zip", "png",
                                                                "jpg", "jpeg", "webp"],
                               accept_multiple_files=True, key="catalog-upload")
    if uploads and st.button("Ingest", type="primary"):
        folder = services.settings().home / "uploads" / time.strftime("%Y%m%d-%H%M%S")
        try:
            catalog = lay_out([(upload.name, upload.getvalue()) for upload in uploads], folder)
        except AtelierError as error:
            st.error(literal(error))
            return
        if (report := ingest_with_progress(catalog, catalog.name)) is not None:
            st.session_state.file_report = report
    if report := st.session_state.get("file_report"):
        show_report(report)


def add_from_shop_pages() -> None:
    from ingest.crawl import crawl_products

    urls = st.text_area("Product page or sitemap URLs, one per line", key="crawl-urls",
                        placeholder="https://shop.example/sitemap.xml")
    allow_private = st.checkbox("Allow private network addresses (an intranet shop)", key="crawl-private")
    delay = st.slider("Seconds between requests to one site", 0.0, 5.0, 1.0, 0.5, key="crawl-delay",
                      help="robots.txt's Crawl-delay wins when it is longer")
    if not st.button("Collect products", type="primary", disabled=not urls.strip()):
        return
    bar = st.progress(0.0, text="Reading shop pages…")
    try:
        crawl = crawl_products([u.strip() for u in urls.splitlines() if u.strip()], allow_private=allow_private,
                               per_host_delay_s=delay, progress=lambda done, total: bar.progress(
                                   done / max(total, 1), text=f"Reading shop pages: {done} of {total}"))
    except AtelierError as error:
        st.error(literal(error))
        return
    st.info(f"{len(crawl.products)} products found on {crawl.pages} pages ({crawl.duplicates} duplicates "
            f"dropped, {len(crawl.failures)} pages failed).")
    if crawl.failures:
        st.dataframe(pd.DataFrame(crawl.failures), hide_index=True, width="stretch")
    if not crawl.products:
        return
    path = services.settings().home / "uploads" / f"crawl-{int(time.time())}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in crawl.products))
    if (report := ingest_with_progress(path, "the collected products", allow_private)) is not None:
        st.session_state.pages_report = report


st.title("Catalog")
browse_tab, file_tab, pages_tab = st.tabs(["Browse", "Add a catalog file", "Add from shop pages"])
with file_tab:
    add_file()
with pages_tab:
    add_from_shop_pages()
    if report := st.session_state.get("pages_report"):
        show_report(report)
with browse_tab:
    browse()
