"""The e2e images, by role, and where they come from.

Two sources, one role map:

- ``registry``: the public images users run (``codercom/enterprise-base:ubuntu``, ``docker:<pinned>-dind``,
  ``docker:<pinned>-dind-rootless``, ``busybox:<pinned>``), pulled by ``tests/e2e/images/pull.sh``. Chosen where
  a registry answers (a GitHub runner), so CI there proves the real images.
- ``local``: the debootstrap builds of ``tests/e2e/images/build.sh`` (``diw-test/...``), where no registry
  answers (this project's machine).

``build.sh`` decides once (``DIW_E2E_IMAGES=local|registry`` forces it, else :func:`probe`), prepares that
source and records the choice in ``$DIW_E2E_CACHE/images.json``; the tests read the record
(:func:`selected`), so they use what was prepared rather than probing again. Per role,
``DIW_E2E_<ROLE>_IMAGE`` (e.g. ``DIW_E2E_WORKSPACE_IMAGE``) overrides the name.

Standard library only: ``build.sh`` runs this file with whatever ``python3`` root has::

    python3 tests/e2e/images.py source          # registry | local (the probe's reason on stderr)
    python3 tests/e2e/images.py names SOURCE    # the distinct image names of that source, one a line
    python3 tests/e2e/images.py name SOURCE ROLE    # one role's image name
    python3 tests/e2e/images.py record SOURCE BY  # write the record (BY: which script); prints the roles
"""

from __future__ import annotations

import ast
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]

LOCAL = "local"
REGISTRY = "registry"
SOURCES = (LOCAL, REGISTRY)
SOURCE_LABELS = {LOCAL: "local build", REGISTRY: "registry"}

REGISTRY_URL = "https://registry-1.docker.io/v2/"
"""Docker Hub's API root: it answers 401 (a token is needed) to anyone who can reach it."""
PROBE_TIMEOUT = 5.0

BUSYBOX = "busybox:1.37.0"
"""Pinned busybox for nested `docker run` in the registry source."""


def _default_dind_image() -> str:
    """``DEFAULT_DIND_IMAGE`` from components/strategies/spec.py, read without importing pulumi."""
    tree = ast.parse((ROOT / "components" / "strategies" / "spec.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DEFAULT_DIND_IMAGE" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise LookupError("DEFAULT_DIND_IMAGE not found in components/strategies/spec.py")


DIND = _default_dind_image()
DIND_ROOTLESS = f"{DIND}-rootless"
CODER_BASE = "codercom/enterprise-base:ubuntu"


@dataclass(frozen=True)
class Role:
    role: str
    what: str
    requested: Optional[str]
    """The public name the components are given for this role (deploy.py maps it to the stand-in), if any."""
    local: str
    registry: str
    home: dict[str, str]
    """Workspace roles: the image user's home per source (the components' `home_path`)."""
    built_for_both: bool = False
    """Built locally for either source (build-unprivileged.sh), so pull.sh does not pull it."""


ROLES: dict[str, Role] = {
    r.role: r
    for r in (
        Role(
            "workspace",
            "an image with a Docker engine, for plain containers and images built FROM it (probes, benchmarks)",
            None,
            "diw-test/workspace:latest",
            CODER_BASE,
            {LOCAL: "/home/coder", REGISTRY: "/home/coder"},
        ),
        Role(
            "docker-only",
            "the workspace image users run: Docker engine and CLI, passwordless sudo, user coder (1000), "
            "no rootless extras (no dockerd-rootless.sh, rootlesskit, slirp4netns, newuidmap)",
            CODER_BASE,
            "diw-test/docker-only:latest",
            CODER_BASE,
            {LOCAL: "/home/coder", REGISTRY: "/home/coder"},
        ),
        Role(
            "rootless",
            "workspace image for dind-rootless: rootless extras, user 1000",
            DIND_ROOTLESS,
            "diw-test/workspace:latest",
            DIND_ROOTLESS,
            {LOCAL: "/home/coder", REGISTRY: "/home/rootless"},
        ),
        Role(
            "dind",
            "daemon image of the dind-sidecar strategy (runs as root)",
            DIND,
            "diw-test/workspace:latest",
            DIND,
            {},
        ),
        Role(
            "unprivileged",
            "workspace image for podman and dind-userns: rootless Podman (its Docker API for the docker CLI and "
            "docker-compose) and rootless dockerd, newuidmap with file capabilities, subuid coder:1001:64535; "
            "built locally for both sources (build-unprivileged.sh): no public image has both set up so",
            None,
            "diw-test/unprivileged:latest",
            "diw-test/unprivileged:latest",
            {LOCAL: "/home/coder", REGISTRY: "/home/coder"},
            built_for_both=True,
        ),
        Role(
            "busybox",
            "image for nested `docker run` (loaded from busybox.tar into nested daemons)",
            None,
            "diw-test/busybox:latest",
            BUSYBOX,
            {},
        ),
    )
}
REQUIRED = tuple(role for role, r in ROLES.items() if not r.built_for_both)
"""Roles every e2e run needs. The unprivileged image (build.sh can leave it out) only its own tests need: they
skip without it, saying so (engine.require_role)."""


# --- where the choice is recorded ----------------------------------------------------------------------------------


def cache_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    """Where build.sh/pull.sh keep tarballs, busybox.tar and the record (``$DIW_E2E_CACHE``)."""
    env = os.environ if env is None else env
    if env.get("DIW_E2E_CACHE"):
        return Path(env["DIW_E2E_CACHE"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "docker-in-workspaces"


def record_path(env: Optional[Mapping[str, str]] = None) -> Path:
    return cache_dir(env) / "images.json"


# --- the choice ----------------------------------------------------------------------------------------------------


def probe(url: str = REGISTRY_URL, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Whether the registry answers within `timeout` seconds, and why (honours the *_PROXY variables)."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a fixed https URL
            status = response.status
    except urllib.error.HTTPError as exc:  # 401 is the normal answer: it is reachable
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{url} unreachable ({reason}; timeout {timeout:g}s)"
    elapsed = time.monotonic() - start
    return True, f"{url} answered HTTP {status} in {elapsed:.1f}s"


def choose(env: Optional[Mapping[str, str]] = None) -> tuple[str, str]:
    """(source, reason): ``$DIW_E2E_IMAGES`` when set, else what :func:`probe` finds."""
    env = os.environ if env is None else env
    forced = env.get("DIW_E2E_IMAGES", "")
    if forced:
        if forced not in SOURCES:
            raise ValueError(f"DIW_E2E_IMAGES must be one of {', '.join(SOURCES)}, got {forced!r}")
        return forced, f"DIW_E2E_IMAGES={forced}"
    reachable, reason = probe()
    return (REGISTRY if reachable else LOCAL), reason


def _override(role: str, env: Mapping[str, str]) -> Optional[str]:
    return env.get(f"DIW_E2E_{role.upper().replace('-', '_')}_IMAGE") or None


def names(source: str, env: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """role -> image name for `source`, with the per-role overrides."""
    env = os.environ if env is None else env
    return {r.role: _override(r.role, env) or getattr(r, source) for r in ROLES.values()}


@dataclass(frozen=True)
class Selection:
    source: str
    reason: str
    images: dict[str, str]

    def name(self, role: str) -> str:
        if role not in self.images:
            raise KeyError(f"no e2e image role {role!r}; roles: {', '.join(self.images)}")
        return self.images[role]

    def home(self, role: str) -> str:
        return ROLES[role].home[self.source]

    def workspace_args(self, strategy: str) -> dict[str, str]:
        """`image` for a workspace of `strategy` (dind-rootless needs the rootless extras), and for dind-rootless
        `home_path` too: the rootless image's user is not coder in every source. The others keep the components'
        default home (/home/coder, both sources); dood refuses an explicit one."""
        if strategy == "dind-rootless":
            return {"image": DIND_ROOTLESS, "home_path": self.home("rootless")}
        if strategy in ("podman", "dind-userns"):
            return {"image": self.name("unprivileged"), "home_path": self.home("unprivileged")}
        return {"image": CODER_BASE}

    def stand_ins(self) -> dict[str, str]:
        """What deploy.py gives the engine for each image name the components may ask for."""
        mapping = {name: name for name in self.images.values()}
        for r in ROLES.values():
            if r.requested:
                mapping[r.requested] = self.images[r.role]
        return mapping

    def describe(self) -> str:
        rows = ", ".join(f"{role}={name}" for role, name in self.images.items())
        return f"e2e images from {SOURCE_LABELS[self.source]} ({self.reason}): {rows}"


def selected(env: Optional[Mapping[str, str]] = None) -> Selection:
    """What the tests use: ``$DIW_E2E_IMAGES`` if set, else the record build.sh/pull.sh wrote, else local."""
    env = os.environ if env is None else env
    forced = env.get("DIW_E2E_IMAGES", "")
    if forced:
        source, reason = choose(env)
    else:
        path = record_path(env)
        try:
            recorded = json.loads(path.read_text())
            source, reason = recorded["source"], f"recorded in {path} by {recorded.get('by', 'build.sh')}"
        except (OSError, ValueError, KeyError):
            source, reason = LOCAL, f"no record at {path} (run tests/e2e/images/build.sh)"
        if source not in SOURCES:
            source, reason = LOCAL, f"unknown source {source!r} in {path}"
    return Selection(source, reason, names(source, env))


def write_record(source: str, by: str) -> Selection:
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    images = names(source)
    path.write_text(json.dumps({"source": source, "by": by, "images": images}, indent=2, sort_keys=True) + "\n")
    return Selection(source, f"recorded by {by}", images)


def main(argv: list[str]) -> int:
    usage = "usage: images.py source | names SOURCE | name SOURCE ROLE | record SOURCE BY"
    if argv[:1] == ["source"] and len(argv) == 1:
        source, reason = choose()
        print(f"[images.py] {SOURCE_LABELS[source]}: {reason}", file=sys.stderr)
        print(source)
        return 0
    if len(argv) == 3 and argv[0] == "name" and argv[1] in SOURCES and argv[2] in ROLES:
        print(names(argv[1])[argv[2]])
        return 0
    if len(argv) == 2 and argv[0] == "names" and argv[1] in SOURCES:
        pulled = {role: name for role, name in names(argv[1]).items() if not ROLES[role].built_for_both}
        print("\n".join(sorted(set(pulled.values()))))
        return 0
    if len(argv) == 3 and argv[0] == "record" and argv[1] in SOURCES:
        print(f"[images.py] {write_record(argv[1], by=argv[2]).describe()}")
        return 0
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
