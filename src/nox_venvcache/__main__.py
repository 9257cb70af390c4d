"""``python -m nox_venvcache [nox options]``: nox with the cache on for this run, for a noxfile that does not import
``nox_venvcache``: nox's own ``virtualenv``, ``venv`` and ``uv`` backends are replaced by their cached variants and
``cached`` is registered, then nox's own command line runs (``NOX_VENV_CACHE=1`` is set for it)."""

from __future__ import annotations

import os
import sys

from . import settings


def main() -> None:
    os.environ[settings.ENV_SWITCH] = "1"
    from . import register

    register()  # again, now that the switch is set (importing the package registered the cached* names only)
    from nox.__main__ import main as nox_main

    sys.argv[0] = "nox"
    nox_main()


if __name__ == "__main__":
    main()
