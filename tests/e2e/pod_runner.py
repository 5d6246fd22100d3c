"""Run the pods `KubernetesWorkspace` renders on the private Docker engine, as a kubelet would.

There is no cluster here, but a pod is containers that share a network namespace and
volumes. `deploy(client, program)` runs the real component under Pulumi's mocks; the
mocks keep what it registers (Deployment, PVCs, ConfigMap, Secret, Namespace) in a
small object store (the "API server"); then a Deployment controller (Recreate) and a
kubelet turn each Deployment's pod template into containers on the engine:

- a pause-like container (busybox `sleep`) owns the pod's network and IPC namespaces;
  every container joins them, so all of them share `localhost`;
- a PVC is a named volume `k8s-<namespace>-<claim>` created on first use and kept
  when the pod goes (like a bound PV), never filled with the image's files (Docker
  would copy them into a fresh volume, Kubernetes never does: `nocopy`); an `emptyDir`
  is the node directory the kubelet uses, `/var/lib/kubelet/pods/<pod uid>/volumes/
  kubernetes.io~empty-dir/<name>` (mode 0777), bind-mounted and removed with the pod;
- env `fieldRef` gives `metadata.name/namespace/uid` and `status.podIP/hostIP` (the
  node's address is the bridge's gateway: this machine);
- ConfigMap and Secret keys are files in a read-only volume (`defaultMode`, `items`,
  per-item `mode`) or env (`secretKeyRef`, `configMapKeyRef`); `$(VAR)` references
  in command, args and env values are expanded as the kubelet does;
- `command` is the entrypoint, `args` the cmd (either replaces the image's, as in
  Kubernetes); `securityContext`: `privileged` (with the privileged-equivalent the
  Docker-host harness uses where `--privileged` cannot work, see FINDINGS.md),
  `runAsUser`, `runAsGroup`, `runAsNonRoot` (refused, as the kubelet does, when the
  image would run as root or names a non-numeric user), pod `fsGroup` (the volume
  roots of PVCs, emptyDirs, ConfigMaps and Secrets get the group and its permissions
  exactly as the kubelet's SetVolumeOwnership does, skipped under `OnRootMismatch`
  when the root already matches; fsGroup is added to every container's groups; never
  applied to hostPath) and `supplementalGroups`;
- init containers in order (each must exit 0; retried with back-off otherwise),
  native sidecars (`restartPolicy: Always` init containers keep running, and the next
  container starts only once the sidecar's startupProbe passed), then the containers;
- exec startupProbe, readinessProbe and livenessProbe with `periodSeconds`,
  `failureThreshold`, `successThreshold`, `timeoutSeconds` and `initialDelaySeconds`:
  the first probe runs when the container starts, then one per period; a failed
  startup or liveness probe kills the container (SIGTERM, then the grace period);
- a container that exits is replaced by a new one (a fresh writable layer, as
  Kubernetes does, not a `docker restart`) with the kubelet's back-off (at once, then
  10 s doubling to 5 min), for the pod's `restartPolicy: Always`;
- a hostPath of type Socket at `/var/run/docker.sock` is the private engine's socket
  (this machine is the node);
- `hostUsers: false` only on an engine started with --userns-remap (the stand-in for a node with
  user namespaces: every container's root is a subordinate id; elsewhere the pod fails, saying so),
  `procMount: Unmasked` as empty MaskedPaths/ReadonlyPaths (refused, as the API does, without
  `hostUsers: false`), `seccompProfile` (Localhost profiles from the node's seccomp root: the
  library's components/profiles/, as docs/kubernetes.md says to install them), `appArmorProfile`
  (RuntimeDefault or Unconfined), and extended-resource limits offered by
  the node's device plugins (NODE_DEVICE_PLUGINS: the device node handed to the container; any other
  leaves the pod Pending).

A field this module does not know fails loudly (`UnsupportedField`); it is never
dropped. What it does not reproduce is listed in tests/e2e/FINDINGS.md ("Kubernetes
pods on the engine").
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import stat
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import deploy
import docker
import docker.errors
import engine
import pulumi
from docker.types import Mount

from components.kubernetes import KUBELET_ROOT_DIR
from components.recording import record, unwrap_secrets
from components.render import ints

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
NAMESPACE = "kubernetes:core/v1:Namespace"
RUNTIME_CLASS = "kubernetes:node.k8s.io/v1:RuntimeClass"

E2E_LABEL = "diw.e2e"
POD_LABEL = "diw.k8s.pod"
DEPLOYMENT_LABEL = "diw.k8s.deployment"  # "<namespace>/<name>"
PVC_LABEL = "diw.k8s.pvc"  # "<namespace>/<claim>"
HASH_LABEL = "diw.k8s.template-hash"

NODE_DOCKER_SOCKET = "/var/run/docker.sock"
"""The node's Docker socket; here, the private engine's."""

DEFAULT_GRACE_SECONDS = 30
BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
TICK = 0.2

# Images the pods ask for, mapped to the locally built ones (no registry here): the Docker-host harness's map,
# plus busybox for the runner's own tests.
IMAGE_MAP = deploy.IMAGE_MAP
LOCAL_IMAGES = {engine.BUSYBOX_IMAGE: engine.BUSYBOX_IMAGE}


class UnsupportedField(AssertionError):
    """The pod uses a field this runner cannot reproduce on the engine."""


class PodFailed(AssertionError):
    """The pod did not become ready (or a container could not be created); carries the events."""


def _reject_unknown(where: str, obj: dict, known: set[str]) -> None:
    unknown = sorted(set(obj) - known)
    if unknown:
        raise UnsupportedField(f"{where}: fields this pod runner does not reproduce: {unknown}")


# --- the API server: objects the program registered --------------------------------------------------------------


@dataclass
class Cluster:
    """The objects `pulumi up` would have applied, by (type token, namespace, name)."""

    objects: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    versions: dict[tuple[str, str, str], tuple[str, int]] = field(default_factory=dict)

    def put(self, typ: str, manifest: dict) -> int:
        meta = manifest.get("metadata", {})
        key = (typ, meta.get("namespace", "default"), meta["name"])
        self.objects[key] = manifest
        digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
        old_digest, version = self.versions.get(key, ("", 0))
        if old_digest != digest:
            version += 1
        self.versions[key] = (digest, version)
        return version

    def get(self, typ: str, namespace: str, name: str) -> dict:
        try:
            return self.objects[(typ, namespace, name)]
        except KeyError:
            raise PodFailed(f"{typ.rsplit(':', 1)[1]} {namespace}/{name} not found") from None

    def of_type(self, typ: str) -> list[dict]:
        return [obj for (t, _, _), obj in self.objects.items() if t == typ]


@dataclass
class ClusterMocks(pulumi.runtime.Mocks):
    cluster: Cluster
    registered: set[tuple[str, str, str]] = field(default_factory=set)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if not args.custom:  # a component
            return [f"{args.name}-component", {}]
        known = {DEPLOYMENT, PVC, CONFIG_MAP, SECRET, NAMESPACE, RUNTIME_CLASS}
        if args.typ not in known:
            raise UnsupportedField(f"resource type {args.typ} ({args.name})")
        manifest = ints(unwrap_secrets(args.inputs))
        if args.typ == NAMESPACE:
            manifest.setdefault("metadata", {})["namespace"] = ""
        if args.typ == RUNTIME_CLASS:
            raise UnsupportedField(f"RuntimeClass {args.name}: no runtime handlers on this node")
        version = self.cluster.put(args.typ, manifest)
        meta = manifest.get("metadata", {})
        self.registered.add((args.typ, meta.get("namespace", "default"), meta["name"]))
        outputs = {**args.inputs, "metadata": {**args.inputs.get("metadata", {}), "resourceVersion": str(version)}}
        return [f"{meta.get('namespace', '')}/{meta['name']}", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        raise UnsupportedField(f"invoke {args.token}")


# --- small Kubernetes semantics -------------------------------------------------------------------------------------

_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's `$(VAR)` expansion: defined names are replaced, `$$` is `$`, the rest stays."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR_REF.sub(replace, text)


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_UNITS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
_MEMORY_UNITS["Ti"] = 2**40


NODE_DEVICE_PLUGINS = {
    "squat.ai/tun": "/dev/net/tun",
    "squat.ai/fuse": "/dev/fuse",
    "github.com/fuse": "/dev/fuse",
}
"""The extended resources this "node"'s device plugins offer, and the device each one hands a container (what
squat/generic-device-plugin's Allocate does: the device node, rw)."""

KUBELET_SECCOMP_PROFILES = {
    f"docker-in-workspaces/{path.name.removeprefix('seccomp-')}": path
    for path in (Path(__file__).resolve().parents[2] / "components" / "profiles").glob("seccomp-*.json")
}
"""The node's seccomp root (/var/lib/kubelet/seccomp): the library's profiles, installed as the README says."""


def _limits(where: str, resources: dict) -> dict[str, Any]:
    _reject_unknown(where, resources, {"requests", "limits"})
    kwargs: dict[str, Any] = {}
    limits = resources.get("limits") or {}
    for name in resources.get("requests") or {}:  # scheduling only: nothing for the kubelet to enforce here
        if name not in ("cpu", "memory", "ephemeral-storage") and name not in NODE_DEVICE_PLUGINS:
            raise UnsupportedField(f"{where}.requests.{name}")
    for name, quantity in limits.items():
        if "/" in name:  # an extended resource: a device plugin on the node, or the pod stays Pending
            if name not in NODE_DEVICE_PLUGINS:
                raise PodFailed(f"{where}: 0/1 nodes are available: 1 Insufficient {name} (no device plugin offers it)")
            if int(quantity) != 1:
                raise UnsupportedField(f"{where}.limits.{name}: {quantity!r} (one device per container)")
            device = NODE_DEVICE_PLUGINS[name]
            kwargs.setdefault("devices", []).append(f"{device}:{device}:rwm")
        elif name == "cpu" and (m := _CPU.match(str(quantity))):
            kwargs["nano_cpus"] = int(float(m.group(1)) * (10**6 if m.group(2) else 10**9))
        elif name == "memory" and (m := _MEMORY.match(str(quantity))):
            kwargs["mem_limit"] = int(float(m.group(1)) * _MEMORY_UNITS[m.group(2)])
        else:
            raise UnsupportedField(f"{where}.limits.{name}: {quantity!r}")
    return kwargs


def _backoff(restarts: int) -> float:
    """The kubelet restarts a crashed container at once the first time, then after 10 s doubling to 5 min."""
    return 0.0 if restarts == 0 else min(BACKOFF_INITIAL * 2 ** (restarts - 1), BACKOFF_MAX)


def _tar(files: list[tuple[str, bytes, int]], gid: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        made: set[str] = set()
        for path, data, mode in files:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in made:
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode, info.gid = tarfile.DIRTYPE, 0o755, gid
                    archive.addfile(info)
                    made.add(directory)
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.gid = len(data), mode, gid
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# kubelet's SetVolumeOwnership (pkg/volume/volume_linux.go): with fsGroupChangePolicy OnRootMismatch it is skipped
# when the root has the group, rw(x) for user and group and setgid; otherwise every entry gets the group (lchown, uid
# unchanged) and, except symlinks, mode | 0660 (| 0110 and setgid for directories).
_OWNERSHIP_SCRIPT = r"""
set -eu
g=$1; policy=$2
set -- $(stat -c '%g %a' /v)
if [ "$policy" = OnRootMismatch ] && [ "$1" = "$g" ] && [ $(( 0$2 & 02770 )) -eq $(( 02770 )) ]; then
  echo skipped; exit 0
fi
find /v -exec chgrp -h "$g" {} +
find /v ! -type l ! -type d -exec chmod ug+rw {} +
find /v -type d -exec chmod ug+rwx,g+s {} +
echo changed
"""


# --- the kubelet --------------------------------------------------------------------------------------------------


@dataclass
class Probe:
    command: list[str]
    period: float
    failure_threshold: int
    success_threshold: int
    timeout: int
    initial_delay: float

    @classmethod
    def parse(cls, where: str, spec: Optional[dict]) -> Optional[Probe]:
        if spec is None:
            return None
        _reject_unknown(
            where,
            spec,
            {"exec", "periodSeconds", "failureThreshold", "successThreshold", "timeoutSeconds", "initialDelaySeconds"},
        )
        if "exec" not in spec:
            raise UnsupportedField(f"{where}: only exec probes are reproduced")
        _reject_unknown(f"{where}.exec", spec["exec"], {"command"})
        return cls(
            command=list(spec["exec"]["command"]),
            period=float(spec.get("periodSeconds", 10)),
            failure_threshold=int(spec.get("failureThreshold", 3)),
            success_threshold=int(spec.get("successThreshold", 1)),
            timeout=int(spec.get("timeoutSeconds", 1)),
            initial_delay=float(spec.get("initialDelaySeconds", 0)),
        )


@dataclass
class ProbeState:
    probe: Probe
    next_at: float
    failures: int = 0
    successes: int = 0
    last_output: str = ""


@dataclass
class ContainerState:
    """One container of the pod spec and the Docker container that currently runs it."""

    spec: dict
    kind: str  # "init" | "sidecar" | "main"
    create_kwargs: dict[str, Any] = field(default_factory=dict)
    host_config_extra: dict[str, Any] = field(default_factory=dict)
    docker_id: Optional[str] = None
    started_at: float = 0.0
    started: bool = False
    """Kubernetes' `started`: the startupProbe passed (or there is none)."""
    ready: bool = False
    restarts: int = 0
    restart_at: Optional[float] = None
    completed: bool = False
    startup: Optional[ProbeState] = None
    readiness: Optional[ProbeState] = None
    liveness: Optional[ProbeState] = None
    previous_logs: str = ""

    @property
    def name(self) -> str:
        return self.spec["name"]


_POD_SPEC_FIELDS = {
    "containers", "initContainers", "volumes", "securityContext", "enableServiceLinks",
    "automountServiceAccountToken", "restartPolicy", "terminationGracePeriodSeconds", "nodeSelector", "tolerations",
    "runtimeClassName", "hostUsers",
}  # fmt: skip
_CONTAINER_FIELDS = {
    "name", "image", "imagePullPolicy", "command", "args", "env", "volumeMounts", "securityContext", "resources",
    "startupProbe", "readinessProbe", "livenessProbe", "restartPolicy", "workingDir",
}  # fmt: skip


class Pod:
    """One pod on the engine, kept alive by its own kubelet thread."""

    def __init__(
        self,
        client: docker.DockerClient,
        cluster: Cluster,
        namespace: str,
        name: str,
        spec: dict,
        labels: dict[str, str],
        grace_seconds: Optional[float] = None,
    ):
        self.client = client
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.spec = spec
        self.labels = {**labels, E2E_LABEL: "1", POD_LABEL: name}
        self.events: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None
        self.pause: Any = None
        self.scratch_volumes: list[str] = []
        self.uid = str(uuid.uuid4())
        self.pod_ip = self.node_ip = ""
        self.pod_dir = Path(KUBELET_ROOT_DIR) / "pods" / self.uid
        """The kubelet's directory of this pod on the node (this machine), holding its emptyDirs."""
        self.created_at = time.monotonic()
        self.ready_at: Optional[float] = None
        _reject_unknown(f"pod {name}", spec, _POD_SPEC_FIELDS)
        if spec.get("restartPolicy", "Always") != "Always":
            raise UnsupportedField(f"pod {name}: restartPolicy {spec['restartPolicy']!r} (Deployments use Always)")
        if spec.get("runtimeClassName"):
            runtimes = client.info().get("Runtimes", {})
            if spec["runtimeClassName"] not in runtimes:
                raise UnsupportedField(f"pod {name}: runtimeClassName {spec['runtimeClassName']!r} not on this node")
        self.host_users = spec.get("hostUsers") is not False
        if not self.host_users and not engine.userns_remapped(client):
            raise UnsupportedField(
                f"pod {name}: hostUsers false (user namespaces) needs an engine with --userns-remap "
                "(the stand-in for a node's user namespaces; DIW_E2E_USERNS_DOCKER_HOST)"
            )
        security = spec.get("securityContext") or {}
        _reject_unknown(
            f"pod {name}.securityContext",
            security,
            {"fsGroup", "fsGroupChangePolicy", "supplementalGroups", "runAsUser", "runAsGroup", "runAsNonRoot"},
        )
        self.security = security
        self.grace = float(
            grace_seconds
            if grace_seconds is not None
            else spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
        )
        self.containers: list[ContainerState] = []
        for c in spec.get("initContainers") or []:
            kind = "sidecar" if c.get("restartPolicy") == "Always" else "init"
            self.containers.append(ContainerState(c, kind))
        self.containers += [ContainerState(c, "main") for c in spec["containers"]]
        for state in self.containers:
            _reject_unknown(f"container {state.name}", state.spec, _CONTAINER_FIELDS)
            if state.kind == "main" and "restartPolicy" in state.spec:
                raise UnsupportedField(f"container {state.name}: restartPolicy on a regular container")
            if state.kind != "sidecar" and "startupProbe" in state.spec and state.kind == "init":
                raise UnsupportedField(f"init container {state.name}: probes on a regular init container")

    # --- public ------------------------------------------------------------------------------------------------------

    def event(self, text: str) -> None:
        with self._lock:
            self.events.append(f"[{time.monotonic() - self.created_at:6.1f}s] {text}")

    def start(self) -> None:
        """Make the sandbox and volumes, check every container's config, then let the kubelet thread run it."""
        pause_kwargs: dict[str, Any] = {
            "name": f"{self.name}-pause",
            "hostname": self.name,
            "labels": self.labels,
            "ipc_mode": "shareable",
            "detach": True,
        }
        self.pause = self.client.containers.run(engine.BUSYBOX_IMAGE, ["sleep", "2147483647"], **pause_kwargs)
        self.pause.reload()
        network = self.pause.attrs["NetworkSettings"]
        self.pod_ip, self.node_ip = network["IPAddress"], network["Gateway"]  # the node: the bridge's host side
        self.event(f"sandbox started (pod IP {self.pod_ip}, node IP {self.node_ip})")
        self._volumes = self._make_volumes()
        for state in self.containers:
            self._prepare(state)
        self._thread = threading.Thread(target=self._run, name=f"kubelet-{self.name}", daemon=True)
        self._thread.start()

    @property
    def ready(self) -> bool:
        with self._lock:
            return all(s.ready for s in self.containers if s.kind != "init")

    def wait_ready(self, timeout: float) -> float:
        """Seconds from pod creation to Ready; PodFailed with the events and log tails if not within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._error is not None:
                raise PodFailed(f"kubelet of {self.name} failed: {self._error!r}\n{self.describe()}")
            if self.ready_at is not None:
                return self.ready_at - self.created_at
            time.sleep(TICK)
        raise PodFailed(f"pod {self.name} not ready after {timeout:.0f}s\n{self.describe()}")

    def state(self, container: str) -> ContainerState:
        return next(s for s in self.containers if s.name == container)

    def container(self, name: str):
        """The Docker container running `name` now."""
        state = self.state(name)
        if state.docker_id is None:
            raise PodFailed(f"{self.name}: container {name} is not running\n{self.describe()}")
        return self.client.containers.get(state.docker_id)

    def logs(self, name: str, tail: int = 40) -> str:
        state = self.state(name)
        if state.docker_id is None:
            return ""
        try:
            return self.client.containers.get(state.docker_id).logs(tail=tail).decode(errors="replace")
        except docker.errors.NotFound:
            return ""

    def describe(self) -> str:
        """Like `kubectl describe pod` + `kubectl logs` (and `--previous`): events and each container's log tail."""
        with self._lock:
            lines = [f"--- events of pod {self.name}", *self.events]
        for state in self.containers:
            lines.append(f"--- {state.name}: restarts {state.restarts}, started {state.started}, ready {state.ready}")
            if state.previous_logs:
                lines += ["(previous)", state.previous_logs.rstrip()]
            lines.append(self.logs(state.name).rstrip())
        return "\n".join(lines)

    def delete(self) -> None:
        """Terminate as the kubelet does: main containers, then sidecars in reverse order, then the sandbox."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        order = [s for s in self.containers if s.kind == "main"]
        order += [s for s in reversed(self.containers) if s.kind != "main"]
        for state in order:
            self._remove(state, graceful=True)
        for ctr in self.client.containers.list(all=True, filters={"label": f"{POD_LABEL}={self.name}"}):
            ctr.remove(force=True)
        for volume in self.scratch_volumes:
            try:
                self.client.volumes.get(volume).remove(force=True)
            except docker.errors.NotFound:
                pass
        shutil.rmtree(self.pod_dir, ignore_errors=True)
        self.event("deleted")

    # --- volumes -----------------------------------------------------------------------------------------------------

    def _make_volumes(self) -> dict[str, dict]:
        """Pod volume name -> {"source", "type", "read_only", "host_path"}."""
        fs_group = self.security.get("fsGroup")
        policy = self.security.get("fsGroupChangePolicy", "Always")
        made: dict[str, dict] = {}
        for volume in self.spec.get("volumes") or []:
            name = volume["name"]
            where = f"pod {self.name}.volumes[{name}]"
            sources = set(volume) - {"name"}
            if len(sources) != 1:
                raise UnsupportedField(f"{where}: volume sources {sorted(sources)}")
            (kind,) = sources
            body = volume[kind] or {}
            if kind == "persistentVolumeClaim":
                _reject_unknown(where, body, {"claimName", "readOnly"})
                claim = body["claimName"]
                self.cluster.get(PVC, self.namespace, claim)  # a pod whose claim does not exist stays Pending
                physical = f"k8s-{self.namespace}-{claim}"
                try:
                    self.client.volumes.get(physical)
                except docker.errors.NotFound:
                    labels = {E2E_LABEL: "1", PVC_LABEL: f"{self.namespace}/{claim}"}
                    self.client.volumes.create(name=physical, labels=labels)
                    self.event(f"PVC {claim} bound to new volume {physical}")
                made[name] = {"source": physical, "read_only": bool(body.get("readOnly"))}
                if fs_group is not None:
                    self._ownership(Mount("/v", physical, type="volume", no_copy=True), fs_group, policy, name)
            elif kind == "emptyDir":
                _reject_unknown(where, body, set())  # medium/sizeLimit: not reproduced
                # Where the kubelet keeps it, on the node: a daemon on the node (dood) can find it by this path.
                directory = self.pod_dir / "volumes" / "kubernetes.io~empty-dir" / name
                directory.mkdir(parents=True)
                directory.chmod(0o777)
                made[name] = {"source": str(directory), "read_only": False, "bind": True}
                if fs_group is not None:
                    self._ownership(Mount("/v", str(directory), type="bind"), fs_group, policy, name)
            elif kind in ("configMap", "secret"):
                made[name] = self._projected(where, kind, body, fs_group)
            elif kind == "hostPath":
                _reject_unknown(where, body, {"path", "type"})
                if body["path"] != NODE_DOCKER_SOCKET:
                    raise UnsupportedField(f"{where}: hostPath {body['path']!r} (only the node's Docker socket)")
                node_path = engine.socket_path()
                if node_path is None:
                    raise UnsupportedField(f"{where}: the engine has no unix socket to stand for {body['path']}")
                if body.get("type") not in (None, "", "Socket"):
                    raise UnsupportedField(f"{where}: hostPath type {body['type']!r}")
                if body.get("type") == "Socket" and not stat.S_ISSOCK(node_path.stat().st_mode):
                    raise PodFailed(f"{where}: hostPath type check failed: {node_path} is not a socket")
                made[name] = {"source": str(node_path), "read_only": False, "bind": True}
            else:
                raise UnsupportedField(f"{where}: volume source {kind}")
        return made

    def _scratch(self, name: str) -> str:
        physical = f"{self.name}-{name}"
        self.client.volumes.create(name=physical, labels={E2E_LABEL: "1", POD_LABEL: self.name})
        self.scratch_volumes.append(physical)
        return physical

    def _helper(self, volume: Mount, script: str, *args: str) -> str:
        """Run `script` as root in a throwaway busybox with `volume` at /v (what the kubelet does on the node)."""
        output = self.client.containers.run(
            engine.BUSYBOX_IMAGE,
            ["sh", "-c", script, "sh", *args],
            mounts=[volume],
            labels={E2E_LABEL: "1", POD_LABEL: self.name},
            user="0",
            network_mode="none",
            remove=True,
        )
        return output.decode(errors="replace").strip()

    def _ownership(self, volume: Mount, fs_group: int, policy: str, name: str) -> None:
        if policy not in ("Always", "OnRootMismatch"):
            raise UnsupportedField(f"pod {self.name}: fsGroupChangePolicy {policy!r}")
        result = self._helper(volume, _OWNERSHIP_SCRIPT, str(fs_group), policy)
        self.event(f"volume {name}: fsGroup {fs_group} ownership {result.splitlines()[-1] if result else '?'}")

    def _projected(self, where: str, kind: str, body: dict, fs_group: Optional[int]) -> dict:
        if kind == "configMap":
            _reject_unknown(where, body, {"name", "defaultMode", "items", "optional"})
            obj = self.cluster.get(CONFIG_MAP, self.namespace, body["name"])
            data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        else:
            _reject_unknown(where, body, {"secretName", "defaultMode", "items", "optional"})
            obj = self.cluster.get(SECRET, self.namespace, body["secretName"])
            data = _secret_data(obj)
        default_mode = int(body.get("defaultMode", 0o644))
        files: list[tuple[str, bytes, int]] = []
        if body.get("items"):
            for item in body["items"]:
                _reject_unknown(f"{where}.items", item, {"key", "path", "mode"})
                if item["key"] not in data:
                    raise PodFailed(f"{where}: key {item['key']!r} not in the {kind}")
                files.append((item["path"], data[item["key"]], int(item.get("mode", default_mode))))
        else:
            files = [(key, value, default_mode) for key, value in sorted(data.items())]
        gid = 0
        if fs_group is not None:  # read-only volumes: group fsGroup, mode | 0440
            gid = int(fs_group)
            files = [(path, content, mode | 0o440) for path, content, mode in files]
        physical = self._scratch(where.rsplit("[", 1)[1].rstrip("]"))
        helper = self.client.containers.create(
            engine.BUSYBOX_IMAGE,
            ["true"],
            mounts=[Mount("/v", physical, type="volume", no_copy=True)],
            labels={E2E_LABEL: "1", POD_LABEL: self.name},
        )
        try:
            helper.put_archive("/v", _tar(files, gid))
        finally:
            helper.remove(force=True)
        return {"source": physical, "read_only": True}  # the kubelet mounts these read-only

    # --- containers --------------------------------------------------------------------------------------------------

    def _env(self, state: ContainerState) -> dict[str, str]:
        env: dict[str, str] = {}
        for item in state.spec.get("env") or []:
            where = f"container {state.name}.env[{item['name']}]"
            _reject_unknown(where, item, {"name", "value", "valueFrom"})
            if "valueFrom" in item:
                source = item["valueFrom"]
                _reject_unknown(f"{where}.valueFrom", source, {"secretKeyRef", "configMapKeyRef", "fieldRef"})
                if "fieldRef" in source:
                    ref = source["fieldRef"]
                    _reject_unknown(f"{where}.valueFrom.fieldRef", ref, {"fieldPath", "apiVersion"})
                    fields = {
                        "metadata.name": self.name,
                        "metadata.namespace": self.namespace,
                        "metadata.uid": self.uid,
                        "status.hostIP": self.node_ip,
                        "status.podIP": self.pod_ip,
                    }
                    if ref["fieldPath"] not in fields:
                        raise UnsupportedField(f"{where}: fieldRef {ref['fieldPath']!r}")
                    env[item["name"]] = fields[ref["fieldPath"]]
                    continue
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    _reject_unknown(f"{where}.valueFrom.secretKeyRef", ref, {"name", "key", "optional"})
                    values = {
                        k: v.decode()
                        for k, v in _secret_data(self.cluster.get(SECRET, self.namespace, ref["name"])).items()
                    }
                else:
                    ref = source["configMapKeyRef"]
                    _reject_unknown(f"{where}.valueFrom.configMapKeyRef", ref, {"name", "key", "optional"})
                    values = self.cluster.get(CONFIG_MAP, self.namespace, ref["name"]).get("data") or {}
                if ref["key"] not in values:
                    if ref.get("optional"):
                        continue
                    raise PodFailed(f"{where}: CreateContainerConfigError: key {ref['key']!r} not in {ref['name']}")
                env[item["name"]] = values[ref["key"]]
            else:
                env[item["name"]] = expand(str(item.get("value", "")), env)
        return env

    def _prepare(self, state: ContainerState) -> None:
        """The container's create arguments; PodFailed for what the kubelet refuses (CreateContainerConfigError)."""
        spec = state.spec
        where = f"container {state.name}"
        requested = spec["image"]
        image = IMAGE_MAP.get(requested) or LOCAL_IMAGES.get(requested)
        if image is None:
            raise UnsupportedField(f"{where}: image {requested!r} has no locally built stand-in (deploy.IMAGE_MAP)")
        env = self._env(state)
        kwargs: dict[str, Any] = {
            "image": image,
            "labels": {**self.labels, "diw.k8s.container": state.name},
            "environment": env,
            "detach": True,
            "network_mode": f"container:{self.name}-pause",
            "ipc_mode": f"container:{self.name}-pause",
        }
        if "command" in spec:
            kwargs["entrypoint"] = [expand(a, env) for a in spec["command"]]
            # Kubernetes: command without args drops the image's CMD too; Docker does the same with --entrypoint.
            kwargs["command"] = [expand(a, env) for a in spec.get("args", [])] or None
        elif "args" in spec:
            kwargs["command"] = [expand(a, env) for a in spec["args"]]
        if spec.get("workingDir"):
            kwargs["working_dir"] = spec["workingDir"]
        if spec.get("resources"):
            kwargs.update(_limits(f"{where}.resources", spec["resources"]))

        security = {**{k: v for k, v in self.security.items() if k in ("runAsUser", "runAsGroup", "runAsNonRoot")}}
        own = spec.get("securityContext") or {}
        _reject_unknown(
            f"{where}.securityContext",
            own,
            {
                "privileged", "runAsUser", "runAsGroup", "runAsNonRoot", "allowPrivilegeEscalation",
                "readOnlyRootFilesystem", "capabilities", "seccompProfile", "appArmorProfile", "procMount",
            },
        )  # fmt: skip
        security.update(own)
        image_user = self.client.images.get(image).attrs["Config"].get("User") or ""
        if security.get("runAsUser") is not None:
            user = str(int(security["runAsUser"]))
            if security.get("runAsGroup") is not None:
                user += f":{int(security['runAsGroup'])}"
            kwargs["user"] = user
        elif security.get("runAsGroup") is not None:
            raise UnsupportedField(f"{where}: runAsGroup without runAsUser")
        if security.get("runAsNonRoot"):
            # kubelet's verifyRunAsNonRoot: runAsUser decides; else the image's user must be numeric and non-zero.
            if security.get("runAsUser") is not None:
                if int(security["runAsUser"]) == 0:
                    raise PodFailed(f"{where}: CreateContainerConfigError: runAsNonRoot and runAsUser 0")
            else:
                uid = image_user.split(":")[0]
                if not uid.isdigit():
                    reason = "will run as root" if uid in ("", "root") else f"has non-numeric user ({uid})"
                    raise PodFailed(
                        f"{where}: CreateContainerConfigError: container has runAsNonRoot and image {reason}"
                        + ("" if uid in ("", "root") else ", cannot verify user is non-root")
                    )
                if int(uid) == 0:
                    raise PodFailed(f"{where}: CreateContainerConfigError: runAsNonRoot and image will run as root")
        groups = [int(g) for g in self.security.get("supplementalGroups") or []]
        if self.security.get("fsGroup") is not None:
            groups.append(int(self.security["fsGroup"]))
        if groups:
            kwargs["group_add"] = [str(g) for g in dict.fromkeys(groups)]
        if security.get("allowPrivilegeEscalation") is False:
            kwargs["security_opt"] = ["no-new-privileges"]
        if security.get("readOnlyRootFilesystem"):
            kwargs["read_only"] = True
        caps = security.get("capabilities") or {}
        _reject_unknown(f"{where}.securityContext.capabilities", caps, {"add", "drop"})
        if caps.get("add"):
            kwargs["cap_add"] = list(caps["add"])
        if caps.get("drop"):
            kwargs["cap_drop"] = list(caps["drop"])

        mounts: list[Mount] = []
        for mount in spec.get("volumeMounts") or []:
            _reject_unknown(f"{where}.volumeMounts", mount, {"name", "mountPath", "readOnly"})
            if mount["name"] not in self._volumes:
                raise PodFailed(f"{where}: volumeMount {mount['name']!r} names no pod volume")
            volume = self._volumes[mount["name"]]
            read_only = bool(mount.get("readOnly")) or volume["read_only"]
            if volume.get("bind"):
                mounts.append(Mount(mount["mountPath"], volume["source"], type="bind", read_only=read_only))
            else:
                mounts.append(
                    Mount(mount["mountPath"], volume["source"], type="volume", read_only=read_only, no_copy=True)
                )
        state.host_config_extra = {}
        seccomp = security.get("seccompProfile")
        if seccomp:
            _reject_unknown(f"{where}.securityContext.seccompProfile", seccomp, {"type", "localhostProfile"})
            if seccomp["type"] == "Unconfined":
                kwargs.setdefault("security_opt", []).append("seccomp=unconfined")
            elif seccomp["type"] == "Localhost":
                profile = KUBELET_SECCOMP_PROFILES.get(seccomp.get("localhostProfile", ""))
                if profile is None:  # the kubelet: CreateContainerError, the profile is not on the node
                    raise PodFailed(
                        f"{where}: seccomp profile {seccomp.get('localhostProfile')!r} not found on the node"
                    )
                kwargs.setdefault("security_opt", []).append(f"seccomp={profile.read_text()}")
            elif seccomp["type"] != "RuntimeDefault":
                raise UnsupportedField(f"{where}.securityContext.seccompProfile.type {seccomp['type']!r}")
        apparmor = security.get("appArmorProfile")
        if apparmor:
            _reject_unknown(f"{where}.securityContext.appArmorProfile", apparmor, {"type", "localhostProfile"})
            if apparmor["type"] == "Unconfined":
                kwargs.setdefault("security_opt", []).append("apparmor=unconfined")
            elif apparmor["type"] != "RuntimeDefault":
                raise UnsupportedField(f"{where}.securityContext.appArmorProfile.type {apparmor['type']!r}")
        if security.get("procMount", "Default") == "Unmasked":
            if self.host_users:  # the API's validation
                raise PodFailed(f"{where}: securityContext.procMount: Unmasked requires hostUsers: false")
            state.host_config_extra = dict(engine.UNMASK_SYSTEM_PATHS)
        elif security.get("procMount", "Default") != "Default":
            raise UnsupportedField(f"{where}.securityContext.procMount {security['procMount']!r}")
        if security.get("privileged"):
            equivalent = engine.privileged_equivalent_host_config_kwargs(self.client, image)
            for key, value in equivalent.items():
                if key == "mounts":
                    mounts.extend(value)
                elif key == "sysctls":
                    # Pod-level in Kubernetes (the sandbox's netns); a container joining it may not set any.
                    # With unmasked /proc (below) a privileged dockerd turns forwarding on itself (as when privileged).
                    continue
                elif key in ("cap_add", "cap_drop", "security_opt"):
                    kwargs[key] = list(kwargs.get(key, [])) + list(value)
                else:
                    kwargs[key] = value
            state.host_config_extra = engine.privileged_equivalent_host_config_extra(self.client, image)
        kwargs["mounts"] = mounts
        state.create_kwargs = kwargs
        state.startup = self._probe_state(state, "startupProbe")
        state.readiness = self._probe_state(state, "readinessProbe")
        state.liveness = self._probe_state(state, "livenessProbe")

    def _probe_state(self, state: ContainerState, key: str) -> Optional[ProbeState]:
        probe = Probe.parse(f"container {state.name}.{key}", state.spec.get(key))
        return ProbeState(probe, 0.0) if probe else None

    def _launch(self, client: docker.DockerClient, state: ContainerState) -> None:
        kwargs = dict(state.create_kwargs)
        image = kwargs.pop("image")
        kwargs["name"] = f"{self.name}-{state.name}"
        try:  # a new container, like the kubelet's: fresh writable layer
            client.containers.get(kwargs["name"]).remove(force=True)
        except docker.errors.NotFound:
            pass
        try:
            ctr = engine.run_container(
                client, image, kwargs.pop("command", None), host_config_extra=state.host_config_extra, **kwargs
            )
        except docker.errors.APIError as error:  # the engine's reason, not only the HTTP status
            raise PodFailed(f"container {state.name}: the engine refused it: {error.explanation}") from error
        now = time.monotonic()
        with self._lock:
            state.docker_id = ctr.id
            state.started_at = now
            state.started = state.startup is None
            state.ready = False
            state.restart_at = None
            for probe in (state.startup, state.readiness, state.liveness):
                if probe is not None:
                    probe.failures = probe.successes = 0
                    probe.next_at = now + probe.probe.initial_delay
            if state.readiness is None and state.started:
                state.ready = True
        self.event(f"container {state.name} started" + (f" (restart {state.restarts})" if state.restarts else ""))

    def _remove(self, state: ContainerState, graceful: bool, client: Optional[docker.DockerClient] = None) -> None:
        client = client or self.client
        if state.docker_id is None:
            return
        try:
            ctr = client.containers.get(state.docker_id)
            if graceful and ctr.status == "running":
                ctr.stop(timeout=int(self.grace))
            state.previous_logs = ctr.logs(tail=60).decode(errors="replace")
            ctr.remove(force=True)
        except docker.errors.NotFound:
            pass
        with self._lock:
            state.docker_id = None
            state.started = state.ready = False

    def _run_probe(self, client: docker.DockerClient, state: ContainerState, probe: ProbeState) -> bool:
        ctr = client.containers.get(state.docker_id)
        try:
            code, output = engine.exec_run(ctr, probe.probe.command, timeout=probe.probe.timeout)
        except docker.errors.APIError as exc:
            code, output = -1, str(exc)
        # The kubelet's prober ticks every period, however long a probe took (a late tick runs at once).
        probe.next_at += probe.probe.period
        if code == 0:
            probe.successes += 1
            probe.failures = 0
        else:
            probe.failures += 1
            probe.successes = 0
            probe.last_output = output.strip()[-300:]
        return code == 0

    # --- the sync loop -----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        client = None
        try:
            # Its own connection to the same engine: the tests use theirs meanwhile.
            client = engine.client(timeout=300, base_url=engine.base_url_of(self.client))
            for state in self.containers:
                if state.kind == "main":
                    continue
                self._launch(client, state)
                while not self._stop.is_set():  # the next container waits for this init / sidecar
                    self._sync(client)
                    if (state.kind == "init" and state.completed) or (state.kind == "sidecar" and state.started):
                        break
                    time.sleep(TICK)
            for state in self.containers:
                if state.kind == "main" and not self._stop.is_set():
                    self._launch(client, state)
            while not self._stop.is_set():
                self._sync(client)
                time.sleep(TICK)
        except BaseException as exc:  # surfaced by wait_ready, with the events
            self._error = exc
            self.event(f"kubelet error: {exc!r}")
        finally:
            if client is not None:
                client.close()

    def _sync(self, client: docker.DockerClient) -> None:
        now = time.monotonic()
        for state in self.containers:
            if state.completed:
                continue
            if state.docker_id is None:
                if state.restart_at is not None and now >= state.restart_at:
                    self._launch(client, state)
                continue
            ctr = client.containers.get(state.docker_id)
            if ctr.status in ("exited", "dead"):
                code = ctr.attrs["State"]["ExitCode"]
                if state.kind == "init" and code == 0:
                    state.completed = True
                    self.event(f"init container {state.name} completed")
                    continue
                self.event(f"container {state.name} exited with code {code}; restarting (restartPolicy Always)")
                self._crashed(client, state)
                continue
            if not state.started:
                probe = state.startup
                assert probe is not None
                if now >= probe.next_at and self._run_probe(client, state, probe):
                    if probe.successes >= 1:  # startup probes need exactly one success
                        with self._lock:
                            state.started = True
                            if state.readiness is None:
                                state.ready = True
                        self.event(f"container {state.name} started (startupProbe passed)")
                elif probe.failures >= probe.probe.failure_threshold:
                    self._probe_kill(client, state, "Startup", probe)
                continue
            if state.liveness and now >= state.liveness.next_at:
                if not self._run_probe(client, state, state.liveness):
                    if state.liveness.failures >= state.liveness.probe.failure_threshold:
                        self._probe_kill(client, state, "Liveness", state.liveness)
                        continue
            if state.readiness and now >= state.readiness.next_at:
                ok = self._run_probe(client, state, state.readiness)
                with self._lock:
                    if ok and state.readiness.successes >= state.readiness.probe.success_threshold:
                        state.ready = True
                    elif not ok and state.readiness.failures >= state.readiness.probe.failure_threshold:
                        if state.ready:
                            self.event(f"container {state.name} not ready: readiness probe failed")
                        state.ready = False
        if self.ready_at is None and self.ready:
            self.ready_at = time.monotonic()
            self.event("pod Ready")
        elif self.ready_at is not None and not self.ready:
            self.ready_at = None
            self.event("pod not Ready")

    def _probe_kill(self, client: docker.DockerClient, state: ContainerState, kind: str, probe: ProbeState) -> None:
        output = probe.last_output
        self.event(
            f"{kind} probe failed {probe.failures} times (every {probe.probe.period:.0f}s) after "
            f"{time.monotonic() - state.started_at:.1f}s: {output}; killing container {state.name}"
        )
        self._remove(state, graceful=True, client=client)
        self._schedule_restart(state)

    def _crashed(self, client: docker.DockerClient, state: ContainerState) -> None:
        self._remove(state, graceful=False, client=client)
        self._schedule_restart(state)

    def _schedule_restart(self, state: ContainerState) -> None:
        delay = _backoff(state.restarts)
        state.restarts += 1
        state.restart_at = time.monotonic() + delay
        if delay:
            self.event(f"back-off {delay:.0f}s restarting container {state.name}")


def _secret_data(obj: dict) -> dict[str, bytes]:
    _reject_unknown(
        f"Secret {obj['metadata']['name']}", obj, {"apiVersion", "kind", "metadata", "type", "data", "stringData"}
    )
    data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
    return data


# --- the Deployment controller -------------------------------------------------------------------------------------


@dataclass
class Kube:
    """A one-node "cluster" on the engine: the object store, the Deployment controller and its pods."""

    client: docker.DockerClient
    cluster: Cluster = field(default_factory=Cluster)
    pods: dict[str, Pod] = field(default_factory=dict)
    """Deployment "<namespace>/<name>" -> its running pod."""
    grace_seconds: Optional[float] = None
    """Override of terminationGracePeriodSeconds (the images' `sleep infinity` ignores SIGTERM)."""

    def apply(self, program: Callable[[], Any], wait: bool = True, timeout: float = 300) -> dict[str, Pod]:
        """`pulumi up` of `program`, then the controller's rollout; waits for the new pods to be Ready."""
        mocks = ClusterMocks(self.cluster)
        record(program, mocks, project="docker-in-workspaces", stack="e2e-k8s")
        for key in [k for k in self.cluster.objects if k not in mocks.registered and k[0] != PVC]:
            del self.cluster.objects[key]  # deleted by `pulumi up`; PVCs are retained on delete
        started = []
        for manifest in self.cluster.of_type(DEPLOYMENT):
            pod = self._rollout(manifest)
            if pod is not None:
                started.append(pod)
        for key in [k for k in self.pods if (DEPLOYMENT, *k.split("/", 1)) not in self.cluster.objects]:
            self.pods.pop(key).delete()
        if wait:
            for pod in started:
                pod.wait_ready(timeout)
        return dict(self.pods)

    def _rollout(self, manifest: dict) -> Optional[Pod]:
        meta, spec = manifest["metadata"], manifest["spec"]
        _reject_unknown(f"Deployment {meta['name']}", spec, {"replicas", "selector", "strategy", "template"})
        if (spec.get("strategy") or {}).get("type") != "Recreate":
            raise UnsupportedField(f"Deployment {meta['name']}: strategy {spec.get('strategy')} (only Recreate)")
        namespace = meta.get("namespace", "default")
        key = f"{namespace}/{meta['name']}"
        template = spec["template"]
        _reject_unknown(f"Deployment {meta['name']}.template", template, {"metadata", "spec"})
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        current = self.pods.get(key)
        replicas = int(spec.get("replicas", 1))
        if replicas not in (0, 1):
            raise UnsupportedField(f"Deployment {meta['name']}: replicas {replicas}")
        if current is not None and (replicas == 0 or current.labels.get(HASH_LABEL) != digest):
            current.delete()  # Recreate: the old pod is gone before the new one starts
            del self.pods[key]
            current = None
        if replicas == 0 or current is not None:
            return None
        labels = {DEPLOYMENT_LABEL: key, HASH_LABEL: digest}
        pod = Pod(
            self.client,
            self.cluster,
            namespace,
            f"{meta['name']}-{digest}",
            template["spec"],
            labels,
            self.grace_seconds,
        )
        self.pods[key] = pod
        pod.start()
        return pod

    def pod(self, deployment: str, namespace: str = "workspaces") -> Pod:
        return self.pods[f"{namespace}/{deployment}"]

    def destroy(self) -> None:
        """Delete every pod, then the PVCs' volumes (test cleanup)."""
        for pod in self.pods.values():
            pod.delete()
        self.pods.clear()
        for namespace, claim in {(ns, name) for (t, ns, name) in self.cluster.objects if t == PVC}:
            try:
                self.client.volumes.get(f"k8s-{namespace}-{claim}").remove(force=True)
            except docker.errors.NotFound:
                pass
