"""Build tiny real wheels for the tests: a wheel is a zip with METADATA, WHEEL, RECORD (and entry points).

Writing them directly takes milliseconds and needs no build backend and no network.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(folder: Path, name: str, version: str = "1.0", *, scripts: dict[str, str] | None = None,
               requires: list[str] | None = None, body: str = "", extra_files: dict[str, bytes] | None = None) -> Path:
    """Write ``name-version-py3-none-any.whl`` with module ``name`` (VERSION, ``main()``) into ``folder``.

    ``scripts`` maps console-script names to ``module:function``; ``main()`` prints ``<name> <version>``;
    ``extra_files`` adds more files (path in the wheel → content).
    """
    mod = name.replace("-", "_")
    dist_info = f"{mod}-{version}.dist-info"
    files: dict[str, bytes] = {
        f"{mod}/__init__.py": (f'VERSION = "{version}"\n\n\ndef main():\n    print("{name} {version}")\n'
                               + body).encode(),
        f"{dist_info}/METADATA": ("Metadata-Version: 2.1\n" f"Name: {name}\n" f"Version: {version}\n"
                                  + "".join(f"Requires-Dist: {r}\n" for r in requires or [])).encode(),
        f"{dist_info}/WHEEL": (b"Wheel-Version: 1.0\nGenerator: venvcache-tests\nRoot-Is-Purelib: true\n"
                               b"Tag: py3-none-any\n"),
    }
    if scripts:
        files[f"{dist_info}/entry_points.txt"] = ("[console_scripts]\n" + "".join(
            f"{script} = {target}\n" for script, target in scripts.items())).encode()
    files.update(extra_files or {})
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{mod}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():  # a fixed timestamp: equal inputs give equal bytes (content-keyed envs)
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return target
