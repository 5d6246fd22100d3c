#!/bin/sh
# start-docker.sh: start the workspace's Docker daemon (or wait for a sidecar's),
# wait until `docker info` answers, then exec the workload given as arguments.
# With no workload, it stays in the foreground as long as dockerd runs (sidecars).
#
# Knobs (environment):
#   DIW_DOCKERD_MODE          rootful | rootless | wait | none        (default: rootful)
#                             wait: another container runs the daemon; wait for it.
#                             none: no daemon to wait for (host socket); exec at once.
#   DOCKER_HOST               unix:// socket dockerd listens on and clients use
#                             (default: /var/run/docker.sock, rootless $XDG_RUNTIME_DIR/docker.sock)
#   DIW_DOCKERD_DATA_ROOT     dockerd --data-root (default: /var/lib/docker,
#                             rootless ~/.local/share/docker)
#   DIW_DOCKERD_MTU           dockerd --mtu (default: the MTU of DIW_DOCKERD_MTU_FROM)
#   DIW_DOCKERD_MTU_FROM      interface whose MTU is the default (default: eth0)
#   DIW_DOCKERD_GROUP         dockerd --group, the GID owning the socket (rootful only)
#   DIW_DOCKERD_ADDRESS_POOL  dockerd --default-address-pool, e.g. base=10.201.0.0/16,size=24
#   DIW_DOCKERD_TIMEOUT       seconds to wait for `docker info` (default: 120)
#   DIW_DOCKERD_LOG           daemon log (default: /var/log/dockerd.log as root,
#                             else $XDG_RUNTIME_DIR or /tmp)
# Values are passed to dockerd as single arguments, never evaluated by the shell.
set -eu

log() { printf 'start-docker: %s\n' "$*" >&2; }
fail() { log "$*"; exit 2; }

mode=${DIW_DOCKERD_MODE:-rootful}
timeout=${DIW_DOCKERD_TIMEOUT:-120}

case $mode in rootful|rootless|wait|none) ;; *) fail "DIW_DOCKERD_MODE must be rootful, rootless, wait or none, got '$mode'" ;; esac
case $timeout in ''|*[!0-9]*) fail "DIW_DOCKERD_TIMEOUT must be whole seconds, got '$timeout'" ;; esac

if [ "$mode" = none ]; then
  [ $# -gt 0 ] || fail "mode none needs a workload to exec"
  exec "$@"
fi

if [ "$mode" = rootless ]; then
  : "${XDG_RUNTIME_DIR:=/run/user/$(id -u)}"
  export XDG_RUNTIME_DIR
  default_socket=$XDG_RUNTIME_DIR/docker.sock
else
  default_socket=/var/run/docker.sock
fi
case ${DOCKER_HOST:=unix://$default_socket} in
  unix://*) socket=${DOCKER_HOST#unix://} ;;
  *) fail "DOCKER_HOST must be a unix:// socket, got '$DOCKER_HOST'" ;;
esac
export DOCKER_HOST

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

# Makes directory $1 exist and belong to this user. A fresh volume's mount point, or
# /run/user/<uid>, is root's: fix it with passwordless sudo when the image has it.
own_dir() {
  mkdir -p "$1" 2>/dev/null || true
  if [ ! -w "$1" ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n mkdir -p "$1" && sudo -n chown "$(id -u):$(id -g)" "$1"
  fi
  [ -w "$1" ] || fail "$1 is not writable by uid $(id -u); make it the user's in the image, or allow passwordless sudo"
  chmod "$2" "$1" 2>/dev/null || true
}

start_daemon() {
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
    own_dir "${DIW_DOCKERD_DATA_ROOT:-$HOME/.local/share/docker}" 710
    launcher=
    for candidate in dockerd-rootless.sh /usr/share/docker.io/contrib/dockerd-rootless.sh; do
      if command -v "$candidate" >/dev/null 2>&1; then launcher=$candidate; break; fi
    done
    [ -n "$launcher" ] || fail "rootless mode needs dockerd-rootless.sh (docker rootless extras) in the image"
    log "starting rootless dockerd: $launcher $*"
    spawn "$launcher" "$@"
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
    # No dockerd runs when its container starts: a pid file left by a crash is stale.
    # shellcheck disable=SC2086
    $as_root rm -f "$pidfile"
    log "starting dockerd $*"
    # shellcheck disable=SC2086 # as_root is empty or the two words "sudo -n"
    $as_root mkdir -p "$(dirname "$socket")" >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    spawn $as_root dockerd "$@"
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
stopping=
trap 'stopping=1; kill -TERM "$daemon_pid" 2>/dev/null' TERM INT
status=0
wait "$daemon_pid" || status=$?
# A trapped signal interrupts `wait`; wait again for dockerd's own exit status.
if [ -n "$stopping" ]; then
  status=0
  wait "$daemon_pid" || status=$?
fi
log "dockerd exited with status $status"
exit "$status"
