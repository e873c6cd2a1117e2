"""The stylist: one chat turn in, one answer out (text, maybe an image, the products to show).

    user text -> interpreter (offline or LLM) -> Turn
      new_outfit: merge the slots, build the prompt, txt2img, "complete the look" products (for an outfit) or
                  the products most like it (when the look is one named garment: "a red polka-dot dress")
      edit:       edit the current image with the message as the instruction, products again
      refine:     new product filters on the current image; nothing is generated
      navigate:   back / undo / go to look N / start over; the products of that look again
      question:   an answer from the conversation state (or the LLM's)
Every message and the conversation state go to the ConversationStore, so a reload loses nothing.
With a shopper profile (`Lean`), products lean towards what they bought and new prompts name their
preferences where the conversation leaves colour or pattern open; each answer says by how much.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from typing import Any

from atelier.catalog_store import Hit
from atelier.config import AtelierError
from atelier.images import png_bytes
from atelier.profiles import NO_LEAN, Lean, prompt_preferences
from atelier.search import CatalogSearch, Query
from atelier.stylist.history import ConversationStore, Message, empty_state
from atelier.stylist.interpreter import CLEAR_FILTERS, Slots, Turn
from atelier.stylist.prompts import build_prompt, negative_prompt, trend_terms
from atelier.text_input import MAX_CHARS

PRODUCTS = 5
FILTER_SLOTS = ("category", "color", "pattern")
POLITE = re.compile(r"^(?:please|can you|could you|now|ok|okay|and)\s+", re.IGNORECASE)


def merged_slots(previous: dict[str, Any], turn: Slots) -> Slots:
    """The conversation's slots with this turn's on top; things to avoid accumulate."""
    new = turn.as_dict()
    slots = Slots(**{**{k: v for k, v in previous.items() if k != "avoid"}, **new})
    slots.avoid = list(dict.fromkeys([*previous.get("avoid", []), *turn.avoid]))
    return slots


def hit_record(hit: Hit) -> dict[str, Any]:
    return {"id": hit.id, "score": round(hit.score, 4), "fields": hit.fields}


class Stylist:
    def __init__(self, triton, search: CatalogSearch, history: ConversationStore,
                 interpreter: Callable[[str, bool], Turn], trends: list[str]) -> None:
        self.triton, self.search, self.history = triton, search, history
        self.interpreter, self.trends = interpreter, trends

    # products ---------------------------------------------------------------------------------
    def products(self, image: bytes, filters: dict[str, Any], complete_look: bool,
                 lean: Lean = NO_LEAN) -> list[dict[str, Any]]:
        """Top-5 products like the image within the filters; to complete the look, one per category first."""
        equals = {k: [filters[k]] for k in FILTER_SLOTS if filters.get(k)}
        bounds = {"min_price": filters.get("min_price"), "max_price": filters.get("max_price"),
                  "profile": lean.profile, "history_weight": lean.weight}
        if not complete_look or "category" in equals:
            return [hit_record(h) for h in self.search.search(Query(image=image, equals=equals, top_k=PRODUCTS,
                                                                    **bounds))]
        categories = self.search.store.attribute_values().get("category", [])
        per_category = [self.search.search(Query(image=image, equals={**equals, "category": [c]}, top_k=PRODUCTS,
                                                 **bounds)) for c in categories]
        rounds = [sorted((hits[i] for hits in per_category if len(hits) > i), key=lambda h: -h.score)
                  for i in range(PRODUCTS)]
        return [hit_record(h) for h in [hit for row in rounds for hit in row][:PRODUCTS]]

    # one turn ---------------------------------------------------------------------------------
    def respond(self, conversation_id: str, text: str, lean: Lean = NO_LEAN) -> Message:
        """Record the user's message, act on it, record and return the stylist's answer."""
        text = text.strip()
        if not text:
            raise AtelierError("say something first")
        if len(text) > MAX_CHARS:
            raise AtelierError(f"that is {len(text):,} characters; say it in at most {MAX_CHARS:,} (the garments, "
                               "colours, fabrics and occasion are what the stylist reads)")
        self.history.add(conversation_id, Message("user", text))
        state = self.history.state(conversation_id)
        turn = self.interpreter(text, bool(state["looks"]))
        handler = getattr(self, f"_{turn.intent}")
        try:
            answer = handler(turn, state, lean)
        except AtelierError as error:  # Triton or Milvus refused: say so, keep the conversation
            answer = Message("assistant", f"Sorry, that did not work: {error}", intent=turn.intent)
        return self._record(conversation_id, state, answer)

    def redraw(self, conversation_id: str, prompt: str, lean: Lean = NO_LEAN) -> Message:
        """A new look drawn from `prompt` exactly as the user wrote it (the prompt a turn built, edited): no words
        read from it, no trend terms added; recorded like a turn."""
        prompt = prompt.strip()
        if not prompt:
            raise AtelierError("the prompt is empty: write what to draw")
        self.history.add(conversation_id, Message("user", f"Draw this prompt: {prompt}"))
        state = self.history.state(conversation_id)
        negative = negative_prompt(state["slots"].get("avoid", []))
        try:
            answer = self._look(state, lean, "new_outfit", prompt, "Here is your prompt, drawn as written (seed "
                                "{seed}), and " + shown_products(state) + lean.note() + ".", "txt2img",
                                prompt=prompt, negative_prompt=negative)
        except AtelierError as error:  # a prompt over the text encoder's 77 tokens, or Triton refused
            answer = Message("assistant", f"Sorry, that did not work: {error}", intent="new_outfit")
        return self._record(conversation_id, state, answer)

    def _record(self, conversation_id: str, state: dict, answer: Message) -> Message:
        """Keep the stylist's answer and what it changes: a new current look, the prices last shown."""
        self.history.add(conversation_id, answer)
        if answer.image is not None and answer.intent != "navigate":
            state["looks"].append(answer.id)
            state["current"] = len(state["looks"]) - 1
        if answer.products:
            state["shown_prices"] = [p["fields"]["price"] for p in answer.products]
        self.history.save_state(conversation_id, state)
        return answer

    def _new_outfit(self, turn: Turn, state: dict, lean: Lean) -> Message:
        slots = merged_slots(state["slots"], turn.slots)
        state["slots"] = slots.as_dict()
        preferences = prompt_preferences(lean.profile, lean.weight, exclude=[slots.color, slots.pattern,
                                                                             *slots.avoid]) if lean.active else ""
        prompt, negative = build_prompt(slots, self.trends, preferences)
        read = ", ".join(f"{name} {' and '.join(value) if isinstance(value, list) else value}"
                         for name, value in slots.as_dict().items() if name not in ("min_price", "max_price"))
        added = trend_terms(slots, self.trends)
        said = (f" From what you said I used: {read}." if read else " You named nothing to draw, so it is a plain "
                "outfit.") + (f" Trend terms added (the catalog's most common): {', '.join(added)}." if added else "")
        return self._look(state, lean, "new_outfit", prompt, "Here is a new look (seed {seed}) and "
                          + shown_products(state) + lean.note() + "." + said, "txt2img", prompt=prompt,
                          negative_prompt=negative)

    def _edit(self, turn: Turn, state: dict, lean: Lean) -> Message:
        if not state["looks"]:
            return self._new_outfit(turn, state, lean)
        state["slots"] = merged_slots(state["slots"], turn.slots).as_dict()
        instruction = POLITE.sub("", POLITE.sub("", turn.text.strip())).rstrip("?!. ")
        current = self.history.image(state["looks"][state["current"]])
        return self._look(state, lean, "edit", instruction, f"Edited: “{instruction}” (seed {{seed}}). The closest "
                          f"products again{lean.note()}:", "edit", image=current, instruction=instruction)

    def _look(self, state: dict, lean: Lean, intent: str, shown_prompt: str, text: str, model: str,
              **inputs: Any) -> Message:
        """Generate through `model`, then the products to show with it (`is_outfit`); `text` may name {seed}."""
        image, seed = self.triton.generate(model, **inputs)
        data = png_bytes(image)
        products = self.products(data, state["filters"], complete_look=is_outfit(state), lean=lean)
        return Message("assistant", text.replace("{seed}", str(seed)), intent=intent, prompt=shown_prompt, image=data,
                       products=products)

    def drop_filter(self, conversation_id: str, name: str, lean: Lean = NO_LEAN) -> Message:
        """Drop one product filter (category, color, pattern, min_price, max_price) and show the current look's
        products again; the answer is recorded like a turn's."""
        state = self.history.state(conversation_id)
        dropped = state["filters"].pop(name, None)
        label = name.replace("_", " ")
        text = f"Dropped the filter {label} {dropped}" if dropped is not None else f"There was no {label} filter"
        products = []
        if state["looks"]:
            image = self.history.image(state["looks"][state["current"]])
            products = self.products(image, state["filters"], complete_look=is_outfit(state), lean=lean)
            text += f". Products for look {state['current'] + 1}, {describe(state['filters'])}{lean.note()}"
        return self._record(conversation_id, state, Message("assistant", text + ".", intent="refine",
                                                            products=products))

    def _refine(self, turn: Turn, state: dict, lean: Lean) -> Message:
        filters = state["filters"]
        if CLEAR_FILTERS.search(turn.text.lower()):
            filters.clear()
        found = turn.slots.as_dict()
        for name in (*FILTER_SLOTS, "min_price", "max_price"):
            if name in found:
                filters[name] = found[name]
        if "cheaper" in turn.text.lower() and "max_price" not in found and state.get("shown_prices"):
            filters["max_price"] = round(statistics.median(state["shown_prices"]), 2)
        if not state["looks"]:
            return Message("assistant", f"Noted: {describe(filters)}. Describe an outfit to see products.",
                           intent="refine")
        current = self.history.image(state["looks"][state["current"]])
        products = self.products(current, filters, complete_look=is_outfit(state), lean=lean)
        text = f"Products for look {state['current'] + 1}, {describe(filters)}{lean.note()}."
        if not products:
            text = f"No products match {describe(filters)}. Say “start over” or change the filters."
        return Message("assistant", text, intent="refine", products=products)

    def _navigate(self, turn: Turn, state: dict, lean: Lean) -> Message:
        if turn.navigation == "start_over":
            state.clear()
            state.update(empty_state())
            return Message("assistant", "Starting over. Describe an outfit.", intent="navigate")
        if not state["looks"]:
            return Message("assistant", "There is no earlier look yet.", intent="navigate")
        if turn.navigation == "undo":
            state["looks"].pop()
            if not state["looks"]:
                state["current"] = None
                return Message("assistant", "Undone. There is no look left; describe an outfit.", intent="navigate")
            index = len(state["looks"]) - 1
        elif turn.navigation == "back":
            index = max(0, state["current"] - 1)
        else:
            index = len(state["looks"]) - 1 if turn.target == -1 else turn.target - 1
            if not 0 <= index < len(state["looks"]):
                return Message("assistant", f"There are only {len(state['looks'])} looks.", intent="navigate")
        state["current"] = index
        image = self.history.image(state["looks"][index])
        products = self.products(image, state["filters"], complete_look=is_outfit(state), lean=lean)
        still = f"; the products are still filtered to {describe(state['filters'])} (drop a filter above the chat, " \
            "or say “clear the filters”)" if state["filters"] else ""
        return Message("assistant", f"Back to look {index + 1}{lean.note()}{still}.", intent="navigate", image=image,
                       products=products)

    def _question(self, turn: Turn, state: dict, lean: Lean) -> Message:
        if turn.answer:
            return Message("assistant", turn.answer, intent="question")
        slots = Slots(**state["slots"]) if state["slots"] else None
        lines = ["I generate outfits from a description, edit the current image (“make the shirt sage green”), "
                 "filter the products (“only dresses under 80”), and go back to earlier looks."]
        if slots is not None:
            lines.append(f"So far: {', '.join(f'{k} {v}' for k, v in slots.as_dict().items())}.")
        if state["filters"]:
            lines.append(f"Products are filtered to {describe(state['filters'])}.")
        return Message("assistant", " ".join(lines), intent="question")


def is_outfit(state: dict) -> bool:
    """Whether the conversation's look is an outfit, shown with products that complete it (one per category
    first), rather than one named garment ("a red polka-dot dress"), shown with the products most like it."""
    return len(state["slots"].get("garments", [])) != 1


def shown_products(state: dict) -> str:
    return "the catalog products that complete it" if is_outfit(state) else "the catalog products most like it"


def describe(filters: dict[str, Any]) -> str:
    parts = [str(filters[k]) for k in FILTER_SLOTS if filters.get(k)]
    if filters.get("min_price") is not None:
        parts.append(f"from {filters['min_price']:g}")
    if filters.get("max_price") is not None:
        parts.append(f"up to {filters['max_price']:g}")
    return " ".join(parts) if parts else "no filters"
