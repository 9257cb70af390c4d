"""The requirement the plugin adds to what tox provisions: this very build of venvcache, or nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tox_venvcache import provision


class FakeDist:
    def __init__(self, direct: Any) -> None:
        self.version = "0.1.0"
        self._direct = direct

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return None if self._direct is None else json.dumps(self._direct)


@pytest.mark.parametrize(("direct", "expected"), [
    (None, "venvcache==0.1.0"),  # from an index: its version
    ({"url": "file://{here}", "dir_info": {"editable": True}}, "venvcache @ file://{here}"),
    ({"url": "file://{here}/gone.whl", "archive_info": {}}, None),  # the wheel it came from is gone
    ({"url": "https://example.org/v.git", "vcs_info": {"vcs": "git", "commit_id": "abc"}},
     "venvcache @ git+https://example.org/v.git@abc"),
])
def test_self_requirement_pins_this_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, direct: Any,
                                          expected: str | None) -> None:
    here = str(tmp_path)
    if direct is not None:
        direct = {key: value.replace("{here}", here) if isinstance(value, str) else value
                  for key, value in direct.items()}
    monkeypatch.setattr(provision, "distribution", lambda name: FakeDist(direct))
    assert provision.self_requirement() == (expected.replace("{here}", here) if expected else None)


def test_the_pin_is_added_only_when_the_running_build_meets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    requires: list[Any] = []
    monkeypatch.setattr(provision, "self_requirement", lambda: "venvcache==0.0.0.dev0")  # not what runs here
    assert provision.carry_plugin(requires) is None and requires == []
    monkeypatch.setattr(provision, "self_requirement", lambda: "venvcache>=0")
    added = provision.carry_plugin(requires)
    assert added is not None and requires == [added]
