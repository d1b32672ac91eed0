#!/usr/bin/env python3
"""isocket benchmarks (issue 6): isocket against rsync, socat and lsyncd on 127.0.0.1.

Builds isocket in Release (build-bench/, -DISOCKET_BENCH=ON for the latency probe), installs the
peers if they are missing (apt-get, root only), then runs every case with isocket and its peers on
the same data, in the same run, interleaved run by run. Prints a Markdown table (median and range
over the runs, ratios, targets) and writes the raw figures as JSON.

    bench/run                 # full: 5 runs per case, full sizes
    bench/run --quick         # a few minutes: small sizes, 1 run (--runs to change)
    bench/run --cases big,live --runs 2 --json out.json --results bench/RESULTS.md
    bench/run --baseline-binary /tmp/isocket-old   # before and after in one sitting
    bench/run --cases shareddisk,disklimit,createlimit,gluster   # issues 19 and 20's limits
    bench/run --cases all     # the default list and the longer cases of issue 19 (gluster last)

Cases of issue 19, not in the default list (about 15 more minutes with 5 runs; `--cases all`, or
name them): livecatchup (a 2 GiB backlog of closed dbtags while the live dbtag gets a 64 KiB
file every 50 ms: live p99 and the backlog's rate against alone), fleet (50 and 200
long-running senders, connected and idle, then 800 × 1 MiB at once: against one sender with
the same files; receiver RSS; files lost), fairness (10 EDs, one with 10× the backlog: Jain's
index over 5 s windows), idlefleet (500 connected idle senders: receiver CPU over 60 s). They
run `isocket send` as a daemon (not --once), each sender with its own control socket, and read
the receiver's /metrics; fleet, fairness and idlefleet run at most 3 runs, and raise
fs.inotify.max_user_instances while their senders run (2 per sender; root only).

With --baseline-binary, every case that runs isocket also runs that binary (an older build; it is
both its sender and its receiver) on the same data, interleaved run by run like the peers,
labelled "... (baseline)", and the table gets a column "new ÷ baseline".

Durability as measured (said again in the table):
  isocket  every file verified (XXH3-128), made durable (fsync; a batch of 4+ files: syncfs while
           at most 4 MiB else is dirty on the system, otherwise an fsync per file), renamed into
           place, the rename made durable (directory fsync; batch: syncfs), before the ED marks
           it (g+w); the run ends when `isocket send --once` exits.
  rsync    daemon on 127.0.0.1, `use chroot = no`; writes a temporary and renames it, no fsync
           (the "--fsync" rows fsync each file, for a like-for-like reference).
  socat    file → TCP → file, no checksum, no rename, no fsync (the raw limit); "+ fsync" adds
           one fsync of the output file at the end.
  lsyncd   delay = 0, pushing with rsync into the same daemon.
  dd       (disk limit) `dd bs=1M oflag=direct conv=fsync` of the source file: the disk's limit.
  cp -a    (create limit) a local copy of the tree: no network, checksum, rename or fsync.
  GlusterFS (the gluster rows, tests/e2e/gluster.sh's one-node replica-2 volume): the receiver
           fsyncs every file and directory there (syncfs does not reach the bricks); rsync -a into
           the mount does not ("rsync -a --fsync", big file only, does).
Page cache: sources are warm (just written or read in an earlier run); `sync` between runs so
one tool's dirty pages do not bill the next one.
"""

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import re
import select
import shutil
import signal
import socket
import urllib.request
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(REPO, "build-bench")
MiB = 1024 * 1024
BASELINE = " (baseline)"  # suffix of the tool label of a --baseline-binary run
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Set-up: tools, build, machine

def ensure_tools():
    need = {"rsync": "rsync", "socat": "socat", "lsyncd": "lsyncd", "perf": "linux-perf"}
    missing = [pkg for tool, pkg in need.items() if shutil.which(tool) is None]
    if missing:
        if os.geteuid() != 0:
            log("missing tools (install them):", " ".join(missing))
        else:
            log("installing", " ".join(missing))
            subprocess.run(["apt-get", "update", "-qq"], check=False)
            subprocess.run(["apt-get", "install", "-y", "-qq"] + missing, check=False)
    for tool in ("rsync", "socat"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is required")


def build(jobs):
    log("building isocket (Release) in", BUILD)
    subprocess.run(["cmake", "-S", REPO, "-B", BUILD, "-DCMAKE_BUILD_TYPE=Release",
                    "-DISOCKET_BENCH=ON"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", BUILD, "-j", str(jobs), "--target", "isocket",
                    "isocket-latency-probe"], check=True, stdout=subprocess.DEVNULL)
    return (os.path.join(BUILD, "app", "isocket"),
            os.path.join(BUILD, "bench", "isocket-latency-probe"))


def machine(tmp):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    fs = subprocess.run(["df", "-T", tmp], capture_output=True, text=True).stdout.splitlines()
    fstype = fs[-1].split()[1] if len(fs) > 1 else "?"
    with open("/proc/meminfo") as f:
        mem = f.readline().split()[1]
    def version(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True)
            return (out.stdout or out.stderr).splitlines()[0].strip()
        except (OSError, IndexError):
            return "not installed"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "mem_gib": round(int(mem) / 1024 / 1024, 1),
        "tmp": tmp,
        "tmp_fs": fstype,
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
        "rsync": version(["rsync", "--version"]),
        "socat": next((l.strip() for l in subprocess.run(["socat", "-V"], capture_output=True,
                       text=True).stdout.splitlines() if l.startswith("socat version")), "?"),
        "lsyncd": version(["lsyncd", "--version"]),
        "isocket_commit": subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                         capture_output=True, text=True).stdout.strip(),
    }


# ---------------------------------------------------------------------------------------------
# Data

def write_file(path, size, rng):
    h = hashlib.md5()
    with open(path, "wb") as f:
        left = size
        while left > 0:
            chunk = rng.randbytes(min(left, 4 * MiB))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    os.chmod(path, 0o644)
    return h.hexdigest()


def make_dbtag(root, name, count, size, seed, finished=True, prefix="data"):
    """Returns {relpath within root: (size, md5)}."""
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    rng = random.Random(seed)
    files = {}
    for i in range(1, count + 1):
        rel = f"{name}/{prefix}-{i:06d}.dat"
        files[rel] = (size, write_file(os.path.join(root, rel), size, rng))
    if finished:
        open(os.path.join(d, "finished.parse"), "w").close()
    return files


def make_dbtag_fast(root, name, count, size, pool, seed):
    """As make_dbtag, for many gigabytes: each file a slice of `pool` (random bytes) at its own
    offset, so generation costs the writes only; no md5 (verify with full=False)."""
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    files = {}
    for i in range(1, count + 1):
        rel = f"{name}/data-{i:06d}.dat"
        off = (seed * 7919 + i * 4099) % (len(pool) - size)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(pool[off:off + size])
        os.chmod(os.path.join(root, rel), 0o644)
        files[rel] = (size, None)
    open(os.path.join(d, "finished.parse"), "w").close()
    return files


def file_md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def verify_tree(dest, manifest, full=True):
    """Every file of the manifest at dest/<rel> with its size (and md5 when full).
    Returns the number of files missing or wrong."""
    bad = 0
    for rel, (size, md5) in manifest.items():
        p = os.path.join(dest, rel)
        try:
            if os.stat(p).st_size != size or (full and file_md5(p) != md5):
                bad += 1
        except FileNotFoundError:
            bad += 1
    return bad


def unmarked(src, manifest):
    """Files not marked sent (g+w) and dbtags without finished.watch."""
    files = sum(1 for rel in manifest if not os.stat(os.path.join(src, rel)).st_mode & 0o020)
    tags = {rel.split("/", 1)[0] for rel in manifest}
    missing_watch = sum(1 for t in tags if not os.path.exists(os.path.join(src, t, "finished.watch")))
    return files, missing_watch


def reset_marks(src, manifest):
    for rel in manifest:
        os.chmod(os.path.join(src, rel), 0o644)
    for t in {rel.split("/", 1)[0] for rel in manifest}:
        try:
            os.unlink(os.path.join(src, t, "finished.watch"))
        except FileNotFoundError:
            pass


def rmtree(p):
    shutil.rmtree(p, ignore_errors=True)


# Trees are not deleted between runs but moved here and deleted at the end: on ext4 without a
# journal (this machine's root), creating an inode skips every inode freed in the last 60 s, or
# 6 minutes while that inode's table block is not yet written back (fs/ext4/ialloc.c
# recently_deleted(), RECENTCY_MIN + RECENTCY_DIRTY; one inode-table lookup per candidate), so
# deleting many files before a run makes each file creation of that run cost O(files deleted):
# 10,000 files created at 2,000/s instead of 12,000/s minutes after 150,000 were deleted. It
# bills whichever tool runs then, and the runs of the next 6 minutes: delete nothing big before
# a run.
TRASH = None


def discard(p, now=False):
    """now: few big files, delete at once (the trash would fill the disk)."""
    if not os.path.lexists(p):
        return
    if TRASH is None or now:
        rmtree(p)
        return
    os.makedirs(TRASH, exist_ok=True)
    os.rename(p, os.path.join(TRASH, f"{len(os.listdir(TRASH))}-{os.path.basename(p)}"))


def sync():
    os.sync()
    time.sleep(0.3)


# ---------------------------------------------------------------------------------------------
# Processes

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    hexport = f"{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1].endswith(":" + hexport) and parts[3] == "0A":
                return True
    return False


def wait_listening(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if listening(port):
            return
        time.sleep(0.01)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def meminfo_mib(key):
    """A field of /proc/meminfo in MiB (Dirty, Writeback, …)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_timed(cmd, logpath, env=None):
    """Runs cmd to completion; returns (seconds, exit status, peak RSS KiB).
    Peak RSS is VmHWM sampled every 10 ms (not wait4's ru_maxrss: that counts the forked Python
    before exec)."""
    with open(logpath, "ab") as logf:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=logf, stderr=logf, env=env)
        hwm = 0
        while True:
            pid, status = os.waitpid(p.pid, os.WNOHANG)
            if pid:
                break
            hwm = max(hwm, vm_hwm_kib(p.pid))
            time.sleep(0.01)
        t = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    return t, p.returncode, hwm


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    """GET /metrics (must answer 200 with isocket's metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        body = r.read().decode()
    if r.status != 200 or "isocket_" not in body:
        raise RuntimeError(f"/metrics on port {port} answered {r.status}")
    return body


class Receiver:
    def __init__(self, isocket, root, logpath, extra=()):
        os.makedirs(root, exist_ok=True)
        self.root = root
        self.log = open(logpath, "ab")
        self.p = subprocess.Popen([isocket, "receive", "--root", root, "--listen", "127.0.0.1:0",
                                   *extra],
                                  stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("listening"):
            raise RuntimeError("isocket receive did not start: " + line)
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


class RsyncDaemon:
    def __init__(self, base):
        self.dir = os.path.join(base, "rsyncd")
        self.module = os.path.join(self.dir, "mod")
        os.makedirs(self.module, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "rsyncd.conf")
        import pwd
        import grp
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        with open(conf, "w") as f:
            f.write(f"use chroot = no\nuid = {user}\ngid = {group}\n"
                    f"pid file = {self.dir}/rsyncd.pid\nlog file = {self.dir}/rsyncd.log\n"
                    f"[mod]\npath = {self.module}\nread only = no\n")
        self.p = subprocess.Popen(["rsync", "--daemon", "--no-detach", f"--config={conf}",
                                   f"--port={self.port}", "--address=127.0.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port)

    def url(self, sub):
        return f"rsync://127.0.0.1:{self.port}/mod/{sub}/"

    def stop(self):
        self.p.terminate()
        self.p.wait()


# GlusterFS (issue 20): tests/e2e/gluster.sh sets up and tears down a one-node replica-2 volume,
# mounted twice, in a network namespace and a mount namespace of its own; the bench runs a
# holder as its program and works in that mount namespace through the holder's PID: processes
# that write into the volume start under `nsenter --mount=/proc/PID/ns/mnt` (network: the host's
# 127.0.0.1, as everything else), and the bench reads the mounts at /proc/PID/root/<mount>.
class GlusterVolume:
    SCRIPT = os.path.join(REPO, "tests", "e2e", "gluster.sh")

    def __init__(self, logpath, timeout=180):
        """Sets the volume up. self.skip: why it could not (then nothing is left running)."""
        self.skip = None
        self.logpath = logpath
        self.log = open(logpath, "ab")
        # exec: the holder's PID is the shell's; it lives until the bench closes its stdin.
        holder = 'echo "ready $$ $ISOCKET_GLUSTER_A $ISOCKET_GLUSTER_B"; exec cat >/dev/null'
        self.p = subprocess.Popen([self.SCRIPT, "sh", "-c", holder], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        line = b""
        deadline = time.time() + timeout
        fd = self.p.stdout.fileno()
        while not line.endswith(b"\n") and time.time() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            line += chunk
        parts = line.decode(errors="replace").split()
        if len(parts) == 4 and parts[0] == "ready":
            self.pid = int(parts[1])
            self.mounts = parts[2:]  # paths inside the mount namespace
            return
        self.pid = None
        exited = self.p.poll() is not None
        self.stop()
        with open(logpath, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
        why = next((l[len("SKIP: "):] for l in reversed(lines) if l.startswith("SKIP: ")), None)
        if why is None:
            why = (f"gluster.sh exited {self.p.returncode} without a volume" if exited
                   else f"no volume within {timeout} s") + f" (log: {logpath})"
        self.skip = why

    def outside(self, inside):
        """The path at which the bench reads a path of the mount namespace."""
        return f"/proc/{self.pid}/root{inside}"

    def wrap(self):
        return ["nsenter", f"--mount=/proc/{self.pid}/ns/mnt", "--"]

    def stop(self):
        """Ends the holder; gluster.sh unmounts, stops the volume and glusterd, removes its
        namespace and files (on a loaded machine removing the bricks takes minutes: tens of
        thousands of inodes). Bounded: the holder, if it outlives its stdin by 90 s, then
        gluster.sh's process group (its own session) after 15 minutes, are killed by their ids."""
        if self.p.stdin and not self.p.stdin.closed:
            self.p.stdin.close()
        steps = [(90, "holder"), (900, "group"), (10, "give up")] if self.pid else \
            [(10, "group"), (10, "give up")]
        for wait, step in steps:
            try:
                self.p.wait(wait)
                break
            except subprocess.TimeoutExpired:
                try:
                    if step == "holder":
                        if os.path.exists(f"/proc/{self.pid}"):
                            log(f"the holder {self.pid} outlived its stdin by 90 s: SIGKILL")
                            os.kill(self.pid, signal.SIGKILL)
                        else:
                            log("gluster.sh still tearing the volume down (bounded: 15 min)")
                    elif step == "group":
                        log(f"gluster.sh still running: SIGTERM to its process group {self.p.pid}"
                            f" (look for a leftover glusterd or mount /var/tmp/isocket-gluster.*)")
                        os.killpg(self.p.pid, signal.SIGTERM)
                    else:
                        log(f"gluster.sh ({self.p.pid}) did not end: left running")
                except ProcessLookupError:
                    pass
        if self.p.stdout:
            self.p.stdout.close()
        self.log.close()


class NsReceiver(Receiver):
    """`isocket receive` in the volume's mount namespace; root: a path there (made by the
    caller through GlusterVolume.outside)."""

    def __init__(self, isocket, vol, root, logpath, extra=()):
        self.root = root
        self.log = open(logpath, "ab")
        self.p = subprocess.Popen([*vol.wrap(), isocket, "receive", "--root", root, "--listen",
                                   "127.0.0.1:0", *extra],
                                  stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("listening"):
            self.p.kill()
            self.p.wait()
            self.log.close()
            raise RuntimeError("isocket receive did not start: " + line)
        self.port = int(line.rsplit(":", 1)[1])


class NsRsyncDaemon(RsyncDaemon):
    """The rsync daemon of RsyncDaemon, its module at `module` (a path in the volume's mount
    namespace), its configuration under `base`."""

    def __init__(self, base, vol, module):
        import pwd
        import grp
        self.dir = os.path.join(base, "rsyncd-gluster")
        os.makedirs(self.dir, exist_ok=True)
        self.module = module
        self.port = free_port()
        conf = os.path.join(self.dir, "rsyncd.conf")
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        with open(conf, "w") as f:
            f.write(f"use chroot = no\nuid = {user}\ngid = {group}\n"
                    f"pid file = {self.dir}/rsyncd.pid\nlog file = {self.dir}/rsyncd.log\n"
                    f"[mod]\npath = {module}\nread only = no\n")
        self.p = subprocess.Popen([*vol.wrap(), "rsync", "--daemon", "--no-detach",
                                   f"--config={conf}", f"--port={self.port}",
                                   "--address=127.0.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(self.port)
        except RuntimeError:
            self.stop()
            raise


# ---------------------------------------------------------------------------------------------
# Fleets of long-running senders (issue 19)

def stop_procs(procs, timeout=30):
    """SIGTERM to each process still running, then wait (bounded, shared deadline); SIGKILL the
    ones still there. By PID only."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.time() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


INOTIFY_INSTANCES = "/proc/sys/fs/inotify/max_user_instances"


@contextlib.contextmanager
def inotify_room(senders):
    """A sender holds 2 inotify instances; the limit is per user (128 by default) and shared with
    every other process of this user (tests running beside the bench). When the fleet would take
    more than half of it, raise fs.inotify.max_user_instances by 2 per sender (root only) while
    the fleet runs, and put the old value back afterwards."""
    with open(INOTIFY_INSTANCES) as f:
        old = int(f.read())
    if 2 * senders <= old // 2:
        yield
        return
    need = old + 2 * senders
    try:
        with open(INOTIFY_INSTANCES, "w") as f:
            f.write(str(need))
    except OSError as e:
        raise RuntimeError(f"{senders} senders need {need} inotify instances and "
                           f"fs.inotify.max_user_instances is {old} ({e}): run "
                           f"`sysctl fs.inotify.max_user_instances={need}` first") from e
    log(f"  fs.inotify.max_user_instances {old} → {need} while {senders} senders run")
    try:
        yield
    finally:
        with open(INOTIFY_INSTANCES, "w") as f:
            f.write(str(old))


def source_counter(port, metric):
    """{source: value} of a per-source series scraped from port; RuntimeError when the scrape
    fails."""
    try:
        return metric_by_source(scrape(port), metric)
    except OSError as e:
        raise RuntimeError(f"scraping /metrics on {port}: {e}") from e


def metric_by_source(body, metric):
    """{source: value} of a per-source Prometheus series."""
    out = {}
    for line in body.splitlines():
        if line.startswith(metric + "{"):
            labels, value = line.rsplit(" ", 1)
            m = re.search(r'source="((?:[^"\\]|\\.)*)"', labels)
            if m:
                out[m.group(1)] = float(value)
    return out


def nearest_rank(v, p):
    """Percentile by nearest rank (as the latency probe computes it)."""
    v = sorted(v)
    return v[min(len(v), max(1, math.ceil(p / 100 * len(v)))) - 1]


def jain(x):
    s, s2 = sum(x), sum(v * v for v in x)
    return s * s / (len(x) * s2) if s2 else float("nan")


def jain_windows(samples, totals, per, stride=None):
    """Jain's index of per-ED delivered bytes over windows of `per` samples, one starting every
    `stride` samples (default `per`: consecutive windows), kept while every ED still has bytes to
    deliver at the window's end. samples: [(t, [bytes])]."""
    out = []
    for i in range(per, len(samples), stride or per):
        a, b = samples[i - per][1], samples[i][1]
        if all(g < t for g, t in zip(b, totals)):
            j = jain([y - x for x, y in zip(a, b)])
            if j == j:
                out.append(j)
    return out


# ---------------------------------------------------------------------------------------------
# Results

class Results:
    def __init__(self):
        self.cases = {}  # case -> {"unit", "higher_better", "tools": {tool: [values]}, ...}

    def case(self, name, unit, higher_better=True, note=""):
        c = self.cases.setdefault(name, {"unit": unit, "higher_better": higher_better,
                                         "note": note, "tools": {}, "failures": [], "extra": {}})
        return c

    def add(self, case, tool, value):
        self.cases[case]["tools"].setdefault(tool, []).append(value)

    def fail(self, case, msg):
        log(f"FAILURE [{case}]: {msg}")
        self.cases[case]["failures"].append(msg)


def med(v):
    return statistics.median(v) if v else float("nan")


def fmt(x):
    if x != x:
        return "–"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def baseline_ratio(c, tool):
    """For the row of a baseline run: the new build's median ÷ the baseline's, same label."""
    new, old = med(c["tools"].get(tool[:-len(BASELINE)], [])), med(c["tools"][tool])
    if not old or old != old or new != new:
        return "–"
    return f"{new / old:.2f}×" + ("" if c["higher_better"] else " (lower is better)")


def summarize(res, targets, baseline=False):
    """Markdown: the per-tool table, then the targets. baseline: a column new ÷ baseline."""
    out = ["| case | tool | unit | median | range (min – max) | runs | isocket ÷ tool |",
           "|---|---|---|---:|---|---:|---:|"]
    if baseline:
        out = [out[0] + " new ÷ baseline |", out[1] + "---:|"]
    for name, c in res.cases.items():
        iso = med(c["tools"].get("isocket", []))
        for tool, vals in c["tools"].items():
            m = med(vals)
            ratio = "" if tool == "isocket" or not c["higher_better"] else f"{iso / m:.2f}×" if m else ""
            if tool != "isocket" and not c["higher_better"] and m:
                ratio = f"{iso / m:.2f}× (lower is better)"
            row = (f"| {name} | {tool} | {c['unit']} | {fmt(m)} | {fmt(min(vals))} – {fmt(max(vals))} "
                   f"| {len(vals)} | {ratio} |")
            if baseline:
                is_baseline = tool.endswith(BASELINE)
                row = (f"| {name} | {tool} | {c['unit']} | {fmt(m)} | {fmt(min(vals))} – "
                       f"{fmt(max(vals))} | {len(vals)} | {'' if is_baseline else ratio} "
                       f"| {baseline_ratio(c, tool) if is_baseline else ''} |")
            out.append(row)
    out += ["", "| case | target | measured | met? |", "|---|---|---|---|"]
    for t in targets:
        c = res.cases.get(t["case"])
        if not c:
            continue
        measured, ok = t["check"](c)
        if c["failures"] and ok is not None:
            ok = False
            measured += f"; FAILED: {len(c['failures'])} run(s) lost or unmarked files"
        met = "–" if ok is None else "yes" if ok else "**no**"  # None: no target, a figure
        out.append(f"| {t['case']} | {t['text']} | {measured} | {met} |")
    return "\n".join(out)


def ratio_target(peer, factor):
    def check(c):
        iso, p = med(c["tools"].get("isocket", [])), med(c["tools"].get(peer, []))
        if not p or p != p:
            return f"{peer} not measured", False
        r = iso / p
        return f"{r:.2f}× {peer}", r >= factor
    return check


def abs_target(tool, limit, key=None, higher_better=False):
    def check(c):
        vals = c["extra"].get(key) if key else c["tools"].get(tool, [])
        m = med(vals or [])
        ok = m >= limit if higher_better else m <= limit
        return f"{fmt(m)} {c['unit'] if not key else ''}".strip(), ok
    return check


# ---------------------------------------------------------------------------------------------
# Cases

class Bench:
    def __init__(self, args, isocket, probe, baseline=None):
        self.a = args
        self.isocket = isocket
        self.baseline = baseline  # --baseline-binary: a second isocket, run alongside
        self.probe = probe
        self.tmp = args.tmp
        self.res = Results()
        self.rsyncd = RsyncDaemon(self.tmp)
        self.few_files = False  # big-file cases: delete outputs at once
        self.logs = os.path.join(self.tmp, "logs")
        os.makedirs(self.logs, exist_ok=True)

    def lg(self, name):
        return os.path.join(self.logs, name + ".log")

    def builds(self, label="isocket"):
        """[(tool label, isocket binary)]: this build, then the baseline's when there is one."""
        return [(label, self.isocket)] + ([(label + BASELINE, self.baseline)] if self.baseline else [])

    def binary(self, label):
        return self.baseline if label.endswith(BASELINE) else self.isocket

    # -- isocket once: fresh receiver root per run -----------------------------------------
    def isocket_once(self, case, src, manifest, source="ed", extra=(), full_verify=True,
                     rx_extra=(), label="isocket"):
        """label: the tool, whose binary runs both sides (see builds())."""
        isocket = self.binary(label)
        rx_root = os.path.join(self.tmp, "rx")
        discard(rx_root)
        rx = Receiver(isocket, rx_root, self.lg(f"{case}-receive"), rx_extra)
        try:
            t, rc, rss = run_timed([isocket, "send", "--root", src, "--to",
                                    f"127.0.0.1:{rx.port}", "--source", source, "--once",
                                    *extra], self.lg(f"{case}-send"))
        finally:
            rx.stop()
        bad = verify_tree(os.path.join(rx_root, source), manifest, full_verify)
        um, uw = unmarked(src, manifest)
        ok = rc == 0 and bad == 0 and um == 0 and uw == 0
        if not ok:
            self.res.fail(case, f"{label}: exit {rc}, {bad} files missing/wrong on the receiver, "
                                f"{um} unmarked, {uw} dbtags without finished.watch")
        reset_marks(src, manifest)
        discard(rx_root, now=self.few_files)
        return t, ok, rss

    def rsync_once(self, case, src, manifest, flags, verify=True):
        dest = os.path.join(self.rsyncd.module, "run")
        discard(dest)
        t, rc, rss = run_timed(["rsync", *flags, src + "/", self.rsyncd.url("run")],
                               self.lg(f"{case}-rsync"))
        bad = verify_tree(dest, manifest, full=False) if verify else 0
        if rc != 0 or bad:
            self.res.fail(case, f"rsync {' '.join(flags)}: exit {rc}, {bad} missing")
        discard(dest, now=self.few_files)
        return t, rss

    def throughput_case(self, case, src, manifest, peers, unit):
        total = sum(s for s, _ in manifest.values())
        n = len(manifest)
        for r in range(self.a.runs):
            for tool, flags in [(label, None) for label, _ in self.builds()] + peers:
                sync()
                if tool.startswith("isocket"):
                    t, ok, _ = self.isocket_once(case, src, manifest, label=tool)
                    if not ok:
                        continue
                elif tool.startswith("socat"):
                    t = self.socat_once(case, src, manifest, fsync="fsync" in tool)
                else:
                    t, _ = self.rsync_once(case, src, manifest, flags)
                v = total / t / 1e6 if unit == "MB/s" else n / t
                self.res.add(case, tool, v)
                log(f"  [{case}] run {r + 1} {tool}: {fmt(v)} {unit} ({t:.2f} s)")

    def socat_once(self, case, src, manifest, fsync=False):
        (rel, _), = manifest.items()
        dst = os.path.join(self.tmp, "socat.out")
        port = free_port()
        with open(self.lg(f"{case}-socat"), "ab") as lf:
            listener = subprocess.Popen(["socat", "-u", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr",
                                         f"OPEN:{dst},creat,trunc"], stderr=lf)
            wait_listening(port)
            t0 = time.perf_counter()
            subprocess.run(["socat", "-u", f"OPEN:{os.path.join(src, rel)}",
                            f"TCP:127.0.0.1:{port}"], stderr=lf, check=True)
            listener.wait()
            if fsync:
                fd = os.open(dst, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
            t = time.perf_counter() - t0
        if os.stat(dst).st_size != manifest[rel][0]:
            self.res.fail(case, "socat: short output")
        os.unlink(dst)
        return t

    # -- the cases ------------------------------------------------------------------------
    def case_big(self):
        size = (256 if self.a.quick else 1024) * MiB
        name = f"big: 1 × {size // MiB} MiB"
        self.res.case(name, "MB/s")
        src = os.path.join(self.tmp, "src-big")
        discard(src)
        log(f"[{name}] generating")
        manifest = make_dbtag(src, "DC000001", 1, size, 1, prefix="big")
        self.few_files = True
        self.throughput_case(name, src, manifest,
                             [("rsync -a", ["-a"]), ("rsync -aW", ["-aW"]),
                              ("rsync -aW --fsync", ["-aW", "--fsync"]),
                              ("socat", None), ("socat + fsync", None)], "MB/s")
        self.few_files = False
        discard(src, now=True)
        return name

    def case_small(self):
        count = 2000 if self.a.quick else 10000
        name = f"small: {count} × 4 KiB in 10 dbtags"
        self.res.case(name, "files/s")
        src = os.path.join(self.tmp, "src-small")
        discard(src)
        log(f"[{name}] generating")
        manifest = {}
        for d in range(10):
            manifest.update(make_dbtag(src, f"DC{d + 1:06d}", count // 10, 4096, 100 + d))
        self.throughput_case(name, src, manifest,
                             [("rsync -a", ["-a"]), ("rsync -a --fsync", ["-a", "--fsync"])],
                             "files/s")
        discard(src)
        return name

    # -- issue 19: a shared disk, the disk's and the filesystem's limits --------------------
    def small_tree(self, tag, count, seed):
        """count × 4 KiB in 10 dbtags under tmp/src-<tag>: (src, manifest)."""
        src = os.path.join(self.tmp, f"src-{tag}")
        discard(src)
        manifest = {}
        for d in range(10):
            manifest.update(make_dbtag(src, f"DC{d + 1:06d}", count // 10, 4096, seed + d))
        return src, manifest

    # Another process's buffered writes: 1 MiB of random bytes written again and again, no fsync.
    NOISE = ("import os, sys\n"
             "buf = os.urandom(1 << 20)\n"
             "with open(sys.argv[1], 'wb') as f:\n"
             "    for _ in range(int(sys.argv[2])):\n"
             "        f.write(buf)\n")

    def noise_start(self, size):
        """Starts the other writer into the bench's filesystem; returns once it has written 64 MiB,
        so that every tool starts at the same point of its stream: (Popen, path)."""
        path = os.path.join(self.tmp, "noise.out")
        p = subprocess.Popen([sys.executable, "-c", self.NOISE, path, str(size // MiB)])
        deadline = time.time() + 30
        while time.time() < deadline and p.poll() is None:
            try:
                if os.stat(path).st_size >= 64 * MiB:
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.002)
        return p, path

    def noise_stop(self, case, p, path):
        """Stops the writer if it still writes (the measurement is over: its remaining writes
        and their writeback would only cost time), deletes its file (one file: at once; its
        dirty pages go with it) and syncs. Returns the MiB it had written."""
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        elif p.returncode != 0:
            self.res.fail(case, f"the other writer exited {p.returncode}")
        try:
            written = os.stat(path).st_size / MiB
            os.unlink(path)
        except FileNotFoundError:
            written = 0
        sync()
        return written

    def case_shareddisk(self):
        count = 2000 if self.a.quick else 10000
        noise = (1024 if self.a.quick else 2048) * MiB
        name = (f"shared disk: {count} × 4 KiB while another process writes "
                f"{noise // MiB // 1024} GiB")
        c = self.res.case(name, "files/s", note=(
            f"another process writes {noise // MiB} MiB buffered (no fsync) into the same "
            f"filesystem, started before each tool's run (the tool starts once it has written "
            f"64 MiB) and stopped when it ends (if not done by then), its file deleted and "
            f"synced; order alternates run by run; rsync -a: "
            f"the daemon, no fsync"))
        c["extra"]["dirty_mib_at_start"] = {}
        c["extra"]["writer_mib_at_end"] = {}
        log(f"[{name}] generating")
        src, manifest = self.small_tree("shareddisk", count, 3000)
        tools = [label for label, _ in self.builds()] + ["rsync -a"]
        for r in range(self.a.runs):
            for tool in (tools if r % 2 == 0 else tools[::-1]):
                sync()
                p, path = self.noise_start(noise)
                dirty = meminfo_mib("Dirty")
                if tool.startswith("isocket"):
                    t, ok, _ = self.isocket_once(name, src, manifest, label=tool)
                else:
                    t, _ = self.rsync_once(name, src, manifest, ["-a"])
                    ok = True
                written = self.noise_stop(name, p, path)
                c["extra"]["dirty_mib_at_start"].setdefault(tool, []).append(dirty)
                c["extra"]["writer_mib_at_end"].setdefault(tool, []).append(written)
                if ok:
                    self.res.add(name, tool, count / t)
                log(f"  [{name}] run {r + 1} {tool}: {count / t:.0f} files/s ({t:.2f} s), "
                    f"dirty at start {dirty:.0f} MiB, the writer had written {written:.0f} MiB")
        c["note"] += "; dirty at the start (median): " + ", ".join(
            f"{t} {med(v):.0f} MiB" for t, v in c["extra"]["dirty_mib_at_start"].items())
        c["note"] += "; written by the other writer when the tool finished (median): " + ", ".join(
            f"{t} {med(v):.0f} MiB" for t, v in c["extra"]["writer_mib_at_end"].items())
        discard(src)
        return name

    def case_disklimit(self):
        size = (256 if self.a.quick else 1024) * MiB
        name = f"disk limit: 1 × {size // MiB} MiB"
        self.res.case(name, "MB/s", note=(
            "dd: `dd if=<the source file, warm> of=<new file on the receiver's filesystem> bs=1M "
            "oflag=direct conv=fsync` (conv=fsync: durable as isocket's file is); order "
            "alternates run by run"))
        src = os.path.join(self.tmp, "src-disklimit")
        discard(src, now=True)
        log(f"[{name}] generating")
        manifest = make_dbtag(src, "DC000001", 1, size, 4000, prefix="big")
        (rel, _), = manifest.items()
        out = os.path.join(self.tmp, "dd.out")
        self.few_files = True
        tools = [label for label, _ in self.builds()] + ["dd oflag=direct"]
        for r in range(self.a.runs):
            for tool in (tools if r % 2 == 0 else tools[::-1]):  # order alternates run by run
                sync()
                if tool.startswith("isocket"):
                    t, ok, _ = self.isocket_once(name, src, manifest, label=tool)
                else:
                    t, rc, _ = run_timed(["dd", f"if={os.path.join(src, rel)}", f"of={out}",
                                          "bs=1M", "oflag=direct", "conv=fsync", "status=none"],
                                         self.lg("disklimit-dd"))
                    ok = rc == 0 and os.stat(out).st_size == size
                    if not ok:
                        self.res.fail(name, f"dd: exit {rc}, {os.stat(out).st_size} bytes")
                    os.unlink(out)
                if ok:
                    self.res.add(name, tool, size / t / 1e6)
                log(f"  [{name}] run {r + 1} {tool}: {size / t / 1e6:.0f} MB/s ({t:.2f} s)")
        self.few_files = False
        discard(src, now=True)
        return name

    def case_createlimit(self):
        count = 2000 if self.a.quick else 10000
        name = f"create limit: {count} × 4 KiB in 10 dbtags"
        self.res.case(name, "files/s", note=(
            "cp -a: a local copy of the same tree into the receiver's filesystem, no network, "
            "no checksum, no rename, no fsync; order alternates run by run"))
        log(f"[{name}] generating")
        src, manifest = self.small_tree("createlimit", count, 5000)
        dst = os.path.join(self.tmp, "cp-out")
        tools = [label for label, _ in self.builds()] + ["cp -a"]
        for r in range(self.a.runs):
            for tool in (tools if r % 2 == 0 else tools[::-1]):  # order alternates run by run
                sync()
                if tool.startswith("isocket"):
                    t, ok, _ = self.isocket_once(name, src, manifest, label=tool)
                else:
                    discard(dst)
                    t, rc, _ = run_timed(["cp", "-a", src, dst], self.lg("createlimit-cp"))
                    bad = verify_tree(dst, manifest, full=False)
                    ok = rc == 0 and bad == 0
                    if not ok:
                        self.res.fail(name, f"cp -a: exit {rc}, {bad} files missing")
                    discard(dst)
                if ok:
                    self.res.add(name, tool, count / t)
                log(f"  [{name}] run {r + 1} {tool}: {count / t:.0f} files/s ({t:.2f} s)")
        discard(src)
        return name

    # -- issue 20: into a GlusterFS volume --------------------------------------------------
    def case_gluster(self):
        """The small and big cases into a GlusterFS replica-2 mount: isocket with one receiver,
        with two (mounts A and B of the one volume, one root, the sender given both), rsync -a
        into the same volume. Nothing is deleted on the volume during the case (its bricks are on
        this machine's ext4, see TRASH) but the big files; the volume goes at the end."""
        count = 500 if self.a.quick else 2000
        big = (64 if self.a.quick else 256) * MiB
        runs = min(self.a.runs, 3)
        rows = [("small", f"gluster: {count} × 4 KiB in 10 dbtags", "files/s"),
                ("big", f"gluster: 1 × {big // MiB} MiB", "MB/s")]
        note = ("into one GlusterFS replica-2 volume (one node: glusterd and both bricks on this "
                "machine's disk, FUSE mounts); isocket: one receiver on mount A, an fsync per file "
                "and per directory before the acknowledgement (docs/SCALING.md); 2 receivers: one "
                "on mount A and one on mount B (two FUSE clients of the one volume, one root), the "
                "sender given both (`--to a,b`: 2 connections and the live link); rsync -a: the "
                "daemon writing into mount A, no fsync; rsync -a --fsync (big file only): an fsync "
                "per file")
        for _, name, unit in rows:
            self.res.case(name, unit, note=note)
        names = [name for _, name, _ in rows]
        log("[gluster] setting up a volume (tests/e2e/gluster.sh)")
        vol = GlusterVolume(self.lg("gluster"))
        if vol.skip:
            log(f"[gluster] SKIPPED: {vol.skip}")
            for name in names:
                self.res.cases[name]["extra"]["skipped"] = vol.skip
                self.res.cases[name]["note"] = f"skipped: {vol.skip}"
            return names
        try:
            log(f"[gluster] volume mounted at {' and '.join(vol.mounts)} (PID {vol.pid}'s view)")
            module = f"{vol.mounts[0]}/rsync"
            os.makedirs(vol.outside(module))
            rsyncd = NsRsyncDaemon(self.tmp, vol, module)
            try:
                for kind, name, unit in rows:
                    self.gluster_row(vol, rsyncd, kind, name, unit, count, big, runs)
            finally:
                rsyncd.stop()
        finally:
            log("[gluster] tearing the volume down")
            vol.stop()
        return names

    def gluster_row(self, vol, rsyncd, kind, name, unit, count, big, runs):
        c = self.res.cases[name]
        src = os.path.join(self.tmp, f"src-gluster-{kind}")
        log(f"[{name}] generating")
        if kind == "big":
            discard(src, now=True)
            manifest = make_dbtag(src, "DC000001", 1, big, 6000, prefix="big")
        else:
            src, manifest = self.small_tree(f"gluster-{kind}", count, 6000)
        total = sum(s for s, _ in manifest.values())
        tools = [(label, isocket, 1) for label, isocket in self.builds()]
        tools += [(label, isocket, 2) for label, isocket in self.builds("isocket, 2 receivers")]
        tools += [("rsync -a", ["-a"], 0)]
        if kind == "big":  # for small files the FUSE round trips dominate: --fsync added little
            tools += [("rsync -a --fsync", ["-a", "--fsync"], 0)]
        # Small files on a FUSE mount on a loaded 2-core machine: 30–45 files/s for every tool
        # (glusterd, two bricks and two clients share the cores). Bounded: no new run once the
        # row has had 3 minutes and 2 runs.
        started = time.time()
        for r in range(runs):
            if r >= 2 and time.time() - started > 180:
                log(f"  [{name}] {r} runs: the row's 3 minutes are up")
                c["note"] += f"; {r} runs (the row's 3-minute budget)"
                break
            for i, (tool, what, n_rx) in enumerate(tools):
                sub = f"{kind}-{r}-{i}"
                sync()
                if n_rx:
                    t = self.gluster_isocket_once(name, vol, src, manifest, tool, what, n_rx, sub)
                else:
                    t = self.gluster_rsync_once(name, vol, rsyncd, src, manifest, what, sub)
                if kind == "big":
                    rmtree(vol.outside(f"{vol.mounts[0]}/{sub}"))
                    rmtree(vol.outside(f"{rsyncd.module}/{sub}"))
                if t is None:
                    continue
                v = total / t / 1e6 if unit == "MB/s" else len(manifest) / t
                self.res.add(name, tool, v)
                log(f"  [{name}] run {r + 1} {tool}: {fmt(v)} {unit} ({t:.2f} s)")
        one = med(c["tools"].get("isocket", []))
        two = med(c["tools"].get("isocket, 2 receivers", []))
        rs = med(c["tools"].get("rsync -a", []))
        c["extra"]["two_over_one"] = two / one if one else float("nan")
        c["extra"]["over_rsync"] = one / rs if rs else float("nan")
        said = c["extra"].get("receiver_says")
        for label, per_run in c["extra"].get("stored_per_receiver", {}).items():
            c["note"] += (f"; {label}: files stored by receiver A, B in each run: "
                          + ", ".join("/".join(str(x) for x in run) for run in per_run))
        c["note"] += (f"; two receivers ÷ one: {fmt(c['extra']['two_over_one'])}×"
                      + (f"; the receiver logged \"{said}\"" if said else ""))
        discard(src, now=kind == "big")

    def gluster_isocket_once(self, case, vol, src, manifest, label, isocket, n_rx, sub):
        """One run into <mount>/<sub>, a receiver per mount (A, then B) on that one root.
        Returns the seconds, or None when a file is missing, wrong or unmarked."""
        roots = [f"{m}/{sub}" for m in vol.mounts[:n_rx]]
        os.makedirs(vol.outside(roots[0]))
        rxs = []
        try:
            for i, root in enumerate(roots):
                rxs.append(NsReceiver(isocket, vol, root, self.lg(f"gluster-receive-{sub}-{i}")))
            to = ",".join(f"127.0.0.1:{rx.port}" for rx in rxs)
            t, rc, _ = run_timed([isocket, "send", "--root", src, "--to", to, "--source", "ed",
                                  "--once"], self.lg(f"gluster-send-{sub}"))
        finally:
            for rx in rxs:
                rx.stop()
        c = self.res.cases[case]
        stored = []  # files each receiver stored (its log's "stored …" lines)
        for i in range(n_rx):
            with open(self.lg(f"gluster-receive-{sub}-{i}"), "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            stored.append(sum(1 for l in lines if "isocket.recv: stored " in l))
            said = next((l for l in lines if "receive root on" in l), None)
            if said:
                c["extra"]["receiver_says"] = said[said.index("receive root on"):].strip()
        if n_rx > 1:
            c["extra"].setdefault("stored_per_receiver", {}).setdefault(label, []).append(stored)
            log(f"  [{case}] {label}: files stored by receiver A, B: {stored}")
        bad = verify_tree(vol.outside(f"{roots[0]}/ed"), manifest)
        um, uw = unmarked(src, manifest)
        reset_marks(src, manifest)
        if rc != 0 or bad or um or uw:
            self.res.fail(case, f"{label}: exit {rc}, {bad} files missing/wrong on the volume, "
                                f"{um} unmarked, {uw} dbtags without finished.watch")
            return None
        return t

    def gluster_rsync_once(self, case, vol, rsyncd, src, manifest, flags, sub):
        t, rc, _ = run_timed(["rsync", *flags, src + "/", rsyncd.url(sub)],
                             self.lg(f"gluster-rsync-{sub}"))
        bad = verify_tree(vol.outside(f"{rsyncd.module}/{sub}"), manifest)
        if rc != 0 or bad:
            self.res.fail(case, f"rsync {' '.join(flags)}: exit {rc}, {bad} missing/wrong")
            return None
        return t

    def tls_keys(self):
        """A key per side (isocket keygen), the ED "ed" listed: (receiver args, sender args)."""
        d = os.path.join(self.tmp, "keys")
        os.makedirs(d, exist_ok=True)
        fp = {}
        for name in ("drms", "ed"):
            out = subprocess.run([self.isocket, "keygen", "--cert", f"{d}/{name}.crt", "--key",
                                  f"{d}/{name}.key", "--name", name, "--force"],
                                 check=True, capture_output=True, text=True)
            fp[name] = out.stdout.strip()
        with open(f"{d}/peers", "w") as f:
            f.write(f"ed {fp['ed']}\n")
        return ([f"--cert={d}/drms.crt", f"--key={d}/drms.key", f"--peers={d}/peers"],
                [f"--cert={d}/ed.crt", f"--key={d}/ed.key", f"--receiver-fingerprint={fp['drms']}"])

    def case_tls(self):
        """TLS 1.3 against plain TCP, the same files, alternating in one run: 1 GiB and 10k × 4 KiB."""
        rx_tls, tx_tls = self.tls_keys()
        names = []
        big = (256 if self.a.quick else 1024) * MiB
        count = 2000 if self.a.quick else 10000
        for kind, label, unit in (("big", f"tls: 1 × {big // MiB} MiB", "MB/s"),
                                  ("small", f"tls: {count} × 4 KiB in 10 dbtags", "files/s")):
            self.res.case(label, unit, note="isocket = TLS 1.3 with pinned keys; peer: plain TCP")
            src = os.path.join(self.tmp, f"src-tls-{kind}")
            discard(src)
            log(f"[{label}] generating")
            if kind == "big":
                manifest = make_dbtag(src, "DC000001", 1, big, 1, prefix="big")
            else:
                manifest = {}
                for d in range(10):
                    manifest.update(make_dbtag(src, f"DC{d + 1:06d}", count // 10, 4096, 200 + d))
            self.few_files = kind == "big"
            total = sum(s for s, _ in manifest.values())
            runs = [(tool, rx_tls, tx_tls) for tool, _ in self.builds("isocket")]
            runs += [(tool, (), ()) for tool, _ in self.builds("isocket plain")]
            for r in range(self.a.runs):
                for tool, rx_extra, tx_extra in runs:
                    sync()
                    t, ok, _ = self.isocket_once(label, src, manifest, extra=tx_extra,
                                                 rx_extra=rx_extra, label=tool)
                    if not ok:
                        continue
                    v = total / t / 1e6 if unit == "MB/s" else len(manifest) / t
                    self.res.add(label, tool, v)
                    log(f"  [{label}] run {r + 1} {tool}: {fmt(v)} {unit} ({t:.2f} s)")
            self.few_files = False
            discard(src, now=True)
            names.append(label)
        return names

    def case_medium(self):
        count = 200 if self.a.quick else 1000
        name = f"medium: {count} × 1 MiB"
        self.res.case(name, "MB/s")
        src = os.path.join(self.tmp, "src-medium")
        discard(src)
        log(f"[{name}] generating")
        manifest = make_dbtag(src, "DC000001", count, MiB, 7)
        self.few_files = True
        self.throughput_case(name, src, manifest,
                             [("rsync -a", ["-a"]), ("rsync -aW", ["-aW"]),
                              ("rsync -a --fsync", ["-a", "--fsync"])], "MB/s")
        self.few_files = False
        discard(src, now=True)
        return name

    def case_live(self):
        count = 200
        name = f"live: {count} × 64 KiB every 50 ms"
        c = self.res.case(name, "ms p99", higher_better=False,
                          note="close → the final name appears on the receiver "
                               "(rename or link; isocket: after sync)")
        c["extra"]["p50"] = {}
        runs = self.a.runs
        for r in range(runs):
            for label, isocket in self.builds():
                self.isocket_live(name, count, label, isocket)
            # lsyncd
            if shutil.which("lsyncd"):
                self.lsyncd_live(name, count)
        return name

    def isocket_live(self, name, count, label, isocket):
        src = os.path.join(self.tmp, "src-live")
        rx_root = os.path.join(self.tmp, "rx-live")
        discard(src)
        discard(rx_root)
        os.makedirs(os.path.join(src, "DC000001"))
        arrive = os.path.join(rx_root, "ed", "DC000001")
        os.makedirs(arrive)
        rx = Receiver(isocket, rx_root, self.lg("live-receive"))
        with open(self.lg("live-send"), "ab") as lf:
            snd = subprocess.Popen([isocket, "send", "--root", src, "--to",
                                    f"127.0.0.1:{rx.port}", "--source", "ed"],
                                   stdout=lf, stderr=lf)
        out = subprocess.run([self.probe, os.path.join(src, "DC000001"), arrive, str(count),
                              str(64 * 1024), "50", "5000"], capture_output=True, text=True)
        time.sleep(0.5)  # let the last marks land
        snd.send_signal(signal.SIGTERM)
        snd.wait()
        rx.stop()
        self.record_live(name, label, out)
        files = [f for f in os.listdir(os.path.join(src, "DC000001")) if f.endswith(".dat")]
        unm = sum(1 for f in files
                  if not os.stat(os.path.join(src, "DC000001", f)).st_mode & 0o020)
        if unm:
            self.res.fail(name, f"{label}: {unm} files not marked")
        bad = sum(1 for f in files
                  if file_md5(os.path.join(src, "DC000001", f)) != file_md5(os.path.join(arrive, f)))
        if bad:
            self.res.fail(name, f"{label}: {bad} files differ on the receiver")
        discard(src)
        discard(rx_root)

    def record_live(self, name, tool, out):
        try:
            j = json.loads(out.stdout)
        except ValueError:
            self.res.fail(name, f"{tool}: probe failed: {out.stderr.strip()}")
            return
        if j["arrived"] != j["count"]:
            self.res.fail(name, f"{tool}: {j['count'] - j['arrived']} files never arrived")
            return
        self.res.add(name, tool, j["p99_ms"])
        self.res.cases[name]["extra"]["p50"].setdefault(tool, []).append(j["p50_ms"])
        self.res.cases[name]["extra"].setdefault("raw", {}).setdefault(tool, []).append(j["latencies_ms"])
        log(f"  [{name}] {tool}: p50 {j['p50_ms']:.1f} ms, p99 {j['p99_ms']:.1f} ms, max {j['max_ms']:.1f} ms")

    def lsyncd_live(self, name, count):
        src = os.path.join(self.tmp, "src-lsyncd")
        discard(src)
        os.makedirs(src)
        dest = os.path.join(self.rsyncd.module, "live")
        discard(dest)
        os.makedirs(dest)
        conf = os.path.join(self.tmp, "lsyncd.lua")
        with open(conf, "w") as f:
            f.write('settings { nodaemon = true, logfile = "%s", statusFile = "%s/lsyncd.status" }\n'
                    'sync { default.rsync, source = "%s/", target = "%s", delay = 0,\n'
                    '       rsync = { archive = true } }\n'
                    % (self.lg("live-lsyncd"), self.tmp, src, self.rsyncd.url("live")))
        ls = subprocess.Popen(["lsyncd", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = subprocess.run([self.probe, src, dest, str(count), str(64 * 1024), "50", "5000"],
                             capture_output=True, text=True)
        ls.terminate()
        ls.wait()
        self.record_live(name, "lsyncd delay=0", out)
        discard(src)
        discard(dest)

    def case_idle(self):
        secs = 10 if self.a.quick else 60
        name = f"idle: {secs} s, live dbtag, nothing written"
        c = self.res.case(name, "CPU s", higher_better=False,
                          note="utime+stime of sender + receiver (isocket) or lsyncd (+ rsync daemon)")
        src = os.path.join(self.tmp, "src-idle")
        rx_root = os.path.join(self.tmp, "rx-idle")
        # This build also with Prometheus metrics on both sides (issue 16: status traffic and
        # bookkeeping cost nothing measurable), scraped once at the start and once at the end.
        variants = [(label, isocket, False) for label, isocket in self.builds()]
        variants.insert(1, ("isocket, metrics on", self.isocket, True))
        for r in range(self.a.runs):
            for label, isocket, metrics in variants:
                discard(src)
                discard(rx_root)
                make_dbtag(src, "DC000001", 5, 4096, 3, finished=False)
                rx_port, tx_port = (free_port(), free_port()) if metrics else (0, 0)
                rx = Receiver(isocket, rx_root, self.lg("idle-receive"),
                              ["--metrics", f"127.0.0.1:{rx_port}"] if metrics else ())
                with open(self.lg("idle-send"), "ab") as lf:
                    snd = subprocess.Popen([isocket, "send", "--root", src, "--to",
                                            f"127.0.0.1:{rx.port}", "--source", "ed",
                                            *(["--metrics", f"127.0.0.1:{tx_port}"]
                                              if metrics else [])],
                                           stdout=lf, stderr=lf)
                deadline = time.time() + 20
                last = os.path.join(rx_root, "ed", "DC000001", "data-000005.dat")
                while not os.path.exists(last) and time.time() < deadline:
                    time.sleep(0.05)
                time.sleep(1.0)
                if metrics:
                    scrape(rx_port)
                    scrape(tx_port)
                c0 = cpu_seconds(snd.pid) + cpu_seconds(rx.p.pid)
                time.sleep(secs)
                if metrics:
                    scrape(rx_port)
                    scrape(tx_port)
                c1 = cpu_seconds(snd.pid) + cpu_seconds(rx.p.pid)
                snd.send_signal(signal.SIGTERM)
                snd.wait()
                rx.stop()
                self.res.add(name, label, c1 - c0)
                log(f"  [{name}] {label}: {c1 - c0:.3f} CPU s")
            if shutil.which("lsyncd") and r < 2:  # a reference only: two runs are enough
                dest = os.path.join(self.rsyncd.module, "idle")
                discard(dest)
                conf = os.path.join(self.tmp, "lsyncd-idle.lua")
                with open(conf, "w") as f:
                    f.write('settings { nodaemon = true, logfile = "%s" }\n'
                            'sync { default.rsync, source = "%s/DC000001/", target = "%s", delay = 0 }\n'
                            % (self.lg("idle-lsyncd"), src, self.rsyncd.url("idle")))
                ls = subprocess.Popen(["lsyncd", conf], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
                time.sleep(2.0)
                c0 = cpu_seconds(ls.pid) + cpu_seconds(self.rsyncd.p.pid)
                time.sleep(secs)
                c1 = cpu_seconds(ls.pid) + cpu_seconds(self.rsyncd.p.pid)
                ls.terminate()
                ls.wait()
                self.res.add(name, "lsyncd delay=0", c1 - c0)
                log(f"  [{name}] lsyncd: {c1 - c0:.3f} CPU s")
                discard(dest)
        discard(src)
        discard(rx_root)
        return name

    def case_restart(self):
        name = "restart: 1000 done dbtags + 1 live"
        c = self.res.case(name, "s to 'watching live dbtag'", higher_better=False)
        c["extra"]["first_file_s"] = []
        src = os.path.join(self.tmp, "src-restart")
        rx_root = os.path.join(self.tmp, "rx-restart")
        discard(src)
        discard(rx_root)
        log(f"[{name}] generating")
        for d in range(1000):
            files = make_dbtag(src, f"DC{d + 1:06d}", 10, 4096, 1000 + d)
            for rel in files:
                os.chmod(os.path.join(src, rel), 0o664)
            open(os.path.join(src, f"DC{d + 1:06d}", "finished.watch"), "w").close()
        live = os.path.join(src, "DC009999")
        os.makedirs(live)
        # One receiver per build (its own root), running through all the runs.
        receivers = []
        for label, isocket in self.builds():
            tag = "-baseline" if label.endswith(BASELINE) else ""
            root = rx_root + tag
            discard(root)
            receivers.append((label, tag, isocket, root,
                              Receiver(isocket, root, self.lg(f"restart-receive{tag}"))))
        for r in range(self.a.runs):
            for label, tag, isocket, root, rx in receivers:
                logpath = self.lg(f"restart-send-{r}{tag}")
                arrive = os.path.join(root, "ed", "DC009999")
                with open(logpath, "wb") as lf:
                    t0 = time.perf_counter()
                    snd = subprocess.Popen([isocket, "send", "--root", src, "--to",
                                            f"127.0.0.1:{rx.port}", "--source", "ed"],
                                           stdout=lf, stderr=lf)
                    fname = f"after-start-{r}{tag}.dat"
                    with open(os.path.join(live, fname), "wb") as f:
                        f.write(os.urandom(4096))
                    ready = arrived = None
                    deadline = t0 + 30
                    while (ready is None or arrived is None) and time.perf_counter() < deadline:
                        if ready is None and b"watching live dbtag" in open(logpath, "rb").read():
                            ready = time.perf_counter() - t0
                        if arrived is None and os.path.exists(os.path.join(arrive, fname)):
                            arrived = time.perf_counter() - t0
                        time.sleep(0.002)
                snd.send_signal(signal.SIGTERM)
                snd.wait()
                if ready is None or arrived is None:
                    who = "" if label == "isocket" else f"{label}: "
                    self.res.fail(name, f"{who}not ready/arrived within 30 s "
                                        f"(ready={ready}, arrived={arrived})")
                    continue
                self.res.add(name, label, ready)
                c["extra"].setdefault("first_file_s" + label[len("isocket"):], []).append(arrived)
                log(f"  [{name}] run {r + 1} {label}: ready {ready:.3f} s, "
                    f"first file durable {arrived:.3f} s")
        for _, _, _, root, rx in receivers:
            rx.stop()
            discard(root)
        discard(src)
        return name

    def case_many(self):
        n_ed = 10 if self.a.quick else 50
        per = 16
        name = f"many EDs: {n_ed} × {per} × 1 MiB at once"
        c = self.res.case(name, "MB/s aggregate",
                          note=f"one ED = one sender with the same {n_ed * per} files")
        c["extra"]["lost"] = []
        base = os.path.join(self.tmp, "src-many")
        discard(base)
        log(f"[{name}] generating")
        manifests = []
        for e in range(n_ed):
            manifests.append(make_dbtag(os.path.join(base, f"ed{e:02d}"), "DC000001", per, MiB, 500 + e))
        one_src = os.path.join(base, "one")
        one_manifest = {}
        for e in range(n_ed):
            one_manifest.update(make_dbtag(one_src, f"DC{e + 1:06d}", per, MiB, 500 + e))
        total = n_ed * per * MiB
        for r in range(self.a.runs):
            for label, _ in self.builds("isocket, one ED"):
                sync()
                t, ok, _ = self.isocket_once(name, one_src, one_manifest, full_verify=False,
                                             label=label)
                if ok:
                    self.res.add(name, label, total / t / 1e6)
                    log(f"  [{name}] run {r + 1} {label[len('isocket, '):]}: "
                        f"{total / t / 1e6:.1f} MB/s ({t:.2f} s)")
            for label, isocket in self.builds():
                sync()
                self.many_isocket(name, r, base, manifests, total, label, isocket)
            # rsync: as many clients at once into the daemon
            sync()
            os.makedirs(os.path.join(self.rsyncd.module, "many"), exist_ok=True)
            t0 = time.perf_counter()
            procs = [subprocess.Popen(["rsync", "-a", os.path.join(base, f"ed{e:02d}") + "/",
                                       self.rsyncd.url(f"many/ed{e:02d}")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for e in range(n_ed)]
            os.makedirs(os.path.join(self.rsyncd.module, "many"), exist_ok=True)
            rcs = [p.wait() for p in procs]
            t = time.perf_counter() - t0
            if any(rcs):
                self.res.fail(name, f"rsync: exit codes {sorted(set(rcs))}")
            else:
                self.res.add(name, f"rsync -a ×{n_ed}", total / t / 1e6)
            discard(os.path.join(self.rsyncd.module, "many"))
        discard(base)
        return name

    def many_isocket(self, name, r, base, manifests, total, label, isocket):
        """One run of every ED at once into one receiver, all of the build `isocket`."""
        c = self.res.cases[name]
        n_ed = len(manifests)
        rx_root = os.path.join(self.tmp, "rx-many")
        discard(rx_root)
        rx = Receiver(isocket, rx_root, self.lg("many-receive"))
        procs = []
        t0 = time.perf_counter()
        with open(self.lg("many-send"), "ab") as lf:
            for e in range(n_ed):
                procs.append(subprocess.Popen(
                    [isocket, "send", "--root", os.path.join(base, f"ed{e:02d}"), "--to",
                     f"127.0.0.1:{rx.port}", "--source", f"ed{e:02d}", "--once"],
                    stdout=lf, stderr=lf))
            rcs = [p.wait() for p in procs]
        t = time.perf_counter() - t0
        rx.stop()
        lost = 0
        for e in range(n_ed):
            src = os.path.join(base, f"ed{e:02d}")
            bad = verify_tree(os.path.join(rx_root, f"ed{e:02d}"), manifests[e])
            um, _ = unmarked(src, manifests[e])
            lost += max(bad, um)
            reset_marks(src, manifests[e])
        suffix = label[len("isocket"):]  # "" or BASELINE
        c["extra"].setdefault("lost" + suffix, []).append(lost)
        if lost or any(rcs):
            who = f"{label}: " if suffix else ""
            self.res.fail(name, f"{who}{lost} files lost/unmarked, exit codes {sorted(set(rcs))}")
        else:
            self.res.add(name, label, total / t / 1e6)
        log(f"  [{name}] run {r + 1} {n_ed} EDs{suffix}: {total / t / 1e6:.1f} MB/s ({t:.2f} s), "
            f"lost {lost}")
        discard(rx_root)

    def case_queue(self):
        count = 20000 if self.a.quick else 100000
        name = f"queue: {count} files queued"
        c = self.res.case(name, "MiB sender peak RSS", higher_better=False,
                          note="VmHWM (sampled every 10 ms) of `isocket send --once` / the rsync client")
        c["extra"]["files_per_s"] = {}
        src = os.path.join(self.tmp, "src-queue")
        discard(src)
        log(f"[{name}] generating")
        manifest = {}
        for d in range(10):
            manifest.update(make_dbtag(src, f"DC{d + 1:06d}", count // 10, 1024, 2000 + d))
        runs = min(self.a.runs, 3)
        for r in range(runs):
            for label, _ in self.builds():
                sync()
                t, ok, rss = self.isocket_once(name, src, manifest, full_verify=False, label=label)
                if ok:
                    self.res.add(name, label, rss / 1024)
                    c["extra"]["files_per_s"].setdefault(label, []).append(count / t)
                    log(f"  [{name}] {label}: {rss / 1024:.1f} MiB, {count / t:.0f} files/s")
            sync()
            t, rss = self.rsync_once(name, src, manifest, ["-a"], verify=False)
            self.res.add(name, "rsync -a", rss / 1024)
            c["extra"]["files_per_s"].setdefault("rsync -a", []).append(count / t)
            log(f"  [{name}] rsync -a: {rss / 1024:.1f} MiB, {count / t:.0f} files/s")
        discard(src)
        return name

    # -- issue 19: long-running senders, a live dbtag during catch-up, fleets -----------------
    def fleet_receiver(self, isocket, root, logname):
        """A receiver with Prometheus metrics on a free port (per-ED counters, connected EDs) and
        a control socket of its own (not the default place another daemon may hold)."""
        mport = free_port()
        sock = os.path.join(self.tmp, "ctl", f"receiver-{mport}.sock")
        os.makedirs(os.path.dirname(sock), exist_ok=True)
        rx = Receiver(isocket, root, self.lg(logname),
                      ["--metrics", f"127.0.0.1:{mport}", "--control-socket", sock])
        rx.metrics = mport
        return rx

    def start_senders(self, isocket, rx, roots, sources, logname):
        """One long-running `isocket send` (not --once) per (root, source), each with its own
        control socket. Returns the Popen objects (stop them with stop_procs)."""
        procs = []
        ctl = os.path.join(self.tmp, "ctl")
        os.makedirs(ctl, exist_ok=True)
        with open(self.lg(logname), "ab") as lf:
            try:
                for root, source in zip(roots, sources):
                    procs.append(subprocess.Popen(
                        [isocket, "send", "--root", root, "--to", f"127.0.0.1:{rx.port}",
                         "--source", source, "--control-socket",
                         os.path.join(ctl, f"{source}-{rx.port}.sock")],
                        stdout=lf, stderr=lf))
            except OSError:
                stop_procs(procs)
                raise
        return procs

    def wait_connected(self, rx, sources, procs, timeout):
        """Until the receiver's metrics say every source is connected (bounded)."""
        want = set(sources)
        deadline = time.time() + timeout
        while True:
            try:
                up = {s for s, v in metric_by_source(scrape(rx.metrics),
                                                     "isocket_receiver_source_connected").items()
                      if v == 1}
            except OSError:  # not serving yet
                up = set()
            if want <= up:
                return
            dead = sum(1 for p in procs if p.poll() is not None)
            if dead or rx.p.poll() is not None or time.time() > deadline:
                waited = time.time() - deadline + timeout
                raise RuntimeError(f"{len(want - up)} of {len(want)} senders not connected "
                                   f"({dead} exited) after {waited:.0f} s")
            time.sleep(0.5)

    # livecatchup ------------------------------------------------------------------------------
    def case_livecatchup(self):
        """A backlog of closed dbtags moves in while the live dbtag gets a 64 KiB file every
        50 ms (the latency probe); against the same backlog alone, in the same run."""
        total = (200 if self.a.quick else 2048) * MiB
        tags, per = 20, 16
        size = total // (tags * per)
        name = (f"live during catch-up: {total // MiB} MiB backlog in {tags} dbtags "
                f"+ 64 KiB every 50 ms")
        c = self.res.case(name, "ms live p99", higher_better=False,
                          note="one long-running sender; the closed dbtags are renamed into its "
                               "root at once after the probe's warm-up file arrived; live p99 "
                               "over the files closed while the backlog moved (close → durable "
                               "final name on the receiver); backlog MB/s = its bytes ÷ (renamed "
                               "in → every finished.watch written), against the same backlog "
                               "alone (same sender set-up, nothing written live) in the same run")
        for k in ("p50", "backlog_alone_MBps", "backlog_live_MBps", "backlog_ratio", "live_files"):
            c["extra"][k] = {}
        base = os.path.join(self.tmp, "src-catchup")
        discard(base)
        stage = os.path.join(base, "stage")
        root = os.path.join(base, "root")
        log(f"[{name}] generating {tags} × {per} × {size / MiB:.2f} MiB")
        manifest = {}
        for d in range(tags):
            manifest.update(make_dbtag(stage, f"DC{d + 1:06d}", per, size, 3000 + d))
        os.makedirs(root)
        self.few_files = True
        for r in range(self.a.runs):
            for label, isocket in self.builds():
                sync()
                alone = self.catchup_once(name, isocket, label, stage, root, manifest, None)
                if alone is None:
                    continue
                # Enough live files to outlast the backlog at half its rate alone.
                count = max(40, int(2 * alone / 0.05) + 20)
                sync()
                live = self.catchup_once(name, isocket, label, stage, root, manifest, count)
                if live is None:
                    continue
                t, j, t0, t1 = live
                lat = [l for l, cl in zip(j["latencies_ms"], j["closed_ms"])
                       if t0 * 1000 <= cl <= t1 * 1000]
                if len(lat) < (5 if self.a.quick else 20):  # --quick: 200 MiB pass in ~0.5 s
                    self.res.fail(name, f"{label}: only {len(lat)} live files closed while the "
                                        f"backlog moved")
                    continue
                p99, p50 = nearest_rank(lat, 99), nearest_rank(lat, 50)
                ra, rl = total / alone / 1e6, total / t / 1e6
                self.res.add(name, label, p99)
                for k, v in (("p50", p50), ("backlog_alone_MBps", ra), ("backlog_live_MBps", rl),
                             ("backlog_ratio", rl / ra), ("live_files", len(lat))):
                    c["extra"][k].setdefault(label, []).append(v)
                log(f"  [{name}] run {r + 1} {label}: live p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                    f"max {max(lat):.1f} ms over {len(lat)} files; backlog {rl:.0f} MB/s "
                    f"({t:.2f} s) vs {ra:.0f} MB/s alone ({alone:.2f} s): {rl / ra:.2f}×")
        self.few_files = False
        discard(base, now=True)
        return name

    def catchup_once(self, name, isocket, label, stage, root, manifest, count):
        """One sender, a fresh receiver; the backlog dbtags renamed from stage into root at once.
        count None: nothing live (returns the backlog's seconds); else the probe writes count
        files into the live dbtag (returns (seconds, probe JSON, t0, t1), monotonic s).
        None when the run failed (recorded)."""
        live = os.path.join(root, "DC000021")
        rx_root = os.path.join(self.tmp, "rx-catchup")
        discard(rx_root, now=True)
        discard(live, now=True)
        os.makedirs(live)
        arrive = os.path.join(rx_root, "ed", "DC000021")
        os.makedirs(arrive)
        tags = sorted({rel.split("/", 1)[0] for rel in manifest})
        total = sum(s for s, _ in manifest.values())
        rx = self.fleet_receiver(isocket, rx_root, "catchup-receive")
        snd, probe, ok, result = [], None, False, None
        try:
            snd = self.start_senders(isocket, rx, [root], ["ed"], "catchup-send")
            if count is None:
                with open(os.path.join(live, "alone-warmup.dat"), "wb") as f:
                    f.write(os.urandom(64 * 1024))
                warm = os.path.join(arrive, "alone-warmup.dat")
            else:
                probe = subprocess.Popen([self.probe, live, arrive, str(count), str(64 * 1024),
                                          "50", "5000"], stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
                warm = os.path.join(arrive, "probe-warmup.dat")
            deadline = time.time() + 30
            while not os.path.exists(warm):
                if time.time() > deadline or (probe and probe.poll() is not None):
                    raise RuntimeError("the warm-up file did not arrive within 30 s")
                time.sleep(0.002)
            t0 = time.monotonic()
            for t in tags:
                os.rename(os.path.join(stage, t), os.path.join(root, t))
            watches = [os.path.join(root, t, "finished.watch") for t in tags]
            deadline = time.time() + 600
            while watches:
                watches = [w for w in watches if not os.path.exists(w)]
                if time.time() > deadline:
                    raise RuntimeError(f"{len(watches)} backlog dbtags not finished in 600 s")
                time.sleep(0.005)
            t1 = time.monotonic()
            if probe:
                out, _ = probe.communicate(timeout=120)
                j = json.loads(out)
                if j["arrived"] != j["count"]:
                    raise RuntimeError(f"{j['count'] - j['arrived']} live files never arrived")
                result = (t1 - t0, j, t0, t1)
            else:
                result = t1 - t0
            ok = True
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
            self.res.fail(name, f"{label}{'' if count is None else ', live'}: {e}")
        finally:
            if probe:
                stop_procs([probe])
            stop_procs(snd)
            rx.stop()
        for t in tags:
            if os.path.exists(os.path.join(root, t)):
                os.rename(os.path.join(root, t), os.path.join(stage, t))
        if ok:
            bad = verify_tree(os.path.join(rx_root, "ed"), manifest, full=False)
            um, uw = unmarked(stage, manifest)
            if bad or um or uw:
                self.res.fail(name, f"{label}: {bad} backlog files missing/wrong on the "
                                    f"receiver, {um} unmarked, {uw} dbtags without finished.watch")
                result = None
        reset_marks(stage, manifest)
        discard(rx_root, now=True)
        return result

    # fleet -----------------------------------------------------------------------------------
    def fleet_pool(self, base, count, seed):
        """count × 1 MiB files in base/pool: {name: (size, md5)}."""
        pool = os.path.join(base, "pool")
        os.makedirs(pool, exist_ok=True)
        rng = random.Random(seed)
        return {f"f{i:06d}.dat": (MiB, write_file(os.path.join(pool, f"f{i:06d}.dat"), MiB, rng))
                for i in range(count)}

    def case_fleet(self):
        """50 and 200 long-running senders, connected and idle before the clock starts; then the
        same 800 files (1 MiB) are renamed at once into their live dbtags, split evenly; against
        one sender that gets all of them in the same run."""
        count = 200 if self.a.quick else 800  # --quick: the same fleets, 200 × 1 file at 200
        sizes = (50, 200)
        names = {n: f"fleet: {n} long-running EDs × {count // n} × 1 MiB at once" for n in sizes}
        for n, nm in names.items():
            c = self.res.case(nm, "MB/s aggregate",
                              note=f"senders connected and idle before the clock; the clock runs "
                                   f"from renaming the files into the live dbtags to the last "
                                   f"one marked sent; one ED = one sender with the same "
                                   f"{count} files; RSS = receiver VmHWM")
            c["extra"]["rss_mib"] = {}
            c["extra"]["lost"] = {}
        base = os.path.join(self.tmp, "src-fleet")
        discard(base)
        log(f"[fleet] generating {count} × 1 MiB")
        pool = self.fleet_pool(base, count, 7000)
        runs = min(self.a.runs, 3)
        for r in range(runs):
            for label, isocket in self.builds():
                for n in (1,) + sizes:
                    sync()
                    got = self.fleet_once(names, isocket, label, base, pool, n)
                    if got is None:
                        continue
                    t, rss, lost = got
                    v = count * MiB / t / 1e6
                    tool = label.replace("isocket", "isocket, one ED") if n == 1 else label
                    for nn, nm in names.items():
                        if n == 1 or n == nn:
                            self.res.add(nm, tool, v)
                            self.res.cases[nm]["extra"]["rss_mib"].setdefault(tool, []).append(
                                rss / 1024)
                            self.res.cases[nm]["extra"]["lost"].setdefault(tool, []).append(lost)
                    log(f"  [fleet] run {r + 1} {label} {n} ED(s): {v:.0f} MB/s ({t:.2f} s), "
                        f"receiver VmHWM {rss / 1024:.1f} MiB, lost {lost}")
        discard(base)
        return [names[n] for n in sizes]

    def fleet_once(self, names, isocket, label, base, pool, n):
        """n senders, each with an empty live dbtag; pool's files split evenly among them (all to
        one when n == 1). Returns (seconds, receiver VmHWM KiB, files lost), or None."""
        case = names[max(names)] if n == 1 else names[n]
        sources = [f"ed{e:03d}" for e in range(n)]
        roots = [os.path.join(base, "eds", s) for s in sources]
        for root in roots:
            discard(root)
            os.makedirs(os.path.join(root, "DC000001"))
        files = sorted(pool)
        where = {f: i * n // len(files) for i, f in enumerate(files)}  # file → ED index
        rx_root = os.path.join(self.tmp, "rx-fleet")
        discard(rx_root)
        rx = self.fleet_receiver(isocket, rx_root, "fleet-receive")
        procs, moved, result = [], [], None
        room = contextlib.ExitStack()  # inotify_room while the senders run
        try:
            t_start = time.time()
            room.enter_context(inotify_room(n))
            procs = self.start_senders(isocket, rx, roots, sources, "fleet-send")
            self.wait_connected(rx, sources, procs, 60 + n)
            log(f"  [fleet] {n} sender(s) connected after {time.time() - t_start:.1f} s")
            time.sleep(1.0)  # let the connections' start (hello, status) settle
            pending = []
            t0 = time.perf_counter()
            for f in files:
                dst = os.path.join(roots[where[f]], "DC000001", f)
                os.rename(os.path.join(base, "pool", f), dst)
                moved.append((f, dst))
                pending.append(dst)
            deadline = time.time() + 600
            while pending:
                pending = [p for p in pending if not os.stat(p).st_mode & 0o020]
                if time.time() > deadline:
                    break
                time.sleep(0.01)
            t = time.perf_counter() - t0
            rss = vm_hwm_kib(rx.p.pid)
            lost = 0
            for f, dst in moved:
                size, md5 = pool[f]
                p = os.path.join(rx_root, sources[where[f]], "DC000001", f)
                try:
                    if not os.stat(dst).st_mode & 0o020 or file_md5(p) != md5:
                        lost += 1
                except FileNotFoundError:
                    lost += 1
            if lost:
                self.res.fail(case, f"{label}, {n} ED(s): {lost} of {len(files)} files not "
                                    f"delivered or not marked (waited {t:.0f} s)")
            result = (t, rss, lost)
        except RuntimeError as e:
            self.res.fail(case, f"{label}, {n} ED(s): {e}")
        finally:
            stop_procs(procs)
            room.close()
            rx.stop()
            for f, dst in moved:
                os.chmod(dst, 0o644)
                os.rename(dst, os.path.join(base, "pool", f))
        # Into the trash (800 MiB a run): 800 files deleted now would bill the next run's
        # creations, one fleet size more than another (TRASH).
        discard(rx_root)
        return result

    # fairness --------------------------------------------------------------------------------
    def case_fairness(self):
        """10 long-running senders, connected and idle; closed dbtags renamed into every root at
        once, one ED with 10× the others' backlog. Jain's index of the EDs' delivered bytes
        (receiver's per-source counter) over 5 s windows while every ED still has work."""
        n_ed = 10
        # With a fair share a small ED is busy 10 × small ÷ aggregate rate. With 1 MiB files 10
        # EDs move ~800 MB/s here (many EDs): 3 disjoint 5 s windows would take 1.5 GB per small
        # ED (15 GB for the big one). Files of 128 KiB cost more per byte (185 MB/s on this
        # machine under load, 5 disjoint windows; an idle machine may be twice as fast): 512 MiB
        # each, the big one 5 GiB, 9.5 GiB in all (twice that on disk during a run). The index
        # is the median over 5 s windows starting every second (at least 3 needed: every ED busy
        # for 7 s); the disjoint windows are reported too. --quick: 1 s windows.
        fsize, small, win = (128 * 1024, 96, 1.0) if self.a.quick else (128 * 1024, 512, 5.0)
        per = small * MiB // fsize
        name = (f"fairness: {n_ed} EDs, {small} MiB each, one {10 * small} MiB "
                f"({fsize // 1024} KiB files), {win:g} s windows")
        c = self.res.case(name, "Jain's index (median over windows)",
                          note=f"per-ED bytes from the receiver's "
                               f"isocket_receiver_source_bytes_received_total, scraped every "
                               f"{win / 5:g} s; windows of {win:g} s, one starting at each "
                               f"scrape; a window counts while every ED still has bytes to "
                               f"deliver at its end")
        for k in ("windows", "disjoint_windows", "disjoint_index", "min_index", "fine_index",
                  "MBps"):
            c["extra"][k] = {}
        base = os.path.join(self.tmp, "src-fairness")
        discard(base)
        log(f"[{name}] generating")
        manifests = []
        pool = memoryview(random.Random(8000).randbytes(64 * MiB))
        for e in range(n_ed):
            stage = os.path.join(base, f"ed{e:02d}", "stage")
            m = {}
            for d in range(10 if e == 0 else 1):
                m.update(make_dbtag_fast(stage, f"DC{d + 1:06d}", per, fsize, pool,
                                         20 * e + d))
            manifests.append(m)
        self.few_files = True
        runs = min(self.a.runs, 3)
        for r in range(runs):
            for label, isocket in self.builds():
                sync()
                self.fairness_once(name, label, isocket, base, manifests, win, r)
        self.few_files = False
        discard(base, now=True)
        return name

    def fairness_once(self, name, label, isocket, base, manifests, win, r):
        c = self.res.cases[name]
        n_ed = len(manifests)
        sources = [f"ed{e:02d}" for e in range(n_ed)]
        roots = [os.path.join(base, s, "root") for s in sources]
        stages = [os.path.join(base, s, "stage") for s in sources]
        totals = [sum(s for s, _ in m.values()) for m in manifests]
        tags = [sorted({rel.split("/", 1)[0] for rel in m}) for m in manifests]
        for root in roots:
            discard(root, now=True)
            os.makedirs(os.path.join(root, "DC009999"))  # the live dbtag, nothing written
        rx_root = os.path.join(self.tmp, "rx-fairness")
        discard(rx_root, now=True)
        rx = self.fleet_receiver(isocket, rx_root, "fairness-receive")
        procs, samples, ok = [], [], False
        room = contextlib.ExitStack()  # inotify_room while the senders run
        try:
            room.enter_context(inotify_room(n_ed))
            procs = self.start_senders(isocket, rx, roots, sources, "fairness-send")
            self.wait_connected(rx, sources, procs, 60)
            time.sleep(1.0)
            step = win / 5
            b0 = source_counter(rx.metrics, "isocket_receiver_source_bytes_received_total")
            t0 = time.monotonic()
            for e in range(n_ed):
                for t in tags[e]:
                    os.rename(os.path.join(stages[e], t), os.path.join(roots[e], t))
            samples.append((0.0, [0] * n_ed))
            deadline = time.time() + 900
            k = 1
            while True:
                time.sleep(max(0.0, t0 + k * step - time.monotonic()))
                b = source_counter(rx.metrics, "isocket_receiver_source_bytes_received_total")
                got = [b.get(s, 0) - b0.get(s, 0) for s in sources]
                samples.append((time.monotonic() - t0, got))
                k += 1
                if all(g >= t for g, t in zip(got, totals)):
                    break
                if time.time() > deadline:
                    raise RuntimeError("not all delivered in 900 s")
            t_all = samples[-1][0]
            # Every finished.watch: all marked (bounded).
            deadline = time.time() + 60
            while not all(os.path.exists(os.path.join(roots[e], t, "finished.watch"))
                          for e in range(n_ed) for t in tags[e]):
                if time.time() > deadline:
                    break
                time.sleep(0.05)
            ok = True
        except RuntimeError as e:
            self.res.fail(name, f"{label}: {e}")
        finally:
            stop_procs(procs)
            room.close()
            rx.stop()
        for e in range(n_ed):
            for t in tags[e]:
                if os.path.exists(os.path.join(roots[e], t)):
                    os.rename(os.path.join(roots[e], t), os.path.join(stages[e], t))
        if ok:
            lost = 0
            for e in range(n_ed):
                bad = verify_tree(os.path.join(rx_root, sources[e]), manifests[e], full=False)
                um, uw = unmarked(stages[e], manifests[e])
                lost += max(bad, um) + uw
            if lost:
                self.res.fail(name, f"{label}: {lost} files lost/unmarked or dbtags unfinished")
                ok = False
        for e in range(n_ed):
            reset_marks(stages[e], manifests[e])
        discard(rx_root, now=True)
        if not ok:
            return
        windows = jain_windows(samples, totals, 5, 1)  # 5 s windows, one starting each second
        disjoint = jain_windows(samples, totals, 5)
        fine = jain_windows(samples, totals, 1)
        agg = sum(totals) / t_all / 1e6
        if len(windows) < 3:
            self.res.fail(name, f"{label}: only {len(windows)} {win:g} s window(s) with every ED "
                                f"busy (need 3): make the backlogs bigger")
        if windows:
            self.res.add(name, label, med(windows))
        for k, v in (("windows", len(windows)), ("disjoint_windows", len(disjoint)),
                     ("disjoint_index", med(disjoint)),
                     ("min_index", min(windows, default=float("nan"))),
                     ("fine_index", med(fine)), ("MBps", agg)):
            c["extra"][k].setdefault(label, []).append(v)
        done = [next((t for t, g in samples if g[e] >= totals[e]), t_all) for e in range(n_ed)]
        log(f"  [{name}] run {r + 1} {label}: Jain {fmt(med(windows))} median over "
            f"{len(windows)} windows (min {fmt(min(windows, default=float('nan')))}), "
            f"{fmt(med(disjoint))} over {len(disjoint)} disjoint ones, {win / 5:g} s windows "
            f"{fmt(med(fine))}; {agg:.0f} MB/s aggregate; each ED done at "
            + " ".join(f"{d:.1f}" for d in done) + " s")

    # idlefleet -------------------------------------------------------------------------------
    def case_idlefleet(self):
        n = 100 if self.a.quick else 500
        secs = 10 if self.a.quick else 60
        name = f"idle fleet: {n} connected senders, nothing to send, {secs} s"
        c = self.res.case(name, "receiver CPU s", higher_better=False,
                          note="utime+stime of `isocket receive` from /proc, from 2 s after every "
                               "sender is connected (receiver metrics) for the period; each "
                               "sender has an empty live dbtag")
        c["extra"]["senders_cpu_s"] = {}
        c["extra"]["rss_mib"] = {}
        base = os.path.join(self.tmp, "src-idlefleet")
        discard(base)
        sources = [f"ed{e:03d}" for e in range(n)]
        roots = [os.path.join(base, s) for s in sources]
        for root in roots:
            os.makedirs(os.path.join(root, "DC000001"))
        runs = min(self.a.runs, 3)
        for r in range(runs):
            for label, isocket in self.builds():
                rx_root = os.path.join(self.tmp, "rx-idlefleet")
                discard(rx_root)
                rx = self.fleet_receiver(isocket, rx_root, "idlefleet-receive")
                procs = []
                room = contextlib.ExitStack()  # inotify_room while the senders run
                try:
                    t_start = time.time()
                    room.enter_context(inotify_room(n))
                    procs = self.start_senders(isocket, rx, roots, sources, "idlefleet-send")
                    self.wait_connected(rx, sources, procs, 60 + n)
                    up = time.time() - t_start
                    time.sleep(2.0)
                    c0, s0 = cpu_seconds(rx.p.pid), sum(cpu_seconds(p.pid) for p in procs)
                    time.sleep(secs)
                    c1, s1 = cpu_seconds(rx.p.pid), sum(cpu_seconds(p.pid) for p in procs)
                    self.wait_connected(rx, sources, procs, 5)  # still all connected, alive
                    rss = vm_hwm_kib(rx.p.pid)
                    self.res.add(name, label, c1 - c0)
                    c["extra"]["senders_cpu_s"].setdefault(label, []).append(s1 - s0)
                    c["extra"]["rss_mib"].setdefault(label, []).append(rss / 1024)
                    log(f"  [{name}] run {r + 1} {label}: receiver {c1 - c0:.3f} CPU s, the "
                        f"{n} senders {s1 - s0:.3f} CPU s, receiver VmHWM {rss / 1024:.1f} MiB "
                        f"(all connected {up:.1f} s after start)")
                except (RuntimeError, OSError) as e:  # OSError: a process gone from /proc
                    self.res.fail(name, f"{label}: {e}")
                finally:
                    stop_procs(procs)
                    room.close()
                    rx.stop()
                discard(rx_root)
        discard(base)
        return name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 run: a few minutes")
    ap.add_argument("--runs", type=int, help="runs per case (default 5, --quick 1)")
    # gluster last: removing its volume frees tens of thousands of inodes (see TRASH).
    ap.add_argument("--cases", default="big,small,medium,live,idle,restart,many,queue,tls,"
                                        "shareddisk,disklimit,createlimit,gluster")
    ap.add_argument("--tmp", default="/var/tmp/isocket-bench", help="work directory (wiped)")
    ap.add_argument("--json", help="raw figures (default bench/results-<full|quick>.json in the build dir)")
    ap.add_argument("--results", help="write the table with the machine to this Markdown file")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--baseline-binary", metavar="PATH",
                    help="an older isocket build, run as well in every isocket case (sender and "
                         "receiver), interleaved run by run; the table adds new ÷ baseline")
    args = ap.parse_args()
    if args.cases == "all":  # the default list with the longer cases of issue 19, gluster last
        cases = ap.get_default("cases").split(",")
        at = cases.index("gluster") if "gluster" in cases else len(cases)
        args.cases = ",".join(cases[:at] + ["livecatchup", "fleet", "fairness", "idlefleet"]
                              + cases[at:])
    if args.runs is None:
        args.runs = 1 if args.quick else 5
    baseline = None
    if args.baseline_binary:
        baseline = os.path.abspath(args.baseline_binary)
        if not (os.path.isfile(baseline) and os.access(baseline, os.X_OK)):
            sys.exit(f"bench: --baseline-binary {args.baseline_binary}: not an executable file")
    os.umask(0o022)

    ensure_tools()
    if args.no_build:
        isocket = os.path.join(BUILD, "app", "isocket")
        probe = os.path.join(BUILD, "bench", "isocket-latency-probe")
    else:
        isocket, probe = build(args.jobs)
    global TRASH
    leftover = None
    if os.path.exists(args.tmp):
        # A run that was cut short: deleted at the end with this run's trees, not now (TRASH).
        leftover = f"{args.tmp}.old-{os.getpid()}"
        log(f"moving the previous work directory aside ({leftover}); deleted at the end")
        os.rename(args.tmp, leftover)
    os.makedirs(args.tmp)
    TRASH = os.path.join(args.tmp, "trash")
    mach = machine(args.tmp)
    if baseline:
        mach["baseline"] = {
            "path": baseline,
            "mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.stat(baseline).st_mtime)),
            "version": subprocess.run([baseline, "--version"], capture_output=True,
                                      text=True).stdout.strip() or "?",
        }
    log("machine:", json.dumps(mach))

    b = Bench(args, isocket, probe, baseline)
    names = {}
    started = time.time()
    try:
        for case in args.cases.split(","):
            log(f"== {case}")
            names[case] = getattr(b, "case_" + case)()
    finally:
        b.rsyncd.stop()
    elapsed = time.time() - started

    n = names
    targets = []
    if "big" in n:
        targets += [{"case": n["big"], "text": "≥ 1.2× rsync -aW", "check": ratio_target("rsync -aW", 1.2)},
                    {"case": n["big"], "text": "≥ 0.6× socat", "check": ratio_target("socat", 0.6)}]
    if "small" in n:
        targets.append({"case": n["small"], "text": "≥ 1.0× rsync -a (daemon, no fsync)",
                        "check": ratio_target("rsync -a", 1.0)})
    if "medium" in n:
        targets.append({"case": n["medium"], "text": "≥ 1.2× rsync -a", "check": ratio_target("rsync -a", 1.2)})
    if "live" in n:
        def live_check(c):
            p99 = med(c["tools"].get("isocket", []))
            p50 = med(c["extra"]["p50"].get("isocket", []))
            ls = med(c["tools"].get("lsyncd delay=0", []))
            return f"p50 {fmt(p50)} ms, p99 {fmt(p99)} ms (lsyncd p99 {fmt(ls)} ms)", p99 <= 50
        targets.append({"case": n["live"], "text": "p99 ≤ 50 ms", "check": live_check})
    if "idle" in n:
        targets.append({"case": n["idle"], "text": "≤ 0.05 CPU s", "check": abs_target("isocket", 0.05)})
    if "restart" in n:
        def restart_check(c):
            m = med(c["tools"].get("isocket", []))
            f = med(c["extra"]["first_file_s"])
            return f"ready {fmt(m)} s, first new file durable {fmt(f)} s", m <= 1.0 and f <= 1.0
        targets.append({"case": n["restart"], "text": "start → ready ≤ 1 s", "check": restart_check})
    if "many" in n:
        def many_check(c):
            agg, one = med(c["tools"].get("isocket", [])), med(c["tools"].get("isocket, one ED", []))
            lost = sum(c["extra"]["lost"])
            r = agg / one if one else float("nan")
            return f"{r:.2f}× one ED, {lost} lost", r >= 0.8 and lost == 0
        targets.append({"case": n["many"], "text": "≥ 0.8× one ED, 0 lost", "check": many_check})
    if "queue" in n:
        targets.append({"case": n["queue"], "text": "≤ 64 MiB", "check": abs_target("isocket", 64)})
    if "tls" in n:
        targets += [{"case": n["tls"][0], "text": "TLS ≥ 0.8× plain",
                     "check": ratio_target("isocket plain", 0.8)},
                    {"case": n["tls"][1], "text": "TLS ≥ 0.8× plain (not a target of the issue)",
                     "check": ratio_target("isocket plain", 0.8)}]
    if "shareddisk" in n:
        targets.append({"case": n["shareddisk"], "text": "≥ 1.0× rsync -a (same other writer)",
                        "check": ratio_target("rsync -a", 1.0)})
    if "disklimit" in n:
        targets.append({"case": n["disklimit"], "text": "≥ 0.9× dd oflag=direct",
                        "check": ratio_target("dd oflag=direct", 0.9)})
    if "createlimit" in n:
        targets.append({"case": n["createlimit"], "text": "≥ 0.7× local cp -a",
                        "check": ratio_target("cp -a", 0.7)})
    if "gluster" in n:
        def gluster_check(key, what):
            def check(c):
                if "skipped" in c["extra"]:
                    return f"skipped: {c['extra']['skipped']}", None
                return f"{fmt(c['extra'].get(key, float('nan')))}× {what}", None
            return check
        for name in n["gluster"]:
            targets += [{"case": name, "text": "isocket ÷ rsync -a into the mount (no figure "
                                               "in issue 20)",
                         "check": gluster_check("over_rsync", "rsync -a")},
                        {"case": name, "text": "two receivers ÷ one (no figure in issue 20)",
                         "check": gluster_check("two_over_one", "one receiver")}]

    if "livecatchup" in n:
        def catchup_check(c):
            p99 = med(c["tools"].get("isocket", []))
            ratio = med(c["extra"]["backlog_ratio"].get("isocket", []))
            return (f"live p99 {fmt(p99)} ms; backlog "
                    f"{fmt(med(c['extra']['backlog_live_MBps'].get('isocket', [])))} MB/s = "
                    f"{fmt(ratio)}× alone"), p99 <= 50 and ratio >= 0.9
        targets.append({"case": n["livecatchup"],
                        "text": "live p99 ≤ 50 ms, backlog ≥ 0.9× alone", "check": catchup_check})
    if "fleet" in n:
        def fleet_check(c, rss_limit):
            agg = med(c["tools"].get("isocket", []))
            one = med(c["tools"].get("isocket, one ED", []))
            rss = max(c["extra"]["rss_mib"].get("isocket", [float("nan")]))
            lost = sum(sum(v) for v in c["extra"]["lost"].values())
            r = agg / one if one else float("nan")
            ok = r >= 0.9 and lost == 0 and (rss_limit is None or rss <= rss_limit)
            return f"{r:.2f}× one ED, receiver RSS ≤ {fmt(rss)} MiB, {lost} lost", ok
        for i, fname in enumerate(n["fleet"]):
            last = i == len(n["fleet"]) - 1
            targets.append({"case": fname, "text": "≥ 0.9× one ED, 0 lost"
                            + (", RSS ≤ 256 MiB (at 200)" if last else ""),
                            "check": lambda c, last=last: fleet_check(c, 256 if last else None)})
    if "fairness" in n:
        targets.append({"case": n["fairness"], "text": "Jain's index ≥ 0.9",
                        "check": abs_target("isocket", 0.9, higher_better=True)})
    if "idlefleet" in n:
        targets.append({"case": n["idlefleet"], "text": "≤ 0.5 receiver CPU s",
                        "check": abs_target("isocket", 0.5)})

    table = summarize(b.res, targets, baseline=bool(baseline))
    mode = "quick" if args.quick else "full"
    notes = [
        f"Mode: **{mode}**, {args.runs} run(s) per case (queue: at most 3), {elapsed / 60:.1f} min, "
        f"isocket {mach['isocket_commit']}.",
        f"Machine: {mach['nproc']} × {mach['cpu']}, {mach['mem_gib']} GiB, kernel {mach['kernel']}, "
        f"temp dir {mach['tmp']} on {mach['tmp_fs']}; load average at start {' '.join(mach['loadavg_at_start'])} "
        f"(shared machine). {mach['rsync']}; {mach['lsyncd']}; {mach['socat']}.",
    ]
    if baseline:
        bl = mach["baseline"]
        notes.append(f"Baseline: `{bl['path']}` ({bl['version']}, built {bl['mtime']}): the rows "
                     f"\"…{BASELINE}\" ran it on both sides, in the same runs as this build "
                     f"({mach['isocket_commit']}); \"new ÷ baseline\" is this build's median over "
                     f"the baseline's.")
    for name, c in b.res.cases.items():
        if c["note"]:
            notes.append(f"{name}: {c['note']}.")
        if "files_per_s" in c["extra"]:
            notes.append(f"{name}: files/s " + ", ".join(
                f"{t} {fmt(med(v))}" for t, v in c["extra"]["files_per_s"].items()) + ".")
        if "p50" in c["extra"]:
            notes.append(f"{name}: p50 " + ", ".join(
                f"{t} {fmt(med(v))} ms" for t, v in c["extra"]["p50"].items()) + ".")
        if "first_file_s" in c["extra"] and c["extra"]["first_file_s"]:
            notes.append(f"{name}: a file written right after start durable on the receiver after "
                         f"{fmt(med(c['extra']['first_file_s']))} s (median).")
        if c["extra"].get("first_file_s" + BASELINE):
            notes.append(f"{name}: baseline: a file written right after start durable after "
                         f"{fmt(med(c['extra']['first_file_s' + BASELINE]))} s (median).")
        for key, what in (("backlog_alone_MBps", "backlog alone MB/s"),
                          ("backlog_live_MBps", "backlog with the live files MB/s"),
                          ("backlog_ratio", "backlog with live ÷ alone"),
                          ("live_files", "live files while the backlog moved"),
                          ("rss_mib", "receiver VmHWM MiB"), ("lost", "files lost"),
                          ("windows", "windows with every ED busy"),
                          ("disjoint_windows", "disjoint windows with every ED busy"),
                          ("disjoint_index", "index over the disjoint windows"),
                          ("min_index", "lowest window's index"),
                          ("fine_index", "index over windows of a fifth"),
                          ("MBps", "aggregate MB/s"), ("senders_cpu_s", "senders' CPU s")):
            if isinstance(c["extra"].get(key), dict) and c["extra"][key]:
                notes.append(f"{name}: {what} (median, range): " + ", ".join(
                    f"{t} {fmt(med(v))} ({fmt(min(v))} – {fmt(max(v))})"
                    for t, v in c["extra"][key].items() if v) + ".")
        for f in c["failures"]:
            notes.append(f"**FAILURE** {name}: {f}")
    text = table + "\n\n" + "\n".join("- " + x for x in notes) + "\n"
    print(text)

    raw = {"mode": mode, "runs": args.runs, "machine": mach, "elapsed_s": elapsed,
           "cases": b.res.cases}
    if baseline:
        raw["baseline"] = baseline
    jpath = args.json or os.path.join(BUILD, f"bench-results-{mode}.json")
    with open(jpath, "w") as f:
        json.dump(raw, f, indent=1)
    log("raw figures:", jpath)
    if args.results:
        with open(args.results, "w") as f:
            f.write(f"# isocket benchmark results ({mode} run)\n\n"
                    "Produced by `bench/run" + (" --quick" if args.quick else "")
                    + (" --baseline-binary …" if baseline else "") + "`; see "
                    "bench/run.py for what each case does and the durability of each tool.\n\n"
                    + text)
    log("deleting the work trees (file creation on this filesystem is slow for the next minutes)")
    rmtree(TRASH)
    if leftover:
        rmtree(leftover)
    return 1 if any(c["failures"] for c in b.res.cases.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
