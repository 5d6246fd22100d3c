"""e2e fixtures: the private engine (`.ci/dockerd.sh start`) and the test images (`tests/e2e/images/build.sh`).

Every test here is marked `e2e`. Without an engine they skip with the reason
printed; with DIW_E2E_REQUIRED=1 (CI, once the engine is up) that is a failure.
"""

import gc
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine  # noqa: E402


def pytest_collection_modifyitems(items):
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(here):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def collect_failed_outputs():
    """After each test, collect what its programs left behind. A program that fails inside an Output (a refused
    preflight check) leaves one failed future per resource that awaited it; the SDK raises the first and asyncio
    logs the others as "Future exception was never retrieved" when they are collected. Collected here, that goes to
    the test's own captured log (shown if it fails), not to the end of the run, where it buried the summary."""
    yield
    gc.collect()


def pytest_report_header(config):
    # Which images the e2e tests run against (the registry's public ones, or local builds), at the top of the output.
    return f"[e2e] {engine.SELECTION.describe()}"


def _unavailable(reason: str):
    if os.environ.get("DIW_E2E_REQUIRED") == "1":
        pytest.fail(f"e2e required but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def client():
    try:
        docker_client = engine.client(timeout=300)
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        _unavailable(f"no Docker engine at {engine.docker_host()} ({exc}); run `bash .ci/dockerd.sh start`")
    missing = engine.missing_images(docker_client)
    if missing:
        _unavailable(
            f"test images missing ({', '.join(missing)}; {engine.SELECTION.describe()}); "
            "run `bash tests/e2e/images/build.sh`"
        )
    print(f"\n[e2e] {engine.SELECTION.describe()}")
    if not engine.privileged_works(docker_client):
        print(
            "\n[e2e] --privileged fails on this kernel "
            f"({engine.privileged_error(docker_client)}); privileged specs run with the closest equivalent: "
            f"{sorted(engine.privileged_equivalent_host_config_kwargs(docker_client))} + unmasked system paths"
        )
    return docker_client


@pytest.fixture(scope="module")
def v2_image(client):
    """A second workspace image (a different image id), built locally from the first, as deploy.V2_IMAGE."""
    import io

    from deploy import IMAGE_MAP, V2_IMAGE

    dockerfile = f"FROM {engine.WORKSPACE_IMAGE}\nLABEL diw.e2e.variant=v2\n"
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag="diw-test/workspace:v2", rm=True)
    IMAGE_MAP[V2_IMAGE] = "diw-test/workspace:v2"
    yield image
    IMAGE_MAP.pop(V2_IMAGE, None)
