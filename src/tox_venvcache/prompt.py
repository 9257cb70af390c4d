"""A restored env's prompt names this checkout: tox-uv creates envs with ``--prompt=<project dir>[<env>]``, which lands
in ``pyvenv.cfg`` (``prompt = …``) and in every activate script (``VIRTUAL_ENV_PROMPT``), so an entry made in
``~/a/proj`` would say ``proj[py312]`` of the wrong checkout (or ``a-fork[py312]``) after a restore elsewhere.

The fresh env tox created in this run (just before the restore) holds the right prompt: read it first, then write it
over the entry's in the restored copy.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_PROMPT_LINE = re.compile(r"^prompt\s*=\s*(?P<value>.*?)\s*$", re.MULTILINE)
#: activate scripts of virtualenv and uv (bash/zsh, csh, fish, nu, PowerShell, xonsh, cmd)
_SCRIPTS = ("activate", "activate.csh", "activate.fish", "activate.nu", "activate.ps1", "activate.xsh",
            "activate.bat", "activate_this.py")


def read_prompt(env_dir: Path) -> str | None:
    """The ``prompt`` of an env's ``pyvenv.cfg`` (None without one)."""
    try:
        text = (env_dir / "pyvenv.cfg").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found = _PROMPT_LINE.search(text)
    return found["value"] if found else None


def _bin_dir(env_dir: Path) -> Path:
    return env_dir / ("Scripts" if os.name == "nt" else "bin")


def set_prompt(env_dir: Path, prompt: str | None) -> bool:
    """Write ``prompt`` over the restored env's own prompt in ``pyvenv.cfg`` and the activate scripts; True when
    something changed. Nothing happens when either side has no prompt (virtualenv's default is the env dir's name,
    which a restore keeps)."""
    old = read_prompt(env_dir)
    if not prompt or not old or old == prompt:
        return False
    cfg = env_dir / "pyvenv.cfg"
    text = cfg.read_text(encoding="utf-8")
    _replace_file(cfg, _PROMPT_LINE.sub(lambda _: f"prompt = {prompt}", text, count=1))
    for name in _SCRIPTS:
        script = _bin_dir(env_dir) / name
        if script.is_file() and not script.is_symlink():
            try:
                content = script.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            if old in content:
                _replace_file(script, content.replace(old, prompt))
    return True


def _replace_file(path: Path, text: str) -> None:
    """A new file in place of ``path`` (a restored file may be a hard link into the cache: never write through it)."""
    tmp = path.with_name(f".{path.name}.prompt.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)
