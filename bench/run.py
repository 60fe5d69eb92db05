"""Run the benchmark: ``python -m bench`` (see ``--help`` and docs/PERFORMANCE.md).

1. Create a fresh database (PostgreSQL ``shop_bench``, or SQLite with
   ``--sqlite``), migrate, collect static files, seed 1,000 products, 100,000
   orders and a superuser.
2. Start the shop under gunicorn with production settings and the project's
   gunicorn.conf.py, on loopback only, with ``bench.settings`` adding the floors,
   and the local Stripe double as the Stripe API that checkouts call.
3. Time the admin's order list, then drive each endpoint and its floor with wrk
   for a few seconds, alternating and repeating, and print the medians as a
   Markdown table.

gunicorn and the Stripe double are stopped however the run ends.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.harness import (
    CHECKOUTS_PER_SECOND,
    DRIVE_SCRIPT,
    ORDER_LIST,
    Browser,
    Endpoint,
    Gunicorn,
    Sample,
    Seeded,
    StripeDouble,
    database_prepare,
    endpoints_chosen,
    endpoints_define,
    expect,
    free_ports,
    log,
    postgres_recreate,
    production_environment,
    run_description,
    shoppers_with_carts,
)


def wrk_run(*, port: int, args: argparse.Namespace, requests: Path) -> Sample:
    command = [
        "wrk",
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={args.duration}s",
        "--timeout=10s",
        f"--script={DRIVE_SCRIPT}",
        f"http://127.0.0.1:{port}/",
        "--",
        str(requests),
        str(args.threads),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=args.duration + 60
    )
    line = next(
        (x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON ")), None
    )
    if result.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(
        data[name]
        for name in (
            "connect_errors",
            "read_errors",
            "write_errors",
            "status_errors",
            "timeouts",
        )
    )
    return Sample(
        requests=data["requests"],
        requests_per_second=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
        repeated=data["repeated"],
    )


def endpoint_run(
    *, port: int, args: argparse.Namespace, endpoint: Endpoint, label: str
) -> Sample:
    """Run wrk on the endpoint's requests; stop if they did not all do their work."""
    requests = endpoint.prepare(label)
    done_before = endpoint.work_done() if endpoint.work_done else 0
    sample = wrk_run(port=port, args=args, requests=requests)
    if endpoint.single_use and sample.repeated:
        raise SystemExit(
            f"{endpoint.name}: wrk sent {sample.repeated:,} requests a second time, "
            "each of which may be sent once only. Raise CHECKOUTS_PER_SECOND in "
            "bench/harness.py."
        )
    if endpoint.work_done:
        # Requests still in flight when wrk stopped may add more, never fewer.
        done = endpoint.work_done() - done_before
        if done < sample.requests:
            raise SystemExit(
                f"{endpoint.name}: only {done:,} of wrk's {sample.requests:,} "
                "requests did their work: see gunicorn's log below."
            )
    return sample


def admin_pages(orders: int) -> list[tuple[str, str]]:
    middle = max(1, orders // 100)
    return [
        ("order list", ORDER_LIST),
        ("order list, status paid", f"{ORDER_LIST}?status__exact=paid"),
        ("order list, needs attention", f"{ORDER_LIST}?problem=yes"),
        (f"order list, page {middle:,}", f"{ORDER_LIST}?p={middle}"),
    ]


@dataclass
class AdminResult:
    name: str
    path: str
    queries: int
    slowest_query_ms: float
    p50_ms: float
    max_ms: float


def admin_measure(
    *, args: argparse.Namespace, port: int, seeded: Seeded
) -> list[AdminResult]:
    """Count each page's queries in this process, then time it through gunicorn."""
    from django.contrib.auth import get_user_model
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username=seeded.admin_username))
    pages = admin_pages(args.orders)
    counted = {}
    for name, path in pages:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path, secure=True)
        if response.status_code != 200 or b'id="result_list"' not in response.content:
            raise SystemExit(f"admin {name}: HTTP {response.status_code}")
        counted[path] = (
            len(queries),
            max(float(query["time"]) for query in queries) * 1000,
        )
    connections.close_all()

    operator = Browser(port)
    login = expect(
        operator.send("GET", "/admin/login/", operator.headers()), 200, "admin login"
    )
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
    if token is None:
        raise SystemExit("The admin login page has no CSRF token.")
    body = urlencode(
        {
            "username": seeded.admin_username,
            "password": seeded.admin_password,
            "csrfmiddlewaretoken": token.group(1),
            "next": "/admin/",
        }
    )
    headers = operator.headers(
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": operator.origin,
        }
    )
    expect(operator.send("POST", "/admin/login/", headers, body), 302, "admin login")

    results = []
    for name, path in pages:
        for _ in range(2):  # each worker renders the templates once first
            expect(operator.send("GET", path, operator.headers()), 200, name)
        times = []
        for _ in range(args.admin_requests):
            started = time.perf_counter()
            expect(operator.send("GET", path, operator.headers()), 200, name)
            times.append((time.perf_counter() - started) * 1000)
        queries, slowest = counted[path]
        results.append(
            AdminResult(
                name, path, queries, slowest, statistics.median(times), max(times)
            )
        )
    return results


def rounds_run(
    *, args: argparse.Namespace, port: int, endpoints: list[Endpoint]
) -> None:
    """Warm up, then run each endpoint back to back with its floor, every round.

    The pairs rotate from round to round and alternate which of the two goes
    first, so that a burst of background load falls on both sides of a ratio.
    """
    warm = argparse.Namespace(**{**vars(args), "duration": 1})
    for endpoint in endpoints:
        endpoint_run(port=port, args=warm, endpoint=endpoint, label="warm")
    by_name = {endpoint.name: endpoint for endpoint in endpoints}
    pairs = list(
        enumerate(
            (by_name[endpoint.floor], endpoint)
            for endpoint in endpoints
            if endpoint.floor
        )
    )
    for round_number in range(args.rounds):
        shift = round_number % len(pairs)
        for number, pair in pairs[shift:] + pairs[:shift]:
            # Part of Stripe ids in webhook events: letters, digits and "_" only.
            label = f"r{round_number}_{number}"
            sample = {}
            # The side that goes first changes every round. The pair's place in
            # the rotation would not do: with an even number of pairs it keeps
            # its parity from round to round.
            floor_first = (round_number + number) % 2 == 0
            for endpoint in pair if floor_first else pair[::-1]:
                sample[endpoint.name] = endpoint_run(
                    port=port, args=args, endpoint=endpoint, label=label
                )
                endpoint.samples.append(sample[endpoint.name])
                log(
                    f"round {round_number + 1}/{args.rounds} {endpoint.name}: "
                    f"{sample[endpoint.name].requests_per_second:,.0f}/s "
                    f"p50 {sample[endpoint.name].p50_ms:.1f} ms "
                    f"p99 {sample[endpoint.name].p99_ms:.1f} ms"
                    + (
                        f" ERRORS {sample[endpoint.name].errors}"
                        if sample[endpoint.name].errors
                        else ""
                    )
                )
            floor, endpoint = pair
            endpoint.ratios.append(
                sample[endpoint.name].requests_per_second
                / sample[floor.name].requests_per_second
            )
            endpoint.p99_ratios.append(
                sample[endpoint.name].p99_ms / sample[floor.name].p99_ms
            )


def target_text(endpoint: Endpoint) -> str:
    parts = []
    if endpoint.min_ratio is not None:
        parts.append(f"≥ {endpoint.min_ratio:.2f}")
    if endpoint.max_p99_ratio is not None:
        parts.append(f"p99 ≤ {endpoint.max_p99_ratio:.1f} × the floor's")
    return ", ".join(parts)


def endpoint_met(endpoint: Endpoint) -> bool | None:
    if endpoint.min_ratio is None and endpoint.max_p99_ratio is None:
        return None
    met = True
    if endpoint.min_ratio is not None:
        met &= statistics.median(endpoint.ratios) >= endpoint.min_ratio
    if endpoint.max_p99_ratio is not None:
        met &= statistics.median(endpoint.p99_ratios) <= endpoint.max_p99_ratio
    return met


def report(
    *,
    args: argparse.Namespace,
    description: str,
    endpoints: list[Endpoint],
    admin: list[AdminResult],
) -> tuple[str, str]:
    """Return the result as Markdown, and whether every target was met."""
    lines = [
        description,
        "",
        "| Endpoint | Requests/s | p50 ms | p99 ms | Floor | Ratio to floor "
        "| p99 ÷ floor's | Target | Met | Errors |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | --- | --- | ---: |",
    ]
    verdicts = []
    for endpoint in endpoints:
        samples = endpoint.samples
        if not samples:
            continue
        met = endpoint_met(endpoint)
        if met is not None:
            verdicts.append(met)
        ratio = f"{statistics.median(endpoint.ratios):.2f}" if endpoint.ratios else "—"
        p99_ratio = (
            f"{statistics.median(endpoint.p99_ratios):.2f}"
            if endpoint.p99_ratios
            else "—"
        )
        lines.append(
            f"| {endpoint.name} "
            f"| {statistics.median(s.requests_per_second for s in samples):,.0f} "
            f"| {statistics.median(s.p50_ms for s in samples):.1f} "
            f"| {statistics.median(s.p99_ms for s in samples):.1f} "
            f"| {endpoint.floor or '—'} | {ratio} | {p99_ratio} "
            f"| {target_text(endpoint) or '—'} "
            f"| {'—' if met is None else ('yes' if met else 'NO')} "
            f"| {sum(s.errors for s in samples)} |"
        )
    lines += [
        "",
        f"| Admin page ({args.orders:,} orders) | Queries | Slowest query ms "
        f"| p50 ms | Max ms ({args.admin_requests} requests) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for page in admin:
        lines.append(
            f"| {page.name} (`{page.path.removeprefix(ORDER_LIST) or '/'}`) "
            f"| {page.queries} | {page.slowest_query_ms:.1f} | {page.p50_ms:.1f} "
            f"| {page.max_ms:.1f} |"
        )
    if not verdicts:
        return "\n".join(lines) + "\n", "no endpoint with a target ran"
    return "\n".join(lines) + "\n", (
        "every target met" if all(verdicts) else "TARGETS MISSED"
    )


def main(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print(
            "The benchmark needs wrk, which is not installed.\n"
            "On Debian or Ubuntu: apt-get install -y wrk",
            file=sys.stderr,
        )
        return 2
    # A SIGTERM unwinds like Ctrl-C, so that gunicorn is always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    port, stripe_port = free_ports(2)
    env = production_environment(args, workdir, port, stripe_port)
    os.environ.clear()
    os.environ.update(env)
    if not args.sqlite:
        postgres_recreate(args.database_url)
    seeded = database_prepare(args)
    description = run_description(args)

    stripe = StripeDouble(env, stripe_port, workdir / "stripe-double.log")
    server = Gunicorn(env, port, workdir / "gunicorn.log")
    succeeded = False
    try:
        stripe.start()
        server.start()
        log(f"gunicorn answers on 127.0.0.1:{port}")
        admin = admin_measure(args=args, port=port, seeded=seeded)
        log("timed the admin")
        shoppers = shoppers_with_carts(port, seeded.product_ids, args.shoppers)
        endpoints = endpoints_define(
            args=args,
            workdir=workdir,
            port=port,
            shoppers=shoppers,
            stripe_url=stripe.url,
            checkouts_per_file=CHECKOUTS_PER_SECOND * args.duration,
        )
        endpoints = endpoints_chosen(endpoints, args.only)
        runs = 2 * sum(1 for endpoint in endpoints if endpoint.floor)
        log(
            f"{runs} runs of {args.duration} s a round, {args.rounds} rounds "
            f"(about {runs * args.rounds * (args.duration + 1) + len(endpoints)} s)"
        )
        rounds_run(args=args, port=port, endpoints=endpoints)
        succeeded = True
    finally:
        server.stop()
        stripe.stop()
        if not succeeded:
            log(f"gunicorn's log:\n{server.log_tail()}")
        shutil.rmtree(workdir, ignore_errors=True)

    markdown, verdict = report(
        args=args, description=description, endpoints=endpoints, admin=admin
    )
    print(markdown)
    if args.markdown:
        args.markdown.write_text(markdown)
    log(f"{verdict}; whole run {time.monotonic() - started:.0f} s")
    return 0
