"""Progress is drawn on a terminal only, never in CI logs, and erased before the summary line."""

from __future__ import annotations

import io
import time

import pytest

from venvcache_core import Progress, progress_wanted


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_drawn_on_a_terminal_and_erased(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    screen = Terminal()
    with Progress("pull 3f2a9c1e", total=10_000_000, stream=screen, delay=0.0) as meter:
        meter.update(4_000_000)
        time.sleep(0.6)
    text = screen.getvalue()
    assert "\rpull 3f2a9c1e 4.0 MB of 10 MB, " in text and "MB/s" in text
    assert text.endswith("\r") and "\n" not in text  # one line, redrawn in place, erased at the end


def test_nothing_in_ci_or_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    screen = Terminal()
    assert not progress_wanted(screen)
    with Progress("store", stream=screen, delay=0.0):
        time.sleep(0.3)
    assert screen.getvalue() == ""
    monkeypatch.delenv("CI")
    assert progress_wanted(screen) and not progress_wanted(io.StringIO())


def test_short_work_draws_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    screen = Terminal()
    with Progress("restore", total=1, stream=screen, delay=5.0):
        pass
    assert screen.getvalue() == ""


def test_without_byte_counts_shows_size_and_time() -> None:
    meter = Progress(".venv: restoring", total=273_000_000, enabled=False)
    assert meter.line().startswith(".venv: restoring 273 MB, ") and meter.line().endswith(" s")
