"""The shared layer: domain package + runtime dependencies for Lambda (arm64, CPython 3.13), with
compiled bytecode and without boto3; the export function's own layer (DuckDB) beside it; and the
cache that builds each once per set of sources."""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from infra import layer
from infra.constructs.function_context import ALL_FUNCTIONS, EXPORT_FUNCTION
from tests.infra.helpers import function_named, resources, the

# CPython 3.13's bytecode magic number (3571): the Lambda runtime ignores .pyc with another one.
PY313_MAGIC = (3571).to_bytes(2, "little") + b"\r\n"
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked
ELF_MACHINE_AARCH64 = 183


# Lambda's limit on a function's code and layers, unzipped.
LAMBDA_UNZIPPED_LIMIT = 250 * 1024**2


def _staged(template: dict[str, Any], outdir: Path, name: str) -> Path:
    _, layer_version = the(template, "AWS::Lambda::LayerVersion", name)
    key = re.fullmatch(r"([0-9a-f]{64})\.zip", layer_version["Properties"]["Content"]["S3Key"])
    assert key, layer_version["Properties"]["Content"]
    return outdir / f"asset.{key.group(1)}" / "python"


@pytest.fixture(scope="module")
def site(template: dict[str, Any], outdir: Path) -> Path:
    """``python/`` of the domain layer asset, as the synth staged it for upload."""
    return _staged(template, outdir, "DomainLayer")


@pytest.fixture(scope="module")
def export_site(template: dict[str, Any], outdir: Path) -> Path:
    """``python/`` of the export function's own layer."""
    return _staged(template, outdir, "ExportLayer")


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_layer_holds_the_domain_package_and_its_dependencies(site: Path) -> None:
    for package in ("prompter", "sqlalchemy", "pg8000", "pydantic", "pydantic_core", "aws_lambda_powertools"):
        assert (site / package / "__init__.py").is_file(), package
    assert (site / "prompter" / "db" / "migrations" / "env.py").is_file()
    assert (site / "alembic" / "__init__.py").is_file()


def test_native_extensions_are_built_for_lambda_arm64(site: Path) -> None:
    (extension,) = (site / "pydantic_core").glob("_pydantic_core*.so")
    assert "cpython-313-aarch64-linux-gnu" in extension.name
    header = extension.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert struct.unpack_from("<H", header, 18)[0] == ELF_MACHINE_AARCH64


def test_boto3_and_botocore_are_left_to_the_runtime(site: Path) -> None:
    assert layer.forbidden_packages(site) == []
    assert not list(site.glob("boto*")), "the Lambda runtime provides boto3/botocore"


def test_every_module_ships_unchecked_bytecode_for_python_3_13(site: Path) -> None:
    sources = sorted(site.rglob("*.py"))
    assert len(sources) > 100
    missing = []
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not compiled.is_file():
            missing.append(source.relative_to(site))
            continue
        header = compiled.read_bytes()[:8]
        assert header[:4] == PY313_MAGIC, compiled
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH, compiled
    assert missing == []
    # Nothing compiled for the build machine's interpreter leaks in.
    assert [p for p in site.rglob("*.pyc") if ".cpython-313." not in p.name] == []


def test_every_function_uses_the_layer_and_only_export_loads_duckdb(template: dict[str, Any]) -> None:
    layer_id, _ = the(template, "AWS::Lambda::LayerVersion", "DomainLayer")
    export_layer_id, _ = the(template, "AWS::Lambda::LayerVersion", "ExportLayer")
    export_id, _ = function_named(template, EXPORT_FUNCTION)
    python_functions = {
        k: f
        for k, f in resources(template, "AWS::Lambda::Function").items()
        if f["Properties"]["Runtime"] == "python3.13"
    }
    assert len(python_functions) == len(ALL_FUNCTIONS)  # the API functions, migrate, deliver_alerts, export
    for logical_id, function in python_functions.items():
        layers = (
            [{"Ref": layer_id}, {"Ref": export_layer_id}] if logical_id == export_id else [{"Ref": layer_id}]
        )
        assert function["Properties"]["Layers"] == layers, logical_id
        assert function["Properties"]["Architectures"] == ["arm64"], logical_id


def test_the_export_layer_holds_duckdb_for_lambda_arm64_and_nothing_of_the_domain(
    export_site: Path, site: Path
) -> None:
    (extension,) = (export_site / "duckdb").parent.glob("_duckdb*.so")
    header = extension.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and struct.unpack_from("<H", header, 18)[0] == ELF_MACHINE_AARCH64
    assert not (export_site / "prompter").exists() and layer.forbidden_packages(export_site) == []
    # DuckDB stays out of the layer every function loads
    assert not (site / "duckdb").exists() and not list(site.glob("duckdb*"))


def test_the_export_function_fits_lambda_s_size_limit(site: Path, export_site: Path) -> None:
    # the two layers and the handler, unzipped, within Lambda's 250 MB (the domain layer alone ~75 MB)
    handler = Path(layer.ROOT / "functions" / EXPORT_FUNCTION)
    total = _size(site) + _size(export_site) + _size(handler)
    assert total < 0.8 * LAMBDA_UNZIPPED_LIMIT, total
    assert _size(site) < 100 * 1024**2, "the layer every function loads grew past 100 MB"


# --- the build cache -------------------------------------------------------------------------


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    package = tmp_path / "src" / "prompter"
    (package / "db").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "db" / "schema.py").write_text("TABLES = 1\n")
    lock = tmp_path / "runtime.lock"
    lock.write_text("pg8000==1.31.6\n")
    return lock, package


def test_cache_key_follows_the_lock_file_and_the_package_sources(sources: tuple[Path, Path]) -> None:
    lock, package = sources
    key = layer.cache_key(lock, package)
    assert layer.cache_key(lock, package) == key

    # Bytecode caches are not sources.
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"x")
    assert layer.cache_key(lock, package) == key

    (package / "db" / "schema.py").write_text("TABLES = 2\n")
    changed_source = layer.cache_key(lock, package)
    assert changed_source != key

    lock.write_text("pg8000==1.31.7\n")
    assert layer.cache_key(lock, package) not in (key, changed_source)


def test_a_cached_build_is_reused_and_a_changed_source_rebuilds(
    sources: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, package = sources
    builds: list[Path] = []

    def fake_build(target: Path, *, lock_file: Path, package: Path, platforms: Any) -> None:
        builds.append(target)
        shutil.copytree(package, target / "python" / package.name)

    monkeypatch.setattr(layer, "build", fake_build)
    build_dir = tmp_path / "build"

    first = layer.build_layer(build_dir, lock_file=lock, package=package)
    again = layer.build_layer(build_dir, lock_file=lock, package=package)
    assert first == again and len(builds) == 1
    assert (first / "python" / "prompter" / "db" / "schema.py").is_file()

    (package / "db" / "schema.py").write_text("TABLES = 3\n")
    rebuilt = layer.build_layer(build_dir, lock_file=lock, package=package)
    assert rebuilt != first and len(builds) == 2
    assert sorted(p.name for p in build_dir.iterdir()) == sorted(
        [first.name, rebuilt.name]
    )  # no scratch left


def test_a_failed_build_leaves_no_cache_entry(
    sources: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, package = sources

    def failing_build(target: Path, *, lock_file: Path, package: Path, platforms: Any) -> None:
        (target / "python").mkdir(parents=True)
        raise layer.LayerBuildError("pip install failed")

    monkeypatch.setattr(layer, "build", failing_build)
    with pytest.raises(layer.LayerBuildError, match="pip install failed"):
        layer.build_layer(tmp_path / "build", lock_file=lock, package=package)
    assert list((tmp_path / "build").iterdir()) == []


def test_forbidden_packages_are_detected(tmp_path: Path) -> None:
    (tmp_path / "botocore").mkdir()
    (tmp_path / "boto3-1.35.0.dist-info").mkdir()
    (tmp_path / "sqlalchemy").mkdir()
    assert layer.forbidden_packages(tmp_path) == ["boto3", "botocore"]


def test_bytecode_is_compiled_by_a_python_3_13() -> None:
    python = layer.find_python()
    assert layer._is_version(python, "3.13")
