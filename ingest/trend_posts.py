"""Social-post exports -> normalised trend posts, with a reject and its reason for every unusable row.

Files: `.json` (a list of posts, or an object holding the list under `data`, `posts`, `items`, `results`,
`pins`, `photos` or `orders`), `.jsonl` / `.ndjson` (one post per line) and `.csv` (one post per row).
`export_records`, `field_key`, `first_value` and `parse_timestamp` read order exports too (ingest/orders.py).

Field names are matched case- and punctuation-insensitively ("Image URL", `image_url` and `imageUrl` are one
name), first match wins:

| post field | accepted names                                                                             |
|------------|--------------------------------------------------------------------------------------------|
| id         | id, pk, shortCode, post_id, pin_id; else a hash of image, date and caption (stable)         |
| caption    | caption, text, title, description (all that are present, joined by a newline)              |
| hashtags   | hashtags, tags (a list, a JSON list, or "#a #b" / "a, b"), CSV columns hashtags/0, /1, ... |
|            | and every #tag inside the caption                                                          |
| image      | displayUrl, display_url, image_url, imageUrl, image, images, media_url, image_file, file,   |
|            | path, uri, media: a string, {"url"/"uri"/"src": ...}, a list (its first), or a map of      |
|            | sizes (the widest, e.g. Pinterest's `images`)                                              |
| likes      | likesCount, likes, like_count, saves, save_count, favorite_count; a number, "1,234",       |
|            | "1.2k", "3M" or {"count": n}; absent means 0                                               |
| date       | timestamp, taken_at_timestamp, taken_at, creation_timestamp, created_at, createTime, date, |
|            | published_at: ISO 8601 (naive means UTC) or unix seconds / milliseconds, number or text    |
| source     | source, platform; else the file's name without its suffix                                  |

The shapes this covers: Instagram's data download (a list of `{"media": [{"uri", "creation_timestamp",
"title"}]}`, its fields read as the post's own when the post lacks them; older downloads' `caption` /
`taken_at` / `path`), Pinterest exports and API pins (`title`, `description`, `image` or `media.images`,
`created_at`, `saves`) and scraping tools (`caption` or `text`, `hashtags`, `displayUrl` / `imageUrl`,
`likesCount`, `timestamp`). Instagram's downloads write UTF-8 text as Latin-1 escapes; captions are repaired.

A normalised post: id, caption, hashtags (lowercase, without '#', first occurrence order, no duplicates),
image (an http(s) URL, or a local path resolved against `media_root`, the file's folder by default),
likes (int), date (timezone-aware UTC datetime), source. A row without a date or an image, with unreadable
or negative likes, an unreadable date, or a repeated id is rejected.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from atelier.catalog_store import ID_MAX_LENGTH
from atelier.config import AtelierError
from ingest.sources import Reject, records, validated

WRAPPERS = ("data", "posts", "items", "results", "pins", "photos", "orders")
ID_KEYS = ("id", "pk", "shortcode", "postid", "pinid")
CAPTION_KEYS = ("caption", "text", "title", "description")
HASHTAG_KEYS = ("hashtags", "tags")
IMAGE_KEYS = ("displayurl", "imageurl", "image", "images", "mediaurl", "imagefile", "file", "path", "uri", "media")
LIKE_KEYS = ("likescount", "likes", "likecount", "saves", "savecount", "favoritecount")
DATE_KEYS = ("timestamp", "takenattimestamp", "takenat", "creationtimestamp", "createdat", "createtime", "date",
             "publishedat")
SOURCE_KEYS = ("source", "platform")
HASHTAG = re.compile(r"#(\w+)")
SPLIT_HASHTAG_COLUMN = re.compile(r"(?:hashtags|tags)\d+")
MILLISECONDS_FROM = 1e11  # a unix time above this is in milliseconds (1e11 seconds is the year 5138)
MULTIPLIERS = {"k": 1_000, "m": 1_000_000}


def field_key(name: str) -> str:
    """A field name compared case- and punctuation-insensitively: "Image URL" and image_url are `imageurl`."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def clean_text(value: Any) -> str:
    """A cell's text, stripped; None and NaN are empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def export_records(path: Path) -> list[dict[str, Any] | None]:
    """The records of a JSON, JSONL or CSV export; an unusable record is a dict with an `__error__` reason."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".jsonl", ".ndjson"):
        return records(path)
    if suffix != ".json":
        raise AtelierError(f"unsupported export format {path.suffix!r}; use .json, .jsonl or .csv")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AtelierError(f"cannot read {path}: {error}") from error
    if isinstance(data, dict):
        data = next((data[key] for key in WRAPPERS if isinstance(data.get(key), list)), None)
    if not isinstance(data, list):
        raise AtelierError(f"{path} holds neither a list of records nor an object with one under "
                           f"{', '.join(WRAPPERS)}")
    return [record if isinstance(record, dict) else {"__error__": "a record must be a JSON object"}
            for record in data]


def parse_timestamp(value: Any) -> datetime:
    """A UTC datetime from ISO 8601 text (naive means UTC) or unix seconds / milliseconds (number or text)."""
    text = clean_text(value)
    try:
        number = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise ValueError(f"date {text!r} is neither ISO 8601 nor unix seconds or milliseconds") from None
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    try:
        return datetime.fromtimestamp(number / 1000 if abs(number) >= MILLISECONDS_FROM else number, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"date {text!r} is out of range as unix seconds or milliseconds") from None


def _likes(value: Any) -> int:
    if isinstance(value, dict):  # Instagram's GraphQL shape: {"count": n}
        value = value.get("count")
    text = clean_text(value).lower().replace(",", "").replace("_", "").replace(" ", "")
    if not text:
        return 0
    multiplier = MULTIPLIERS.get(text[-1], 1)
    try:
        number = float(text[:-1] if multiplier > 1 else text) * multiplier
    except ValueError:
        raise ValueError(f"likes {clean_text(value)!r} is not a number") from None
    if not math.isfinite(number) or number < 0 or number != round(number):
        raise ValueError(f"likes {clean_text(value)!r} must be a non-negative whole number")
    return int(round(number))


def _location(value: Any) -> str:
    """An image location from a string, {"url": ...}, a list (the first usable) or a map of sizes (the widest)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return next((location for item in value if (location := _location(item))), "")
    if not isinstance(value, dict):
        return ""
    for key in ("url", "uri", "src", "images"):
        if key in value and (location := _location(value[key])):
            return location
    sizes = [size for size in value.values() if isinstance(size, dict) and _location(size.get("url"))]
    widest = max(sizes, key=lambda size: float(size.get("width") or 0), default=None)
    return _location(widest["url"]) if widest else ""


def _repair(text: str) -> str:
    """Undo Meta's UTF-8-as-Latin-1 escaping ("cafÃ©" -> "café"); other text comes back unchanged."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _tags(value: Any) -> list[str]:
    """Lowercase words of a list or of text such as "#a #b", "a, b" or '["a", "b"]'."""
    pieces = value if isinstance(value, list) else [value]
    return [tag.lower() for piece in pieces for tag in re.findall(r"\w+", clean_text(piece))]


def _present(value: Any) -> bool:
    return bool(value) if isinstance(value, (list, dict)) else bool(clean_text(value))


def first_value(fields: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of `keys` that `fields` holds a non-empty value for, or None."""
    return next((fields[key] for key in keys if _present(fields.get(key))), None)


def normalise_post(record: dict[str, Any], media_root: Path, default_source: str) -> dict[str, Any]:
    """One post in the normalised shape; raises ValueError with the reason when it cannot be used."""
    fields = {field_key(name): value for name, value in record.items()}
    media = fields.get("media")
    if isinstance(media, list) and media and isinstance(media[0], dict):  # Instagram's data download
        fields = {**{field_key(name): value for name, value in media[0].items()}, **fields}
    captions = [clean_text(fields.get(key)) for key in CAPTION_KEYS]
    caption = _repair("\n".join(dict.fromkeys(text for text in captions if text)))
    tag_values = [fields.get(key) for key in HASHTAG_KEYS]
    tag_values += [value for key, value in fields.items() if SPLIT_HASHTAG_COLUMN.fullmatch(key)]
    hashtags = [tag for value in tag_values for tag in _tags(value)] + [t.lower() for t in HASHTAG.findall(caption)]
    date_value = first_value(fields, DATE_KEYS)
    if date_value is None:
        raise ValueError("no date")
    location = _location(first_value(fields, IMAGE_KEYS))
    if not location:
        raise ValueError("no image")
    image = location
    if not location.startswith(("http://", "https://")):
        if "://" in location:
            raise ValueError(f"image {location!r}: only local paths and http(s) URLs are supported")
        image = str((media_root / location).resolve())
    date = parse_timestamp(date_value)
    likes = _likes(first_value(fields, LIKE_KEYS))
    post_id = clean_text(first_value(fields, ID_KEYS)) or "post-" + hashlib.sha256(  # the same wherever the file is
        f"{location}\n{date.isoformat()}\n{caption}".encode()).hexdigest()[:16]
    if len(post_id) > ID_MAX_LENGTH:
        raise ValueError(f"id is longer than {ID_MAX_LENGTH} characters")
    return {"id": post_id, "caption": caption, "hashtags": list(dict.fromkeys(hashtags)), "image": image,
            "likes": likes, "date": date, "source": clean_text(first_value(fields, SOURCE_KEYS)) or default_source}


def read_trend_posts(path: Path, media_root: Path | None = None) -> tuple[list[dict[str, Any]], list[Reject]]:
    """Normalised posts and rejects of an export file; later duplicates of an id are rejected.

    `media_root` resolves local image paths (Instagram's `media/posts/...` are relative to the download's
    root folder); the file's folder by default.
    """
    path = Path(path)
    if not path.is_file():
        raise AtelierError(f"trend export {path} does not exist or is not a file")
    media_root = Path(media_root or path.parent)
    return validated(export_records(path), lambda record: normalise_post(record, media_root, default_source=path.stem))
