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


def wheels_of_installed(folder: Path, name: str, *, skip: frozenset[str] = frozenset({"pip"})) -> list[Path]:
    """Wheels of the installed distribution ``name`` and of what it needs (markers evaluated here), repacked from
    the running interpreter's site-packages: so a test can ``pip install`` a real tool offline. Files outside
    site-packages (console scripts: the installer writes them again from ``entry_points.txt``) and bytecode are
    left out; ``skip`` names distributions the target env already has."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    written: list[Path] = []
    seen: set[str] = set(skip)
    todo = [name]
    while todo:
        current = canonicalize_name(todo.pop())
        if current in seen:
            continue
        seen.add(current)
        dist = metadata.distribution(current)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
        files: dict[str, bytes] = {}
        for item in dist.files or []:
            path = str(item)
            if path.startswith("..") or "__pycache__" in path or path.endswith((".pyc", "/RECORD", "/INSTALLER",
                                                                                  "/REQUESTED", "/direct_url.json")):
                continue
            files[path] = Path(str(dist.locate_file(item))).read_bytes()
        dist_info = next(p.split("/")[0] for p in files if p.split("/")[0].endswith(".dist-info"))
        tags = [line.split(":", 1)[1].strip() for line in files[f"{dist_info}/WHEEL"].decode().splitlines()
                if line.startswith("Tag:")]
        record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
        files[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{dist_info[:-len('.dist-info')]}-{tags[0] if tags else 'py3-none-any'}.whl"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for path, data in files.items():
                zf.writestr(path, data)
        written.append(target)
    return written
