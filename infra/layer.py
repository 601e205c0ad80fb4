"""Build the shared Lambda layer without Docker: the domain package plus its runtime dependencies,
with bytecode compiled in.

Layout (Lambda puts ``/opt/python`` on ``sys.path``)::

    build/layer/<key>/python/prompter/...            shared/prompter, copied
    build/layer/<key>/python/<dependencies>/...      requirements/runtime.lock, for Lambda

The dependencies are installed by pip for the Lambda platform (manylinux2014 aarch64, CPython 3.13),
binary wheels only, so nothing is compiled and no Docker image is needed. ``runtime.lock`` leaves
boto3, botocore and urllib3 out (the Lambda runtime provides them; ``make lock`` resolves them but
does not emit them), pip installs exactly its lines (``--no-deps``), and the build fails if boto3 or
botocore end up in the layer anyway: the runtime's copy is the one that should load, and it costs
~100 ms of cold start if a handler imports it eagerly.

Bytecode: every ``.py`` is compiled by a CPython 3.13 interpreter (the magic number must match the
Lambda runtime's, or Python silently ignores the ``.pyc`` and compiles at every cold start) in
``unchecked-hash`` mode: the asset zip does not keep file modification times, so timestamp-checked
``.pyc`` would look stale and be recompiled (and never written back: ``/opt`` is read-only) on every
cold start; unchecked-hash ``.pyc`` are used as they are. The layer is immutable, so nothing can go
stale.

Caching: the result is kept in ``build/layer/<key>``, where the key hashes ``runtime.lock``, the
domain package's sources and this builder's version, so repeated synths and the test session build
it once. Network: the first build for a key needs the package index (pip downloads the wheels);
nothing else in a synth touches the network, and a cached build needs nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK_FILE = ROOT / "requirements" / "runtime.lock"
# The export function's own layer: DuckDB, its Parquet writer (no domain package: that layer has it).
EXPORT_LOCK_FILE = ROOT / "requirements" / "export.lock"
DOMAIN_PACKAGE = ROOT / "shared" / "prompter"
BUILD_DIR = ROOT / "build" / "layer"

PLATFORM = "manylinux2014_aarch64"
# The Lambda runtime's Python (infra/constructs/functions.py RUNTIME): what pip installs for and what
# compiles the bytecode; `make test-3.13` runs the unit, provider and contract tests on it too.
PYTHON_VERSION = "3.13"
# The export layer's DuckDB publishes aarch64 wheels for glibc 2.28 and later only: the Python 3.13
# runtime is Amazon Linux 2023 (glibc 2.34), so that tag is as much Lambda's as manylinux2014's.
EXPORT_PLATFORMS = (PLATFORM, "manylinux_2_28_aarch64")
# Bump when the build steps change, so cached builds made the old way are not reused.
BUILDER_VERSION = "2"
# Installed by the Lambda runtime; the layer must not shadow them.
FORBIDDEN = ("boto3", "botocore", "s3transfer")
# Never hashed or copied from the source tree: the developer's bytecode is for another interpreter.
IGNORED = ("__pycache__", "*.pyc", "*.pyo")

log = logging.getLogger(__name__)


class LayerBuildError(RuntimeError):
    """The layer could not be built (pip, the compiler, or a forbidden package)."""


def _files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )


def tree_hash(folder: Path, digest: hashlib._Hash | None = None) -> str:
    """SHA-256 of the files under ``folder``: relative paths and contents, bytecode caches ignored."""
    digest = digest or hashlib.sha256()
    for path in _files(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def cache_key(
    lock_file: Path = LOCK_FILE, package: Path | None = DOMAIN_PACKAGE, platforms: Sequence[str] = (PLATFORM,)
) -> str:
    """What the layer is built from: the lock file, the domain package (if it ships one), the recipe."""
    digest = hashlib.sha256()
    digest.update(f"{BUILDER_VERSION}|{','.join(platforms)}|{PYTHON_VERSION}\0".encode())
    digest.update(hashlib.sha256(lock_file.read_bytes()).digest())
    if package is None:
        return digest.hexdigest()[:32]
    return tree_hash(package, digest)[:32]


def find_python(version: str = PYTHON_VERSION) -> str:
    """A CPython ``version`` interpreter to compile with: ``PROMPTER_LAYER_PYTHON``, then
    ``python<version>`` on PATH, then pyenv's; the build interpreter itself if it is that version."""
    if sys.version_info[:2] == tuple(int(part) for part in version.split(".")):
        return sys.executable
    candidates: list[str | None] = [os.environ.get("PROMPTER_LAYER_PYTHON"), shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        candidates += [str(p / "bin" / "python") for p in sorted(pyenv.glob(f"{version}.*"), reverse=True)]
    for candidate in candidates:
        if candidate and _is_version(candidate, version):
            return candidate
    raise LayerBuildError(
        f"no Python {version} interpreter to compile the layer's bytecode with (the Lambda runtime "
        f"is {version}; bytecode of another version is ignored): install python{version} or set "
        "PROMPTER_LAYER_PYTHON"
    )


def _is_version(python: str, version: str) -> bool:
    try:
        out = subprocess.run(  # noqa: S603 - a local interpreter path
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return out == version


def _run(args: Sequence[str], what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise LayerBuildError(f"{what} failed (exit {result.returncode}):\n{tail}")


def forbidden_packages(site: Path, names: Iterable[str] = FORBIDDEN) -> list[str]:
    """The ``names`` installed in ``site`` (as a package directory or distribution metadata)."""
    found = []
    for name in names:
        if (site / name).exists() or any(site.glob(f"{name}-*.dist-info")):
            found.append(name)
    return found


def build(
    target: Path,
    *,
    lock_file: Path = LOCK_FILE,
    package: Path | None = DOMAIN_PACKAGE,
    platforms: Sequence[str] = (PLATFORM,),
) -> None:
    """Build the layer into ``target`` (which must not exist): ``target/python/...``; without
    ``package``, the lock file's packages alone."""
    site = target / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",  # compiled below, by an interpreter of the runtime's version
            # runtime.lock is the complete set: what the Lambda runtime provides (botocore, which
            # aws-xray-sdk requires, and its urllib3) is left out of it and must not be pulled back in
            "--no-deps",
            *(option for platform in platforms for option in ("--platform", platform)),
            "--only-binary=:all:",
            "--python-version",
            PYTHON_VERSION,
            "--implementation",
            "cp",
            "--target",
            str(site),
            "-r",
            str(lock_file),
        ],
        "pip install of the layer's runtime dependencies",
    )
    forbidden = forbidden_packages(site)
    if forbidden:
        raise LayerBuildError(
            f"the layer would ship {forbidden}, which the Lambda runtime provides: "
            f"remove what pulls them in from {lock_file.name}"
        )
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: nothing runs them in Lambda
    if package is not None:
        shutil.copytree(package, site / package.name, ignore=shutil.ignore_patterns(*IGNORED))
    _run(
        [
            find_python(),
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(site),
        ],
        "compiling the layer's bytecode",
    )


def _complete(final: Path, package: Path | None) -> bool:
    """A finished build is in place (renamed there whole)."""
    return (final / "python" / package.name).is_dir() if package is not None else (final / "python").is_dir()


def build_layer(
    build_dir: Path = BUILD_DIR,
    *,
    lock_file: Path = LOCK_FILE,
    package: Path | None = DOMAIN_PACKAGE,
    platforms: Sequence[str] = (PLATFORM,),
) -> Path:
    """The built layer directory for the current sources, building it if it is not cached.

    Safe under concurrent synths: each build happens in a private directory that is renamed into
    place; the loser of a race discards its copy and uses the winner's."""
    key = cache_key(lock_file, package, platforms)
    final = build_dir / key
    if _complete(final, package):
        return final
    build_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=build_dir))
    try:
        log.warning("building the Lambda layer into %s (needs the package index the first time)", final)
        build(scratch / "layer", lock_file=lock_file, package=package, platforms=platforms)
        try:
            os.rename(scratch / "layer", final)
        except OSError:
            if not _complete(final, package):
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final
