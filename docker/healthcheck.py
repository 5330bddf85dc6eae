"""Container health check: exit 0 when ``/v1/ready`` answers 200, else 1.

Stdlib only, so it runs in the image's Python without anything else installed.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("QUIZSVC_PORT", "8000")
    url = os.environ.get("QUIZSVC_HEALTHCHECK_URL", f"http://127.0.0.1:{port}/v1/ready")
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
