"""tox 4 plugin: restore a cached env before tox installs deps, store it after (see issue 3)."""
