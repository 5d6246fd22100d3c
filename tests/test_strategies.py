"""The target-neutral strategy layer: plans, and levels computed from what the plans ask for."""

import dataclasses

import pytest

from components import Strategy
from components.security import PodSecurityLevel, SecurityLevel, pod_security_level, security_level
from components.strategies import PLANNERS, StrategyError, StrategyOptions, plan
from components.strategies.spec import (
    ROOTLESS_ENGINES_PROFILE,
    AppArmor,
    Device,
    HostSocketMount,
    ProcMount,
    Seccomp,
)

OPTIONS = StrategyOptions(docker_socket_gid=998)

EXPECTED = {
    Strategy.DOOD: (SecurityLevel.NONE, PodSecurityLevel.PRIVILEGED),
    Strategy.DIND: (SecurityLevel.LOW, PodSecurityLevel.PRIVILEGED),
    Strategy.DIND_SIDECAR: (SecurityLevel.LOW, PodSecurityLevel.PRIVILEGED),
    Strategy.DIND_ROOTLESS: (SecurityLevel.MEDIUM, PodSecurityLevel.PRIVILEGED),
    Strategy.SYSBOX: (SecurityLevel.HIGH, PodSecurityLevel.BASELINE),
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
    daemon = workspace_plan.daemon_container
    if strategy == Strategy.DOOD:
        assert daemon is None
        return
    volumes = {v.key: v for v in workspace_plan.volumes}
    # At the data root, or a directory above it (dind-userns: the data root is a directory of its volume).
    data_root = daemon.daemon.data_root
    mount = next(m for m in daemon.mounts if data_root == m.path or data_root.startswith(m.path + "/"))
    assert volumes[mount.volume].persistent
    assert workspace_plan.workspace.env_dict["DOCKER_HOST"] == workspace_plan.docker_host == daemon.daemon.docker_host


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
