"""README and CI agree: CI runs exactly the README's test command, after the README's set-up."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    block = re.search(r"## Two commands on a fresh machine\n+```bash\n(.*?)```", (ROOT / "README.md").read_text(),
                      re.S)
    assert block, "README lost its 'Two commands on a fresh machine' block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_has_two_commands_main_job_and_tests() -> None:
    main_job, tests = readme_commands()
    assert main_job.endswith("tox -e py312")
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = readme_commands()
    test_command = tests.split(" && ")[-1]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert ci[-1] == test_command
    setup = tests.split(" && ")[:-1]
    assert any(line.startswith("python3 -m venv .venv") for line in ci) and setup[0] == "python3 -m venv .venv"
    assert any("install" in line and "-e '.[test]'" in line for line in ci)
