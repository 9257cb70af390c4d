"""``virtualenv-cache``: a drop-in for the original tool (``version init store restore list erase``, ``-c``/``-w``,
``VIRTUALENV_CACHE_*`` variables, ``list --format json``'s list shape) plus ours.

Exit codes: 0 success (``restore``: hit), 1 ``restore`` miss or ``verify`` found a problem, 2 error (the original
used 1 for most errors; ours is always 2, so a script's ``[ $? -eq 1 ]`` means "miss" and nothing else).
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import (
    CONFIG_FILE,
    Cache,
    Entry,
    Key,
    Progress,
    RequireHitError,
    Resolution,
    RestoreResult,
    VenvCacheError,
    build_key,
    default_cache_root,
    describe_restore,
    describe_store,
    explain_miss,
    find_python,
    hash_files,
    human_bytes,
    human_saved,
    human_seconds,
    interpreter_identity,
    load,
    locked_distributions,
    project_id,
    resolve_interpreter,
    venv_python,
)

log = logging.getLogger("venvcache")

DISTRIBUTION = "venvcache"
TRUE = {"1", "true", "yes", "on"}
MAX_BUILD_SECONDS = 2 * 3600.0  # an env created longer ago than this before 'store' was not built just now

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
# auto (reflink, else hardlink on one file system, else copy) | copy (private) | hardlink | reflink
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
    parser.add_argument("-w", "--work-dir", default=default, metavar="DIR",
                        help="project folder (env VIRTUALENV_CACHE_WORK_DIR; default the current directory)")
    parser.add_argument("-c", "--config-path", default=default, metavar="CONFIG.toml",
                        help="config file (env VIRTUALENV_CACHE_CONFIG_PATH; default: looked up in the work dir)")
    parser.add_argument("--virtualenv-path", default=default,
                        help="the env to store or restore, anywhere (env VIRTUALENV_CACHE_VIRTUALENV_PATH); a "
                             "checkout's config may only name one inside the checkout")
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

    add("version", "print the version (virtualenv-cache: X.Y.Z)")
    p = add("init", "write .virtualenv_cache.toml (or the --config-path file) with the defaults")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p = add("store", "store the project's virtual environment in the cache")
    p.add_argument("--refresh", action="store_true", help="replace an existing entry for the same key")
    p.add_argument("--build-seconds", type=float, metavar="S",
                   help="how long building the env took (default: since its pyvenv.cfg was written, up to 2 h)")
    p = add("restore", "restore the matching environment (exit 0 hit, 1 miss, 2 error)")
    p.add_argument("--python", help="interpreter the env is for (default: config 'python', else python3 on PATH "
                                     "or the interpreter of the newest entry for these lock files)")
    p.add_argument("--require-hit", action="store_true", default=None,
                   help="a miss is an error (exit 2) naming the key and the nearest entry "
                        "(env VIRTUALENV_CACHE_REQUIRE=1)")
    p.add_argument("--nearest", action="store_true",
                   help="on a miss, restore the entry nearest to the lock files and exit 3 (partial: run your "
                        "installer's exact sync, e.g. uv pip sync or pip-sync, then store)")
    p = add("key", "print the key of the current inputs")
    p.add_argument("--explain", action="store_true", help="print the key document, component by component")
    p.add_argument("--diff", metavar="KEY", nargs="?", const="",
                   help="print every difference between the current key document and entry KEY's "
                        "(no KEY: the nearest entry's)")
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
    p = add("prune", "evict expired and least recently used entries beyond the limits")
    p.add_argument("--remote", action="store_true",
                   help="prune the remote's packs: older than max_age, then the oldest beyond --keep/--max-bytes")
    p.add_argument("--keep", type=int, metavar="N", help="with --remote: keep at most N packs (newest first)")
    p.add_argument("--max-bytes", metavar="SIZE", help='with --remote: keep at most SIZE of packs, e.g. "50GB"')
    add("stats", "hits, misses, bytes and entries (and the remote's hits, bytes moved and seconds)")
    p = add("push", "upload local entries the remote lacks (all, or the given key)")
    p.add_argument("key", nargs="?", metavar="KEY")
    p = add("pull", "download an entry from the remote into the local cache")
    p.add_argument("key", metavar="KEY")
    return parser


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def _build(seconds: float | None) -> str:
    return human_seconds(seconds) if seconds is not None else "-"


def _stat(name: str, value: Any) -> str:
    """How ``stats`` shows one figure: bytes in units, time saved in words."""
    if name.endswith("bytes") or name.startswith("remote_bytes"):
        return human_bytes(value)
    if name == "saved_seconds":
        return f"{human_seconds(value)} (build time minus restore time, summed over hits)" if value else "0"
    return str(value)


def _list_item(entry: Entry) -> dict[str, Any]:
    """One item of ``list --format json``: the original's ``id``, ``hostname``, ``datetime`` (last use, ISO 8601
    UTC) first, in its order, then ours (``Entry.to_json``)."""
    stamp = datetime.fromtimestamp(entry.last_used, tz=timezone.utc).isoformat()
    return {"datetime": stamp, "hostname": entry.hostname, "id": entry.key, **entry.to_json()}


def _age(stamp: str) -> float:
    """Seconds since an ISO time (a remote pack's upload); 0 when unknown."""
    if not stamp:
        return 0.0
    then = datetime.fromisoformat(stamp)
    return round(max(0.0, (datetime.now(timezone.utc) - then).total_seconds()), 1)


def _human_age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


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
        self.config_path = args.config_path or os.environ.get("VIRTUALENV_CACHE_CONFIG_PATH") or None
        # init writes the named file, so it must not need it to exist yet
        named = None if args.command == "init" else self.config_path
        self.config = load(work, named, virtualenv_path=args.virtualenv_path)
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

    def resolved(self) -> Resolution:
        """The key restore and key use: for the python named (``--python``, config ``python``) exactly that one;
        with none named, python3 on PATH if the cache has its entry, else the newest entry's interpreter if it is
        here with the recorded identity (resolve.py)."""
        named = getattr(self.args, "python", None) or self.config.python
        preferred = find_python(named)
        if named:
            key = self.key_for(preferred)
            return Resolution(preferred, key, "preferred", preferred)
        return resolve_interpreter(self.cache, preferred=preferred, inputs={"lock_files": self.lock_files()},
                                   salt=self.config.salt)

    def progress(self) -> bool | None:
        """Progress lines: never with -q or JSON output, else on a terminal outside CI (progress.py decides)."""
        return False if self.args.quiet > 0 or self.format == "json" else None

    def say(self, line: str) -> None:
        """A log line for a person on stderr (not with -q); stdout keeps the result line or the JSON."""
        if self.args.quiet <= 0:
            print(line, file=sys.stderr)

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
    def cmd_version(self) -> int:
        from importlib import metadata

        version = metadata.version(DISTRIBUTION)
        self.emit({"name": "virtualenv-cache", "version": version}, f"virtualenv-cache: {version}")
        return 0

    def cmd_init(self) -> int:
        named = Path(self.config_path) if self.config_path else None
        target = (named if named.is_absolute() else self.config.work_dir / named) if named else \
            self.config.work_dir / CONFIG_FILE
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
        if self.args.from_env:
            python = self.env_python()
            key = self.key_for(python)
        else:
            resolution = self.resolved()
            python, key = resolution.python, resolution.key
            self.say(resolution.describe(self.env_label()))
        if self.args.diff is not None:
            return self.key_diff(key)
        if self.format == "json":
            self.emit({"key": key.digest, "document": key.document, "python": str(python)}, "")
        elif self.args.explain:
            print(f"key: {key.digest}")
            print(json.dumps(key.document, indent=2, sort_keys=True))
        else:
            print(key.digest)
        return 0

    def key_diff(self, key: Key) -> int:
        """``key --diff [KEY]``: every leaf of the key document that differs from entry KEY's (or the nearest's)."""
        against = self.cache.resolve(self.args.diff) if self.args.diff else None
        found = explain_miss(self.cache, key, nearest=against)
        if found is None:
            raise VenvCacheError("the cache has no entry to compare with", path=self.cache.path,
                                 fix="store an env first, or give a KEY from 'virtualenv-cache list'")
        lines = [f"key:     {key.digest}", f"entry:   {found.nearest}",
                 *(f"  {change.line()}" for change in found.changes)]
        if not found.changes:
            lines.append("  (the same key document)")
        self.emit(found.to_json(), "\n".join(lines))
        return 0

    def build_seconds(self) -> float | None:
        """``--build-seconds``, else the time since the env's pyvenv.cfg was written (the venv's creation), when that
        looks like a build that just happened (under 2 h)."""
        if self.args.build_seconds is not None:
            return float(self.args.build_seconds)
        try:
            elapsed = time.time() - (self.config.virtualenv_path / "pyvenv.cfg").stat().st_mtime
        except OSError:
            return None
        return round(elapsed, 2) if 0 <= elapsed <= MAX_BUILD_SECONDS else None

    def cmd_store(self) -> int:
        key = self.key_for(self.env_python())
        with Progress(f"{self.env_label()}: storing", enabled=self.progress()):
            result = self.cache.store(key, self.config.virtualenv_path, project_root=self.config.work_dir,
                                      replace=self.args.refresh, build_seconds=self.build_seconds())
        self.emit(result.to_json(), describe_store(result, label=self.env_label()))
        return 0

    def require_hit(self) -> bool:
        if self.args.require_hit is not None:
            return bool(self.args.require_hit)
        return os.environ.get("VIRTUALENV_CACHE_REQUIRE", "").strip().lower() in TRUE

    def cmd_restore(self) -> int:
        resolution = self.resolved()
        label = self.env_label()
        entry = self.cache.get(resolution.key.digest)
        with Progress(f"{label}: restoring", total=entry.bytes if entry else None,
                      enabled=self.progress() and entry is not None):
            result = self.cache.restore(resolution.key, self.config.virtualenv_path,
                                        project_root=self.config.work_dir)
        self.say(resolution.describe(label))
        if not result.hit and self.require_hit():
            raise RequireHitError(result, label=label)
        if not result.hit and self.args.nearest:
            result = self.restore_nearest(resolution.key)
        self.emit({**result.to_json(), "python": str(resolution.python)}, describe_restore(result, label=label))
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
        if self.format == "json":  # the original's list, newest first; each item carries ours too
            print(json.dumps([_list_item(e) for e in entries], indent=2))
            return 0
        rows = [[e.key[:12], human_bytes(e.bytes), str(e.files), e.python, _when(e.created), _when(e.last_used),
                 str(e.hits), _build(e.build_seconds), human_saved(e.saved_seconds) if e.saved_seconds else "-"]
                for e in entries]
        saved = sum(e.saved_seconds for e in entries)
        footer = f"\n{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, " \
                 f"{human_bytes(sum(e.bytes for e in entries))}" + (
            f", saved {human_saved(saved)} in all" if saved else "")
        self.emit(None, _table(rows, ["KEY", "SIZE", "FILES", "PYTHON", "CREATED", "LAST USED", "HITS", "BUILD",
                                      "SAVED"]) + footer if entries else "the cache is empty")
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
        if self.args.remote:
            return self.cmd_prune_remote()
        if self.args.keep is not None or self.args.max_bytes is not None:
            raise VenvCacheError("--keep and --max-bytes are for 'prune --remote'",
                                 fix="set cache_size and max_bytes in the config for the local cache")
        evicted = self.cache.prune()
        self.emit({"evicted": evicted}, f"evicted {len(evicted)} entr{'y' if len(evicted) == 1 else 'ies'}")
        return 0

    def cmd_stats(self) -> int:
        data = self.cache.stats()
        text = "\n".join(f"{name}: {_stat(name, v)}" for name, v in data.items())
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
        packs = [{**e, "age": _age(e["last_modified"]), "local": e["key"] in local} for e in remote.entries()]
        rows = [[e["key"][:12], human_bytes(e["size"]), e["last_modified"][:16].replace("T", " "), _human_age(e["age"]),
                 "yes" if e["local"] else "no"] for e in packs]
        total = sum(e["size"] for e in packs)
        self.emit({"remote": remote.url, "packs": packs, "bytes": total},
                  _table(rows, ["KEY", "PACK SIZE", "UPLOADED (UTC)", "AGE", "LOCAL"])
                  + f"\n{len(packs)} packs, {human_bytes(total)}")
        return 0

    def cmd_prune_remote(self) -> int:
        remote = self.remote()
        if self.args.keep is not None and self.args.keep < 0:
            raise VenvCacheError("--keep must be 0 or more", fix="give a number of packs")
        dropped = remote.prune(max_age=self.cache.max_age, max_count=self.args.keep, max_bytes=self.args.max_bytes)
        lines = [f"deleted {e['key'][:12]} ({human_bytes(e['size'])}, {_human_age(e['age'])} old)" for e in dropped]
        self.emit({"remote": remote.url, "deleted": dropped},
                  "\n".join([*lines, f"deleted {len(dropped)} pack{'' if len(dropped) == 1 else 's'} "
                              f"from {remote.url}"]))
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
    # filelock logs every acquire and release at debug: only with -vv
    logging.getLogger("filelock").setLevel(logging.DEBUG if verbosity > 1 else logging.WARNING)
    try:
        app = App(args)
        return int(getattr(app, f"cmd_{args.command}")())
    except RequireHitError as exc:
        _report(args, str(exc), {"result": "miss", **exc.result.to_json()})
        return 2
    except VenvCacheError as exc:
        _report(args, str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # stdout piped into head & co: not an error of ours (and no second one at exit)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: still one line and exit 2, the traceback with -v
        if args.verbose:
            import traceback

            traceback.print_exc()
        _report(args, f"unexpected {type(exc).__name__}: {exc} (rerun with -v for the traceback)")
        return 2


def _report(args: argparse.Namespace, message: str, data: dict[str, Any] | None = None) -> None:
    message = " ".join(message.split())
    fmt = args.format or os.environ.get("VIRTUALENV_CACHE_FORMAT")
    if fmt == "json":
        print(json.dumps({**(data or {}), "error": message}))
    print(f"virtualenv-cache: error: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
