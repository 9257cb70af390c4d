"""Provisioning: when ``[tox] requires`` names what the host tox does not meet, tox builds ``.tox/.tox`` from those
requirements and runs the envs there. Without venvcache among them that tox caches nothing, silently.

So the plugin adds a requirement for venvcache, pinned to the build running now, to the list tox provisions from:
its origin where pip recorded one (``direct_url.json``: a local folder, editable or not, or a wheel, that still
exists; a VCS commit; a URL), else its version. The host tox then still sees only the user's requirements as unmet
(the pin is met here by definition), and the provisioned tox loads the plugin. When no pin can be made, one warning
says how to add venvcache to ``requires``.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, distribution
from typing import Any
from urllib.parse import unquote, urlsplit

from . import _tox_internals as internals

DIST = "venvcache"


def self_requirement() -> str | None:
    """A requirement that installs this very build of venvcache, or None when there is none to name."""
    try:
        dist = distribution(DIST)
    except PackageNotFoundError:
        return None
    try:
        direct: Any = json.loads(dist.read_text("direct_url.json") or "null")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(direct, dict):
        return f"{DIST}=={dist.version}"
    url = direct.get("url")
    if not isinstance(url, str) or not url:
        return None
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict):
        commit = vcs.get("commit_id")
        return f"{DIST} @ {vcs.get('vcs')}+{url}@{commit}" if isinstance(commit, str) else None
    parts = urlsplit(url)
    if parts.scheme == "file" and not os.path.exists(unquote(parts.path)):
        return None  # the folder or wheel it was installed from is gone
    return f"{DIST} @ {url}"


def carry_plugin(requires: list[Any]) -> Any:
    """Add venvcache to ``requires`` (tox's own list, read once and kept by tox) when tox is about to provision and
    the user did not name venvcache: the added ``Requirement``, or None when there is none to add."""
    from packaging.requirements import InvalidRequirement, Requirement

    line = self_requirement()
    if line is None:
        return None
    try:
        pin = Requirement(line)
    except InvalidRequirement:
        return None
    if internals.unmet_requires([pin]):  # the running build does not meet its own pin: nothing sane to add
        return None
    requires.append(pin)
    return pin
