"""Atelier dashboard: `streamlit run dashboard/app.py`. One module per page under dashboard/views/."""

import streamlit as st
from PIL import Image, ImageDraw

# The tab's icon is drawn here: a :material/...: page icon would be fetched from Google's font CDN at run time.
icon = Image.new("RGB", (64, 64), (46, 64, 87))
ImageDraw.Draw(icon).text((32, 32), "A", fill="white", anchor="mm", font_size=44)
st.set_page_config(page_title="Atelier", page_icon=icon, layout="wide")

pages = [
    st.Page("views/discover.py", title="Discover", icon=":material/search:", default=True),
    st.Page("views/stylist.py", title="Stylist", icon=":material/forum:"),
    st.Page("views/generate.py", title="Generate", icon=":material/palette:"),
    st.Page("views/canvas.py", title="Creative Canvas", icon=":material/brush:"),
    st.Page("views/sketch.py", title="Sketch", icon=":material/draw:"),
    st.Page("views/tryon.py", title="Try-On", icon=":material/checkroom:"),
    st.Page("views/trends.py", title="Trends", icon=":material/trending_up:"),
    st.Page("views/catalog.py", title="Catalog", icon=":material/inventory_2:"),
    st.Page("views/system.py", title="System", icon=":material/monitor_heart:"),
]
st.navigation(pages).run()
