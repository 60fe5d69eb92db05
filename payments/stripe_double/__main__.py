"""Run the local Stripe double until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .events import PAYLOADS
from .server import DEFAULT_RETRY_DELAYS, DEFAULT_WEBHOOK_SECRET, StripeDouble


def _delays(value: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated seconds, e.g. 1,2,4: {value!r}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, serve, and stop cleanly on a signal."""
    parser = argparse.ArgumentParser(
        prog="python -m payments.stripe_double",
        description="Serve a local Stripe double for development and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111, help="0 picks a free port")
    parser.add_argument("--webhook-url", help="where to POST signed events")
    parser.add_argument("--webhook-secret", default=DEFAULT_WEBHOOK_SECRET)
    parser.add_argument(
        "--retry-delays",
        type=_delays,
        default=DEFAULT_RETRY_DELAYS,
        help="seconds between webhook retries (default: 1,2,4,8,16)",
    )
    parser.add_argument(
        "--event-payloads",
        choices=PAYLOADS,
        default="snapshot",
        help="snapshot events, thin events (event destinations) or both",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="do not log requests to stderr"
    )
    args = parser.parse_args(argv)

    stopping = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopping.set())

    double = StripeDouble(
        host=args.host,
        port=args.port,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        retry_delays=args.retry_delays,
    )
    double.log_requests = not args.quiet
    double.event_payloads = args.event_payloads
    try:
        double.start()
    except OSError as error:
        print(f"Cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    print(f"Local Stripe double listening on {double.url}", flush=True)
    # Wake up regularly: a signal handler runs only between bytecodes.
    while not stopping.wait(0.5):
        pass
    double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
