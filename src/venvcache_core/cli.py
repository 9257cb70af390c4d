"""``virtualenv-cache``: a drop-in for the original tool (``init store restore list erase``) plus ours.

Exit codes: 0 success (``restore``: hit), 1 ``restore`` miss or ``verify`` found a problem, 2 error,
3 ``restore --nearest`` restored the nearest entry (partial: run the installer's exact sync, then ``store``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import (
    CONFIG_FILE,
    Cache,
    Key,
    RestoreResult,
    VenvCacheError,
    build_key,
    default_cache_root,
    describe_restore,
    describe_store,
    find_python,
    hash_files,
    human_bytes,
    human_seconds,
    interpreter_identity,
    load,
    locked_distributions,
    project_id,
    venv_python,
)

log = logging.getLogger("venvcache")

LOCK_FILE_GUESSES = ("requirements*.txt", "requirements/*.txt", "poetry.lock", "pdm.lock", "Pipfile.lock",
                     "uv.lock", "pylock.toml", "pylock.*.toml")

INIT_TEMPLATE = """\
[virtualenv-cache]
# How many environments to keep; the least recently used go first.
cache_size = 20
# Where the cached environments live. ${{VAR}} and ~ are expanded.
# Default: the per-user cache directory (here: {default_cache}).
# cache_path = "${{HOME}}/.cache/venvcache/{project}"
# The environment to store and restore, relative to this file's folder.
virtualenv_path = ".venv"
# Files whose content decides what the environment holds; any change makes a new entry.
requirements_lock_paths = [
{locks}
]
# Size budget for the whole cache, e.g. "5GB".
# max_bytes = "5GB"
# Entries older than this are not used (unpinned requirements are frozen by a cache).
# max_age = "14d"
# auto (reflink where possible, else copy) | copy | hardlink (fastest; env files shared with the cache) | reflink
# link_mode = "auto"
# Change to force new entries.
# salt = ""
# Interpreter used to predict the key before the env exists (default: python3 on PATH).
# python = "python3.12"
"""


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--format", choices=("table", "json"), default=default,
                        help="output format (env VIRTUALENV_CACHE_FORMAT; default table)")
    parser.add_argument("--work-dir", default=default, help="project folder (env VIRTUALENV_CACHE_WORK_DIR)")
    parser.add_argument("--config-path", default=default, help="config file (env VIRTUALENV_CACHE_CONFIG_PATH)")
    parser.add_argument("-v", "--verbose", action="count", default=0 if top else argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="count", default=0 if top else argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="virtualenv-cache", description="A cache of whole virtual environments.")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common(p, top=False)
        return p

    p = add("init", "write .virtualenv_cache.toml with the defaults")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p = add("store", "store the project's virtual environment in the cache")
    p.add_argument("--refresh", action="store_true", help="replace an existing entry for the same key")
    p = add("restore", "restore the matching environment (exit 0 hit, 1 miss, 2 error)")
    p.add_argument("--python", help="interpreter the env is for (default: config 'python', else python3)")
    p.add_argument("--nearest", action="store_true",
                   help="on a miss, restore the entry nearest to the lock files and exit 3 (partial: run your "
                        "installer's exact sync, e.g. uv pip sync or pip-sync, then store)")
    p = add("key", "print the key of the current inputs")
    p.add_argument("--explain", action="store_true", help="print the key document, component by component")
    p.add_argument("--python", help="interpreter to predict the key for (default: as restore)")
    p.add_argument("--from-env", action="store_true", help="key of the existing env, as store computes it")
    p = add("list", "list cached environments")
    p.add_argument("--remote", action="store_true", help="list the packs on the remote cache instead")
    p = add("erase", "delete cached environments (all, or the given keys)")
    p.add_argument("keys", nargs="*", metavar="KEY")
    p = add("verify", "check entries against their manifests (exit 1 when one is damaged)")
    p.add_argument("keys", nargs="*", metavar="KEY")
    p.add_argument("--env", nargs="?", const="", default=None, metavar="PATH",
                   help="check a restored env (default: virtualenv_path) against its entry instead: finds files "
                        "changed in place, which in hardlink mode also changes the cache")
    add("prune", "evict expired and least recently used entries beyond the limits")
    add("stats", "hits, misses, bytes and entries (and the remote's hits, bytes moved and seconds)")
    p = add("push", "upload local entries the remote lacks (all, or the given key)")
    p.add_argument("key", nargs="?", metavar="KEY")
    p = add("pull", "download an entry from the remote into the local cache")
    p.add_argument("key", metavar="KEY")
    return parser


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows])
    return "\n".join(lines)


class App:
    """One CLI invocation: resolved options, config and cache."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.format = args.format or os.environ.get("VIRTUALENV_CACHE_FORMAT") or "table"
        if self.format not in ("table", "json"):
            raise VenvCacheError(f"VIRTUALENV_CACHE_FORMAT={self.format!r} is not a format", fix="use table or json")
        work = args.work_dir or os.environ.get("VIRTUALENV_CACHE_WORK_DIR") or None
        self.config = load(work, args.config_path)
        self.cache = Cache.from_config(self.config)

    def emit(self, data: Any, text: str) -> None:
        if self.format == "json":
            print(json.dumps(data, indent=2, sort_keys=True))
        elif text:
            print(text)

    # key computation -------------------------------------------------------------------------------------------
    def lock_files(self) -> dict[str, str]:
        patterns = [*self.config.requirements_lock_paths, *self.config.key_files]
        if not patterns:
            where = self.config.source or self.config.work_dir / CONFIG_FILE
            raise VenvCacheError("requirements_lock_paths is empty, so nothing decides the key", path=where,
                                 fix="list your requirements/lock files there (virtualenv-cache init does)")
        return hash_files(patterns, self.config.work_dir, source=self.config.source)

    def key_for(self, python: Path) -> Key:
        return build_key(interpreter=interpreter_identity(python), inputs={"lock_files": self.lock_files()},
                         salt=self.config.salt)

    def predicted_python(self) -> Path:
        return find_python(getattr(self.args, "python", None) or self.config.python)

    def env_label(self) -> str:
        """How the report line names the env: its path relative to the project (``.venv``), else absolute."""
        env = self.config.virtualenv_path
        try:
            return env.relative_to(self.config.work_dir).as_posix()
        except ValueError:
            return str(env)

    def env_python(self) -> Path:
        env = self.config.virtualenv_path
        if not (env / "pyvenv.cfg").is_file():
            raise VenvCacheError("is not a virtual environment (no pyvenv.cfg)", path=env,
                                 fix=f"create it first, e.g. python3 -m venv {env}")
        return venv_python(env)

    # commands --------------------------------------------------------------------------------------------------
    def cmd_init(self) -> int:
        target = self.config.work_dir / CONFIG_FILE
        if target.exists() and not self.args.force:
            raise VenvCacheError("already exists", path=target, fix="pass --force to overwrite it")
        import glob

        found: list[str] = []
        for pattern in LOCK_FILE_GUESSES:
            found += sorted(Path(p).relative_to(self.config.work_dir).as_posix()
                            for p in glob.glob(str(self.config.work_dir / pattern)))
        locks = ",\n".join(f'    "{name}"' for name in dict.fromkeys(found or ["requirements.txt"]))
        project = project_id(self.config.work_dir)
        text = INIT_TEMPLATE.format(locks=locks, project=project,
                                    default_cache=default_cache_root() / project)
        target.write_text(text, encoding="utf-8")
        self.emit({"path": str(target), "requirements_lock_paths": found}, f"wrote {target}")
        return 0

    def cmd_key(self) -> int:
        python = self.env_python() if self.args.from_env else self.predicted_python()
        key = self.key_for(python)
        if self.format == "json":
            self.emit({"key": key.digest, "document": key.document}, "")
        elif self.args.explain:
            print(f"key: {key.digest}")
            print(json.dumps(key.document, indent=2, sort_keys=True))
        else:
            print(key.digest)
        return 0

    def cmd_store(self) -> int:
        key = self.key_for(self.env_python())
        result = self.cache.store(key, self.config.virtualenv_path, project_root=self.config.work_dir,
                                  replace=self.args.refresh)
        self.emit(result.to_json(), describe_store(result, label=self.env_label()))
        return 0

    def cmd_restore(self) -> int:
        key = self.key_for(self.predicted_python())
        result = self.cache.restore(key, self.config.virtualenv_path, project_root=self.config.work_dir)
        if not result.hit and self.args.nearest:
            result = self.restore_nearest(key)
        self.emit(result.to_json(), describe_restore(result, label=self.env_label()))
        if result.partial:
            print("partial: run your installer's exact sync, then store", file=sys.stderr)
        return 0 if result.hit else 3 if result.partial else 1

    def restore_nearest(self, key: Key) -> RestoreResult:
        """The nearest entry: same interpreter, salt and ``key_files``; the most ``requirements_lock_paths`` pins."""
        root, source = self.config.work_dir, self.config.source
        locks = hash_files(self.config.requirements_lock_paths, root, source=source)
        wanted = {name: version for lock in locks for name, version in locked_distributions(root / lock).items()}
        others = {name: digest for name, digest in self.lock_files().items() if name not in locks}

        def same_key_files(document: Mapping[str, Any]) -> bool:
            files = document.get("inputs", {}).get("lock_files", {})
            return {name: digest for name, digest in files.items() if name not in locks} == others

        return self.cache.restore_nearest(key, self.config.virtualenv_path, wanted, requirements=("lock_files",),
                                          accept=same_key_files, project_root=root)

    def cmd_list(self) -> int:
        if self.args.remote:
            return self.cmd_list_remote()
        entries = self.cache.entries()
        rows = [[e.key[:12], human_bytes(e.bytes), str(e.files), e.python, _when(e.created), _when(e.last_used),
                 str(e.hits)] for e in entries]
        self.emit({"path": str(self.cache.path), "entries": [e.to_json() for e in entries]},
                  _table(rows, ["KEY", "SIZE", "FILES", "PYTHON", "CREATED", "LAST USED", "HITS"]))
        return 0

    def cmd_erase(self) -> int:
        if self.args.keys:
            keys = [self.cache.resolve(k) for k in self.args.keys]
            removed = sum(self.cache.remove(k) for k in keys)
        else:
            removed = self.cache.erase()
        self.emit({"removed": removed}, f"removed {removed} entr{'y' if removed == 1 else 'ies'}")
        return 0

    def cmd_verify(self) -> int:
        if self.args.env is not None:
            return self.verify_env()
        keys = [self.cache.resolve(k) for k in self.args.keys] if self.args.keys else self.cache.keys()
        report = {k: self.cache.verify(k) for k in keys}
        bad = {k: p for k, p in report.items() if p}
        lines = [line for problems in bad.values() for line in problems]
        self.emit({"checked": len(keys), "damaged": bad},
                  "\n".join([*lines, f"checked {len(keys)} entries, {len(bad)} damaged"]))
        return 1 if bad else 0

    def verify_env(self) -> int:
        """``verify --env``: the env's files against the manifest of its entry (the one given, or its own key)."""
        env = Path(os.path.abspath(self.args.env)) if self.args.env else self.config.virtualenv_path
        if len(self.args.keys) > 1:
            raise VenvCacheError("verify --env checks one env against one entry", fix="give at most one KEY")
        if self.args.keys:
            key = self.cache.resolve(self.args.keys[0])
        else:
            if not (env / "pyvenv.cfg").is_file():
                raise VenvCacheError("is not a virtual environment (no pyvenv.cfg)", path=env,
                                     fix="give the path of a restored env")
            key = self.key_for(venv_python(env)).digest
        problems = self.cache.verify_env(key, env)
        self.emit({"env": str(env), "key": key, "problems": problems},
                  "\n".join([*problems, f"checked {env} against {key[:12]}: {len(problems)} problems"]))
        return 1 if problems else 0

    def cmd_prune(self) -> int:
        evicted = self.cache.prune()
        self.emit({"evicted": evicted}, f"evicted {len(evicted)} entr{'y' if len(evicted) == 1 else 'ies'}")
        return 0

    def cmd_stats(self) -> int:
        data = self.cache.stats()
        text = "\n".join(f"{name}: {human_bytes(v) if name.endswith('bytes') or name.startswith('remote_bytes') else v}"
                         for name, v in data.items())
        self.emit(data, text)
        return 0

    # the remote cache (remote.py) ------------------------------------------------------------------------------
    def remote(self) -> Any:
        if self.cache.remote is None:
            raise VenvCacheError("no remote cache is configured", path=self.config.source,
                                 fix='set remote = "s3://bucket/prefix" or VIRTUALENV_CACHE_REMOTE')
        return self.cache.remote

    def cmd_list_remote(self) -> int:
        remote, local = self.remote(), set(self.cache.keys())
        packs = remote.entries()
        rows = [[e["key"][:12], human_bytes(e["size"]), e["last_modified"][:16].replace("T", " "),
                 "yes" if e["key"] in local else "no"] for e in packs]
        self.emit({"remote": remote.url, "packs": [{**e, "local": e["key"] in local} for e in packs]},
                  _table(rows, ["KEY", "PACK SIZE", "UPLOADED (UTC)", "LOCAL"]))
        return 0

    def cmd_push(self) -> int:
        remote = self.remote()
        if not remote.can_write:
            raise VenvCacheError(f"remote_mode is {remote.mode!r}, so nothing is uploaded to {remote.url}",
                                 fix='set remote_mode = "readwrite" (or VIRTUALENV_CACHE_REMOTE_MODE=readwrite)')
        keys = [self.cache.resolve(self.args.key)] if self.args.key else self.cache.keys()
        done = [remote.push(self.cache, key) for key in keys]
        lines = [f"{t.action} {t.key[:12]}"
                 + (f" ({human_bytes(t.bytes)} in {human_seconds(t.seconds)})" if t.bytes else "") for t in done]
        self.emit({"remote": remote.url, "pushed": [t.to_json() for t in done]},
                  "\n".join(lines) or "nothing to push: the local cache is empty")
        return 0

    def cmd_pull(self) -> int:
        remote = self.remote()
        if not remote.can_read:
            raise VenvCacheError(f"remote_mode is {remote.mode!r}, so nothing is read from {remote.url}",
                                 fix='set remote_mode = "readwrite" (or VIRTUALENV_CACHE_REMOTE_MODE=readwrite)')
        key = remote.resolve(self.args.key)
        result = remote.pull(self.cache, key)
        text = {"downloaded": f"pulled {key[:12]} ({human_bytes(result.bytes)} in {human_seconds(result.seconds)})",
                "present": f"already in the local cache: {key[:12]}",
                "missing": f"not on the remote: {key[:12]}"}[result.action]
        self.emit(result.to_json(), text)
        return 0 if result.action != "missing" else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbosity = args.verbose - args.quiet
    level = logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity == 0 else logging.ERROR
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    try:
        app = App(args)
        return int(getattr(app, f"cmd_{args.command}")())
    except VenvCacheError as exc:
        _report(args, str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line and exit 2, the traceback with -v
        if args.verbose:
            import traceback

            traceback.print_exc()
        _report(args, f"unexpected {type(exc).__name__}: {exc} (rerun with -v for the traceback)")
        return 2


def _report(args: argparse.Namespace, message: str) -> None:
    message = " ".join(message.split())
    fmt = args.format or os.environ.get("VIRTUALENV_CACHE_FORMAT")
    if fmt == "json":
        print(json.dumps({"error": message}))
    print(f"virtualenv-cache: error: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
