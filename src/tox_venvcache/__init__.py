"""tox 4 plugin: restore a cached env right before tox installs its deps, store it after a successful install.

Installing ``venvcache`` next to tox turns it on (entry point group ``tox``); no ``runner`` or ``requires`` change.
Works with tox's virtualenv runner and tox-uv's ``uv-venv-runner`` and ``uv-venv-lock-runner``.

Configure it in ``[virtualenv-cache]`` (tox.ini, tox.toml) or ``[tool.tox.virtualenv-cache]`` (pyproject.toml)::

    [virtualenv-cache]
    cache_path = ~/.cache/venvcache/myproject   # default: the per-user cache dir / project name
    cache_size = 10
    max_age = 14d                                # unpinned deps are frozen by a cache: let entries expire
    link_mode = auto
    salt = 1                                     # change it to start over
    key_files = constraints/*.txt                # more files whose content invalidates
    enabled = true

Per env: ``virtualenv_cache = false``. Per run: ``--no-venv-cache`` (or ``TOX_NO_VENV_CACHE=1`` /
``TOX_VENV_CACHE=0``), ``--venv-cache-refresh`` (reinstall and replace the entry), ``--venv-cache-require`` (or
``TOX_VENV_CACHE_REQUIRE=1``: a miss stops the env before any installer runs).

What is cached is everything an env installs but the package under test: ``deps``, ``dependency_groups``, the
package's own dependencies with its ``extras`` (``RunToxEnv.package_deps``), and the packaging envs (``.pkg``:
the build backend's requirements); tox installs the package itself, and runs its build, on every setup. The core's
report line says what happened (``venvcache_core.report``)::

    py312: venv cache hit 3f2a9c1e (19,044 files, 311 MB, copy) in 0.71 s
    py312: venv cache miss 3f2a9c1e (no entry)
    py312: venv cache stored 3f2a9c1e (19,044 files, 311 MB) in 0.80 s

``-v`` adds the key document (what went into the key) on a miss. A broken setting or a cache failure is one
warning line, and tox installs as usual.

Modules: ``plugin`` (hooks), ``state`` (per-run memory, light: idle runs import no more), ``config`` (settings),
``key`` (key inputs from the tox env), ``lifecycle`` (restore, store, log lines), ``prompt`` (a restored env's
prompt), ``lock_runner`` (the uv-venv-lock-runner wrapper), ``_tox_internals`` (every private tox/tox-uv detail
relied on, checked at run time and by the tests).
"""
