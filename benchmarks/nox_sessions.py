"""nox sessions, cold / warm venvcache / ``-R`` / nox's uv backend on a warm uv cache: a nox-uv session
(``uv_groups``, uv.lock) next to a plain one (``session.install -r``, ``-e .``), median of 3 interleaved runs, on a
small local-wheel project, offline. Run: ``python benchmarks/nox_sessions.py`` (issue 13's closing note)."""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from virtualenv.seed.wheels.embed import BUNDLE_FOLDER

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from projects import pyproject
from wheels import make_wheel

root = Path(tempfile.mkdtemp(prefix="i13bench"))
wh = root / "wh"
for v in ("1.0",):
    make_wheel(wh, "tinytool", v, scripts={"tinytool": "tinytool:main"})
make_wheel(wh, "tinylib", "1.0")
make_wheel(wh, "tinydep", "1.0", requires=["tinylib"], scripts={"tinydep": "tinydep:main"})
for w in Path(BUNDLE_FOLDER).glob("setuptools-*.whl"):
    shutil.copy2(w, wh)
proj = root / "proj"
(proj / "demo").mkdir(parents=True)
(proj / "demo" / "__init__.py").write_text("VALUE = 1\n")
(proj / "requirements.txt").write_text("tinytool==1.0\ntinydep==1.0\n")
(proj / "pyproject.toml").write_text(pyproject("demo", dependencies=["tinylib"], packages=["demo"],
                                              groups={"test": ["tinytool==1.0", "tinydep==1.0"]}, cache=root / "cache"))
(proj / "noxfile.py").write_text("""import nox, nox_uv, nox_venvcache, os
BACKEND = os.environ.get("BENCH_BACKEND", "cached")

@nox_uv.session(venv_backend=BACKEND, uv_groups=["test"])
def noxuv(session):
    session.run("python", "-c", "import demo, tinylib, tinytool, tinydep")

@nox.session(venv_backend=BACKEND)
def plain(session):
    session.install("-r", "requirements.txt")
    session.install("-e", ".")
    session.run("python", "-c", "import demo, tinylib, tinytool, tinydep")
""")
env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "NOX_", "VIRTUAL_ENV"))}
env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wh), "PIP_NO_CACHE_DIR": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_NO_INDEX": "1", "UV_FIND_LINKS": str(wh), "UV_NO_CONFIG": "1",
            "UV_OFFLINE": "1", "UV_CACHE_DIR": str(root / "uvc"),
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]})
subprocess.run(["uv", "lock"], cwd=proj, env=env, check=True, capture_output=True)

def nox(session, envdir, *extra, backend="cached"):
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "nox", "-s", session, "--envdir", str(envdir), *extra], cwd=proj,
                       env={**env, "BENCH_BACKEND": backend}, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return time.perf_counter() - t, p.stdout + p.stderr

results = {}
for i in range(3):
    for session in ("noxuv", "plain"):
        shutil.rmtree(root / "cache", ignore_errors=True)
        d = Path(tempfile.mkdtemp(dir=root))
        cold, out = nox(session, d)                   # cold: empty venvcache (uv cache warm after round 1)
        assert "stored" in out, out
        warm, out = nox(session, Path(tempfile.mkdtemp(dir=root)))  # fresh .nox, warm venvcache
        assert "venv cache hit" in out and "miss" not in out, out
        reuse, out = nox(session, d, "-R")            # nox's own reuse of its env
        plain_d = Path(tempfile.mkdtemp(dir=root))
        uvwarm, out = nox(session, plain_d, backend="uv")  # no venvcache: nox's uv backend on a warm uv cache
        for name, v in (("cold", cold), ("warm venvcache", warm), ("-R", reuse), ("uv backend, warm uv cache", uvwarm)):
            results.setdefault((session, name), []).append(v)
        print(i, session, round(cold, 2), round(warm, 2), round(reuse, 2), round(uvwarm, 2), flush=True)
for (session, name), vals in results.items():
    print(f"{session:6} {name:28} median {statistics.median(vals):6.2f}  runs {[round(v, 2) for v in vals]}")
