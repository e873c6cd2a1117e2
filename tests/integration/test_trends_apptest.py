"""The Trends page (AppTest) against the live Triton and Milvus: the demo export imported, then charted."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from atelier.demo_trends import FALLING, RISING, write_trend_export
from atelier.labels import ZeroShotLabeler
from atelier.trend_store import TrendStore
from ingest.trends_import import import_trend_posts
from tests.apptest import open_dashboard

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trends_collection(triton, milvus_uri, tmp_path_factory) -> str:
    work = tmp_path_factory.mktemp("trends")
    store = TrendStore(milvus_uri, "trends_apptest")
    report = import_trend_posts(write_trend_export(work / "demo"), triton, store, work / "rejects.jsonl",
                                progress=False, labeler=ZeroShotLabeler(triton))
    assert report.rejected == 0
    return store.collection


def open_trends(monkeypatch, triton_server, milvus_uri, demo_store, collection: str, home) -> AppTest:
    app = open_dashboard(monkeypatch, {"ATELIER_TRITON_URL": triton_server.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
                                       "ATELIER_COLLECTION": demo_store.collection, "ATELIER_HOME": str(home),
                                       "ATELIER_TRENDS_COLLECTION": collection}, "views/trends.py")
    assert not app.exception and not app.error
    return app


def chart_data(chart) -> pd.DataFrame:
    """The data of a chart element (Arrow IPC in its first dataset)."""
    return pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_pandas()


def markdown_starting(app: AppTest, prefix: str) -> list[str]:
    return [m.value for m in app.markdown if m.value.startswith(prefix)]


def cluster_titles(app: AppTest) -> list[str]:
    """The trend cards' titles ("**#tag #tag** · 12 posts · 340 likes"), white space's cards not counted twice."""
    return [m.value for m in app.markdown if m.value.startswith("**") and " posts · " in m.value]


def test_charts_rising_table_clusters_and_white_space(monkeypatch, triton_server, milvus_uri, demo_store,
                                                       trends_collection, tmp_path):
    app = open_trends(monkeypatch, triton_server, milvus_uri, demo_store, trends_collection, tmp_path)
    line, bars = app.get("vega_lite_chart")  # hashtags over time, label values recent vs earlier
    series = chart_data(line).pivot(index="index -- streamlit-generated", columns="color -- streamlit-generated",
                                    values="value -- streamlit-generated")
    assert len(series) == 10 and len(series.columns) == 5 and f"#{FALLING}" not in series  # the top five rising
    assert series[f"#{RISING}"].tolist() == [0, 1, 1, 1, 2, 2, 3, 4, 6, 8]  # posts a week, oldest first
    assert set(chart_data(bars)["color -- streamlit-generated"]) == {"earlier", "recent"}
    rising = app.dataframe[0].value
    assert rising.index[0] == f"#{RISING}" and rising.loc[f"#{RISING}", "score"] > 1
    assert rising.loc[f"#{FALLING}", "score"] < -1
    assert app.dataframe[1].value.index.str.contains(": ").all()  # the labels' table
    ideas = markdown_starting(app, "**Sourcing idea")
    assert ideas, "the default threshold finds white space"
    titles = cluster_titles(app)
    assert len(titles) - len(ideas) == 6  # the default six clusters, named by their hashtags
    assert all(title.startswith("**\\#") for title in titles), titles  # hashtags, shown literally
    assert len(app.get("image")) > 0

    app.slider(key="trend-k").set_value(3).run()
    assert not app.exception and len(cluster_titles(app)) - len(markdown_starting(app, "**Sourcing idea")) == 3
    app.slider(key="white-space-threshold").set_value(1.0).run()  # the tests' CLIP is untrained: similarities ~1
    ideas = markdown_starting(app, "**Sourcing idea")
    assert ideas and ideas[0].startswith("**Sourcing idea 1: \\#")
    app.slider(key="white-space-threshold").set_value(0.0).run()
    assert not app.exception and markdown_starting(app, "**Sourcing idea") == []
    assert any(info.value.startswith("No white space at this threshold") for info in app.info)

    app.selectbox(key="trend-period").set_value("day").run()
    app.toggle(key="trend-likes").set_value(True).run()
    assert not app.exception and not app.error


def test_an_empty_collection_offers_the_import(monkeypatch, triton_server, milvus_uri, demo_store, tmp_path):
    store = TrendStore(milvus_uri, "trends_apptest_empty")
    app = open_trends(monkeypatch, triton_server, milvus_uri, demo_store, store.collection, tmp_path)
    assert "is empty" in app.info[0].value and "atelier trends import FILE" in app.markdown[0].value
    assert not app.get("vega_lite_chart")
    app.button(key="import-demo").click().run()
    assert not app.exception and not app.error
    assert app.success[0].value.startswith("Imported 122 of 122 posts")
    assert app.get("vega_lite_chart") and store.count() == 122
    store.drop()
