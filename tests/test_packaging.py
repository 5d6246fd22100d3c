"""Python consumers: the repository builds as a package (pip install git+<repo>) and it is typed.

The repository's `components/` installs as `docker_in_workspaces`: a consumer project's own `components/`
folder cannot shadow it.

The wheel is built from a copy of what pyproject.toml packages (so the checkout stays clean), installed
into a directory of its own, and consumer programs are type-checked with mypy against that installation:
mypy only reads an installed package's types when it ships `py.typed`.
"""

import email
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "docker_in_workspaces"
CONSUMERS = [ROOT / "examples" / "python-consumer" / "__main__.py", ROOT / "tests" / "consumers" / "typed_consumer.py"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "requirements.txt", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "components", source / "components", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (found,) = out.glob("docker_in_workspaces-*.whl")
    return found


def test_wheel_holds_the_typed_package_and_its_scripts(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert f"{PACKAGE}/py.typed" in names
    assert f"{PACKAGE}/scripts/start-docker.sh" in names
    modules = {f"{PACKAGE}/{p.relative_to(ROOT / 'components')}" for p in (ROOT / "components").rglob("*.py")}
    assert modules <= names, f"not in the wheel (a new subpackage for pyproject's packages?): {modules - names}"
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {PACKAGE, wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}


def test_the_installed_package_imports_as_docker_in_workspaces_only(wheel, tmp_path):
    site = install(wheel, tmp_path / "site")
    probe = (
        "import importlib.util, docker_in_workspaces\n"
        "from docker_in_workspaces.workload import start_script\n"
        "print(docker_in_workspaces.__file__)\n"
        "print(start_script().splitlines()[0])\n"
        "print(importlib.util.find_spec('components'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,  # not the checkout, whose components/ is importable from its root
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    where, shebang, components_spec = result.stdout.splitlines()
    assert Path(where).is_relative_to(site)
    assert shebang.startswith("#!")
    assert components_spec == "None", "the wheel installs a top-level `components` package"


def test_wheel_requires_the_runtime_requirements(wheel):
    archive = zipfile.ZipFile(wheel)
    (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = email.message_from_bytes(archive.read(metadata_name))
    assert metadata["Name"] == "docker-in-workspaces"
    requirements = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert metadata.get_all("Requires-Dist") == requirements


def install(wheel: Path, site: Path) -> Path:
    """The wheel installed into the directory `site` (without its dependencies: the test venv has them)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return site


def test_wheel_carries_the_apache_license(wheel):
    archive = zipfile.ZipFile(wheel)
    (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = email.message_from_bytes(archive.read(metadata_name))
    assert metadata["License-Expression"] == "Apache-2.0"
    (license_name,) = [n for n in archive.namelist() if n.endswith("/LICENSE")]
    assert archive.read(license_name).decode() == (ROOT / "LICENSE").read_text()
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()


def test_consumers_type_check_against_the_installed_package(wheel, tmp_path):
    site = install(wheel, tmp_path / "site")
    mypy = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            *map(str, CONSUMERS),
        ],
        cwd=tmp_path,  # not the checkout: the package must come from the installation
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr
    assert "Success" in mypy.stdout


def test_the_library_is_clean_under_strict_mypy(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy-cache"), str(ROOT / "components")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_docker_host_program_never_imports_pulumi_kubernetes_yet_every_public_name_is_there():
    """The Kubernetes half is imported when first named (about 0.6 s a Docker-host program does not pay)."""
    script = """
import sys
from pathlib import Path
from components import render
render.run_stack("dev", Path("."))
print("pulumi_kubernetes" in sys.modules)
import components
from components import *  # noqa: F403
print(sorted(name for name in components.__all__ if name not in globals()))
print("pulumi_kubernetes" in sys.modules)
try:
    components.NoSuchThing
except AttributeError as exc:
    print(exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "False",
        "[]",
        "True",
        "module 'components' has no attribute 'NoSuchThing'",
    ]
