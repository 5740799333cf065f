"""The JSON-RPC page is what docs/make_jsonrpc.py writes from the server's method table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_jsonrpc_page_matches_the_method_table() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "make_jsonrpc.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
