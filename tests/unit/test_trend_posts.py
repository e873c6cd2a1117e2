from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from atelier.config import AtelierError
from ingest.trend_posts import parse_timestamp, read_trend_posts

JAN_1_10H = datetime(2024, 1, 1, 10, tzinfo=timezone.utc)  # 1704103200


def write_json(path, data):
    path.write_text(json.dumps(data))
    return path


def test_instagram_data_download(tmp_path):
    caption = "Linen season \u00e2\u0080\u0094 #Linen #OOTD #linen"  # "—" as Meta's downloads escape it
    export = write_json(tmp_path / "posts_1.json", [
        {"media": [{"uri": "media/posts/202401/a.jpg", "creation_timestamp": 1704103200, "title": caption}]},
        {"title": "Two photos #Sage", "creation_timestamp": 1704189600,
         "media": [{"uri": "media/posts/202401/b.jpg", "creation_timestamp": 1704189600, "title": ""},
                   {"uri": "media/posts/202401/c.jpg", "creation_timestamp": 1704189600, "title": ""}]},
    ])
    posts, rejects = read_trend_posts(export)
    assert rejects == []
    first, second = posts
    assert first["caption"] == "Linen season — #Linen #OOTD #linen"
    assert first["hashtags"] == ["linen", "ootd"]
    assert first["image"] == str((tmp_path / "media/posts/202401/a.jpg").resolve())
    assert first["date"] == JAN_1_10H and first["likes"] == 0 and first["source"] == "posts_1"
    assert first["id"].startswith("post-") and first["id"] != second["id"]
    assert read_trend_posts(export)[0][0]["id"] == first["id"]  # stable across imports
    assert second["hashtags"] == ["sage"] and second["image"].endswith("b.jpg")
    root = tmp_path / "download"
    moved = read_trend_posts(export, media_root=root)[0][0]
    assert moved["image"] == str((root / "media/posts/202401/a.jpg").resolve()) and moved["id"] == first["id"]


def test_older_instagram_download_fields(tmp_path):
    export = write_json(tmp_path / "media.json", {"photos": [
        {"caption": "#Tweed jacket", "taken_at": "2024-01-01T10:00:00", "path": "photos/202401/a.jpg"}]})
    [post], _ = read_trend_posts(export)
    assert post["date"] == JAN_1_10H and post["hashtags"] == ["tweed"] and post["image"].endswith("a.jpg")


def test_pinterest_pins(tmp_path):
    export = write_json(tmp_path / "pins.json", {"data": [
        {"id": "p1", "title": "Sage dress", "description": "Garden party #sage #Floral", "saves": "1.2k",
         "image": "https://i.pinimg.com/originals/a.jpg", "created_at": "2024-01-01T10:00:00Z"},
        {"id": "p2", "title": "Checked coat", "created_at": "2024-01-03",
         "media": {"media_type": "image", "images": {"150x150": {"width": 150, "url": "https://i.pinimg.com/s.jpg"},
                                                     "1200x": {"width": 1200, "url": "https://i.pinimg.com/l.jpg"}}}},
    ]})
    posts, rejects = read_trend_posts(export)
    assert rejects == []
    assert posts[0] == {"id": "p1", "caption": "Sage dress\nGarden party #sage #Floral", "hashtags": ["sage", "floral"],
                        "image": "https://i.pinimg.com/originals/a.jpg", "likes": 1200, "date": JAN_1_10H,
                        "source": "pins", "record": 1}  # its number in the export, for rejects found later
    assert posts[1]["image"] == "https://i.pinimg.com/l.jpg"
    assert posts[1]["date"] == datetime(2024, 1, 3, tzinfo=timezone.utc) and posts[1]["likes"] == 0


def test_scraper_csv_with_split_hashtag_columns(tmp_path):
    export = tmp_path / "instagram-scraper.csv"
    pd.DataFrame([
        {"shortCode": "C1", "caption": "Street style #ootd", "hashtags/0": "ootd", "hashtags/1": "Denim",
         "displayUrl": "https://cdn.example/c1.jpg", "likesCount": "1,234", "timestamp": "1704103200000"},
        {"shortCode": "C2", "caption": "No tags", "hashtags/0": "", "hashtags/1": "",
         "displayUrl": "https://cdn.example/c2.jpg", "likesCount": "7", "timestamp": "2024-01-01T12:00:00+02:00"},
    ]).to_csv(export, index=False)
    posts, rejects = read_trend_posts(export)
    assert rejects == []
    assert [(p["id"], p["hashtags"], p["likes"], p["date"]) for p in posts] == [
        ("C1", ["ootd", "denim"], 1234, JAN_1_10H), ("C2", [], 7, JAN_1_10H)]


def test_scraper_jsonl_with_text_and_hashtag_string(tmp_path):
    export = tmp_path / "tiktok.jsonl"
    export.write_text("\n".join(json.dumps(record) for record in [
        {"id": 42, "text": "Quiet luxury #OldMoney", "hashtags": "#quietluxury #OldMoney", "imageUrl": "img/42.jpg",
         "like_count": 3, "date": 1704103200, "platform": "tiktok"},
        {"id": 43, "text": "x", "hashtags": ["#A", "b"], "image_url": "https://cdn.example/43.jpg", "likes": 0,
         "created_at": 1704103200.0},
    ]) + "\n\n")
    posts, rejects = read_trend_posts(export)
    assert rejects == []
    assert posts[0]["hashtags"] == ["quietluxury", "oldmoney"] and posts[0]["source"] == "tiktok"
    assert posts[0]["image"] == str((tmp_path / "img/42.jpg").resolve()) and posts[0]["id"] == "42"
    assert posts[1]["hashtags"] == ["a", "b"] and posts[1]["date"] == JAN_1_10H and posts[1]["source"] == "tiktok"


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-01-01T10:00:00Z", JAN_1_10H),
    ("2024-01-01T11:30:00+01:30", JAN_1_10H),
    ("2024-01-01 10:00:00", JAN_1_10H),  # naive: UTC
    ("2024-01-01", JAN_1_10H - timedelta(hours=10)),
    (1704103200, JAN_1_10H),  # unix seconds
    ("1704103200", JAN_1_10H),
    (1704103200000, JAN_1_10H),  # unix milliseconds
    ("1704103200000", JAN_1_10H),
])
def test_dates(value, expected):
    assert parse_timestamp(value) == expected


def test_rejects_carry_the_row_number_and_the_reason(tmp_path):
    good = {"caption": "#a", "image": "https://cdn.example/a.jpg", "timestamp": 1704103200}
    export = write_json(tmp_path / "posts.json", [
        {**good, "id": "1"},
        {**good, "id": "2", "timestamp": ""},
        {**good, "id": "3", "image": None},
        {**good, "id": "4", "likes": "lots"},
        {**good, "id": "5", "likes": -3},
        {**good, "id": "6", "timestamp": "yesterday"},
        {**good, "id": "1"},
        "not a post",
        {**good, "id": "9", "image": "ftp://cdn.example/a.jpg"},
        {**good, "id": "10", "likes": "2.5"},
    ])
    posts, rejects = read_trend_posts(export)
    assert [post["id"] for post in posts] == ["1"]
    assert [(reject.line, reject.reason) for reject in rejects] == [
        (2, "no date"),
        (3, "no image"),
        (4, "likes 'lots' is not a number"),
        (5, "likes '-3' must be a non-negative whole number"),
        (6, "date 'yesterday' is neither ISO 8601 nor unix seconds or milliseconds"),
        (7, "duplicate id '1' (an earlier row has it)"),
        (8, "a record must be a JSON object"),
        (9, "image 'ftp://cdn.example/a.jpg': only local paths and http(s) URLs are supported"),
        (10, "likes '2.5' must be a non-negative whole number"),
    ]
    assert rejects[0].row["id"] == "2"


def test_unusable_files(tmp_path):
    with pytest.raises(AtelierError, match="does not exist"):
        read_trend_posts(tmp_path / "missing.json")
    with pytest.raises(AtelierError, match="neither a list"):
        read_trend_posts(write_json(tmp_path / "object.json", {"meta": {}}))
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(AtelierError, match="cannot read"):
        read_trend_posts(tmp_path / "broken.json")
    (tmp_path / "posts.xml").write_text("<posts/>")
    with pytest.raises(AtelierError, match="unsupported export format '.xml'"):
        read_trend_posts(tmp_path / "posts.xml")
