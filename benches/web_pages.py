#!/usr/bin/env python3
"""Server-side time of the instructor web view's pages for a 500-student session (docs/benchmarks.md).

Builds nothing: give it the release binary. It creates a fresh database (a SQLite file, or the PostgreSQL
database DATABASE_URL names, which must be empty), a session, a roster of STUDENTS students, then starts
`labtrail serve` and sends PUSHES signed push deliveries per student (30 files each; the last push of every
fifth student after the deadline, every tenth student never pushes), waits until all are recorded, signs in
with an admin token through the login form, and times each page with curl (`%{time_total}`, keep-alive off,
one request at a time): WARMUP unmeasured requests, then RUNS measured ones; prints median and max.

    cargo build --release --bin labtrail
    python3 benches/web_pages.py target/release/labtrail                 # SQLite in a temp dir
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/web_bench python3 benches/web_pages.py target/release/labtrail
"""

import hashlib
import hmac
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

STUDENTS = int(os.environ.get("STUDENTS", "500"))
PUSHES = int(os.environ.get("PUSHES", "3"))
RUNS = int(os.environ.get("RUNS", "20"))
WARMUP = int(os.environ.get("WARMUP", "3"))
SECRET = "bench-secret"
OPENS = 1767225600  # 2026-01-01T00:00:00Z
CLOSES = 1769904000  # 2026-02-01T00:00:00Z
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "octokit-webhooks", "push", "with-new-branch.payload.json")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(binary, env, cwd, *args):
    out = subprocess.run([binary, *args], env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"labtrail {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def payload(template, i, n):
    login = f"student{i:03d}"
    p = json.loads(json.dumps(template))
    late = n == PUSHES - 1 and i % 5 == 0
    pushed_at = CLOSES + 3600 * (1 + i % 7) if late else CLOSES - 3600 * (PUSHES - n) - 60 * (i % 50)
    after = f"{i:020x}{n:020x}"
    p["repository"].update(name=f"lab1-{login}", full_name=f"course/lab1-{login}", id=10_000 + i, pushed_at=pushed_at)
    p["repository"]["owner"]["login"] = "course"
    p["organization"] = {"login": "course", "id": 9000}
    p["pusher"]["name"] = login
    p["sender"].update(login=login, id=100_000 + i)
    p["before"] = "0" * 40 if n == 0 else f"{i:020x}{n - 1:020x}"
    p["after"] = after
    p["commits"][0].update(id=after, added=[f"src/part{j:02d}.c" for j in range(30)])
    p["head_commit"].update(id=after, added=[f"src/part{j:02d}.c" for j in range(30)])
    return json.dumps(p).encode()


def deliver(base, guid, body):
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(f"{base}/webhooks/github", data=body, method="POST", headers={
        "content-type": "application/json", "user-agent": "GitHub-Hookshot/bench", "x-github-event": "push",
        "x-github-delivery": guid, "x-hub-signature-256": sig})
    with urllib.request.urlopen(req) as r:
        assert r.status in (200, 202), r.status


def curl_time(url, cookie):
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-H",
                          f"cookie: lt_session={cookie}", url], capture_output=True, text=True, check=True)
    code, seconds = out.stdout.split()
    assert code == "200", f"{url}: {code}"
    return float(seconds) * 1000


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="labtrail-web-bench-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, RUST_LOG="warn", LABTRAIL_PUBLIC_URL=base, LABTRAIL_AUDIT_ORIGIN="bench.local",
               GITHUB_WEBHOOK_SECRET=SECRET, LABTRAIL_BIND=f"127.0.0.1:{port}", LABTRAIL_WORKERS="2")
    env.setdefault("DATABASE_URL", f"sqlite://{work}/labtrail.db?mode=rwc")
    run(binary, env, work, "migrate")
    run(binary, env, work, "session", "create", "--org", "course", "--slug", "lab1", "--title", "Lab 1",
        "--repos", "lab1-*", "--opens", "2026-01-01T00:00:00Z", "--closes", "2026-02-01T00:00:00Z")
    with open(os.path.join(work, "roster.csv"), "w") as f:
        f.write("identifier,github_username,github_id,name\n")
        for i in range(STUDENTS):
            f.write(f"id{i:03d},student{i:03d},{100_000 + i},Student {i}\n")
    run(binary, env, work, "roster", "import", "--org", "course", os.path.join(work, "roster.csv"))
    token = run(binary, env, work, "token", "create", "--name", "bench", "--role", "admin").strip().splitlines()[-1]
    server = subprocess.Popen([binary, "serve"], env=env, cwd=work, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/readyz")
                break
            except OSError:
                time.sleep(0.1)
        template = json.load(open(FIXTURE))
        sent = 0
        for n in range(PUSHES):
            for i in range(STUDENTS):
                if i % 10 == 9:
                    continue
                deliver(base, f"bench-{i}-{n}", payload(template, i, n))
                sent += 1
        req = urllib.request.Request(f"{base}/api/v1/sessions/lab1/summary", headers={"authorization": f"Bearer {token}"})
        for _ in range(600):
            rows = json.load(urllib.request.urlopen(req))
            if sum(r.get("attempts", 0) for r in rows) >= sent:
                break
            time.sleep(0.5)
        # Sign in through the form, as a browser does.
        jar = os.path.join(work, "cookies")
        page = subprocess.run(["curl", "-s", "-c", jar, f"{base}/login"], capture_output=True, text=True).stdout
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        subprocess.run(["curl", "-s", "-b", jar, "-c", jar, "-o", "/dev/null", "--data-urlencode", f"token={token}",
                        "--data-urlencode", f"csrf={csrf}", f"{base}/login"], check=True)
        cookie = next(l.split("\t")[-1].strip() for l in open(jar) if "lt_session" in l)
        attempt = 1 + STUDENTS  # an attempt of the second round
        pages = ["/", "/sessions/lab1", "/sessions/lab1?status=late_only&sort=-late", f"/attempts/{attempt}",
                 "/audit", "/sessions/lab1/grades.csv", "/sessions/lab1/attempts.csv"]
        print(f"{sent} attempts, {STUDENTS} roster students; {RUNS} runs after {WARMUP} warm-up, milliseconds")
        print("| page | median | max |")
        print("| --- | --- | --- |")
        for path in pages:
            for _ in range(WARMUP):
                curl_time(base + path, cookie)
            times = [curl_time(base + path, cookie) for _ in range(RUNS)]
            print(f"| `{path}` | {statistics.median(times):.1f} | {max(times):.1f} |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
