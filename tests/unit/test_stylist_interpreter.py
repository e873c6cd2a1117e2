"""The offline turn interpreter on a table of utterances: intent, navigation and slots."""

from __future__ import annotations

import pytest

from atelier.stylist.interpreter import interpret

# (utterance, is there a current image, intent, expected slots (a subset) or navigation (name, target))
TABLE = [
    # new outfits
    ("a breezy linen outfit for a beach wedding", False, "new_outfit", {"fabric": "linen",
                                                                        "occasion": "beach wedding"}),
    ("a red dress for a cocktail party", False, "new_outfit", {"garments": ["dress"], "color": "red",
                                                               "occasion": "cocktail party"}),
    ("navy striped shirt with white shorts", False, "new_outfit", {"garments": ["shirt", "shorts"],
                                                                  "color": "navy", "pattern": "striped"}),
    ("something warm for winter", False, "new_outfit", {"season": "winter"}),
    ("an autumn look in camel wool", False, "new_outfit", {"season": "autumn", "color": "beige", "fabric": "wool"}),
    ("a silk blouse for the office", False, "new_outfit", {"garments": ["blouse"], "fabric": "silk",
                                                           "occasion": "office"}),
    ("floral summer dress", False, "new_outfit", {"pattern": "floral", "season": "summer"}),
    ("a checked blazer and jeans for work", False, "new_outfit", {"garments": ["blazer", "jeans"],
                                                                 "pattern": "checked", "occasion": "work"}),
    ("sage green cardigan", False, "new_outfit", {"color": "sage", "garments": ["cardigan"]}),
    ("a denim jacket for a festival", False, "new_outfit", {"fabric": "denim", "occasion": "festival"}),
    ("polka dot skirt for brunch", False, "new_outfit", {"pattern": "polka dot", "occasion": "brunch"}),
    ("gingham picnic dress", False, "new_outfit", {"pattern": "checked"}),
    ("a black leather jacket for a night out", False, "new_outfit", {"color": "black", "fabric": "leather",
                                                                    "occasion": "night out"}),
    ("grey wool coat", False, "new_outfit", {"color": "grey", "fabric": "wool", "garments": ["coat"]}),
    ("gray hoodie", False, "new_outfit", {"color": "grey", "garments": ["hoodie"]}),
    ("a velvet gown for a gala", False, "new_outfit", {"fabric": "velvet", "garments": ["dress"], "occasion": "gala"}),
    ("outfit for a job interview", False, "new_outfit", {"occasion": "interview"}),
    ("a spring outfit with a pink blouse", False, "new_outfit", {"season": "spring", "color": "pink"}),
    ("tartan trousers", False, "new_outfit", {"pattern": "checked", "garments": ["trousers"]}),
    ("a plain white tee and jeans", False, "new_outfit", {"pattern": "solid", "color": "white",
                                                         "garments": ["t-shirt", "jeans"]}),
    ("a navy striped shirt without polka dots", False, "new_outfit", {"pattern": "striped", "avoid": ["polka dot"]}),
    ("a summer dress, no florals", False, "new_outfit", {"season": "summer", "avoid": ["floral"]}),
    ("a linen suit for a wedding under 500", False, "new_outfit", {"fabric": "linen", "max_price": 500.0}),
    ("show me something more formal", True, "new_outfit", {"style": "formal"}),
    ("something more casual", True, "new_outfit", {"style": "casual"}),
    ("another look for a date night", True, "new_outfit", {"occasion": "date night"}),
    ("give me a different outfit", True, "new_outfit", {}),
    ("a yellow raincoat look", True, "new_outfit", {"color": "yellow"}),
    ("design a beach outfit", True, "new_outfit", {"occasion": "beach"}),
    ("can you design a wedding guest dress?", True, "new_outfit", {"occasion": "wedding"}),
    # edits of the current image
    ("make the shirt sage green", True, "edit", {"garments": ["shirt"], "color": "sage"}),
    ("make the jacket denim", True, "edit", {"garments": ["jacket"], "fabric": "denim"}),
    ("change the dress to navy blue", True, "edit", {"color": "navy"}),
    ("turn the skirt into a floral one", True, "edit", {"pattern": "floral"}),
    ("add a belt", True, "edit", {"garments": ["belt"]}),
    ("remove the scarf", True, "edit", {"garments": ["scarf"]}),
    ("please make it red", True, "edit", {"color": "red"}),
    ("can you make the trousers shorter?", True, "edit", {"garments": ["trousers"]}),
    ("swap the shoes for sandals", True, "edit", {"garments": ["shoes", "sandals"]}),
    ("now make the coat checked", True, "edit", {"pattern": "checked"}),
    ("sage green", True, "edit", {"color": "sage"}),
    ("with stripes", True, "edit", {"pattern": "striped"}),
    # product refinements
    ("only show dresses under 3000", True, "refine", {"category": "dresses", "max_price": 3000.0}),
    ("only tops", True, "refine", {"category": "tops"}),
    ("jackets only", True, "refine", {"category": "outerwear"}),
    ("under 50", True, "refine", {"max_price": 50.0}),
    ("below $80", True, "refine", {"max_price": 80.0}),
    ("less than 2k", True, "refine", {"max_price": 2000.0}),
    ("between 20 and 60", True, "refine", {"min_price": 20.0, "max_price": 60.0}),
    ("over 100", True, "refine", {"min_price": 100.0}),
    ("just show the red items", True, "refine", {"color": "red"}),
    ("filter to bottoms", True, "refine", {"category": "bottoms"}),
    ("show me only shoes", True, "refine", {"category": "shoes"}),
    ("cheaper please", True, "refine", {}),
    ("only striped products", True, "refine", {"pattern": "striped"}),
    ("coats under 120", True, "refine", {"category": "outerwear", "max_price": 120.0}),
    # questions
    ("what fabrics work for summer?", True, "question", {"season": "summer"}),
    ("how much do these cost?", True, "question", {}),
    ("which colours go with navy", True, "question", {"color": "navy"}),
    ("why these products?", True, "question", {}),
    ("is linen good for a wedding?", False, "question", {"fabric": "linen"}),
]
NAVIGATION = [
    ("start over", "start_over", None),
    ("let's start again", "start_over", None),
    ("reset", "start_over", None),
    ("go back to the first one", "goto", 1),
    ("back to the second", "goto", 2),
    ("take me back to look 3", "goto", 3),
    ("show me the original one again", "goto", 1),
    ("back to the last one", "goto", -1),
    ("go back", "back", None),
    ("back", "back", None),
    ("previous one", "back", None),
    ("undo", "undo", None),
    ("undo that", "undo", None),
    ("revert", "undo", None),
]


@pytest.mark.parametrize(("text", "has_image", "intent", "slots"), TABLE)
def test_intent_and_slots(text, has_image, intent, slots):
    turn = interpret(text, has_image)
    assert turn.intent == intent
    found = turn.slots.as_dict()
    assert {key: found.get(key) for key in slots} == slots


@pytest.mark.parametrize(("text", "navigation", "target"), NAVIGATION)
def test_navigation(text, navigation, target):
    turn = interpret(text, has_image=True)
    assert (turn.intent, turn.navigation, turn.target) == ("navigate", navigation, target)


def test_the_table_is_large_enough():
    assert len(TABLE) + len(NAVIGATION) >= 60


def test_without_a_current_image_a_change_is_a_new_outfit():
    assert interpret("make it sage green", has_image=False).intent == "new_outfit"


@pytest.mark.parametrize("text", ["hello", "hi there", "thanks!", "ok"])
def test_a_greeting_before_any_look_is_answered_not_drawn(text):
    assert interpret(text, has_image=False).intent == "question"  # it once became the prompt "a outfit"


def test_prompts_take_the_right_article():
    from atelier.stylist.interpreter import Slots
    from atelier.stylist.prompts import build_prompt

    prompt, _ = build_prompt(Slots(style="formal", garments=["dress"], occasion="office"), trends=[])
    assert prompt.startswith("an elegant formal dress for an office, ")
    assert build_prompt(Slots(), trends=[])[0].startswith("an outfit, ")
    assert build_prompt(Slots(color="red", garments=["coat"]), trends=[])[0].startswith("a red coat, ")


def test_an_overlong_or_empty_turn_gets_a_clear_answer_and_is_not_recorded(tmp_path):
    from atelier.config import AtelierError
    from atelier.stylist.history import ConversationStore
    from atelier.stylist.stylist import Stylist

    history = ConversationStore(tmp_path / "stylist.db")
    stylist = Stylist(None, None, history, interpret, trends=[])  # refused before Triton or the catalog is asked
    conversation = history.create("p", "a red silk dress")
    with pytest.raises(AtelierError, match="that is 2,400 characters; say it in at most 2,000"):
        stylist.respond(conversation, "a red silk dress " * 141 + "abc")
    with pytest.raises(AtelierError, match="say something first"):
        stylist.respond(conversation, "   ")
    assert history.messages(conversation) == []


class RecordingSearch:
    """Stands in for CatalogSearch: records each query's category filter, answers nothing."""

    def __init__(self) -> None:
        self.categories: list[list[str] | None] = []
        self.store = self

    def attribute_values(self) -> dict[str, list[str]]:
        return {"category": ["tops", "bottoms", "dresses", "outerwear"]}

    def search(self, query) -> list:
        self.categories.append(query.equals.get("category"))
        return []


class DrawingTriton:
    def generate(self, model: str, **inputs):
        from PIL import Image

        return Image.new("RGB", (8, 8), "red"), 7


@pytest.mark.parametrize(("turn", "searches", "said"), [
    ("a breezy linen outfit for a beach wedding", [["tops"], ["bottoms"], ["dresses"], ["outerwear"]],
     "the catalog products that complete it"),
    ("a red polka-dot dress", [None], "the catalog products most like it"),
])
def test_an_outfit_brings_one_product_per_category_and_one_garment_the_products_most_like_it(tmp_path, turn,
                                                                                               searches, said):
    from atelier.stylist.history import ConversationStore
    from atelier.stylist.stylist import Stylist

    history, search = ConversationStore(tmp_path / "stylist.db"), RecordingSearch()
    stylist = Stylist(DrawingTriton(), search, history, interpret, trends=[])
    conversation = history.create("p", turn)
    assert said in stylist.respond(conversation, turn).text
    assert search.categories == searches
    search.categories.clear()
    assert "Edited" in stylist.respond(conversation, "make it navy").text
    assert search.categories == searches  # the edited look is still that outfit, or that garment
