"""``ffcluster health``: a health check a container runs, with no tool beyond the image."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request

from common.settings import Settings

TIMEOUT_S = 3.0


def run(args: argparse.Namespace, settings: Settings) -> int:
    base = args.url or f"http://127.0.0.1:{settings.port}"
    path = "/api/ready" if args.ready else "/api/live"
    request = urllib.request.Request(f"{base.rstrip('/')}{path}",
                                     headers={"Host": "localhost"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            ok = response.status == 200
    except urllib.error.HTTPError as exc:
        print(f"ffcluster: {path} answered {exc.code}: {exc.read()[:200].decode(errors='replace')}",
              file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"ffcluster: the web tier at {base} does not answer ({exc}).", file=sys.stderr)
        return 1
    return 0 if ok else 1
