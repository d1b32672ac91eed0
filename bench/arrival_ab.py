#!/usr/bin/env python3
# A/B: 10,000 x 4 KiB, `send --once` into a fresh receiver, link-only vs link+rename arrival.
import os, subprocess, time, shutil, statistics, sys
W = "/var/tmp/ab"
N, SIZE = 10000, 4096
tmpl = f"{W}/tmpl/DC20200101000000"
if not os.path.exists(tmpl + "/finished.parse"):
    os.makedirs(tmpl, exist_ok=True)
    for i in range(N):
        with open(f"{tmpl}/f{i:05d}.dat", "wb") as f:
            f.write(os.urandom(SIZE))
    open(tmpl + "/finished.parse", "w").close()
    os.utime(tmpl, (1600000000, 1600000000))
def run(binary):
    for d in ("ed", "recv"):
        shutil.rmtree(f"{W}/{d}", ignore_errors=True)
    shutil.copytree(f"{W}/tmpl", f"{W}/ed")
    os.makedirs(f"{W}/recv")
    subprocess.run(["sync"])
    r = subprocess.Popen([binary, "receive", "--root", f"{W}/recv", "--listen", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = r.stdout.readline().strip().rsplit(":", 1)[1]
    t = time.monotonic()
    s = subprocess.run([binary, "send", "--root", f"{W}/ed", "--to", f"127.0.0.1:{port}",
                        "--source", "ed1", "--once"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dt = time.monotonic() - t
    with open(f"/proc/{r.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    r.terminate(); r.wait()
    assert s.returncode == 0, s.returncode
    assert len(os.listdir(f"{W}/recv/ed1/DC20200101000000")) == N + 1
    return dt, cpu
res = {"link": [], "rename": []}
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
for k in range(rounds):
    order = ["link", "rename"] if k % 2 == 0 else ["rename", "link"]
    for v in order:
        res[v].append(run(f"/tmp/isocket-{v}"))
for v, runs in res.items():
    xs = [a for a, _ in runs]; cs = [c for _, c in runs]
    print(f"{v:7s} wall median {statistics.median(xs):.3f} s (range {min(xs):.3f}-{max(xs):.3f}), receiver CPU median {statistics.median(cs):.2f} s (range {min(cs):.2f}-{max(cs):.2f})")
w = lambda v: statistics.median([a for a, _ in res[v]]); c = lambda v: statistics.median([b for _, b in res[v]])
print(f"rename/link: wall {w('rename')/w('link'):.3f}, receiver CPU {c('rename')/c('link'):.3f}")
