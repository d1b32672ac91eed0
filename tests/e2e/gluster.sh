#!/bin/bash
# Runs a test program against a real GlusterFS volume (issue 20): a one-node replica-2 volume
# with two bricks under a temporary directory, glusterd in the foreground, mounted twice over
# FUSE (two clients, as two receiver machines would be), all inside a network namespace of its
# own (glusterd refuses loopback addresses; the namespace's veth address never leaves it).
#
#   tests/e2e/gluster.sh PROGRAM [ARGS…]
#
# PROGRAM runs inside the namespace with
#   ISOCKET_GLUSTER_A, ISOCKET_GLUSTER_B   the two mount points of the volume
#   ISOCKET_GLUSTER_VOLUME                 the volume's name
#   ISOCKET_GLUSTER_BRICK2                 the second brick's directory (its process may be killed
#                                          and the brick restarted with
#                                          `gluster volume start VOLUME force`)
# and its exit code is ours. Exit 77 (a skip for CTest) with a message saying why when this
# machine cannot run GlusterFS: not root, no /dev/fuse, no glusterd (scripts/deps installs
# glusterfs-server). Everything it made goes at its end, whatever happened.
set -u

skip() {
    echo "SKIP: $*" >&2
    exit 77
}

[ "$(id -u)" = 0 ] || skip "GlusterFS needs root (glusterd, FUSE mounts, network namespaces)"
[ -c /dev/fuse ] || skip "no /dev/fuse: FUSE is not available here"
command -v glusterd >/dev/null && command -v gluster >/dev/null ||
    skip "glusterd not installed (Debian: glusterfs-server; scripts/deps installs it)"
command -v ip >/dev/null || skip "ip (iproute2) not installed"
[ $# -ge 1 ] || { echo "usage: $0 PROGRAM [ARGS…]" >&2; exit 2; }

if [ "${ISOCKET_GLUSTER_INSIDE:-}" != 1 ]; then
    # Outside: make the namespace, run ourselves inside it, and remove it again.
    ns="isocket-gl-$$"
    ip netns add "$ns" || skip "cannot make a network namespace"
    trap 'ip netns del "$ns" 2>/dev/null' EXIT
    ip netns exec "$ns" ip link set lo up &&
        ip netns exec "$ns" ip link add v0 type veth peer name v1 &&
        ip netns exec "$ns" ip addr add 10.213.0.1/24 dev v0 &&
        ip netns exec "$ns" ip link set v0 up &&
        ip netns exec "$ns" ip link set v1 up || skip "cannot set up the namespace's veth pair"
    ISOCKET_GLUSTER_INSIDE=1 ip netns exec "$ns" "$0" "$@"
    exit $?
fi

# Inside the namespace (and its own mount namespace: ip netns exec makes one).
host=10.213.0.1
work=$(mktemp -d /var/tmp/isocket-gluster.XXXXXX)
volume="isocket$$"
glusterd_pid=
cleanup() {
    set +e
    for m in "$work/mA" "$work/mB"; do
        mountpoint -q "$m" && umount -l "$m"
    done
    if [ -n "$glusterd_pid" ]; then
        gluster --mode=script volume stop "$volume" force >/dev/null 2>&1
        gluster --mode=script volume delete "$volume" >/dev/null 2>&1
        # The brick processes of our volume, then glusterd.
        pkill -KILL -f "glusterfsd.*$work/" 2>/dev/null
        kill "$glusterd_pid" 2>/dev/null
        wait "$glusterd_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

step() { echo "gluster.sh: $*" >&2; }

mkdir -p "$work/b1" "$work/b2" "$work/mA" "$work/mB"
step "starting glusterd (log: $work/glusterd.log)"
glusterd -N --log-file="$work/glusterd.log" >/dev/null 2>&1 &
glusterd_pid=$!
ready=0
for _ in $(seq 100); do
    if gluster --mode=script volume list >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$glusterd_pid" 2>/dev/null || break
    sleep 0.1
done
if [ "$ready" != 1 ]; then
    tail -20 "$work/glusterd.log" >&2
    skip "glusterd did not start (another glusterd already running here?)"
fi
step "volume $volume: replica 2 on $work/b1 and $work/b2"
# What glusterd refuses here is this machine's matter, not isocket's: a skip with its log.
gluster --mode=script volume create "$volume" replica 2 "$host:$work/b1" "$host:$work/b2" force \
    >&2 || { tail -20 "$work/glusterd.log" >&2; skip "glusterd could not create a volume"; }
gluster --mode=script volume start "$volume" >&2 ||
    { tail -20 "$work/glusterd.log" >&2; skip "glusterd could not start the volume's bricks"; }
for m in mA mB; do
    mount -t glusterfs "$host:/$volume" "$work/$m" || skip "cannot mount the volume over FUSE"
done
step "mounted twice: $work/mA, $work/mB ($(stat -f -c %T "$work/mA"))"

export ISOCKET_GLUSTER_A="$work/mA" ISOCKET_GLUSTER_B="$work/mB"
export ISOCKET_GLUSTER_VOLUME="$volume" ISOCKET_GLUSTER_BRICK2="$work/b2"
"$@"
rc=$?
step "$1 exited with $rc"
exit $rc
