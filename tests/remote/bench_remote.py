"""Figures for the remote cache: pack/unpack throughput against ``tar | zstd``, and a remote-hit restore against a
cold ``pip install`` of the same env. Not a test (pytest does not collect it); run by hand:

    python tests/remote/bench_remote.py --env /tmp/bench/env --wheelhouse /tmp/bench/wheels \\
        --python python3.12 pytest hypothesis requests numpy pandas sqlalchemy pydantic boto3 django

The env must be a venv built from those requirements (``--env``); the cold install rebuilds one from the wheelhouse
(offline, no pip cache), as DESIGN.md §7 measured. MB/s are of the env's uncompressed bytes. Everything is in the
page cache (the median of ``--repeat`` runs after a first, discarded one), so the figures are CPU-bound.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from venvcache_core import Cache, build_key, interpreter_identity, venv_python
from venvcache_core.pack import read_pack, write_pack
from venvcache_core.remote import Remote


def timed(fn: Callable[[], object], repeat: int, reset: Callable[[], None] | None = None) -> float:
    """Median seconds of ``repeat`` runs, after one warm-up run (``reset`` runs untimed before each)."""
    times = []
    for i in range(repeat + 1):
        if reset:
            reset()
        start = time.perf_counter()
        fn()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def sh(cmd: str) -> None:
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, type=Path)
    parser.add_argument("--wheelhouse", required=True, type=Path)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("requirements", nargs="+")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="venvcache-bench-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    key = build_key(interpreter=interpreter_identity(venv_python(args.env)), inputs={"bench": args.requirements})
    local = Cache(work / "l1", link_mode="copy")
    local.store(key, args.env)
    entry = local.path / key.digest
    raw = int(json.loads((entry / "meta.json").read_text())["bytes"])
    mb = raw / 1e6
    pack_file, out = work / "pack", work / "out"

    def clean_out() -> None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()

    def do_pack() -> None:
        with open(pack_file, "wb") as fh:
            write_pack(entry, fh)

    def do_unpack() -> None:
        with open(pack_file, "rb") as fh:
            read_pack(iter(lambda: fh.read(8 << 20), b""), out, key=key.digest)

    results: dict[str, object] = {"env_mb": round(mb, 1), "files": len(json.loads(
        (entry / "manifest.json").read_text())["files"])}
    results["pack_s"] = timed(do_pack, args.repeat)
    results["pack_mb"] = round(pack_file.stat().st_size / 1e6, 1)
    results["unpack_s"] = timed(do_unpack, args.repeat, clean_out)
    tar_file = work / "tar.zst"
    tar_cmd = f"tar -C {entry} -cf - meta.json manifest.json env | zstd -q -3 -f -o {tar_file}"
    results["tar_zstd_s"] = timed(lambda: sh(tar_cmd), args.repeat)
    results["tar_zstd_mb"] = round(tar_file.stat().st_size / 1e6, 1)
    results["unzstd_untar_s"] = timed(lambda: sh(f"zstd -q -dc {tar_file} | tar -C {out} -xf -"), args.repeat,
                                      clean_out)
    for name in ("pack", "unpack", "tar_zstd", "unzstd_untar"):
        results[f"{name}_mb_s"] = round(mb / float(results[f"{name}_s"]), 1)  # type: ignore[arg-type]

    results.update(remote_figures(args, work, key.digest))
    print(json.dumps(results, indent=2))


def remote_figures(args: argparse.Namespace, work: Path, key: str) -> dict[str, object]:
    """Upload once from cache A; restore on an empty cache B through an S3 server (moto, in its own process, on
    loopback) and through a ``file://`` remote; an L1 hit; a cold pip install."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    figures: dict[str, object] = {}
    try:
        endpoint = f"http://127.0.0.1:{port}"
        os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "bench",
                           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                           "AWS_EC2_METADATA_DISABLED": "true"})
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        for _ in range(100):
            try:
                client.create_bucket(Bucket="bench")
                break
            except Exception:
                time.sleep(0.1)
        for label, url in (("s3", "s3://bench/envs"), ("file", f"file://{work / 'shared'}")):
            a = Cache(work / "l1")
            a.remote = Remote(url, "readwrite")
            figures[f"upload_{label}_s"] = round(a.remote.push(a, key).seconds, 2)

            def fresh_b() -> None:
                shutil.rmtree(work / "l1b", ignore_errors=True)
                shutil.rmtree(work / "dest", ignore_errors=True)

            def restore(url: str = url) -> None:
                b = Cache(work / "l1b", link_mode="copy")
                b.remote = Remote(url, "read")
                assert b.restore(key, work / "dest" / "other-checkout" / ".venv").hit

            figures[f"remote_hit_restore_{label}_s"] = round(timed(restore, args.repeat, fresh_b), 2)
    finally:
        server.terminate()
        server.wait()
    figures["l1_hit_restore_s"] = round(timed(
        lambda: Cache(work / "l1b", link_mode="copy").restore(key, work / "dest2" / ".venv"), args.repeat,
        lambda: shutil.rmtree(work / "dest2", ignore_errors=True)), 2)
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(args.wheelhouse), "PIP_NO_CACHE_DIR": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CONFIG_FILE": os.devnull}
    cold_env = work / "cold"

    def cold() -> None:
        subprocess.run([args.python, "-m", "venv", cold_env], check=True, env=env)
        subprocess.run([cold_env / "bin" / "pip", "install", "-q", *args.requirements], check=True, env=env,
                       stderr=subprocess.DEVNULL)

    figures["cold_pip_install_s"] = round(timed(cold, max(1, args.repeat - 1),
                                                lambda: shutil.rmtree(cold_env, ignore_errors=True)), 2)
    return figures


if __name__ == "__main__":
    main()
