#!/usr/bin/env python3
"""Load benchmark of the API, with reference points measured in the same run.

`just bench` runs it. It builds release binaries, starts the API on Postgres +
Redis and on the embedded default (SQLite + in-process cache), seeds users
and tasks over HTTP, runs wrk over fixed scenarios with the cache off and on,
runs the same load against a bare actix-web handler and an actix-web + sqlx
handler (bench/reference), measures the argon2 hash rate, and prints one
table per configuration plus the targets of BENCHMARKS.md as ratios.

Needs: wrk (`apt install wrk` / `brew install wrk`); for the Postgres
configuration a server at BENCH_DATABASE_URL (default compose.yaml's
postgres://app:app@localhost:5432/app; a database named rpt_bench is
dropped and recreated there) and Redis at BENCH_REDIS_URL (default
redis://127.0.0.1:6379; keys under a fresh prefix), and psql on PATH.

`--config traces` compares tracing off, 10 % and 100 % sampled by req/s;
`--config trace-instructions` counts the same cases in instructions per
request under valgrind (`apt install valgrind`), which noise does not move.
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPConnection

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
LUA = os.path.join(ROOT, "bench", "wrk.lua")
API_PORT, REF_PORT = 18000, 18001
PASSWORD = "Str0ng!pass"


def log(message):
    print(message, file=sys.stderr, flush=True)


def http(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


def wait_ready(url, timeout=30.0):
    """Seconds until `url` answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.002)
    raise RuntimeError(f"{url} did not become ready in {timeout}s")


def peak_rss_reset(pid):
    # Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def to_ms(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(match.group(1)) * UNITS[match.group(2)]


def wrk(url, duration, connections, threads=2, method="GET", body=None, token=None):
    env = dict(os.environ, BENCH_METHOD=method, BENCH_BODY=json.dumps(body) if body else "", BENCH_TOKEN=token or "")
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", LUA, url]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)


def parse_wrk(process):
    out, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{out}")
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        result[f"p{pct}"] = to_ms(re.search(rf"\s{pct}%\s+(\S+)", out).group(1))
    errors = 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    result["errors"] = errors
    return result


def cpu_seconds(pid):
    # utime + stime of the process, all threads: fields 14 and 15 of stat.
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid, url, duration, connections, **kwargs):
    peak_rss_reset(pid)
    cpu = cpu_seconds(pid)
    result = parse_wrk(wrk(url, duration, connections, **kwargs))
    result["rss"] = peak_rss_mb(pid)
    # The server's CPU per request: steadier than req/s on a shared
    # machine, whose throughput moves between runs of the same binary.
    result["cpu_us"] = (cpu_seconds(pid) - cpu) * 1e6 / max(result["rps"] * duration, 1)
    return result


class Server:
    def __init__(self, args, env, ready_url):
        self.process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            self.startup = wait_ready(ready_url)
        except RuntimeError:
            self.process.kill()
            raise RuntimeError(f"{args[0]} did not start:\n{self.process.stderr.read()}")

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def api_env(database_url, redis_url, cache, prefix):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ENVIRONMENT": "development",
        "HOST": "127.0.0.1",
        "PORT": str(API_PORT),
        "DATABASE_URL": database_url,
        "CACHE_ENABLED": "true" if cache else "false",
        # Load comes from a handful of sockets; rate limits would answer 429.
        "RATE_LIMIT_ENABLED": "false",
        "JWT_EXPIRE_MINUTES": "120",
        # Production logging: one JSON line per request, at info.
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["REDIS_KEY_PREFIX"] = prefix
    return env


def seed(base, name, tasks):
    http("POST", f"{base}/v1/users/", {"email": f"{name}@example.com", "password": PASSWORD, "username": name})
    token = http("POST", f"{base}/v1/users/login", {"email": f"{name}@example.com", "password": PASSWORD})["access_token"]
    uuids = [
        http("POST", f"{base}/v1/tasks/", {"title": f"task {i}", "description": "benchmark task"}, token)["uuid"]
        for i in range(tasks)
    ]
    payload = token.split(".")[1]
    user_id = int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])
    return token, uuids, user_id


def run_config(label, database_url, redis_url, duration, connections, hash_rate):
    base = f"http://127.0.0.1:{API_PORT}"
    ready = f"{base}/v1/monitoring/ready"
    prefix = f"bench:{int(time.time())}:"
    rows, facts = [], {}
    seeded = None
    for cache in (False, True):
        server = Server([os.path.join(RELEASE, "api")], api_env(database_url, redis_url, cache, prefix), ready)
        facts.setdefault("startup_ms", server.startup * 1000)
        try:
            if seeded is None:
                seeded = {"reader": seed(base, "reader", 20), "writer": seed(base, "writer", 0)}
                # Seeding logged in: let the hashing threads give their argon2
                # memory back (after 2 s idle, application::security) so the
                # first scenario's peak RSS is read load, not login memory.
                time.sleep(3)
            token, uuids, _ = seeded["reader"]
            writer_token = seeded["writer"][0]
            tag = "cache on" if cache else "cache off"
            log(f"[{label}] {tag}")
            scenarios = [
                ("health", f"{base}/v1/monitoring/health", {}),
                ("GET /v1/users/me", f"{base}/v1/users/me", {"token": token}),
                ("GET /v1/tasks/ (20 tasks)", f"{base}/v1/tasks/", {"token": token}),
                ("GET /v1/tasks/{uuid}", f"{base}/v1/tasks/{uuids[0]}", {"token": token}),
                ("POST /v1/tasks/", f"{base}/v1/tasks/", {"token": writer_token, "method": "POST",
                                                          "body": {"title": "bench", "description": "created under load"}}),
            ]
            for name, url, kwargs in scenarios:
                if name == "health" and cache:
                    continue  # health touches no cache
                result = measure(server.pid, url, duration, connections, **kwargs)
                rows.append((name, "–" if name == "health" else tag, result))
            if cache:
                # Login at low concurrency, with health measured beside it.
                log(f"[{label}] login")
                peak_rss_reset(server.pid)
                login = wrk(f"{base}/v1/users/login", duration, 4, threads=1, method="POST",
                            body={"email": "reader@example.com", "password": PASSWORD})
                # A light, steady probe: wrk at full speed would itself take
                # the CPU whose sharing this measures.
                beside = subprocess.Popen([os.path.join(RELEASE, "bench-reference"), "probe",
                                           f"{base}/v1/monitoring/health", "200", str(duration)],
                                          stdout=subprocess.PIPE, text=True)
                login_result = parse_wrk(login)
                out, _ = beside.communicate()
                probe = json.loads(out)
                beside_result = {"rps": probe["count"] / duration, "p50": probe["p50"], "p99": probe["p99"],
                                 "errors": probe["errors"]}
                login_result["rss"] = beside_result["rss"] = peak_rss_mb(server.pid)
                rows.append(("POST /v1/users/login (4 conns)", "–", login_result))
                rows.append(("health beside login (200 req/s)", "–", beside_result))
        finally:
            server.stop()

    log(f"[{label}] references")
    reference = Server([os.path.join(RELEASE, "bench-reference"), "serve", f"127.0.0.1:{REF_PORT}", database_url],
                       {"PATH": os.environ.get("PATH", "")}, f"http://127.0.0.1:{REF_PORT}/health")
    try:
        user_id = seeded["reader"][2]
        rows.append(("ref: bare actix health", "–",
                     measure(reference.pid, f"http://127.0.0.1:{REF_PORT}/health", duration, connections)))
        rows.append(("ref: actix + sqlx PK select", "–",
                     measure(reference.pid, f"http://127.0.0.1:{REF_PORT}/users/{user_id}", duration, connections)))
        # The task list and insert as one actix-web + sqlx handler each, for
        # the same author's 20 tasks and the same writer.
        rows.append(("ref: actix + sqlx task list (page + count)", "–",
                     measure(reference.pid, f"http://127.0.0.1:{REF_PORT}/tasks?author={user_id}",
                             duration, connections)))
        rows.append(("ref: actix + sqlx task insert", "–",
                     measure(reference.pid, f"http://127.0.0.1:{REF_PORT}/tasks?author={seeded['writer'][2]}",
                             duration, connections, method="POST",
                             body={"title": "bench", "description": "created under load"})))
    finally:
        reference.stop()

    # Start-up to ready on a fresh database (embedded default only).
    if database_url.startswith("sqlite"):
        scratch = tempfile.mkdtemp(prefix="rpt-bench-start-")
        fresh = Server([os.path.join(RELEASE, "api")],
                       api_env(f"sqlite://{scratch}/app.db?mode=rwc", None, True, prefix), ready)
        facts["startup_fresh_ms"] = fresh.startup * 1000
        fresh.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    facts["hash_rate"] = hash_rate
    return rows, facts


class Receiver:
    """An OTLP/HTTP receiver that answers every export at once and counts
    them (decoding would make it the bottleneck, not the API)."""

    def __init__(self, port):
        import http.server
        import threading
        counts = self.counts = {"exports": 0, "bytes": 0}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                counts["bytes"] += len(self.rfile.read(length))
                counts["exports"] += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


TRACE_MODES = [("off", {}),
               ("10 %", {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}),
               ("100 %", {"OTEL_TRACES_SAMPLER": "always_on"})]


def trace_env(database_url, extra):
    env = api_env(database_url, None, False, "")
    if extra:
        env.update(extra, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{REF_PORT + 1}")
    return env


def run_traces(database_url, duration, connections):
    """Health and uncached /users/me with tracing off, sampling 10 % and 100 %
    of requests to a local receiver (BENCHMARKS.md, "Traces")."""
    base = f"http://127.0.0.1:{API_PORT}"
    ready = f"{base}/v1/monitoring/ready"
    receiver = Receiver(REF_PORT + 1)
    rows, token = [], None
    try:
        for mode, extra in TRACE_MODES:
            env = trace_env(database_url, extra)
            server = Server([os.path.join(RELEASE, "api")], env, ready)
            try:
                if token is None:
                    token = seed(base, "tracer", 0)[0]
                    time.sleep(3)  # the hashing threads give their memory back
                log(f"[traces] {mode}")
                rows.append(("health", mode, measure(server.pid, f"{base}/v1/monitoring/health", duration, connections)))
                rows.append(("GET /v1/users/me (cache off)", mode,
                             measure(server.pid, f"{base}/v1/users/me", duration, connections, token=token)))
            finally:
                server.stop()
    finally:
        receiver.stop()
    return rows, receiver.counts


def run_trace_instructions(database_url, n1=500, n2=4000):
    """The same cases as instructions per request, counted by valgrind
    (cachegrind, every thread): deterministic, where req/s on a shared machine
    moves by 10-20 % between runs of one binary. Two runs per case, of n1 and
    n2 sequential requests on one connection; their difference cancels
    start-up and shutdown."""
    base = f"http://127.0.0.1:{API_PORT}"
    ready = f"{base}/v1/monitoring/ready"
    seeder = Server([os.path.join(RELEASE, "api")], api_env(database_url, None, False, ""), ready)
    try:
        token = seed(base, "counter", 0)[0]
    finally:
        seeder.stop()

    def count(env, path, n):
        server = Server(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                         os.path.join(RELEASE, "api")], env, ready)
        try:
            connection = HTTPConnection("127.0.0.1", API_PORT, timeout=30)
            for _ in range(n):
                connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                connection.getresponse().read()
            time.sleep(1.5)  # a batch of spans goes out
        finally:
            server.stop()
        return int(re.search(r"I\s+refs:\s+([\d,]+)", server.process.stderr.read()).group(1).replace(",", ""))

    receiver = Receiver(REF_PORT + 1)
    lines = ["### Traces: instructions per request (valgrind, embedded default, cache off)", "",
             f"({n2} - {n1} sequential requests per case.)", "",
             "| scenario | tracing | instructions | off ÷ this |", "|---|---|---:|---:|"]
    try:
        for name, path in (("health", "/v1/monitoring/health"), ("GET /v1/users/me (cache off)", "/v1/users/me")):
            off = None
            for mode, extra in TRACE_MODES:
                log(f"[instructions] {name}, {mode}")
                env = trace_env(database_url, extra)
                per_request = (count(env, path, n2) - count(env, path, n1)) / (n2 - n1)
                off = off or per_request
                lines.append(f"| {name} | {mode} | {per_request:.0f} | {off / per_request:.2f} |")
    finally:
        receiver.stop()
    return "\n".join(lines)


def traces_table(rows, counts, connections):
    lines = ["### Traces (embedded default, cache off)", "",
             f"{connections} connections; p50/p99 in ms; sampled spans exported to a local OTLP/HTTP receiver "
             f"({counts['exports']} exports, {counts['bytes'] / 1e6:.1f} MB in all).", "",
             "| scenario | tracing | req/s | vs off | CPU µs/request | vs off | p50 | p99 | errors | peak RSS MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    off = {name: r for name, mode, r in rows if mode == "off"}
    for name, mode, r in rows:
        lines.append(f"| {name} | {mode} | {r['rps']:.0f} | {r['rps'] / off[name]['rps']:.2f} | "
                     f"{r['cpu_us']:.1f} | {r['cpu_us'] / off[name]['cpu_us']:.2f} | {r['p50']:.2f} | "
                     f"{r['p99']:.2f} | {r['errors']} | {r['rss']:.1f} |")
    checks = ["", "| target | measured | |", "|---|---|---|"]
    for name in off:
        ten = next(r for n, m, r in rows if n == name and m == "10 %")
        ratio = ten["rps"] / off[name]["rps"]
        # Throughput as CPU allows it: the inverse of CPU per request.
        by_cpu = off[name]["cpu_us"] / ten["cpu_us"]
        checks.append(f"| {name}: 10 % sampled ≥ 0.9 × off | {ratio:.2f} by req/s, {by_cpu:.2f} by CPU per request | "
                      f"{'met' if max(ratio, by_cpu) >= 0.9 else 'MISSED'} |")
    return "\n".join(lines + checks)


def table(label, rows, connections):
    lines = [f"### {label}", "",
             f"{connections} connections unless noted; p50/p99 in ms; RSS is the server's peak during the scenario.", "",
             "| scenario | cache | req/s | p50 | p99 | errors | peak RSS MB |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, tag, r in rows:
        lines.append(f"| {name} | {tag} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} | {r['rss']:.1f} |")
    return "\n".join(lines)


def targets(rows, facts):
    find = lambda name, tag="–": next(r for n, t, r in rows if n == name and t == tag)
    checks = []

    def check(what, ok, detail):
        checks.append(f"| {what} | {detail} | {'met' if ok else 'MISSED'} |")

    health, ref_health = find("health"), find("ref: bare actix health")
    ratio = health["rps"] / ref_health["rps"]
    check("health ≥ 0.8 × bare actix", ratio >= 0.8, f"{ratio:.2f}")
    ref_me = find("ref: actix + sqlx PK select")
    for tag, goal in (("cache off", 0.8), ("cache on", 1.0)):
        ratio = find("GET /v1/users/me", tag)["rps"] / ref_me["rps"]
        check(f"/users/me {tag} ≥ {goal} × actix+sqlx", ratio >= goal, f"{ratio:.2f}")
    for name, reference in (("GET /v1/tasks/ (20 tasks)", "ref: actix + sqlx task list (page + count)"),
                            ("POST /v1/tasks/", "ref: actix + sqlx task insert")):
        ours, ref = find(name, "cache off"), find(reference)
        ratio = ours["rps"] / ref["rps"]
        check(f"{name} ≥ 0.8 × actix+sqlx", ratio >= 0.8,
              f"{ours['rps']:.0f} vs {ref['rps']:.0f} req/s = {ratio:.2f}")
        check(f"{name} p99 ≤ 1.5 × actix+sqlx p99", ours["p99"] <= 1.5 * ref["p99"],
              f"{ours['p99']:.2f} vs {ref['p99']:.2f} ms")
    for name in ("GET /v1/tasks/ (20 tasks)", "GET /v1/tasks/{uuid}", "POST /v1/tasks/"):
        for tag in ("cache off", "cache on"):
            r = find(name, tag)
            check(f"{name} {tag}: p99 < 10 ms, 0 errors", r["p99"] < 10 and r["errors"] == 0,
                  f"p99 {r['p99']:.2f} ms, {r['errors']} errors")
    login, beside = find("POST /v1/users/login (4 conns)"), find("health beside login (200 req/s)")
    ratio = login["rps"] / facts["hash_rate"]
    check("login ≥ 0.9 × argon2 verify rate", ratio >= 0.9,
          f"{login['rps']:.1f}/s vs {facts['hash_rate']:.1f}/s = {ratio:.2f}")
    check("health p99 beside login < 10 ms", beside["p99"] < 10, f"{beside['p99']:.2f} ms")
    peak = max(r["rss"] for n, _, r in rows if not n.startswith("ref:") and "login" not in n)
    check("server peak RSS under read and write load < 40 MB", peak < 40, f"{peak:.1f} MB")
    # argon2id holds 19 MiB per hashing thread, one per core.
    allowance = 40 + 19 * (os.cpu_count() or 1)
    check(f"server peak RSS under login < {allowance} MB (40 + argon2's memory)",
          login["rss"] < allowance, f"{login['rss']:.1f} MB")
    if "startup_fresh_ms" in facts:  # the embedded default (SQLite)
        post = find("POST /v1/tasks/", "cache off")
        check("SQLite POST /v1/tasks/ p99 < 20 ms", post["p99"] < 20, f"{post['p99']:.2f} ms")
        check("start-up to ready < 300 ms (embedded, fresh database)", facts["startup_fresh_ms"] < 300,
              f"{facts['startup_fresh_ms']:.0f} ms")
    return "\n".join(["| target | measured | |", "|---|---|---|"] + checks)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--config", choices=["all", "postgres", "embedded", "traces", "trace-instructions"], default="all")
    parser.add_argument("--no-build", action="store_true", help="use the release binaries as they are")
    parser.add_argument("--output", default=os.path.join(RELEASE, "bench-latest.md"))
    args = parser.parse_args()

    if args.config == "trace-instructions":
        if shutil.which("valgrind") is None:
            sys.exit("valgrind is not installed: `apt install valgrind`")
        if not args.no_build:
            subprocess.run(["cargo", "build", "--release", "--bin", "api"], cwd=ROOT, check=True)
        text = run_trace_instructions(f"sqlite://{tempfile.mkdtemp(prefix='rpt-bench-count-')}/app.db?mode=rwc")
        print(text)
        with open(args.output, "w") as f:
            f.write(text + "\n")
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `apt install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)")
    if not args.no_build:
        log("building release binaries")
        subprocess.run(["cargo", "build", "--release", "--bin", "api", "--bin", "bench-reference"], cwd=ROOT, check=True)

    log("measuring the argon2 verify rate")
    hash_rate = float(subprocess.run([os.path.join(RELEASE, "bench-reference"), "hashrate", str(min(args.duration, 5))],
                                     check=True, capture_output=True, text=True).stdout)

    configs = []
    if args.config in ("all", "postgres"):
        pg_server = os.environ.get("BENCH_DATABASE_URL", "postgres://app:app@localhost:5432/app")
        redis_url = os.environ.get("BENCH_REDIS_URL", "redis://localhost:6379")
        if shutil.which("psql") is None:
            sys.exit("psql is needed to create the benchmark database (or run with --config embedded)")
        for sql in ("DROP DATABASE IF EXISTS rpt_bench WITH (FORCE)", "CREATE DATABASE rpt_bench"):
            subprocess.run(["psql", pg_server, "-qc", sql], check=True, capture_output=True)
        parts = urllib.parse.urlsplit(pg_server)
        configs.append(("Postgres + Redis", urllib.parse.urlunsplit(parts._replace(path="/rpt_bench")), redis_url))
    if args.config in ("all", "embedded"):
        scratch = tempfile.mkdtemp(prefix="rpt-bench-")
        configs.append(("Embedded default (SQLite, in-process cache)", f"sqlite://{scratch}/app.db?mode=rwc", None))

    report = [f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} CPUs, "
              f"{args.duration}s per scenario; argon2 verify rate {hash_rate:.1f}/s.", ""]
    for label, database_url, redis_url in configs:
        rows, facts = run_config(label, database_url, redis_url, args.duration, args.connections, hash_rate)
        report += [table(label, rows, args.connections), "",
                   f"Start-up to ready: {facts['startup_ms']:.0f} ms"
                   + (f" (fresh database: {facts['startup_fresh_ms']:.0f} ms)" if "startup_fresh_ms" in facts else ""), "",
                   targets(rows, facts), ""]
    if args.config in ("all", "traces"):
        scratch = tempfile.mkdtemp(prefix="rpt-bench-traces-")
        rows, counts = run_traces(f"sqlite://{scratch}/app.db?mode=rwc", args.duration, args.connections)
        report += [traces_table(rows, counts, args.connections), ""]
    text = "\n".join(report)
    print(text)
    with open(args.output, "w") as f:
        f.write(text + "\n")
    log(f"written to {args.output}")


if __name__ == "__main__":
    main()
