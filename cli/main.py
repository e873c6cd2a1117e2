"""Atelier, a GenAI fashion studio, from the command line.

Heavy imports (torch, open_clip) happen inside the commands that need them.

    atelier up | serve                              cli/serve.py     the whole demo; Triton alone
    atelier export                                  cli/export.py    networks into the Triton model repository
    atelier demo-catalog | ingest | crawl | trends | shopper
                                                    cli/catalog.py   data in
    atelier search                                  cli/search.py    the catalog by text, image or both
    atelier generate | edit | inpaint | tryon       cli/generate.py  one image through Triton, then products
    atelier train                                   cli/train.py     CLIP, generators, LoRA, try-on
    atelier eval                                    cli/evaluate.py  quality reports
    atelier bench                                   cli/bench.py     speed and load
"""

from __future__ import annotations

import argparse
import errno
import sys

from atelier.config import AtelierError, Settings
from cli import bench, catalog, evaluate, export, generate, search, serve, train

COMMAND_GROUPS = (export, serve, catalog, search, generate, train, evaluate, bench)  # in `atelier --help`'s order

# Disk errors end a command with one line, not a traceback: the user mends them outside Atelier.
DISK_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
               errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atelier", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        if args.command == "export":
            args.profile = args.profile or settings.profile
        args.func(args, settings)
    except AtelierError as error:
        print(f"atelier: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        if error.errno not in DISK_ERRORS:
            raise
        where = f" writing {error.filename}" if error.filename else ""
        print(f"atelier: error: {DISK_ERRORS[error.errno]}{where}; mend that and run the command again",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
