"""``python -m bench.export``: peak memory of the streamed submission exports.

Inserts N submissions in bulk into a fresh database (SQLite in a temporary
directory, or ``--database-url``), then exports them as CSV and XLSX, each in a
child process that reports its peak resident memory (``ru_maxrss``) before and
after the export: flat memory means the peak does not grow with N.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text

from portal.db import create_db_engine, session_factory, upgrade
from portal.form.models import Submission

BATCH = 10_000


def fill(url: str, rows: int) -> float:
    """Insert ``rows`` submissions in bulk; return the seconds it took."""
    engine = create_db_engine(url)
    started = time.perf_counter()
    try:
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM submissions"))
        with session_factory(engine)() as session:
            for start in range(0, rows, BATCH):
                session.execute(insert(Submission), [{
                    "registration_number": f"REG-{i:010d}", "idempotency_key": f"bench-{i}",
                    "nik": f"{3601000000000000 + i}", "name": f"Pegawai Contoh {i}",
                    "data": {"jabatan": "Operator Sekolah", "unit_kerja": "Dinas Pendidikan",
                             "instansi": "Pemerintah Provinsi Banten", "sumber_gaji": "APBD",
                             "telepon": "081234567890", "email": f"pegawai{i}@contoh.go.id"},
                    "queue_number": i,
                } for i in range(start, min(rows, start + BATCH))])
                session.commit()
    finally:
        engine.dispose()
    return time.perf_counter() - started


def _maxrss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def child(url: str, kind: str) -> dict[str, object]:
    """Run one export to nowhere; return rows, bytes, seconds and peak memory."""
    from portal.admin.exports import HEADER, stream_csv, submission_rows
    from portal.admin.xlsx import stream_xlsx

    engine = create_db_engine(url)
    db = session_factory(engine)
    with db() as session:  # connect and warm up before the baseline is taken
        session.execute(text("SELECT 1"))
    before = _maxrss_kb()
    # maxrss alone could hide growth under the peak the imports left; tracemalloc
    # counts every Python allocation the export makes (it slows the run down).
    tracemalloc.start()
    started = time.perf_counter()
    rows = submission_rows(db, ZoneInfo("Asia/Jakarta"))
    chunks = stream_csv(rows) if kind == "csv" else stream_xlsx(HEADER, rows)
    size = sum(len(chunk) for chunk in chunks)
    seconds = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    engine.dispose()
    return {"format": kind, "bytes": size, "seconds": round(seconds, 1),
            "maxrss_before_kb": before, "maxrss_after_kb": _maxrss_kb(),
            "python_peak_kb": traced_peak // 1024}


def measure(url: str, kind: str) -> dict[str, object]:
    """Run ``child`` in a fresh interpreter, so its peak is the export's alone."""
    done = subprocess.run([sys.executable, "-m", "bench.export", "--child", kind,
                           "--database-url", url], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Measure each row count and print one line per export (and JSON with --json)."""
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--database-url", default=None,
                        help="database to fill (its submissions are replaced!); "
                             "default: SQLite in a temporary directory")
    parser.add_argument("--child", choices=("csv", "xlsx"), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.database_url, args.child)))
        return 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'export.db'}"
        for rows in args.rows:
            filled = fill(url, rows)
            print(f"{rows:>9,} rows inserted in {filled:.1f} s", flush=True)
            for kind in ("csv", "xlsx"):
                result = {"rows": rows, **measure(url, kind)}
                results.append(result)
                peak = int(str(result["maxrss_after_kb"])) / 1024
                grew = (int(str(result["maxrss_after_kb"]))
                        - int(str(result["maxrss_before_kb"]))) / 1024
                print(f"{rows:>9,} rows {kind:>4}: {int(str(result['bytes'])) / 1e6:8.1f} MB "
                      f"in {result['seconds']} s, peak RSS {peak:.1f} MiB "
                      f"(+{grew:.1f} MiB during the export; Python allocations peak "
                      f"{int(str(result['python_peak_kb'])) / 1024:.1f} MiB)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
