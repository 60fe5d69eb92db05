"""``python -m bench --instructions``: CPU instructions per request, not seconds.

The shop runs under gunicorn with one worker inside valgrind's callgrind; each
endpoint's request is sent a few times to warm up, the counters are zeroed, the
request is sent ``SAMPLES`` times, and the worker's instruction count is dumped.
The counts do not depend on what else the machine is doing, so they compare
code changes on a noisy machine. They leave out the kernel, PostgreSQL and wrk.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import harness

SAMPLES = 10


def worker_pid(master: int) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = subprocess.run(
            ["pgrep", "-P", str(master)], capture_output=True, text=True
        ).stdout.split()
        if children:
            return children[0]
        time.sleep(0.5)
    raise SystemExit("gunicorn started no worker under valgrind.")


def instructions_per_request(
    *, pid: str, endpoint: harness.Endpoint, port: int, dumps: Path
) -> float:
    """Return the worker's instructions per request, taking the requests in turn.

    Webhook events and checkouts come one per request, so that each is a new one.
    """
    lines = endpoint.prepare("count").read_text().splitlines()
    specs = [harness.RequestSpec.from_line(line) for line in lines]
    turns = iter(specs * (SAMPLES + 3))
    done_before = endpoint.work_done() if endpoint.work_done else 0
    for _ in range(3):
        next(turns).check(port, endpoint.name, endpoint.status)
    subprocess.run(["callgrind_control", "--zero", pid], capture_output=True)
    for _ in range(SAMPLES):
        next(turns).check(port, endpoint.name, endpoint.status)
    subprocess.run(["callgrind_control", "--dump", pid], capture_output=True)
    if endpoint.work_done and endpoint.work_done() - done_before < SAMPLES + 3:
        raise SystemExit(f"{endpoint.name}: not every request did its work.")
    newest = max(dumps.glob(f"cg.{pid}.*"), key=lambda path: path.stat().st_mtime)
    totals = re.search(r"^totals:\s*(\d+)", newest.read_text(), re.MULTILINE)
    if totals is None:
        raise SystemExit(f"No totals in {newest}")
    return int(totals.group(1)) / SAMPLES


def main(args: argparse.Namespace) -> int:
    if shutil.which("valgrind") is None:
        print("This needs valgrind: apt-get install -y valgrind", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    port, stripe_port = harness.free_ports(2)
    env = harness.production_environment(args, workdir, port, stripe_port)
    env["WEB_CONCURRENCY"] = "1"
    env["GUNICORN_TIMEOUT"] = "600"
    os.environ.clear()
    os.environ.update(env)
    if not args.sqlite:
        harness.postgres_recreate(args.database_url)
    args.orders = 0
    seeded = harness.database_prepare(args)
    description = harness.run_description(args)
    server = harness.Gunicorn(
        env,
        port,
        workdir / "gunicorn.log",
        wrapper=(
            "valgrind",
            "--tool=callgrind",
            "--trace-children=yes",
            f"--callgrind-out-file={workdir}/cg.%p",
        ),
        startup_seconds=300,
    )
    stripe = harness.StripeDouble(env, stripe_port, workdir / "stripe-double.log")
    results: dict[str, float] = {}
    try:
        stripe.start()
        server.start()
        pid = worker_pid(server.process.pid)
        harness.log(f"gunicorn's worker {pid} answers under callgrind")
        shoppers = harness.shoppers_with_carts(port, seeded.product_ids, 1)
        args.threads = 1
        endpoints = harness.endpoints_define(
            args=args,
            workdir=workdir,
            port=port,
            shoppers=shoppers,
            stripe_url=stripe.url,
            checkouts_per_file=SAMPLES + 3,
        )
        endpoints = harness.endpoints_chosen(endpoints, args.only)
        # The first count after start-up comes out high: one to throw away.
        for endpoint in [endpoints[0], *endpoints]:
            results[endpoint.name] = instructions_per_request(
                pid=pid, endpoint=endpoint, port=port, dumps=workdir
            )
            harness.log(f"{endpoint.name}: {results[endpoint.name] / 1e6:.2f} M")
    finally:
        server.stop()
        stripe.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    lines = [
        description.split(", gunicorn")[0]
        + f"; one gunicorn worker under callgrind, mean of {SAMPLES} requests.",
        "",
        "| Endpoint | Instructions per request (millions) | Floor | Floor ÷ endpoint |",
        "| --- | ---: | --- | ---: |",
    ]
    for endpoint in endpoints:
        floor = endpoint.floor
        ratio = f"{results[floor] / results[endpoint.name]:.2f}" if floor else "—"
        lines.append(
            f"| {endpoint.name} | {results[endpoint.name] / 1e6:.1f} "
            f"| {floor or '—'} | {ratio} |"
        )
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    if args.markdown:
        args.markdown.write_text(markdown)
    return 0
