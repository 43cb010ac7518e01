"""The console's list page: how long a caseworker waits for a 20-item list (issue 18's target:
p50 <= 150 ms), against the API's JSON of the same stored list in the same run.

Run from the repository root (about a minute):

    .venv/bin/python bench/bench_console.py
    .venv/bin/python bench/bench_console.py --requests 300

What it does: starts `jobmatch serve` (one worker; embedded PostgreSQL in a temporary
directory), imports one posting and 40 seekers, makes the posting's 20-item candidate list,
signs in to the console with a caseworker key, then asks `--requests` times, one request at a
time and alternating, for `GET /console/lists/{id}` (the HTML page, with its session cookie) and
`GET /v1/match-lists/{id}` (the JSON the page is built from). Both read the list, its decisions
and write an audit row; the page also renders the template and reads the list's subject.

Prints p50 / p99 of each and the page's p50 as a multiple of the JSON's. Set JOBMATCH_CACHE_DIR
to a folder holding the ESCO label vectors of the model (the tests keep them in
`.jobmatch-test-cache/cache`), or the server first encodes them for minutes.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import _harness as H  # noqa: E402


def seeker(i: int) -> dict[str, object]:
    return {
        "external_id": f"S-{i:03d}",
        "headline": "Forklift operator with warehouse experience",
        "summary": "Loading, unloading and stock control in a distribution centre.",
        "skills": [{"name": "operate forklift"}, {"name": "stock control"}][: 1 + i % 2],
        "experience_years": i % 8,
        "location": {"lat": 51.92 + 0.002 * i, "lon": 4.47, "city": "Rotterdam"},
        "max_distance_km": 40,
        "protected": {"consent": True, "gender": "female" if i % 2 else "male"},
    }


POSTING = {
    "external_id": "P-1",
    "title": "Forklift driver",
    "description": "Load and unload lorries, move pallets with a forklift truck.",
    "occupation": {"title": "forklift operator", "isco08": "8344"},
    "skills_required": [{"name": "operate forklift"}, {"name": "load cargo"}],
    "job_location": {"lat": 51.95, "lon": 4.45, "city": "Rotterdam"},
    "valid_through": "2099-01-01T00:00:00Z",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    data_dir = H.make_data_dir()
    env = H.server_env(data_dir, H.free_port())
    try:
        with H.Server(env) as server:
            base = server.base
            admin = H.create_agency(env, "bench-console")
            portal = {"Authorization": f"Bearer {H.create_key(base, admin, 'portal')}"}
            caseworker_key = H.create_key(base, admin, "caseworker")
            caseworker = {"Authorization": f"Bearer {caseworker_key}"}
            with httpx.Client(base_url=base, timeout=120) as api:
                pid = api.post("/v1/postings", json=POSTING, headers=portal).json()["id"]
                r = api.post(
                    "/v1/seekers:bulk", json=[seeker(i) for i in range(40)], headers=portal
                )
                r.raise_for_status()
                r = api.get(f"/v1/postings/{pid}/matches", params={"limit": 20}, headers=caseworker)
                r.raise_for_status()
                list_id = r.json()["id"]
                assert len(r.json()["items"]) == 20, len(r.json()["items"])
            with httpx.Client(base_url=base, timeout=30) as browser:
                form = browser.get("/console/sign-in").text
                token = re.search(r'name="csrf_token" value="([^"]+)"', form)
                assert token is not None
                r = browser.post(
                    "/console/sign-in",
                    data={
                        "csrf_token": token.group(1),
                        "api_key": caseworker_key,
                        "person": "Bench",
                    },
                )
                assert r.status_code == 303, r.text
                page_ms: list[float] = []
                json_ms: list[float] = []
                for i in range(args.requests + 20):
                    for url, headers, out in (
                        (f"/console/lists/{list_id}", {}, page_ms),
                        (f"/v1/match-lists/{list_id}", caseworker, json_ms),
                    ):
                        started = time.perf_counter()
                        r = browser.get(url, headers=headers)
                        elapsed = (time.perf_counter() - started) * 1000
                        assert r.status_code == 200, (url, r.status_code)
                        if i >= 20:  # the first 20 rounds warm up
                            out.append(elapsed)
        print(H.machine())
        print(
            f"list page (HTML, 20 items): p50 {statistics.median(page_ms):.1f} ms, "
            f"p99 {pct(page_ms, 0.99):.1f} ms"
        )
        print(
            f"same list as JSON (/v1):    p50 {statistics.median(json_ms):.1f} ms, "
            f"p99 {pct(json_ms, 0.99):.1f} ms"
        )
        print(f"page / JSON p50: {statistics.median(page_ms) / statistics.median(json_ms):.2f}x")
    finally:
        H.remove_data_dir(data_dir)


if __name__ == "__main__":
    main()
