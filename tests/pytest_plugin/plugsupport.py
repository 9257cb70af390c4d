"""Helpers the pytest plugin's tests import: one inner pytest project with its own cache folder."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from venvcache_core import Cache

SUMMARY = re.compile(r"^venvcache: (off; |\d+ envs? requested).*$")


class Inner:
    """An inner pytest project (``pytester``) whose envs are cached in ``cache_dir``."""

    def __init__(self, pytester: pytest.Pytester, cache_dir: Path) -> None:
        self.pytester = pytester
        self.cache_dir = cache_dir

    @property
    def path(self) -> Path:
        return self.pytester.path

    @property
    def cache(self) -> Cache:
        return Cache(self.cache_dir)

    def tests(self, source: str, name: str = "test_inner") -> Path:
        """Write a test module into the inner project."""
        return self.pytester.makepyfile(**{name: textwrap.dedent(source)})

    def run(self, *args: str) -> pytest.RunResult:
        """An inner run in this process, output not captured (``-s``) so the env lines are in its stderr."""
        return self.pytester.runpytest("-s", "-p", "no:cacheprovider", f"--venvcache-dir={self.cache_dir}", *args)

    @staticmethod
    def output(result: pytest.RunResult) -> str:
        return "\n".join([*result.outlines, *result.errlines])

    @classmethod
    def summary(cls, result: pytest.RunResult) -> str:
        """The plugin's terminal summary line (the test fails when there is none)."""
        lines = [line for line in result.outlines if SUMMARY.match(line)]
        assert len(lines) == 1, cls.output(result)
        return lines[0]

    @classmethod
    def events(cls, result: pytest.RunResult, event: str) -> list[str]:
        """The core's report lines of one kind (``hit``, ``miss``, ``stored``) the inner run printed."""
        return [line for line in result.errlines if f": venv cache {event} " in line]
