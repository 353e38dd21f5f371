"""Benchmark: uploading a large CSV through the API, peak memory and time.

Generates a CSV of the requested sizes (default 100 MB and 1 GB; written to a
temp folder, never committed) wrapped in a multipart/form-data body, then in a
fresh child process per run pushes it through the real stack: Django's WSGI
handler -> DRF token auth -> MultiPartParser (streams to a temp file) ->
registry.datasets.store_upload (hash while streaming to var/datasets, sniff the
dialect, profile the first rows, count rows in chunks) -> Dataset row.

Baseline, in the same run and also in a fresh child: a plain hashed copy of
the same bytes (read 64 KiB, sha256, write), i.e. the least any upload costs.
Peak memory is the child's peak RSS (ru_maxrss), and its growth over the RSS
after start-up (Django, pandas, pyarrow imported).

    .venv/bin/python bench/upload.py [--sizes 100,1024]
"""

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import throwaway  # noqa: E402 (bench/throwaway.py)

BOUNDARY = "mlfbenchboundary7MA4YWxkTrZu0gW"


def write_body(path: Path, megabytes: int) -> int:
    """A multipart body holding one CSV of about `megabytes`; returns CSV rows."""
    import numpy as np

    rng = np.random.default_rng(0)
    block_rows = 50_000
    values = rng.normal(size=(block_rows, 6)).round(4)
    cities = rng.choice(["Recife", "Natal", "Salvador", "Fortaleza"], size=block_rows)
    labels = rng.choice(["yes", "no"], size=block_rows)
    lines = [
        f"{a},{b},{c},{d},{e},{f},{city},{label}\n"
        for (a, b, c, d, e, f), city, label in zip(
            values.tolist(), cities.tolist(), labels.tolist(), strict=True
        )
    ]
    block = "".join(lines).encode()
    target = megabytes * 1024 * 1024
    rows = 0
    with open(path, "wb") as handle:
        handle.write(
            (
                f"--{BOUNDARY}\r\n"
                'Content-Disposition: form-data; name="file"; filename="big.csv"\r\n'
                "Content-Type: text/csv\r\n\r\n"
                "x1,x2,x3,x4,x5,x6,city,label\n"
            ).encode()
        )
        written = 0
        while written + len(block) <= target:
            handle.write(block)
            written += len(block)
            rows += block_rows
        handle.write(f"\r\n--{BOUNDARY}--\r\n".encode())
    return rows


def configure(var: Path) -> None:
    throwaway.configure(
        var, web={"allowed_hosts": ["127.0.0.1"]}, training={"max_upload_mb": 4096}
    )


def child_platform(body: Path, var: Path) -> dict:
    configure(var)
    import pandas  # noqa: F401 - loaded before the start-up RSS is read
    import pyarrow  # noqa: F401
    from django.contrib.auth.models import Group, User
    from django.core.handlers.wsgi import WSGIHandler
    from rest_framework.authtoken.models import Token

    user = User.objects.create_user("bench")
    user.groups.add(Group.objects.get(name="analyst"))
    token = Token.objects.create(user=user)
    handler = WSGIHandler()
    start_rss = throwaway.rss_mb()
    status = []
    with open(body, "rb") as stream:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/registry/datasets/",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
            "CONTENT_LENGTH": str(body.stat().st_size),
            "HTTP_AUTHORIZATION": f"Token {token.key}",
            "wsgi.input": stream,
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        started = time.perf_counter()
        response = handler(environ, lambda s, h: status.append(s))
        answer = b"".join(response)
        seconds = time.perf_counter() - started
    data = json.loads(answer)
    if not status[0].startswith("201"):
        raise SystemExit(f"upload answered {status[0]}: {answer[:500]!r}")
    return {
        "seconds": seconds,
        "rows": data["rows"],
        "start_rss": start_rss,
        "peak_rss": throwaway.rss_mb(),
    }


def child_copy(body: Path, var: Path) -> dict:
    configure(var)  # the same imports, so the RSS baselines compare
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    start_rss = throwaway.rss_mb()
    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(body, "rb") as source, open(var / "copy.bin", "wb") as target:
        for chunk in iter(lambda: source.read(64 * 1024), b""):
            digest.update(chunk)
            target.write(chunk)
    return {
        "seconds": time.perf_counter() - started,
        "rows": None,
        "start_rss": start_rss,
        "peak_rss": throwaway.rss_mb(),
    }


def _child(kind: str, body: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="mlf-bench-upload-") as var:
        return throwaway.run_child(__file__, kind, str(body), var)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1024", help="MB, comma-separated")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, body, var = args.child
        work = child_platform if kind == "platform" else child_copy
        print(json.dumps(work(Path(body), Path(var))))
        return

    print(
        "size      rows        hashed copy (baseline)   platform upload (API)"
        "          ratio"
    )
    print(
        "                      s      peak RSS MB        s      peak RSS MB  (growth)"
    )
    with tempfile.TemporaryDirectory(prefix="mlf-bench-body-") as tmp:
        for megabytes in (int(s) for s in args.sizes.split(",")):
            body = Path(tmp) / f"body-{megabytes}.bin"
            rows = write_body(body, megabytes)
            copy = _child("copy", body)
            platform = _child("platform", body)
            body.unlink()
            assert platform["rows"] == rows, (platform["rows"], rows)
            growth = platform["peak_rss"] - platform["start_rss"]
            print(
                f"{megabytes:5d} MB {rows:10,d}  {copy['seconds']:7.2f}  "
                f"{copy['peak_rss']:8.0f}       {platform['seconds']:7.2f}  "
                f"{platform['peak_rss']:8.0f}  (+{growth:.0f})  "
                f"{platform['seconds'] / copy['seconds']:6.1f}x"
            )


if __name__ == "__main__":
    main()
