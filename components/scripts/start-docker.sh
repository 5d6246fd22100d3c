#!/bin/sh
# start-docker.sh: start the workspace's Docker daemon (or wait for a sidecar's),
# wait until `docker info` answers, then exec the workload given as arguments.
# With no workload, it stays in the foreground as long as dockerd runs (sidecars).
#
#   start-docker.sh --check   only check that this image and these volumes can run the
#                             mode (binaries, socket access, data-root owner); exit 0 or 3
#
# Before it starts, it checks the same (exit 3 with what is missing). A data root is
# used by one daemon at a time (flock on a file in it): a daemon that finds it in use
# (a strategy switch, from a daemon in another container) asks the holder to hand over
# and waits; a daemon without a workload (a sidecar) that is asked stops and idles.
#
# Knobs (environment):
#   DIW_DOCKERD_MODE          rootful | rootless | podman | wait | none   (default: rootful)
#                             podman: rootless Podman's Docker-compatible API service
#                             (`podman system service`) as this user, instead of dockerd.
#                             wait: another container runs the daemon; wait for it.
#                             none: no daemon to wait for (host socket); exec at once.
#   DOCKER_HOST               unix:// socket dockerd listens on and clients use
#                             (default: /var/run/docker.sock, rootless $XDG_RUNTIME_DIR/docker.sock,
#                             podman $XDG_RUNTIME_DIR/podman/podman.sock)
#   DIW_DOCKERD_DATA_ROOT     dockerd --data-root (default: /var/lib/docker,
#                             rootless ~/.local/share/docker); podman: its storage and volumes
#                             (default: ~/.local/share/containers)
#   CONTAINERS_CONF, CONTAINERS_STORAGE_CONF  podman: where this script writes Podman's
#                             configuration for an unprivileged container (default: under
#                             $XDG_RUNTIME_DIR/docker-in-workspaces); set them in the workspace's
#                             environment so that every `podman` reads the same
#   DIW_DOCKERD_MTU           dockerd --mtu (default: the MTU of DIW_DOCKERD_MTU_FROM)
#   DIW_DOCKERD_MTU_FROM      interface whose MTU is the default (default: eth0)
#   DIW_DOCKERD_GROUP         dockerd --group, the GID owning the socket (rootful only)
#   DIW_DOCKERD_ADDRESS_POOL  dockerd --default-address-pool, e.g. base=10.201.0.0/16,size=24
#   DIW_DOCKERD_TIMEOUT       seconds to wait for `docker info` (default: 120)
#   DIW_DOCKERD_LOG           daemon log (default: /var/log/dockerd.log as root,
#                             else $XDG_RUNTIME_DIR or /tmp)
#   DIW_SUBUID_FILE           where rootless mode looks for the user's subordinate ids
#                             (default: /etc/subuid)
#   DIW_CGROUP_ROOT           the container's cgroup v2 mount (default: /sys/fs/cgroup) and
#   DIW_CGROUP_SELF           this process's cgroup file (default: /proc/self/cgroup)
# Values are passed to dockerd as single arguments, never evaluated by the shell.
set -eu

log() { printf 'start-docker: %s\n' "$*" >&2; }
fail() { log "$*"; exit 2; }

check_only=
if [ "${1:-}" = --check ]; then check_only=1; shift; fi

mode=${DIW_DOCKERD_MODE:-rootful}
timeout=${DIW_DOCKERD_TIMEOUT:-120}

case $mode in rootful|rootless|podman|wait|none) ;; *) fail "DIW_DOCKERD_MODE must be rootful, rootless, podman, wait or none, got '$mode'" ;; esac
case $timeout in ''|*[!0-9]*) fail "DIW_DOCKERD_TIMEOUT must be whole seconds, got '$timeout'" ;; esac

if [ "$mode" = rootless ]; then
  : "${XDG_RUNTIME_DIR:=/run/user/$(id -u)}"
  export XDG_RUNTIME_DIR
  default_socket=$XDG_RUNTIME_DIR/docker.sock
  data_root=${DIW_DOCKERD_DATA_ROOT:-$HOME/.local/share/docker}
elif [ "$mode" = podman ]; then
  : "${XDG_RUNTIME_DIR:=/run/user/$(id -u)}"
  export XDG_RUNTIME_DIR
  default_socket=$XDG_RUNTIME_DIR/podman/podman.sock
  data_root=${DIW_DOCKERD_DATA_ROOT:-$HOME/.local/share/containers}
else
  default_socket=/var/run/docker.sock
  data_root=${DIW_DOCKERD_DATA_ROOT:-/var/lib/docker}
fi
case ${DOCKER_HOST:=unix://$default_socket} in
  unix://*) socket=${DOCKER_HOST#unix://} ;;
  *) fail "DOCKER_HOST must be a unix:// socket, got '$DOCKER_HOST'" ;;
esac
export DOCKER_HOST

can_sudo() { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }

rootless_launcher() {
  for candidate in dockerd-rootless.sh /usr/share/docker.io/contrib/dockerd-rootless.sh; do
    if command -v "$candidate" >/dev/null 2>&1; then echo "$candidate"; return 0; fi
  done
  return 1
}

# The uid owning the data root's content (empty: a fresh one). A data root this user cannot even
# enter is someone else's: its owner counts.
data_owner() {
  if [ "$mode" = rootful ] && [ "$(id -u)" != 0 ] && can_sudo; then
    sudo -n stat -c %u "$data_root/image" 2>/dev/null || true
  elif [ -d "$data_root" ] && [ ! -x "$data_root" ]; then
    stat -c %u "$data_root"
  else
    stat -c %u "$data_root/image" 2>/dev/null || true
  fi
}

# What this image and these mounts lack for $mode, one line each (nothing: ready to go).
missing() {
  case $mode in
    rootful|rootless)
      command -v dockerd >/dev/null 2>&1 || echo "dockerd (install docker-ce or docker.io in the image)"
      ;;
  esac
  case $mode in
    rootful)
      if [ "$(id -u)" != 0 ] && ! can_sudo; then
        echo "root: rootful dockerd needs uid 0 or passwordless sudo, this runs as uid $(id -u)"
      fi
      owner=$(data_owner)
      if [ -n "$owner" ] && [ "$owner" != 0 ]; then
        echo "a data root of its own: $data_root holds a rootless daemon's data (owner uid $owner), which a rootful daemon cannot take over; switch back to dind-rootless, or remove that volume to start with an empty daemon"
      fi
      ;;
    podman)
      command -v podman >/dev/null 2>&1 || echo "podman (the podman package)"
      command -v crun >/dev/null 2>&1 || command -v runc >/dev/null 2>&1 || echo "an OCI runtime: crun or runc"
      for tool in newuidmap newgidmap; do
        command -v "$tool" >/dev/null 2>&1 || echo "$tool (the uidmap package, with file capabilities cap_setuid/cap_setgid rather than the setuid bit)"
      done
      command -v slirp4netns >/dev/null 2>&1 || command -v pasta >/dev/null 2>&1 || echo "a user-mode network: slirp4netns or pasta"
      subuid=${DIW_SUBUID_FILE:-/etc/subuid}
      user=$(id -un 2>/dev/null || id -u)
      if ! grep -q -e "^$user:" -e "^$(id -u):" "$subuid" 2>/dev/null; then
        echo "subordinate ids: no entry for $user in $subuid (e.g. $user:1001:64535)"
      fi
      [ "$(id -u)" != 0 ] || echo "a non-root user: rootless Podman runs as the workspace's user, this runs as root"
      ;;
    rootless)
      rootless_launcher >/dev/null || echo "dockerd-rootless.sh (docker-ce-rootless-extras, or Debian's docker.io contrib script)"
      command -v rootlesskit >/dev/null 2>&1 || echo "rootlesskit (docker-ce-rootless-extras or the rootlesskit package)"
      for tool in newuidmap newgidmap; do
        command -v "$tool" >/dev/null 2>&1 || echo "$tool (the uidmap package)"
      done
      command -v ip >/dev/null 2>&1 || echo "ip (iproute2)"
      if ! command -v slirp4netns >/dev/null 2>&1 && ! command -v vpnkit >/dev/null 2>&1 \
        && ! command -v pasta >/dev/null 2>&1; then
        echo "a user-mode network: slirp4netns, vpnkit or pasta"
      fi
      subuid=${DIW_SUBUID_FILE:-/etc/subuid}
      user=$(id -un 2>/dev/null || id -u)
      if ! grep -q -e "^$user:" -e "^$(id -u):" "$subuid" 2>/dev/null; then
        echo "subordinate ids: no entry for $user in $subuid (e.g. $user:100000:65536)"
      fi
      owner=$(data_owner)
      if [ -n "$owner" ] && [ "$owner" != "$(id -u)" ]; then
        echo "a data root of its own: $data_root holds a rootful daemon's data (owner uid $owner), which rootless dockerd (uid $(id -u)) cannot use; switch back to dind or dind-sidecar, or remove that volume to start with an empty daemon"
      fi
      ;;
    none)
      if [ ! -S "$socket" ]; then
        echo "the host's Docker socket at $socket (is it mounted? does the host run dockerd?)"
      elif [ ! -w "$socket" ] || [ ! -r "$socket" ]; then
        echo "access to $socket: it belongs to group $(stat -c %g "$socket"), this user ($(id -u)) is in groups $(id -G); set dockerSocketGid (docker_socket_gid) to $(stat -c %g "$socket")"
      fi
      ;;
    wait)
      command -v docker >/dev/null 2>&1 || echo "the docker CLI (this workspace talks to another container's daemon through it)"
      ;;
  esac
}

problems=$(missing)
if [ -n "$problems" ]; then
  log "this image cannot run Docker in mode $mode; it lacks:"
  printf '%s\n' "$problems" | sed 's/^/  - /' >&2
  exit 3
fi
if [ -n "$check_only" ]; then
  log "ok: this image can run Docker in mode $mode"
  exit 0
fi

if [ "$mode" = none ]; then
  [ $# -gt 0 ] || fail "mode none needs a workload to exec"
  exec "$@"
fi

docker_ready() {
  if command -v docker >/dev/null 2>&1; then
    docker info >/dev/null 2>&1
  else  # a workspace image without the CLI: the socket is the best sign we have
    [ -S "$socket" ]
  fi
}

daemon_pid=
daemon_log=
workload_given=$#

# Alive and not a zombie (works for processes we may not signal, e.g. under sudo).
daemon_alive() {
  [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}

# Starts "$@" in the background, logging to $daemon_log; sets daemon_pid. With a
# workload to exec, the daemon is detached from this shell (reparented to PID 1, the
# container's init, which reaps it if it dies); without one, it stays our child so
# that we can wait for it.
spawn() {
  if [ "$workload_given" -gt 0 ]; then
    daemon_pid=$( (nohup "$@" >>"$daemon_log" 2>&1 </dev/null & echo $!) )
  else
    nohup "$@" >>"$daemon_log" 2>&1 </dev/null &
    daemon_pid=$!
  fi
}

# Waits until docker_ready, at most $timeout seconds; on failure prints the log tail.
wait_ready() {
  waited=0
  until docker_ready; do
    if [ -n "$daemon_pid" ] && ! daemon_alive "$daemon_pid"; then
      log "dockerd exited before it was ready; last lines of $daemon_log:"
      tail -n 40 "$daemon_log" >&2 2>/dev/null || true
      exit 1
    fi
    if [ "$waited" -ge "$timeout" ]; then
      log "Docker at $DOCKER_HOST not ready after ${timeout}s"
      if [ -n "$daemon_log" ]; then
        log "last lines of $daemon_log:"
        tail -n 40 "$daemon_log" >&2 2>/dev/null || true
      fi
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "Docker is ready at $DOCKER_HOST after ${waited}s"
}

# cgroup v2 with a private cgroup namespace: the container's processes sit in the root of its
# cgroup tree, where no controller can be delegated to child cgroups ("no internal processes"). Move
# them to a child and enable every controller for the subtree, so that nested containers get
# cgroups with controllers (what docker-library's dind entrypoint does too).
nest_cgroup_v2() {
  root=${DIW_CGROUP_ROOT:-/sys/fs/cgroup}
  [ -f "$root/cgroup.controllers" ] || return 0  # cgroup v1: nothing to do
  # Only in a cgroup namespace of its own: with the host's, this root would be the host's.
  grep -qx '0::/' "${DIW_CGROUP_SELF:-/proc/self/cgroup}" 2>/dev/null || return 0
  $as_root test -w "$root/cgroup.subtree_control" || return 0
  $as_root mkdir -p "$root/init"
  while read -r pid; do
    echo "$pid" | $as_root tee "$root/init/cgroup.procs" >/dev/null 2>&1 || true
  done <"$root/cgroup.procs"
  controllers=$(sed -e 's/^/+/' -e 's/ / +/g' "$root/cgroup.controllers")
  if [ -n "$controllers" ]; then
    echo "$controllers" | $as_root tee "$root/cgroup.subtree_control" >/dev/null 2>&1 \
      || log "could not delegate cgroup controllers ($controllers) to nested containers"
  fi
}

lockfile=$data_root/.docker-in-workspaces.lock
handover=$data_root/.docker-in-workspaces.handover
locked=

# One daemon per data root: sets $locked when dockerd is to run under `flock -n "$lockfile"`.
lock_data_root() {
  if ! command -v flock >/dev/null 2>&1; then
    log "no flock in this image: a second daemon on $data_root (a strategy switch) is not kept out"
    return 0
  fi
  $as_root mkdir -p "$data_root" && $as_root touch "$lockfile" || fail "cannot create $lockfile"
  if ! $as_root flock -n "$lockfile" true; then
    log "another daemon uses $data_root (a strategy switch?); asking it to hand over"
    $as_root touch "$handover"
    waited=0
    until $as_root flock -n "$lockfile" true; do
      [ "$waited" -lt "$timeout" ] || { log "$data_root still in use after ${timeout}s"; exit 1; }
      sleep 1
      waited=$((waited + 1))
    done
    log "$data_root handed over after ${waited}s"
  fi
  $as_root rm -f "$handover"
  locked=1
}

# Makes directory $1 exist and belong to this user. A fresh volume's mount point, or
# /run/user/<uid>, is root's: fix it with passwordless sudo when the image has it.
own_dir() {
  mkdir -p "$1" 2>/dev/null || true
  # Owned, not only writable: a Kubernetes volume with fsGroup is group-writable but root's, and
  # rootless dockerd (root of its user namespace) cannot chmod a data root it does not own.
  if { [ ! -w "$1" ] || [ ! -O "$1" ]; } && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n mkdir -p "$1" && sudo -n chown "$(id -u):$(id -g)" "$1"
  fi
  [ -w "$1" ] || fail "$1 is not writable by uid $(id -u); make it the user's in the image, or allow passwordless sudo"
  chmod "$2" "$1" 2>/dev/null || true
}

# Podman's settings for a container that is not privileged (tests/e2e/FINDINGS.md, issue 13): the
# container's /proc/sys is read-only (no default sysctls), a new procfs cannot be mounted over the
# masked /proc (nested containers share this one, and its pid namespace), no systemd (cgroupfs,
# events to a file).
write_podman_config() {
  conf_dir=$XDG_RUNTIME_DIR/docker-in-workspaces
  : "${CONTAINERS_CONF:=$conf_dir/containers.conf}" "${CONTAINERS_STORAGE_CONF:=$conf_dir/storage.conf}"
  export CONTAINERS_CONF CONTAINERS_STORAGE_CONF
  mkdir -p "$(dirname "$CONTAINERS_CONF")" "$(dirname "$CONTAINERS_STORAGE_CONF")"
  runtime=crun
  command -v crun >/dev/null 2>&1 || runtime=runc
  cat >"$CONTAINERS_CONF" <<EOF
# Written by start-docker.sh (docker-in-workspaces) at every start.
[containers]
default_sysctls = []
pidns = "host"
volumes = ["/proc:/proc"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "$runtime"
EOF
  # overlay, not vfs (Podman 4.3 picks vfs otherwise): native rootless overlay, kernel >= 5.13.
  cat >"$CONTAINERS_STORAGE_CONF" <<EOF
# Written by start-docker.sh (docker-in-workspaces) at every start.
[storage]
driver = "overlay"
graphroot = "$data_root/storage"
runroot = "$XDG_RUNTIME_DIR/containers"
EOF
}

start_podman() {
  daemon_log=${DIW_DOCKERD_LOG:-$XDG_RUNTIME_DIR/podman.log}
  own_dir "$XDG_RUNTIME_DIR" 700
  own_dir "$data_root" 700
  mkdir -p "$(dirname "$socket")"
  rm -f "$socket"  # a socket left by the previous container would look ready
  write_podman_config
  as_root=
  pidfile=  # stop_daemon signals the service through its parent
  lock_data_root
  set -- podman system service --time=0 "unix://$socket"
  log "starting rootless Podman's Docker API: $*"
  if [ -n "$locked" ]; then set -- flock -n "$lockfile" "$@"; fi
  spawn "$@"
}

start_daemon() {
  if [ "$mode" = podman ]; then start_podman; return; fi
  mtu=${DIW_DOCKERD_MTU:-}
  if [ -z "$mtu" ]; then
    mtu=$(cat "/sys/class/net/${DIW_DOCKERD_MTU_FROM:-eth0}/mtu" 2>/dev/null || true)
  fi
  case $mtu in *[!0-9]*) fail "DIW_DOCKERD_MTU must be a number, got '$mtu'" ;; esac
  group=${DIW_DOCKERD_GROUP:-}
  case $group in *[!0-9]*) fail "DIW_DOCKERD_GROUP must be a numeric GID, got '$group'" ;; esac

  # Build dockerd's arguments in this function's own positional parameters.
  set -- --host="$DOCKER_HOST"
  [ -n "${DIW_DOCKERD_DATA_ROOT:-}" ] && set -- "$@" --data-root="$DIW_DOCKERD_DATA_ROOT"
  [ -n "$mtu" ] && set -- "$@" --mtu="$mtu"
  [ -n "${DIW_DOCKERD_ADDRESS_POOL:-}" ] && set -- "$@" --default-address-pool="$DIW_DOCKERD_ADDRESS_POOL"

  if [ "$mode" = rootless ]; then
    daemon_log=${DIW_DOCKERD_LOG:-$XDG_RUNTIME_DIR/dockerd.log}
    own_dir "$XDG_RUNTIME_DIR" 700
    own_dir "$data_root" 710
    launcher=$(rootless_launcher)
    pidfile=$XDG_RUNTIME_DIR/docker.pid
    as_root=
    lock_data_root
    log "starting rootless dockerd: $launcher $*"
    if [ -n "$locked" ]; then set -- flock -n "$lockfile" "$launcher" "$@"; else set -- "$launcher" "$@"; fi
    spawn "$@"
  else
    [ -n "$group" ] && set -- "$@" --group="$group"
    # The pid file beside the socket: everything this script touches follows DOCKER_HOST.
    pidfile="$(dirname "$socket")/docker.pid"
    set -- "$@" --pidfile="$pidfile"
    if [ "$(id -u)" = 0 ]; then
      daemon_log=${DIW_DOCKERD_LOG:-/var/log/dockerd.log}
      as_root=
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      daemon_log=${DIW_DOCKERD_LOG:-${XDG_RUNTIME_DIR:-/tmp}/dockerd.log}
      as_root="sudo -n"
    else
      fail "rootful dockerd needs root (or passwordless sudo); running as uid $(id -u)"
    fi
    mkdir -p "$(dirname "$daemon_log")" 2>/dev/null || true
    # No dockerd runs when its container starts: a pid file left by a crash is stale. So is the one of
    # the containerd that dockerd starts (in its exec root, the container's own /var/run): its PID may
    # belong to another process of the restarted container, and dockerd then waits for a containerd
    # that is not there ("timeout waiting for containerd to start", 15 s or more per try).
    # shellcheck disable=SC2086
    $as_root rm -f "$pidfile" /var/run/docker/containerd/containerd.pid
    nest_cgroup_v2
    # shellcheck disable=SC2086 # as_root is empty or the two words "sudo -n"
    $as_root mkdir -p "$(dirname "$socket")" >/dev/null 2>&1 || true
    lock_data_root
    log "starting dockerd $*"
    if [ -n "$locked" ]; then set -- flock -n "$lockfile" dockerd "$@"; else set -- dockerd "$@"; fi
    # shellcheck disable=SC2086 # as_root is empty or the two words "sudo -n"
    spawn $as_root "$@"
  fi
}

if [ "$mode" = wait ]; then
  wait_ready
else
  start_daemon
  wait_ready
fi

if [ $# -gt 0 ]; then
  exec "$@"
fi
if [ -z "$daemon_pid" ]; then
  fail "nothing to run: give a workload to exec"
fi
# No workload: this container is the daemon. Forward stop signals; exit with dockerd.
# dockerd itself gets the signal (its pid file), not the flock or sudo in front of it.
stop_daemon() {
  pid=$(cat "$pidfile" 2>/dev/null || true)
  # shellcheck disable=SC2086
  if [ -n "$pid" ] && $as_root kill -TERM "$pid" 2>/dev/null; then return 0; fi
  # Else the process behind the flock (or sudo) that started it; the flock itself when there is none.
  pkill -TERM -P "$daemon_pid" 2>/dev/null || kill -TERM "$daemon_pid" 2>/dev/null || true
}
stopping=
trap 'stopping=1; stop_daemon' TERM INT
while daemon_alive "$daemon_pid" && [ -z "$stopping" ]; do
  if [ -e "$handover" ]; then
    log "another daemon asks for $data_root (a strategy switch): stopping dockerd to hand it over"
    stop_daemon
    status=0
    wait "$daemon_pid" || status=$?
    log "dockerd exited with status $status; $data_root handed over, this container idles until it is removed"
    trap - TERM INT
    exec sleep infinity
  fi
  sleep 1 &
  wait $! || true  # interruptible by the trap
done
status=0
wait "$daemon_pid" || status=$?
# A trapped signal interrupts `wait`; wait again for dockerd's own exit status.
if [ -n "$stopping" ]; then
  status=0
  wait "$daemon_pid" || status=$?
fi
log "dockerd exited with status $status"
exit "$status"
