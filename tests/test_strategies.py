"""The target-neutral strategy layer: plans, and levels computed from what the plans ask for."""

import dataclasses

import pytest

from components import Strategy
from components.security import PodSecurityLevel, SecurityLevel, pod_security_level, security_level, security_reason
from components.strategies import PLANNERS, StrategyError, StrategyOptions, plan
from components.strategies.spec import (
    ROOTLESS_ENGINES_PROFILE,
    AppArmor,
    Device,
    HostPathMount,
    HostSocketMount,
    ProcMount,
    Seccomp,
    all_containers,
    workload_container,
)

OPTIONS = StrategyOptions(docker_socket_gid=998)

EXPECTED = {
    Strategy.DOOD: (SecurityLevel.NONE, PodSecurityLevel.PRIVILEGED),
    Strategy.DIND: (SecurityLevel.LOW, PodSecurityLevel.PRIVILEGED),
    Strategy.DIND_SIDECAR: (SecurityLevel.LOW, PodSecurityLevel.PRIVILEGED),
    Strategy.DIND_ROOTLESS: (SecurityLevel.MEDIUM, PodSecurityLevel.PRIVILEGED),
    Strategy.SYSBOX: (SecurityLevel.HIGH, PodSecurityLevel.BASELINE),
    Strategy.ENVBOX: (SecurityLevel.LOW, PodSecurityLevel.PRIVILEGED),
    Strategy.PODMAN: (SecurityLevel.HIGH, PodSecurityLevel.BASELINE),
    Strategy.DIND_USERNS: (SecurityLevel.MEDIUM, PodSecurityLevel.BASELINE),
}


def test_every_strategy_has_a_module():
    assert set(PLANNERS) == set(Strategy)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_levels_match_the_design_table(strategy):
    workspace_plan = plan(strategy, OPTIONS)
    assert workspace_plan.strategy == strategy
    assert (security_level(workspace_plan), pod_security_level(workspace_plan)) == EXPECTED[strategy]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_every_daemon_has_its_own_data_root_volume(strategy):
    workspace_plan = plan(strategy, OPTIONS)
    daemons = [(c, c.daemon) for c in all_containers(workspace_plan) if c.daemon is not None]
    nested = workspace_plan.workspace.nested
    if nested is not None:  # the outer container's own daemon, which runs the nested one
        daemons.append((workspace_plan.workspace, nested.outer_daemon))
    if strategy == Strategy.DOOD:
        assert daemons == []
        return
    volumes = {v.key: v for v in workspace_plan.volumes}
    roots = []
    for container, daemon in daemons:
        # At the data root, or a directory above it (dind-userns: the data root is a directory of its volume).
        mount = next(
            m for m in container.mounts if daemon.data_root == m.path or daemon.data_root.startswith(m.path + "/")
        )
        assert volumes[mount.volume].persistent
        roots.append(mount.volume)
    assert len(roots) == len(set(roots))  # each its own
    workload = workload_container(workspace_plan)
    daemon = workload.daemon or workspace_plan.daemon_container.daemon  # dind-sidecar: the sidecar's
    assert workload.env_dict["DOCKER_HOST"] == workspace_plan.docker_host == daemon.docker_host


def test_level_follows_the_specs_not_the_name():
    sysbox = plan(Strategy.SYSBOX, OPTIONS)
    as_privileged = dataclasses.replace(sysbox, containers=(dataclasses.replace(sysbox.workspace, privileged=True),))
    assert security_level(as_privileged) == SecurityLevel.LOW
    with_socket = dataclasses.replace(
        sysbox,
        containers=(dataclasses.replace(sysbox.workspace, host_sockets=(HostSocketMount("/x.sock", "/x.sock"),)),),
    )
    assert security_level(with_socket) == SecurityLevel.NONE
    rootless = plan(Strategy.DIND_ROOTLESS, OPTIONS)
    as_root = dataclasses.replace(rootless, containers=(dataclasses.replace(rootless.workspace, run_as_user=0),))
    assert security_level(as_root) == SecurityLevel.LOW


def test_sidecar_workspace_is_unprivileged_and_joins_the_daemon():
    sidecar = plan(Strategy.DIND_SIDECAR, OPTIONS)
    assert not sidecar.workspace.privileged and sidecar.workspace.run_as_user == 1000
    assert sidecar.workspace.joins_network_of == "daemon"
    assert sidecar.container("daemon").privileged
    assert sidecar.workspace.supplemental_groups == (OPTIONS.daemon_socket_gid,)


def test_unknown_strategy_lists_the_allowed_ones():
    with pytest.raises(StrategyError, match="strategy: unknown strategy 'lxd'; use one of: dood, dind"):
        plan("lxd")


def test_dood_requires_socket_gid():
    with pytest.raises(StrategyError) as error:
        plan(Strategy.DOOD, StrategyOptions())
    assert error.value.field == "docker_socket_gid"


def test_the_registry_names_every_strategy_module_once():
    import importlib
    import pkgutil

    import components.strategies as package

    registered = [importlib.import_module(f"{package.__name__}.{name}") for name in package.STRATEGY_MODULES]
    strategies = [module.STRATEGY for module in registered]
    assert len(set(strategies)) == len(strategies), strategies  # every module's STRATEGY is unique
    assert sorted(strategies) == sorted(Strategy)  # every member has exactly one planner
    assert {s: PLANNERS[s] for s in strategies} == {module.STRATEGY: module.plan for module in registered}
    # A module with a STRATEGY that the registry does not name would never be planned.
    with_strategy = {
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if hasattr(importlib.import_module(f"{package.__name__}.{info.name}"), "STRATEGY")
    }
    assert with_strategy == set(package.STRATEGY_MODULES)


def test_a_broken_registry_fails_at_import_naming_the_strategy():
    import types

    from components.strategies import _planners

    def module(name: str, strategy: Strategy) -> types.ModuleType:
        fake = types.ModuleType(name)
        fake.STRATEGY, fake.plan = strategy, lambda options: None  # type: ignore[attr-defined]
        return fake

    every = [module(f"m_{s.name}", s) for s in Strategy]
    assert set(_planners(every)) == set(Strategy)
    with pytest.raises(ImportError, match="strategy dind has two modules: m_DIND and copy"):
        _planners([*every, module("copy", Strategy.DIND)])
    with pytest.raises(ImportError, match=r"no strategy module for \['sysbox'\]"):
        _planners([m for m in every if m.STRATEGY != Strategy.SYSBOX])


def test_the_unprivileged_strategies_need_no_privileged_container_and_keep_seccomp_on():
    for strategy in (Strategy.PODMAN, Strategy.DIND_USERNS):
        workspace = plan(strategy, OPTIONS).workspace
        assert not workspace.privileged and not workspace.cap_add and workspace.run_as_user == 1000
        assert (workspace.seccomp, workspace.seccomp_profile) == (Seccomp.LOCALHOST, ROOTLESS_ENGINES_PROFILE)
        assert workspace.apparmor == AppArmor.RUNTIME_DEFAULT
        assert workspace.devices == (Device.TUN,)
    userns = plan(Strategy.DIND_USERNS, OPTIONS).workspace
    assert userns.user_namespace and userns.proc_mount == ProcMount.UNMASKED
    assert plan(Strategy.PODMAN, OPTIONS).workspace.proc_mount == ProcMount.DEFAULT


@pytest.mark.parametrize(
    ("change", "level"),
    [
        ({"seccomp": Seccomp.UNCONFINED, "seccomp_profile": None}, SecurityLevel.MEDIUM),
        ({"apparmor": AppArmor.UNCONFINED}, SecurityLevel.MEDIUM),
        ({"cap_add": ("SYS_ADMIN",)}, SecurityLevel.MEDIUM),
        ({"seccomp": Seccomp.RUNTIME_DEFAULT, "seccomp_profile": None}, SecurityLevel.HIGH),
        ({"privileged": True}, SecurityLevel.MEDIUM),  # privileged, but uid 1000
        ({"privileged": True, "run_as_user": 0}, SecurityLevel.LOW),
    ],
)
def test_a_turned_off_confinement_lowers_an_unprivileged_workspace(change, level):
    podman = plan(Strategy.PODMAN, OPTIONS)
    changed = dataclasses.replace(podman, containers=(dataclasses.replace(podman.workspace, **change),))
    assert security_level(changed) == level


@pytest.mark.parametrize(
    ("change", "pss"),
    [
        ({"seccomp": Seccomp.UNCONFINED, "seccomp_profile": None}, PodSecurityLevel.PRIVILEGED),
        ({"apparmor": AppArmor.UNCONFINED}, PodSecurityLevel.PRIVILEGED),
        ({"cap_add": ("SYS_ADMIN",)}, PodSecurityLevel.PRIVILEGED),
        ({"cap_add": ("NET_BIND_SERVICE",)}, PodSecurityLevel.BASELINE),  # in baseline's list
        (
            {
                "cap_drop": ("ALL",),
                "no_new_privileges": True,
                "seccomp": Seccomp.RUNTIME_DEFAULT,
                "seccomp_profile": None,
            },
            PodSecurityLevel.RESTRICTED,
        ),
    ],
)
def test_pod_security_follows_the_standards_checks(change, pss):
    podman = plan(Strategy.PODMAN, OPTIONS)
    changed = dataclasses.replace(podman, containers=(dataclasses.replace(podman.workspace, **change),))
    assert pod_security_level(changed) == pss


def test_an_unmasked_proc_needs_its_own_user_namespace_and_pins_the_policy_version():
    from components.security import pod_security_version

    assert pod_security_version(plan(Strategy.DIND_USERNS, OPTIONS)) == "v1.35"
    assert pod_security_version(plan(Strategy.PODMAN, OPTIONS)) is None
    podman = plan(Strategy.PODMAN, OPTIONS).workspace
    with pytest.raises(ValueError, match="unmasked /proc needs the container's own user namespace"):
        dataclasses.replace(podman, proc_mount=ProcMount.UNMASKED)
    with pytest.raises(ValueError, match="seccomp_profile is given exactly when seccomp is Localhost"):
        dataclasses.replace(podman, seccomp=Seccomp.RUNTIME_DEFAULT)


def test_envbox_is_a_privileged_outer_container_with_an_unprivileged_sysbox_inner_one():
    envbox = plan(Strategy.ENVBOX, OPTIONS)
    outer = envbox.workspace
    assert envbox.containers == (outer,)  # the adapters create the outer container only
    assert outer.privileged and outer.runs_as_root and outer.image == "ghcr.io/coder/envbox:0.6.7"
    assert outer.nested is not None and outer.nested.program == ("/envbox", "docker")
    inner = outer.nested.spec
    assert not inner.privileged and inner.runtime == "sysbox-runc" and inner.user_namespace
    assert security_level(dataclasses.replace(envbox, containers=(inner,))) == SecurityLevel.HIGH
    assert "one escape from that lands in the outer container" in security_reason(envbox)
    # The same volume, seen at envbox's source path outside and at the daemon's data root inside.
    outer_paths = {m.volume: m.path for m in outer.mounts}
    inner_paths = {m.volume: m.path for m in inner.mounts}
    assert (outer_paths["docker"], inner_paths["docker"]) == ("/var/lib/coder/docker", "/var/lib/docker")
    assert (outer_paths["containers"], inner_paths["containers"]) == (
        "/var/lib/coder/containers",
        "/var/lib/containers",
    )
    assert outer_paths["envbox"] == "/var/lib/docker" and outer_paths["home"] == inner_paths["home"] == "/home/coder"
    volumes = {v.key: v.persistent for v in envbox.volumes}
    assert volumes == {"docker": True, "containers": True, "home": True, "envbox": True, "sysbox": False}
    assert [(h.host_path, h.path) for h in outer.host_paths] == [
        ("/usr/src", "/usr/src"),
        ("/lib/modules", "/lib/modules"),
    ]
    env = outer.env_dict
    assert env == {
        "CODER_INNER_USERNAME": "coder",
        "CODER_MOUNTS": "/home/coder:/home/coder",
        "CODER_ADD_FUSE": "false",
        "CODER_ADD_TUN": "false",
    }
    assert dict(outer.nested.limits_env) == {"CODER_CPUS": "cpu", "CODER_MEMORY": "memory"}


def test_envbox_options():
    options = StrategyOptions(
        envbox_image="registry.example/envbox:0.6.7",
        inner_username="dev",
        home_path="/home/dev",
        add_fuse=True,
        add_tun=True,
    )
    outer = plan(Strategy.ENVBOX, options).workspace
    assert outer.image == "registry.example/envbox:0.6.7"
    assert outer.env_dict == {
        "CODER_INNER_USERNAME": "dev",
        "CODER_MOUNTS": "/home/dev:/home/dev",
        "CODER_ADD_FUSE": "true",
        "CODER_ADD_TUN": "true",
    }
    assert (
        plan(Strategy.ENVBOX, StrategyOptions(home_path="/root", inner_username="root")).workspace.env_dict[
            "CODER_MOUNTS"
        ]
        == "/root:/root"
    )


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (StrategyOptions(home_path="/workspace"), "home_path"),  # envbox would chown it to the inner root
        (StrategyOptions(home_path="/home/a/b"), "home_path"),
        (StrategyOptions(home_path="/home/a,b"), "home_path"),  # CODER_MOUNTS is a comma list
    ],
)
def test_envbox_refuses_what_envbox_cannot_do(options, field):
    with pytest.raises(StrategyError) as error:
        plan(Strategy.ENVBOX, options)
    assert error.value.field == field


@pytest.mark.parametrize("username", ["Coder", "a b", "1x"])
def test_envbox_user_names_are_refused_by_their_declaration(username):
    from components.config import ConfigError, load_stack_config
    from components.resolve import resolve_workspace

    args = {"image": "i", "strategy": "envbox", "allow_insecure": True, "envbox_inner_username": username}
    with pytest.raises(ValueError, match=r"^envbox_inner_username: must be a user name"):
        resolve_workspace("a", args)
    config = {"name": "a", "image": "i", "strategy": "envbox", "allowInsecure": True, "envboxInnerUsername": username}
    with pytest.raises(ConfigError, match=r"workspaces\[0\]\.envboxInnerUsername: must be a user name"):
        load_stack_config({"workspaces": [config]})


def test_host_paths_need_the_privileged_pod_security_level():
    sysbox = plan(Strategy.SYSBOX, OPTIONS)
    with_host_path = dataclasses.replace(
        sysbox, containers=(dataclasses.replace(sysbox.workspace, host_paths=(HostPathMount("/usr/src", "/usr/src"),)),)
    )
    assert pod_security_level(sysbox) == PodSecurityLevel.BASELINE
    assert pod_security_level(with_host_path) == PodSecurityLevel.PRIVILEGED
    assert security_level(with_host_path) == SecurityLevel.HIGH  # read-only: no way into the host


def test_a_nested_container_counts_for_the_level():
    envbox = plan(Strategy.ENVBOX, OPTIONS)
    outer = envbox.workspace
    assert outer.nested is not None
    privileged_inner = dataclasses.replace(outer.nested, spec=dataclasses.replace(outer.nested.spec, privileged=True))
    unprivileged_outer = dataclasses.replace(outer, privileged=False, nested=privileged_inner)
    assert security_level(dataclasses.replace(envbox, containers=(unprivileged_outer,))) == SecurityLevel.LOW
