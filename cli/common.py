"""What several command groups share: the catalog a command defaults to, sizes, printing search hits."""

from __future__ import annotations

import argparse
from pathlib import Path

from atelier.config import AtelierError, Settings
from atelier.triton_server import TritonPorts


def add_triton_ports(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)


def triton_ports(args: argparse.Namespace) -> TritonPorts:
    return TritonPorts(args.http_port, args.grpc_port, args.metrics_port)


def catalog_or_demo(path: str | None, settings: Settings) -> Path:
    if path:
        return Path(path)
    from atelier.demo_catalog import write_catalog

    return write_catalog(settings.demo_catalog_dir)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """--size HEIGHTxWIDTH."""
    if text is None:
        return None
    height, sep, width = text.lower().partition("x")
    if not (sep and height.isdigit() and width.isdigit() and int(height) > 0 and int(width) > 0):
        raise AtelierError(f"--size takes HEIGHTxWIDTH in pixels, e.g. 1024x768, not {text!r}")
    return int(height), int(width)


def path_or_none(text: str | None) -> Path | None:
    return Path(text) if text else None


def read_file(path: str | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise AtelierError(f"cannot read the {what} {path!r}: {error.strerror}") from error


def print_hits(hits: list) -> None:
    for rank, hit in enumerate(hits, 1):
        f = hit.fields
        print(f"{rank:>2}. {hit.score:.3f}  {hit.id}  {f['title']}  [{f['category']}, {f['color']}, "
              f"{f['pattern']}, {f['price']:.2f}]")
