"""`atelier serve` (the embedded Triton in the foreground) and `atelier up` (the whole demo, cli/stack.py)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from atelier.config import AtelierError, Settings
from atelier.processes import stop_on_signals
from cli.common import add_triton_ports, triton_ports


def serve(args: argparse.Namespace, settings: Settings) -> None:
    from atelier.triton_server import EmbeddedTriton, admin_key, admin_key_hint

    repository = Path(args.model_repository or settings.model_repository)
    key, key_location = admin_key(settings)
    server = EmbeddedTriton(repository, settings.home / "triton-runtime", triton_ports(args),
                            log_path=settings.home / "logs" / "tritonserver.log", admin_key=key)
    stop_on_signals()
    print(f"starting Triton on {repository} ...", file=sys.stderr)
    try:  # Ctrl-C or SIGTERM at any point, even during start-up, stops the server cleanly
        server.start()
        print(f"Triton ready: HTTP :{args.http_port}, gRPC :{args.grpc_port}, metrics :{args.metrics_port} "
              f"(log {server.log_path}); Ctrl-C stops it", file=sys.stderr)
        print(admin_key_hint(key_location), file=sys.stderr)
        # Polling rather than signal.pause(): a signal that lands just before pause() would be missed,
        # and a Triton that dies would go unnoticed.
        while server.running():
            time.sleep(0.5)
        raise AtelierError(f"Triton stopped unexpectedly; see {server.log_path}")
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print("Triton stopped", file=sys.stderr)


def up(args: argparse.Namespace, settings: Settings) -> None:
    from cli.stack import run_stack

    run_stack(settings, triton_ports(args), dashboard_port=args.port, milvus_port=args.milvus_port,
              demo_count=args.demo_count)


def register(sub: argparse._SubParsersAction) -> None:
    """`serve` and `up`."""
    p = sub.add_parser("serve", help="run the embedded Triton server in the foreground")
    add_triton_ports(p)
    p.add_argument("--model-repository")
    p.set_defaults(func=serve)

    p = sub.add_parser("up", help="the whole demo: export if needed, Triton, Milvus, demo catalog, dashboard")
    p.add_argument("--port", type=int, default=8501, help="dashboard port")
    p.add_argument("--milvus-port", type=int, default=19530)
    p.add_argument("--demo-count", type=int, default=2000, help="products in the demo catalog")
    add_triton_ports(p)
    p.set_defaults(func=up)
