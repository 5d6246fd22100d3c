"""Deploy the real components onto the private Docker engine.

`deploy(program)` runs the code `pulumi up` runs (the components) under Pulumi's
mocks, and the mocks create what the components register (Volume, RemoteImage,
Container) on the engine through the Docker SDK, field by field. A field this
module does not know fails the deployment loudly; it is never dropped.

Like the engine between two `pulumi up`s: a container whose inputs changed is
replaced (delete before replace, as the component asks), an unchanged one is
kept, a container the program no longer registers is deleted, and volumes are
kept (the components retain them on delete).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import engine
import pulumi
from docker.models.containers import _create_container_args
from docker.types import Mount

from components.recording import record, unwrap_secrets

VOLUME = "docker:index/volume:Volume"
IMAGE = "docker:index/remoteImage:RemoteImage"
CONTAINER = "docker:index/container:Container"
COMPONENT = "docker-in-workspaces:index:DockerHostWorkspace"

WORKSPACE_LABEL = "docker-in-workspaces.workspace"
HASH_LABEL = "diw.e2e.inputs-hash"
E2E_LABEL = "diw.e2e"

# Images the components ask for, mapped to the prepared ones: themselves where build.sh pulled the
# public images, the local builds otherwise (images.py has the role map). The public workspace image has
# dockerd but not the rootless extras: so has its local stand-in, diw-test/docker-only.
IMAGE_MAP = engine.SELECTION.stand_ins()


V2_IMAGE = "codercom/enterprise-base:v2"
"""A second workspace image (the `v2_image` fixture builds it and maps it in IMAGE_MAP): an image change."""


class UnsupportedInput(AssertionError):
    """The components used a field this harness cannot reproduce on the engine."""


_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")


def _nanoseconds(text: str) -> int:
    match = _DURATION.match(text)
    if not match:
        raise UnsupportedInput(f"duration {text!r}")
    value, unit = int(match.group(1)), match.group(2)
    return value * {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}[unit]


def _tar(path: str, content: str, executable: bool) -> tuple[str, bytes]:
    directory, _, filename = path.rpartition("/")
    data = content.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(filename)
        info.size = len(data)
        info.mode = 0o755 if executable else 0o644
        archive.addfile(info, io.BytesIO(data))
    return directory or "/", buffer.getvalue()


@dataclass
class EngineMocks(pulumi.runtime.Mocks):
    client: docker.DockerClient
    notes: list[str] = field(default_factory=list)
    containers: dict[str, str] = field(default_factory=dict)
    """Registered container name -> id, in this deployment."""
    timings: dict[str, float] = field(default_factory=dict)
    """Container name -> seconds from start to healthy (daemon containers)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = unwrap_secrets(args.inputs)
        if not args.custom:  # a component: nothing on the engine
            return [f"{args.name}-component", {}]
        handlers: dict[str, Callable[[str, dict], tuple[str, dict]]] = {
            VOLUME: self._volume,
            IMAGE: self._image,
            CONTAINER: self._container,
        }
        if args.typ not in handlers:
            raise UnsupportedInput(f"resource type {args.typ} ({args.name})")
        resource_id, outputs = handlers[args.typ](args.name, inputs)
        return [resource_id, {**inputs, **outputs}]

    def call(self, args: pulumi.runtime.MockCallArgs):
        raise UnsupportedInput(f"invoke {args.token}")

    # --- resources -----------------------------------------------------------

    def _volume(self, name: str, inputs: dict) -> tuple[str, dict]:
        _reject_unknown("Volume", inputs, {"name", "labels"})
        labels = {item["label"]: item["value"] for item in inputs.get("labels", [])}
        labels[E2E_LABEL] = "1"
        try:
            volume = self.client.volumes.get(inputs["name"])
        except docker.errors.NotFound:
            volume = self.client.volumes.create(name=inputs["name"], labels=labels)
        return volume.name, {"mountpoint": volume.attrs.get("Mountpoint", "")}

    def _image(self, name: str, inputs: dict) -> tuple[str, dict]:
        _reject_unknown("RemoteImage", inputs, {"name", "keepLocally"})
        requested = inputs["name"]
        if requested not in IMAGE_MAP:
            raise UnsupportedInput(f"image {requested!r} has no prepared stand-in (IMAGE_MAP, from images.py)")
        image = self.client.images.get(IMAGE_MAP[requested])
        return image.id, {"imageId": image.id, "repoDigest": ""}

    def _container(self, name: str, inputs: dict) -> tuple[str, dict]:
        known = {
            "name", "image", "entrypoints", "command", "envs", "privileged", "runtime", "user", "groupAdds",
            "mounts", "uploads", "healthcheck", "wait", "waitTimeout", "networkMode", "restart", "mustRun", "labels",
            "init", "hosts", "attach", "logs", "securityOpts", "devices", "capabilities",
        }  # fmt: skip
        _reject_unknown("Container", inputs, known)
        digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
        physical = inputs["name"]
        try:
            existing = self.client.containers.get(physical)
        except docker.errors.NotFound:
            existing = None
        if existing is not None and existing.labels.get(HASH_LABEL) == digest:
            self.containers[physical] = existing.id
            return existing.id, self._attached_outputs(existing, inputs)
        if existing is not None:  # changed inputs: replace, deleting first (fixed name)
            existing.remove(force=True)
        container = self._create(inputs, digest)
        self.containers[physical] = container.id
        return container.id, self._attached_outputs(container, inputs)

    @staticmethod
    def _attached_outputs(container, inputs: dict) -> dict:
        """`attach` (the provider waits for the exit): `exitCode`, and with `logs` the output as `containerLogs`."""
        if not inputs.get("attach"):
            return {}
        container.reload()
        outputs: dict[str, Any] = {"exitCode": container.attrs["State"]["ExitCode"]}
        if inputs.get("logs"):
            outputs["containerLogs"] = container.logs().decode(errors="replace")
        return outputs

    def _create(self, inputs: dict, digest: str):
        labels = {item["label"]: item["value"] for item in inputs.get("labels", [])}
        labels.update({HASH_LABEL: digest, E2E_LABEL: "1"})
        kwargs: dict[str, Any] = {
            "name": inputs["name"],
            "labels": labels,
            "environment": list(inputs.get("envs", [])),
            "detach": True,
        }
        if "entrypoints" in inputs:
            kwargs["entrypoint"] = inputs["entrypoints"]
        if inputs.get("user"):
            kwargs["user"] = inputs["user"]
        if inputs.get("groupAdds"):
            kwargs["group_add"] = inputs["groupAdds"]
        if inputs.get("networkMode"):
            kwargs["network_mode"] = inputs["networkMode"]
        if inputs.get("hosts"):
            for host in inputs["hosts"]:
                _reject_unknown("host", host, {"host", "ip"})
            kwargs["extra_hosts"] = {h["host"]: h["ip"] for h in inputs["hosts"]}
        if inputs.get("init"):
            kwargs["init"] = True
        if inputs.get("restart"):
            kwargs["restart_policy"] = {"Name": inputs["restart"]}
        if inputs.get("runtime"):
            runtimes = self.client.info().get("Runtimes", {})
            if inputs["runtime"] not in runtimes:
                raise UnsupportedInput(f"runtime {inputs['runtime']!r} is not installed on this engine")
            kwargs["runtime"] = inputs["runtime"]
        if inputs.get("securityOpts"):
            kwargs["security_opt"] = list(inputs["securityOpts"])
        if inputs.get("devices"):
            for device in inputs["devices"]:
                _reject_unknown("device", device, {"hostPath", "containerPath", "permissions"})
            kwargs["devices"] = [
                f"{d['hostPath']}:{d.get('containerPath', d['hostPath'])}:{d.get('permissions', 'rwm')}"
                for d in inputs["devices"]
            ]
        if inputs.get("capabilities"):
            _reject_unknown("capabilities", inputs["capabilities"], {"adds", "drops"})
            if inputs["capabilities"].get("adds"):
                kwargs["cap_add"] = list(inputs["capabilities"]["adds"])
            if inputs["capabilities"].get("drops"):
                kwargs["cap_drop"] = list(inputs["capabilities"]["drops"])
        mounts = []
        for mount in inputs.get("mounts", []):
            _reject_unknown("mount", mount, {"type", "source", "target", "readOnly"})
            source = mount["source"]
            if mount["type"] == "bind" and source == "/var/run/docker.sock":
                # The host's socket here is the private engine's.
                source = str(engine.socket_path())
            mounts.append(Mount(mount["target"], source, type=mount["type"], read_only=mount.get("readOnly", False)))
        host_config_extra: dict[str, Any] = {}
        if inputs.get("privileged"):
            equivalent = engine.privileged_equivalent_host_config_kwargs(self.client)
            if "privileged" not in equivalent:
                self.notes.append(f"{inputs['name']}: privileged replaced by its closest equivalent on this kernel")
            for key, value in equivalent.items():
                if key == "mounts":
                    mounts.extend(value)
                elif key in ("security_opt", "devices", "cap_add", "cap_drop"):
                    kwargs[key] = list(kwargs.get(key, [])) + list(value)
                else:
                    kwargs[key] = value
            host_config_extra = engine.privileged_equivalent_host_config_extra(self.client)
        kwargs["mounts"] = mounts
        healthcheck = inputs.get("healthcheck")
        start_interval = None
        if healthcheck:
            _reject_unknown(
                "healthcheck", healthcheck, {"tests", "interval", "timeout", "retries", "startPeriod", "startInterval"}
            )
            kwargs["healthcheck"] = {
                "test": healthcheck["tests"],
                "interval": _nanoseconds(healthcheck.get("interval", "30s")),
                "timeout": _nanoseconds(healthcheck.get("timeout", "30s")),
                "retries": int(healthcheck.get("retries", 3)),  # Pulumi numbers arrive as floats
                "start_period": _nanoseconds(healthcheck.get("startPeriod", "0s")),
            }
            if "startInterval" in healthcheck:
                start_interval = _nanoseconds(healthcheck["startInterval"])
        kwargs.update(image=inputs["image"], command=inputs.get("command") or None, version=self.client.api._version)
        create_kwargs = _create_container_args(kwargs)
        create_kwargs["host_config"].update(host_config_extra)
        if start_interval is not None:
            create_kwargs["healthcheck"]["StartInterval"] = start_interval  # API >= 1.44; older engines ignore it
        response = self.client.api.create_container(**create_kwargs)
        container = self.client.containers.get(response["Id"])
        for upload in inputs.get("uploads", []):
            _reject_unknown("upload", upload, {"file", "content", "executable"})
            directory, archive = _tar(upload["file"], upload["content"], upload.get("executable", False))
            self._put(container, directory, archive)
        if inputs.get("attach"):
            if inputs.get("mustRun", True):
                raise UnsupportedInput("attach with mustRun: the provider fails on any exit; never asked for")
            container.start()
            container.wait(timeout=120)
        elif inputs.get("mustRun", True):
            started = time.monotonic()
            container.start()
            if healthcheck and inputs.get("wait"):
                # What `pulumi up` waits for, measured by polling the healthcheck's own command: the engine's
                # health status only changes every `interval` on engines without StartInterval.
                self.timings[inputs["name"]] = self._time_to_ready(container, healthcheck["tests"][1:], started)
            if inputs.get("wait"):
                self._wait_healthy(container, int(inputs.get("waitTimeout", 60)))
        return container

    @staticmethod
    def _time_to_ready(container, command: list[str], started: float, timeout: float = 180) -> float:
        while time.monotonic() - started < timeout:
            container.reload()
            if container.status == "running":
                code, _ = engine.exec_run(container, command, user=container.attrs["Config"]["User"], timeout=15)
                if code == 0:
                    return time.monotonic() - started
            elif container.status in ("exited", "dead"):
                break
            time.sleep(0.2)
        logs = container.logs(tail=60).decode(errors="replace")
        raise TimeoutError(f"{container.name}: `{' '.join(command)}` never succeeded\n{logs}")

    @staticmethod
    def _put(container, directory: str, archive: bytes) -> None:
        # put_archive needs the directory to exist: create its path first.
        parts = [p for p in directory.strip("/").split("/") if p]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for depth in range(1, len(parts) + 1):
                info = tarfile.TarInfo("/".join(parts[:depth]))
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
        container.put_archive("/", buffer.getvalue())
        container.put_archive(directory, archive)

    @staticmethod
    def _wait_healthy(container, timeout: int) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            container.reload()
            state = container.attrs["State"]
            health = state.get("Health", {}).get("Status")
            if health == "healthy":
                return
            if state["Status"] in ("exited", "dead") and container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "no":
                break
            time.sleep(0.5)
        logs = container.logs(tail=60).decode(errors="replace")
        raise TimeoutError(f"{container.name} not healthy after {timeout}s (state {container.attrs['State']})\n{logs}")


def _reject_unknown(kind: str, inputs: dict, known: set[str]) -> None:
    unknown = set(inputs) - known
    if unknown:
        raise UnsupportedInput(f"{kind} fields this harness does not reproduce: {sorted(unknown)}")


@dataclass
class Deployment:
    mocks: EngineMocks
    value: Any


def deploy(client: docker.DockerClient, program: Callable[[], Any], workspaces: list[str]) -> Deployment:
    """Run `program` (it builds components) under engine-backed mocks, then delete the
    containers of `workspaces` that it no longer registers, as `pulumi up` would."""
    mocks = EngineMocks(client)
    recording = record(program, mocks, project="docker-in-workspaces", stack="e2e")
    for workspace in workspaces:
        for container in client.containers.list(all=True, filters={"label": f"{WORKSPACE_LABEL}={workspace}"}):
            if mocks.containers.get(container.name) != container.id:
                container.remove(force=True)
    return Deployment(mocks, recording.value)


def destroy(client: docker.DockerClient, workspaces: list[str]) -> None:
    """Remove the workspaces' containers and volumes (test cleanup)."""
    for workspace in workspaces:
        label = f"{WORKSPACE_LABEL}={workspace}"
        for container in client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for volume in client.volumes.list(filters={"label": label}):
            volume.remove(force=True)
