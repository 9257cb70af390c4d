"""Issue 16, point 8 (pack modes): modes from a pack were kept, so a pack with 0777 folders gave a world-writable env.

Now the unpacker normalises them: folders and executables 0o755, other files 0o644, less the umask (through the real
S3 test server).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from remotesupport import Bucket as S3
from secsupport import KEY, pack, tree_modes

from venvcache_core import Cache
from venvcache_core.remote import Remote


@pytest.mark.parametrize(("umask", "folder", "script", "data"), [(0o022, 0o755, 0o755, 0o644),
                                                                  (0o077, 0o700, 0o700, 0o600)])
def test_pack_modes_are_normalised(tmp_path: Path, s3: S3, umask: int, folder: int, script: int, data: int) -> None:
    s3.put(KEY, pack({"bin/tool": b"#!/bin/sh\n", "lib/site/mod.py": b"x = 1\n", "lib/setuid": b"\0"},
                     dirs=[("bin", 0o777), ("lib", 0o777), ("lib/site", 0o2777)],
                     modes={"bin/tool": 0o777, "lib/site/mod.py": 0o666, "lib/setuid": 0o4755}))
    cache = Cache(tmp_path / "cache")
    cache.remote = Remote(s3.url, "read")
    old = os.umask(umask)
    try:
        assert cache.remote.pull(cache, KEY).action == "downloaded"
    finally:
        os.umask(old)

    modes = tree_modes(cache.path / KEY / "env")
    assert all(not mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_ISUID | stat.S_ISGID) for mode in modes.values())
    # files are then made read-only, as every entry's are (a hardlinked env must not write into the cache)
    ro = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert modes == {".": folder, "bin": folder, "lib": folder, "lib/site": folder, "bin/tool": script & ro,
                     "lib/site/mod.py": data & ro, "lib/setuid": script & ro}
