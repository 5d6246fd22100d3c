#!/usr/bin/env bash
# Private Docker engine for the end-to-end tests.
#
#   .ci/dockerd.sh start   install docker.io if missing, start a private dockerd
#                          (idempotent: succeeds at once when it already answers)
#   .ci/dockerd.sh stop    stop that daemon only and remove its bridge
#   .ci/dockerd.sh status  exit 0 when the private daemon answers
#   .ci/dockerd.sh env     print `export DOCKER_HOST=...` (eval "$(.ci/dockerd.sh env)")
#   .ci/dockerd.sh prune-cgroups   remove empty cgroups that killed nested
#                          daemons left under /sys/fs/cgroup/*/docker/
#
# Everything of the daemon lives under one state dir ($DIW_DOCKERD_DIR,
# default /tmp/diw-dockerd): data root, exec root (with its own managed
# containerd), pidfile, unix socket and log. It uses its own bridge
# ($DIW_DOCKERD_BRIDGE, default diw0) and its own cgroup parent, so it never
# touches another daemon on the machine. On a host that already runs Docker (a
# GitHub runner) it runs beside it, on the system containerd if one runs, in
# containerd namespaces of its own. `start` also makes /dev/net/tun and
# /dev/fuse mode 0666 (what udev does on a usual host). It runs with --iptables=false,
# --ip-forward=false and --ip-masq=false: nothing it starts can route off this
# machine (published ports still work through docker-proxy on the host).
#
# Settings (environment):
#   DIW_DOCKERD_DIR          state dir                  (/tmp/diw-dockerd)
#   DIW_DOCKERD_BRIDGE       bridge name, <= 15 chars   (diw0)
#   DIW_DOCKERD_BRIDGE_CIDR  bridge address             (10.213.0.1/24)
#   DIW_DOCKERD_POOL         pool for `docker network create`  (10.214.0.0/16)
#   DIW_DOCKERD_TIMEOUT      seconds to wait for `docker info` (60)
#   DIW_DOCKERD_GROUP        group owning the socket    (docker, made by docker.io)
#   DIW_DOCKERD_USERNS_REMAP user whose subordinate ids the daemon maps every container's
#                            root to (dockerd --userns-remap; unset: no remapping). `start`
#                            creates that system user and a 65536-id range from
#                            DIW_DOCKERD_USERNS_BASE (default 300000) in /etc/subuid and
#                            /etc/subgid when missing. The e2e suite uses such a daemon as the
#                            stand-in for a Kubernetes pod with `hostUsers: false`.
set -euo pipefail

STATE_DIR="${DIW_DOCKERD_DIR:-/tmp/diw-dockerd}"
BRIDGE="${DIW_DOCKERD_BRIDGE:-diw0}"
BRIDGE_CIDR="${DIW_DOCKERD_BRIDGE_CIDR:-10.213.0.1/24}"
POOL="${DIW_DOCKERD_POOL:-10.214.0.0/16}"
TIMEOUT="${DIW_DOCKERD_TIMEOUT:-60}"

SOCK="$STATE_DIR/docker.sock"
PIDFILE="$STATE_DIR/dockerd.pid"
LOG="$STATE_DIR/dockerd.log"
DOCKER_HOST_URL="unix://$SOCK"

log() { echo "[dockerd.sh] $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# The Debian CLI (/usr/bin/docker) matches the daemon's API; any CLI works.
docker_cli() {
  if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker; fi
}

answers() {
  [ -S "$SOCK" ] && timeout 10 env DOCKER_HOST="$DOCKER_HOST_URL" "$(docker_cli)" info >/dev/null 2>&1
}

daemon_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Make sure the pid is really our dockerd (pids get reused).
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "--pidfile $PIDFILE" || return 1
  echo "$pid"
}

install_engine() {
  local need=()
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  command -v iptables >/dev/null 2>&1 || need+=(iptables)
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v newuidmap >/dev/null 2>&1 || need+=(uidmap)
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing ${need[*]} with apt-get"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    as_root ip link add "$BRIDGE" type bridge
  fi
  if ! ip -4 addr show dev "$BRIDGE" | grep -q "inet ${BRIDGE_CIDR%%/*}/"; then
    as_root ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
  fi
  as_root ip link set "$BRIDGE" up
}

# Nested daemons need /dev/net/tun (rootlesskit, slirp4netns) and /dev/fuse
# usable by a non-root user: --device copies the host node's mode, and on a
# host without udev they are 0600 (udev's default rules make both 0666).
ensure_devices() {
  if [ ! -e /dev/net/tun ]; then
    as_root mkdir -p /dev/net
    as_root mknod -m 0666 /dev/net/tun c 10 200 || true
  fi
  local d
  for d in /dev/net/tun /dev/fuse; do
    [ -c "$d" ] || continue
    if [ "$(stat -c %a "$d")" != 666 ]; then
      as_root chmod 0666 "$d" && log "chmod 0666 $d (as udev does)"
    fi
  done
}

# dockerd's managed containerd writes exec/containerd/containerd.pid; after a
# crash that pid may still be our old containerd, or be reused by anything else
# (then dockerd waits for a containerd that never answers).
stop_stale_containerd() {
  local pidfile="$STATE_DIR/exec/containerd/containerd.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "$STATE_DIR/exec/containerd/"; then
    log "stopping stale containerd pid $pid"
    as_root kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then as_root kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pidfile"
}

# Ubuntu 24.04 (GitHub's ubuntu-latest) restricts unprivileged user namespaces through
# AppArmor: rootlesskit in a container (dind-rootless) then fails. Say so; CI turns it off.
warn_userns_restriction() {
  local f=/proc/sys/kernel/apparmor_restrict_unprivileged_userns
  if [ -r "$f" ] && [ "$(cat "$f")" = 1 ]; then
    log "warning: kernel.apparmor_restrict_unprivileged_userns=1: rootless daemons in containers will fail;" \
      "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (docs/ci.md)"
  fi
}

# dockerd --userns-remap=<user> reads the user's first /etc/subuid and /etc/subgid range.
ensure_remap_user() {
  local user="$1" base="${DIW_DOCKERD_USERNS_BASE:-300000}" f
  if ! getent passwd "$user" >/dev/null; then
    as_root useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    log "created system user $user for --userns-remap"
  fi
  for f in /etc/subuid /etc/subgid; do
    if ! grep -q "^$user:" "$f" 2>/dev/null; then
      echo "$user:$base:65536" | as_root tee -a "$f" >/dev/null
      log "added $user:$base:65536 to $f"
    fi
  done
}

cmd_start() {
  ensure_devices
  warn_userns_restriction
  if answers; then
    log "already running: $DOCKER_HOST_URL"
    return 0
  fi
  install_engine
  mkdir -p "$STATE_DIR"
  # A dead daemon may have left its pidfile/socket behind.
  if pid="$(daemon_pid)"; then
    log "dockerd pid $pid exists but does not answer; stopping it first"
    cmd_stop
    mkdir -p "$STATE_DIR"
  fi
  rm -f "$SOCK" "$PIDFILE"
  stop_stale_containerd
  ensure_bridge
  local remap=()
  if [ -n "${DIW_DOCKERD_USERNS_REMAP:-}" ]; then
    ensure_remap_user "$DIW_DOCKERD_USERNS_REMAP"
    remap=(--userns-remap "$DIW_DOCKERD_USERNS_REMAP")
  fi

  log "starting private dockerd (state $STATE_DIR, bridge $BRIDGE $BRIDGE_CIDR)"
  local start=$SECONDS
  # setsid: the daemon outlives this script and the caller's process group.
  # cgroupfs: on cgroup v2 with systemd dockerd defaults to the systemd driver, which takes only
  # "x.slice" parents. Own containerd namespaces: dockerd uses a running system containerd
  # (/run/containerd/containerd.sock) when there is one, and must not share the system dockerd's.
  as_root setsid -w dockerd \
    --data-root "$STATE_DIR/data" \
    --exec-root "$STATE_DIR/exec" \
    --pidfile "$PIDFILE" \
    --host "$DOCKER_HOST_URL" \
    --bridge "$BRIDGE" \
    --default-address-pool "base=$POOL,size=24" \
    --iptables=false --ip-forward=false --ip-masq=false \
    --cgroup-parent /diw-docker \
    --exec-opt native.cgroupdriver=cgroupfs \
    --containerd-namespace "diw-$BRIDGE" \
    --containerd-plugins-namespace "diw-$BRIDGE-plugins" \
    --storage-driver overlay2 \
    --group "${DIW_DOCKERD_GROUP:-docker}" \
    "${remap[@]}" \
    >"$LOG" 2>&1 </dev/null &

  until answers; do
    if [ $((SECONDS - start)) -ge "$TIMEOUT" ]; then
      log "dockerd did not answer within ${TIMEOUT}s; log tail:"
      grep -v "module=grpc" "$LOG" | tail -n 40 >&2 || true
      return 1
    fi
    if ! kill -0 $! 2>/dev/null && ! daemon_pid >/dev/null; then
      log "dockerd exited; log tail:"
      grep -v "module=grpc" "$LOG" | tail -n 40 >&2 || true
      return 1
    fi
    sleep 0.5
  done
  log "ready after $((SECONDS - start))s: $DOCKER_HOST_URL (pid $(cat "$PIDFILE"))"
  tail -n 5 "$LOG" >&2 || true
}

cmd_stop() {
  local pid
  if pid="$(daemon_pid)"; then
    log "stopping dockerd pid $pid"
    as_root kill -TERM "$pid" || true
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "dockerd pid $pid still alive after 30s, sending KILL"
      as_root kill -KILL "$pid" || true
    fi
  else
    log "no private dockerd running"
  fi
  # Mounts the daemon may have left (netns, overlay, shm) under the state dir.
  if [ -d "$STATE_DIR" ]; then
    awk -v d="$STATE_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
      while read -r m; do as_root umount -l "$m" 2>/dev/null || true; done
  fi
  rm -f "$SOCK" "$PIDFILE"
  stop_stale_containerd
  # Our cgroup parent (see --cgroup-parent), where it is empty now.
  local cg
  for cg in /sys/fs/cgroup/*/diw-docker /sys/fs/cgroup/diw-docker; do
    [ -d "$cg" ] || continue
    find "$cg" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
    as_root rmdir "$cg" 2>/dev/null || true
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    as_root ip link set "$BRIDGE" down || true
    as_root ip link delete "$BRIDGE" type bridge || true
    log "removed bridge $BRIDGE"
  fi
}

# Nested daemons in containers run with the host's cgroup namespace and a
# read-write /sys/fs/cgroup (the privileged-equivalent recipe, like privileged
# on cgroup v1), so their containers get cgroups at /sys/fs/cgroup/*/docker/<id>.
# When the outer container is killed, those stay behind, empty. This removes
# empty <64-hex-id> cgroups there; a cgroup with processes cannot be removed.
cmd_prune_cgroups() {
  local n=0 d
  for d in /sys/fs/cgroup/*/docker/* /sys/fs/cgroup/docker/*; do
    [ -d "$d" ] || continue
    [[ "$(basename "$d")" =~ ^[0-9a-f]{64}$ ]] || continue
    [ -s "$d/cgroup.procs" ] && continue
    as_root rmdir "$d" 2>/dev/null && n=$((n + 1))
  done
  log "removed $n empty nested-container cgroups"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) if answers; then echo "running: $DOCKER_HOST_URL"; else echo "not running"; exit 1; fi ;;
  env) echo "export DOCKER_HOST=$DOCKER_HOST_URL" ;;
  prune-cgroups) cmd_prune_cgroups ;;
  *) echo "usage: $0 start|stop|restart|status|env|prune-cgroups" >&2; exit 2 ;;
esac
