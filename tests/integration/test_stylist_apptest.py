"""A five-turn conversation on the Stylist page (AppTest) against the live Triton and Milvus."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from atelier.stylist.history import ConversationStore
from tests.apptest import open_dashboard

pytestmark = pytest.mark.integration


@pytest.fixture
def stylist_app(monkeypatch, triton_server, milvus_uri, demo_store, tmp_path):
    app = open_dashboard(monkeypatch, {"ATELIER_TRITON_URL": triton_server.grpc_url, "ATELIER_MILVUS_URI": milvus_uri,
                                       "ATELIER_COLLECTION": demo_store.collection,
                                       "ATELIER_STYLIST_DB": str(tmp_path / "stylist.sqlite3")}, "views/stylist.py")
    assert not app.exception
    return app, ConversationStore(tmp_path / "stylist.sqlite3")


def say(app: AppTest, text: str) -> None:
    app.chat_input[0].set_value(text).run()
    assert not app.exception and not app.error


def score_captions(app: AppTest) -> list[str]:
    return [c.value for c in app.caption if c.value.startswith("score ")]


def test_five_turns_new_edit_refine_back_new(stylist_app):
    app, history = stylist_app
    script = [
        ("a breezy linen outfit for a beach wedding", "new_outfit"),
        ("make the shirt sage green", "edit"),
        ("only show tops under 60", "refine"),
        ("go back to the first one", "navigate"),
        ("show me something more formal", "new_outfit"),
    ]
    for turn, (text, _) in enumerate(script, 1):
        say(app, text)
        [conversation] = history.conversations("merchandiser")
        answers = [m for m in history.messages(conversation["id"]) if m.role == "assistant"]
        assert len(answers) == turn
        assert len(score_captions(app)) == 5 * turn  # five product cards under every answer so far
    assert [a.intent for a in answers] == [intent for _, intent in script]
    first, edited, refined, back, formal = answers

    assert first.image and first.prompt and "linen" in first.prompt and "beach wedding" in first.prompt
    assert "From what you said I used: fabric linen, occasion beach wedding." in first.text
    trend_words = first.prompt.split("trending ")[1].split(" accents")[0].split(" and ")  # the catalog's
    assert f"Trend terms added (the catalog's most common): {', '.join(trend_words)}." in first.text
    assert "still filtered to tops up to 60" in back.text
    first_categories = {p["fields"]["category"] for p in first.products}
    assert len(first_categories) >= 3  # "complete the look": other categories, not five near-duplicates
    assert edited.image and edited.image != first.image
    assert refined.image is None  # refining generates nothing
    for answer in (refined, back, formal):
        assert all(p["fields"]["category"] == "tops" and p["fields"]["price"] <= 60 for p in answer.products)
    assert back.image == first.image
    assert formal.image not in (first.image, edited.image) and "formal" in formal.prompt
    assert "linen" in formal.prompt  # the conversation's slots carry over

    state = history.state(conversation["id"])
    assert len(state["looks"]) == 3 and state["current"] == 2
    assert state["filters"] == {"category": "tops", "max_price": 60.0}


def test_start_over_clears_the_looks_and_filters(stylist_app):
    app, history = stylist_app
    say(app, "a red dress for a cocktail party")
    say(app, "only dresses under 100")
    say(app, "start over")
    [conversation] = history.conversations("merchandiser")
    assert history.state(conversation["id"]) == {"slots": {}, "filters": {}, "looks": [], "current": None}
    say(app, "a navy outfit for the office")
    answer = history.messages(conversation["id"])[-1]
    assert len({p["fields"]["category"] for p in answer.products}) >= 3  # an outfit again, the dress filter gone
    say(app, "a navy checked coat")  # one garment: the products most like it, whatever their category
    answer = history.messages(conversation["id"])[-1]
    assert "the catalog products most like it" in answer.text and len(answer.products) == 5


def click(app: AppTest, label: str) -> None:
    next(button for button in app.button if button.label == label).click().run()
    assert not app.exception and not app.error


def test_the_prompt_a_turn_built_can_be_drawn_without_its_trend_terms_or_edited(stylist_app):
    app, history = stylist_app
    say(app, "a red dress for a cocktail party")
    [conversation] = history.conversations("merchandiser")
    first = history.messages(conversation["id"])[-1]
    assert "trending" in first.prompt  # the built prompt carries the catalog's trend terms

    click(app, "Draw it again without the trend terms")
    plain = history.messages(conversation["id"])[-1]
    assert plain.prompt.split(", ") == [part for part in first.prompt.split(", ") if not part.startswith("trending ")]
    assert plain.image and plain.image != first.image
    assert "Draw it again without the trend terms" not in [button.label for button in app.button]

    edited = "a plain white linen shirt, studio photograph"
    app.text_area(key=f"prompt-{plain.id}").set_value(edited)
    click(app, "Draw this prompt")
    asked, drawn = history.messages(conversation["id"])[-2:]
    assert asked.role == "user" and asked.text == f"Draw this prompt: {edited}"
    assert drawn.prompt == edited and drawn.image and drawn.image != plain.image and "drawn as written" in drawn.text
    assert len(drawn.products) == 5 and history.state(conversation["id"])["looks"][-1] == drawn.id
    assert f"prompt-{drawn.id}" in [area.key for area in app.text_area]  # the newest look is the one to edit
