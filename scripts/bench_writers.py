"""Twenty phones syncing at once into one SQLite server: how long each batch waits, and whether any is refused
(issue 10 item 14: writers queue first come first served and answer well before a phone's 30 s timeout).

    .venv/bin/python scripts/bench_writers.py [--phones 20] [--batches 3] [--items 200]

Starts a real `hearken serve` on loopback with a fresh data folder, logs the phones in one after another, then lets
them all send their batches at once and prints p50 / p95 / max of a batch's round trip and the count of 503s.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    from tests.e2e.helpers import make_world
    from tests.support.live_server import LiveServer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, default=20)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    with LiveServer(Path(tempfile.mkdtemp(prefix="hearken-bench-writers-"))) as server:
        world = make_world(server)
        sessions = [world.researcher() for _ in range(args.phones)]
        times: list[float] = []
        codes: list[int] = []
        lock = threading.Lock()

        def phone(n: int) -> None:
            for _ in range(args.batches):
                conv, consent = str(uuid.uuid4()), str(uuid.uuid4())
                items = [{"type": "conversation", "id": conv, "data": {
                             "project_id": world.project_id, "prompt_ids": [],
                             "started_at": "2026-11-20T10:00:00+00:00"}},
                         {"type": "consent", "id": consent, "data": {
                             "conversation_id": conv, "participant_label": f"P-{n:04d}",
                             "consent_form_id": world.consent_form_id, "scopes": ["quote"], "method": "verbal",
                             "given_at": "2026-11-20T10:01:00+00:00"}}]
                items += [{"type": "fragment", "id": str(uuid.uuid4()), "data": {
                    "conversation_id": conv, "consent_id": consent, "kind": "quote", "text": f"words {i}",
                    "captured_at": "2026-11-20T10:05:00+00:00"}} for i in range(args.items - 2)]
                t0 = time.perf_counter()
                r = sessions[n].post("/sync", json={"device_id": f"phone-{n}", "items": items}, timeout=120)
                with lock:
                    times.append(time.perf_counter() - t0)
                    codes.append(r.status_code)

        started = time.perf_counter()
        threads = [threading.Thread(target=phone, args=(n,)) for n in range(args.phones)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        times.sort()
        p95 = times[max(0, int(len(times) * 0.95) - 1)]
        print(f"{args.phones} phones x {args.batches} batches of {args.items}: {len(times)} batches in {wall:.1f} s "
              f"({len(times) * args.items / wall:.0f} records/s)")
        print(f"batch round trip: p50 {statistics.median(times):.2f} s, p95 {p95:.2f} s, max {times[-1]:.2f} s")
        print(f"answers: {dict((c, codes.count(c)) for c in sorted(set(codes)))} (503s: {codes.count(503)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
