"""Fixtures of the security suite: the remote suite's S3 test server (reused, not copied) and the helpers' path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "remote"))

# tests/remote/conftest.py holds the moto S3 server fixtures; a second conftest module cannot be imported by name,
# so it is loaded from its file and its fixtures are bound here
_spec = importlib.util.spec_from_file_location("venvcache_remote_fixtures", HERE.parent / "remote" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_remote = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_remote)
s3_server = _remote.s3_server
s3 = _remote.s3
