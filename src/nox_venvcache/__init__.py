"""nox backend ``cached``: restore/store whole session envs (see issue 4)."""
