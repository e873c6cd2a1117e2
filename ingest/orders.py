"""A shopper's order history from the export they provide (nothing logs in anywhere): normalised order lines.

Orders (`read_order_history`): a `.csv`, `.json` (a list, or one under `orders`, `data`, `items`, ...) or
`.jsonl` export, one line item per record, or orders holding their lines under `line_items`, `items` or
`products` (each line takes what it lacks, such as the date, from its order). Column names are matched case-
and punctuation-insensitively, first match wins:

| field      | accepted names                                                                            |
|------------|-------------------------------------------------------------------------------------------|
| product_id | product_id, sku, lineitem_sku, variant_sku, item_id, asin, ASIN/ISBN, article_number,     |
|            | product_code                                                                              |
| title      | title, lineitem_name, product_name, item_name, product, item, name, description           |
| category   | category, product_category, product_type, type, department                                |
| color      | color, colour, variant_color, variant_colour                                              |
| pattern    | pattern, print                                                                            |
| price      | price, unit_price, item_price, lineitem_price, purchase_price_per_unit, price_per_unit     |
|            | ("$45.00", "1.299,50" and "45,90" are read)                                               |
| quantity   | quantity, qty, lineitem_quantity, units; absent means 1                                   |
| date       | date, order_date, created_at, ordered_at, purchase_date, purchased_at, placed_at,         |
|            | timestamp: ISO 8601 or unix seconds / milliseconds                                        |

A line needs a product id or a title; a price that is not a non-negative number, a quantity that is not a
positive whole number or an unreadable date rejects it. Category, colour and pattern are put in the catalog's
words with the stylist's vocabulary ("Navy Blue" -> navy, "Plaid" -> checked, "Shirts" -> tops), and taken
from the title when the export has no such column ("Linden navy checked shirt").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atelier.config import AtelierError
from atelier.stylist.interpreter import extract_slots
from ingest.product_pages import parse_price
from ingest.sources import Reject
from ingest.trend_posts import clean_text, export_records, field_key, first_value, parse_timestamp

ALIASES = {
    "product_id": ("productid", "sku", "lineitemsku", "variantsku", "itemid", "asin", "asinisbn", "articlenumber",
                   "productcode"),
    "title": ("title", "lineitemname", "productname", "itemname", "product", "item", "name", "description"),
    "category": ("category", "productcategory", "producttype", "type", "department"),
    "color": ("color", "colour", "variantcolor", "variantcolour"),
    "pattern": ("pattern", "print"),
    "price": ("price", "unitprice", "itemprice", "lineitemprice", "purchasepriceperunit", "priceperunit"),
    "quantity": ("quantity", "qty", "lineitemquantity", "units"),
    "date": ("date", "orderdate", "createdat", "orderedat", "purchasedate", "purchasedat", "placedat", "timestamp"),
}
LINE_ITEMS = ("lineitems", "items", "products")
FACETS = ("category", "color", "pattern")


def _facet(name: str, value: str, title: str) -> str:
    """A category, colour or pattern in the catalog's words: the column's value, else what the title names."""
    if value:
        return getattr(extract_slots(value), name) or value.lower()
    return (getattr(extract_slots(title), name) or "") if title else ""


def normalise_order(fields: dict[str, Any]) -> dict[str, Any]:
    """One order line from a record with `field_key` names; raises ValueError with the reason."""
    text = {name: clean_text(first_value(fields, keys)) for name, keys in ALIASES.items()}
    if not text["product_id"] and not text["title"]:
        raise ValueError("no product id or title")
    price = parse_price(text["price"]) if text["price"] else None
    if text["price"] and price is None:
        raise ValueError(f"price {text['price']!r} is not a non-negative number")
    try:
        quantity = float(text["quantity"] or 1)
    except ValueError:
        quantity = 0.0
    if not (quantity >= 1 and quantity.is_integer()):
        raise ValueError(f"quantity {text['quantity']!r} is not a positive whole number")
    return {"product_id": text["product_id"], "title": text["title"],
            **{name: _facet(name, text[name], text["title"]) for name in FACETS},
            "price": None if price is None else round(price, 2), "quantity": int(quantity),
            "date": parse_timestamp(text["date"]).isoformat() if text["date"] else ""}


def _lines(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A record's order lines with `field_key` names: its nested line items over the order's fields, or itself."""
    fields = {field_key(name): value for name, value in record.items()}
    items = next((fields[key] for key in LINE_ITEMS if isinstance(fields.get(key), list)), None)
    if items is None:
        return [fields]
    order = {key: value for key, value in fields.items() if key not in LINE_ITEMS}
    return [{**order, **{field_key(name): value for name, value in item.items()}} if isinstance(item, dict)
            else {"__error__": "an order line must be a JSON object"} for item in items]


def read_order_history(path: Path) -> tuple[list[dict[str, Any]], list[Reject]]:
    """Normalised order lines and rejects of an order export; the lines of one order share its record number."""
    path = Path(path)
    if not path.is_file():
        raise AtelierError(f"order export {path} does not exist or is not a file")
    orders, rejects = [], []
    for number, record in enumerate(export_records(path), 1):
        if record is None:
            continue
        for line in [record] if "__error__" in record else _lines(record):
            try:
                if "__error__" in line:
                    raise ValueError(line["__error__"])
                orders.append(normalise_order(line))
            except ValueError as error:
                rejects.append(Reject(number, str(error), record))
    return orders, rejects
