"""Start-up time and memory of one serving process.

Run from the repository root (about two minutes):

    .venv/bin/python bench/bench_startup.py
    .venv/bin/python bench/bench_startup.py --starts 5

1. First-ever start: `jobmatch serve` (one worker) on an empty data directory, so the embedded
   PostgreSQL is initialised and migrated; time from spawn to /readyz 200.
2. `--starts` restarts on that data directory (database initialised and migrated already):
   time from spawn to /readyz 200, median.
3. After the last start, some traffic (bulk import of postings and seekers, reads, matches),
   then the serving process's resident memory: RSS and its peak (VmHWM) from
   /proc/<pid>/status, PSS from /proc/<pid>/smaps_rollup. The embedded PostgreSQL is a separate
   set of processes and not counted.
4. Where the start-up time goes, each step timed in a fresh interpreter: importing the service,
   importing sentence_transformers (and torch), loading the model, the first encode.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import _harness as H  # noqa: E402

PHASES = """
import json, time
t = {}
s = time.perf_counter(); import service.main; t["import service.main"] = time.perf_counter() - s
s = time.perf_counter(); import sentence_transformers
t["import sentence_transformers (torch, transformers)"] = time.perf_counter() - s
s = time.perf_counter(); from matching.embed import SentenceTransformerEmbedder
e = SentenceTransformerEmbedder(); t["load the model"] = time.perf_counter() - s
s = time.perf_counter(); e.encode(["warehouse worker, forklift"])
t["first encode"] = time.perf_counter() - s
print(json.dumps(t))
"""


def memory_mib(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) / 1024
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            out["Pss"] = int(line.split()[1]) / 1024
    return out


def traffic(base: str, admin: str) -> None:
    from seed.generate import generate_postings, generate_seekers

    key = H.create_key(base, admin, "portal")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        for kind, items in (
            ("posting", generate_postings(300, seed=5)),
            ("seeker", generate_seekers(30, seed=6)),
        ):
            r = client.post(f"/v1/{kind}s:bulk", content=b"\n".join(orjson.dumps(i) for i in items))
            assert r.status_code == 200 and r.json()["created"] == len(items), r.text[:300]
        seekers = client.get("/v1/seekers", params={"limit": 30}).json()["items"]
        postings = client.get("/v1/postings", params={"limit": 200}).json()["items"]
        for s in seekers:
            assert client.get(f"/v1/seekers/{s['id']}/matches?limit=20").status_code == 200
        for p in postings:
            assert client.get(f"/v1/postings/{p['id']}").status_code == 200
        for p in postings[:20]:
            r = client.get(f"/v1/postings/{p['id']}/matches?limit=20")
            assert r.status_code in (200, 409), r.text[:300]  # 409: the posting has expired


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {H.machine()}")
    data_dir = H.make_data_dir()
    env = H.server_env(data_dir, H.free_port(), bulk_wait_seconds=600)
    try:
        with H.Server(env) as server:
            first = server.ready_seconds
        print(f"first-ever start (initdb, migrations, model) to /readyz 200: {first:.1f} s")
        admin = H.create_agency(env, "Bench agency")
        times = []
        for n in range(args.starts):
            server = H.Server(env)
            times.append(server.ready_seconds)
            if n < args.starts - 1:
                server.stop()
        print(
            f"start to /readyz 200 (initialised database), median of {len(times)}: "
            f"{statistics.median(times):.1f} s (each: {', '.join(f'{t:.1f}' for t in times)})"
        )
        try:
            before = memory_mib(server.proc.pid)
            traffic(server.base, admin)
            after = memory_mib(server.proc.pid)
        finally:
            server.stop()
        print(
            "serving process memory (MiB): ready "
            + ", ".join(f"{k} {v:.0f}" for k, v in before.items())
            + "; after traffic (330 records imported, 230 reads, 50 match lists) "
            + ", ".join(f"{k} {v:.0f}" for k, v in after.items())
        )
    finally:
        H.remove_data_dir(data_dir)

    phases = []
    for _ in range(args.starts):
        out = subprocess.run(
            [sys.executable, "-c", PHASES], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        phases.append(json.loads(out.strip().splitlines()[-1]))
    print(f"where start-up goes (fresh interpreter, median of {len(phases)}):")
    for name in phases[0]:
        print(f"  {name}: {statistics.median(p[name] for p in phases):.2f} s")


if __name__ == "__main__":
    main()
