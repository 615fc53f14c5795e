"""Web speed: requests/s and p99 latency at 50 concurrent clients, measured with wrk.

Starts ``paperfeed serve`` on a database (the demo corpus), waits until the ranking's
vocabulary is fitted, warms each URL once, then runs wrk (Debian's) against:

- a static file (the baseline: what this server does with no paperfeed code in the way),
- the feed API for a shared profile (``/api/feed``),
- the home page for a visitor (trending) and a profile's feed page,
- search (keyword, and hybrid: the default) and a paper's page (with its similar papers).

Goals: the feed API, the visitor's home page, a paper's page and the search API each at >= 200
requests/s with p99 <= 200 ms on 2 cores.

    python bench/bench_web.py --db paperfeed.db [--seeds ../shared/seeds] [--duration 20]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 600) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return bytes(r.read())


def wrk(url: str, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": float(p50.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)],  # type: ignore[union-attr]
        "p99_ms": float(p99.group(1)) * scale,  # type: ignore[union-attr]
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="paperfeed.db")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--profile", default=None, help="a shared profile [the first one]")
    parser.add_argument("--seeds", default=None, help="paper lists to load first (for profiles)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (make install installs it)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PAPERFEED_DB": args.db}
    paperfeed = Path(sys.executable).with_name("paperfeed")
    if args.seeds:  # idempotent: the seeds' owners become shared profiles
        subprocess.run(
            [str(paperfeed), "ingest", args.seeds], env=env, check=True, capture_output=True
        )
    server = subprocess.Popen(
        [str(paperfeed), "serve", "--port", str(port), "--no-embed", "--no-digests"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        while True:
            try:
                status = json.loads(get(base + "/api/status", timeout=5))
                if status["background"]["ranking_ready"]:
                    break
                if status["background"]["errors"]:
                    sys.exit(f"server failed: {status['background']['errors']}")
            except OSError:
                pass
            if server.poll() is not None:
                sys.exit("the server exited")
            time.sleep(0.5)
        print(f"server ready in {time.monotonic() - started:.1f} s")
        profiles = json.loads(get(base + "/api/profiles"))["shared"]
        usable = [p["name"] for p in profiles if p["papers"]]
        profile = args.profile or usable[0]
        q = quote(profile)
        hits = json.loads(get(base + "/api/search?q=graph+neural+networks&mode=keyword"))
        paper = quote(hits[0]["id"]) if hits else "pf:1"
        urls = {
            "static file (baseline)": "/static/style.css",
            "feed API": f"/api/feed?profile={q}",
            "feed page": f"/?profile={q}",
            "home page (visitor)": "/",
            "keyword search API": "/api/search?q=graph+neural+networks&mode=keyword",
            "hybrid search API": "/api/search?q=graph+neural+networks",
            "paper page": f"/paper/{paper}",
        }
        for path in urls.values():
            t = time.perf_counter()
            get(base + path)
            first = (time.perf_counter() - t) * 1000
            print(f"first request {path}: {first:.0f} ms")
        print(
            f"\nwrk (one thread): {args.connections} connections, {args.duration} s each, "
            "on the same 2 cores\n"
        )
        results = {}
        for name, path in urls.items():
            time.sleep(3)  # let the previous run's last requests drain
            results[name] = r = wrk(base + path, args.duration, args.connections)
            print(
                f"{name:<24} {r['rps']:>8.1f} req/s   p50 {r['p50_ms']:>7.1f} ms   "
                f"p99 {r['p99_ms']:>7.1f} ms   non-2xx {int(r['non_2xx'])}"
            )
        baseline = results["static file (baseline)"]["rps"]
        print()
        for name, r in results.items():
            print(f"{name:<24} {r['rps'] / baseline:.2f}x the static file's requests/s")
        print()
        for name in ("feed API", "home page (visitor)", "paper page", "hybrid search API"):
            r = results[name]
            verdict = "met" if r["rps"] >= 200 and r["p99_ms"] <= 200 else "NOT met"
            print(f"goal ({name} >= 200 req/s, p99 <= 200 ms): {verdict}")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
