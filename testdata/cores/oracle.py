#!/usr/bin/env python3
"""Record oracle goldens for one scenario with trixie's crash 8.0.6 and drgn 0.0.31.

usage: oracle.py CHROOT WORK SCENARIO OUTDIR

The corpus work dir WORK must be bind-mounted at CHROOT/corpus. The scenario's
dumps are listed in WORK/SCENARIO/dumps.txt (the first one is the primary dump
used for discovery). Writes:
  OUTDIR/rdp-addrs.txt                  physical addresses read on every dump
  OUTDIR/oracle/vars.txt                addresses found by the discovery pass
  OUTDIR/oracle/crash/<dump>/NNN.txt    one file per crash command
  OUTDIR/oracle/crash/<dump>/index.tsv  NNN.txt<TAB>command
  OUTDIR/oracle/drgn/<dump>/{tasks,bt-panic}.txt
Machine paths are rewritten to basenames in all outputs.
"""
import os, re, shutil, subprocess, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

CHROOT, WORK, SC, OUT = sys.argv[1:5]
KDIR = os.environ.get("KERNEL_DIR", "kernel")
VMLINUX = "/corpus/%s/vmlinux" % KDIR
TMP = os.path.join(WORK, "oracle-tmp", SC)
os.makedirs(TMP, exist_ok=True)
dumps = open(os.path.join(WORK, SC, "dumps.txt")).read().split()
timings = []


def cpath(p):
    """host path under WORK -> path inside the chroot"""
    return "/corpus/" + os.path.relpath(p, WORK)


def scrub(text):
    text = re.sub(r"/corpus/(?:[^/\s]+/)*", "", text)
    return text.replace(WORK + "/", "")


def crash_batch(dump, commands, outdir=None, label=""):
    """Run crash once; with outdir, each command's output is redirected to
    outdir/NNN.txt. Returns the combined stdout+stderr. With ORACLE_RESUME=1
    the discovery passes are read back from their saved console output."""
    saved = os.path.join(TMP, label + ".txt")
    if os.environ.get("ORACLE_RESUME") == "1" and label.startswith(("discovery", "excluded")) \
            and os.path.exists(saved):
        return open(saved).read()
    cmdfile = os.path.join(TMP, "cmds-%s-%s-%d.txt" % (dump, label, threading.get_ident()))
    with open(cmdfile, "w") as f:
        for i, c in enumerate(commands):
            if outdir:
                f.write("%s > %s\n" % (c, cpath(os.path.join(outdir, "%03d.txt" % (i + 1)))))
            else:
                f.write(c + "\n")
        f.write("exit\n")
    t0 = time.time()
    r = subprocess.run(["chroot", CHROOT, "crash", "-s", VMLINUX,
                        cpath(os.path.join(WORK, SC, dump)), "-i", cpath(cmdfile)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=1800)
    timings.append("crash\t%s\t%s\t%d cmds\t%.1f s" % (dump, label, len(commands), time.time() - t0))
    return r.stdout.decode(errors="replace")


def crash_one(dump, command):
    out = crash_batch(dump, [command], label="single")
    return out


# ------------------------------------------------------------ discovery
primary = dumps[0]
d31 = sorted([d for d in dumps if "d31" in d and d.endswith(".kdump")], key=lambda d: "zlib" not in d)
vmci = dict(l.split("=", 1) for l in open(os.path.join(WORK, SC, "vmcoreinfo.txt")).read().splitlines() if "=" in l)

out = crash_batch(primary, ["sym panic", "sym linux_banner", "sym _stext", "ps",
                            "rd -64 kcrashtest_vbuf 1", "ptov 0x1000000", "sym kcrashtest_vbuf",
                            "kmem -i"], label="discovery1")
open(os.path.join(TMP, "discovery1.txt"), "w").write(out)


def grab(pat, text, what):
    m = re.search(pat, text, re.M)
    if not m:
        sys.exit("oracle.py: discovery failed for %s:\n%s" % (what, text))
    return m.group(1)


panic_addr = int(grab(r"^([0-9a-f]{16}) \(T\) panic\b", out, "panic"), 16)
banner = int(grab(r"^([0-9a-f]{16}) \([A-Za-z]\) linux_banner\b", out, "linux_banner"), 16)
stext = int(grab(r"^([0-9a-f]{16}) \(T\) _stext\b", out, "_stext"), 16)
spinner = grab(r"^>?\s*\d+\s+\d+\s+\d+\s+([0-9a-f]{16})\s+\S+\s+[\d.]+\s+\d+\s+\d+\s+kc-spinner$", out, "kc-spinner task")
vbuf = int(grab(r"^[0-9a-f]{16}:\s+([0-9a-f]{16})", out, "kcrashtest_vbuf value"), 16)
dmap = int(grab(r"^([0-9a-f]{16})\s+1000000\s*$", out, "ptov 0x1000000"), 16)

out2 = crash_batch(primary, ["vtop %x" % banner, "vtop %x" % vbuf, "vtop %x" % (vbuf + 0x1000),
                             "vtop %x" % (vbuf + 0x2000)], label="discovery2")
open(os.path.join(TMP, "discovery2.txt"), "w").write(out2)
phys = re.findall(r"^\s*VIRTUAL\s+PHYSICAL\s*\n\s*([0-9a-f]+)\s+([0-9a-f]+)", out2, re.M)
if len(phys) != 4:
    sys.exit("oracle.py: vtop discovery failed:\n" + out2)
banner_pa = int(phys[0][1], 16)
vbuf_pa = [int(p[1], 16) for p in phys[1:]]

# RAM extent from the dump (ELF PT_LOADs of the QEMU/kdump ELF)
mem_mib = int(open(os.path.join(WORK, SC, "mem_mib")).read())
top = mem_mib << 20

rdp = []  # (addr, description)
rdp.append((0x1000, "low memory page 1"))
rdp.append((0x9f000, "below 640K (EBDA area)"))
rdp.append((0x100000, "1 MiB"))
rdp.append((banner_pa, "physical address of linux_banner"))
rdp.append((banner_pa & ~0xfff, "page of linux_banner"))
rdp.append((vbuf_pa[0], "kcrashtest_vbuf page 0"))
rdp.append((vbuf_pa[1] + 0xfc0, "kcrashtest_vbuf page 1, u64 pattern"))
rdp.append((vbuf_pa[2], "kcrashtest_vbuf page 2"))
rdp.append((top - 0x1000, "top of RAM minus a page"))
rdp.append((top - 0x40, "last 64 bytes of RAM"))
for i in range(1, 16):
    a = (top * i // 16) & ~0xfff
    rdp.append((a + 0x80 * i, "RAM %d/16" % i))

# pages makedumpfile excluded (found on the d31 kdump)
excluded = []
if d31:
    cands = [a + 0x7000 for a in range(0x200000, top, 0x100000)]
    cmds = ["rd -p -64 %x 1" % a for a in cands]
    t = crash_batch(d31[0], cmds, label="excluded-discovery")
    open(os.path.join(TMP, "excluded-discovery.txt"), "w").write(t)
    ex = sorted(set(int(a, 16) for a in re.findall(r"page excluded: physical address: ([0-9a-f]+)", t)))
    if len(ex) < 2:
        sys.exit("oracle.py: fewer than 2 excluded pages found:\n" + t[-3000:])
    pick = [ex[0], ex[len(ex) // 2], ex[-1]]
    for a in pick:
        excluded.append(a)
        rdp.append((a, "page excluded by makedumpfile -d 31 (%s)" % d31[0]))

# kdump: an address in the crashkernel reservation (absent from /proc/vmcore)
serial = open(os.path.join(WORK, SC, "serial.log"), errors="replace").read()
m = re.search(r"Reserving (\d+)MB of memory at (\d+)MB for crashkernel", serial)
if SC == "kdump" and m:
    ck = int(m.group(2)) << 20
    rdp.append((ck + 0x10000, "inside the crashkernel reservation (not in /proc/vmcore)"))

with open(os.path.join(OUT, "rdp-addrs.txt"), "w") as f:
    f.write("# physical addresses read with rd -p on every dump of %s\n# addr\tdescription\n" % SC)
    for a, desc in rdp:
        f.write("%#x\t%s\n" % (a, desc))

os.makedirs(os.path.join(OUT, "oracle"), exist_ok=True)
vars_ = [("panic", panic_addr), ("panic+0x10", panic_addr + 0x10), ("linux_banner", banner),
         ("_stext", stext), ("kc-spinner task", int(spinner, 16)), ("kcrashtest_vbuf value", vbuf),
         ("direct map of phys 0x1000000", dmap), ("linux_banner phys", banner_pa),
         ("vbuf page0 phys", vbuf_pa[0]), ("vbuf page1 phys", vbuf_pa[1]), ("vbuf page2 phys", vbuf_pa[2])]
with open(os.path.join(OUT, "oracle", "vars.txt"), "w") as f:
    for k, v in vars_:
        f.write("%s\t%#x\n" % (k, v))

# ------------------------------------------------------------ golden commands
text_addr = panic_addr  # a kernel text address
cmds = [
    "sys", "ps", "bt -a", "foreach bt", "log", "mod",
    "sym jiffies", "sym init_task", "sym linux_banner", "sym panic", "sym sysrq_handle_crash",
    "sym %x" % (panic_addr + 0x10),
    "sym kcrashtest_vbuf", "sym kcrashtest_list",
    "rd -64 jiffies", "rd -a linux_banner", "rd -64 %x 8" % text_addr,
    "rd -64 kcrashtest_vbuf 1", "rd -a %x 64" % vbuf, "rd -64 %x 8" % (vbuf + 0xfc0),
    "struct task_struct %s" % spinner, "struct task_struct -o",
    "p jiffies", "p init_task.comm", "whatis task_struct", "whatis linux_banner",
    "vtop %x" % dmap, "vtop %x" % text_addr, "vtop %x" % vbuf, "ptov %x" % banner_pa,
    "kmem -i", "dis sysrq_handle_crash",
    "list -H kcrashtest_list", "task %s" % spinner, "bt %s" % spinner,
    "ps -G", "log -m",
]
for a, _ in rdp:
    cmds += ["rd -p -64 %x 32" % a, "rd -p -8 %x 64" % a, "rd -p -a %x 64" % a]

DRGN_SCRIPT = r'''
import sys, drgn
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_cpu, task_state_to_char
core, vmlinux, ko, out = sys.argv[1:5]
prog = drgn.Program()
prog.set_core_dump(core)
try:
    prog.load_debug_info([vmlinux, ko])
except drgn.MissingDebugInfoError as e:
    pass
with open(out + "/tasks.txt", "w") as f:
    f.write("# pid ppid cpu task comm state\n")
    rows = []
    for t in for_each_task(prog):
        rows.append((int(t.pid), int(t.real_parent.pid), task_cpu(t), t.value_(),
                     t.comm.string_().decode(), task_state_to_char(t)))
    for r in sorted(rows):
        f.write("%d %d %d 0x%x %s %s\n" % r)
with open(out + "/bt-panic.txt", "w") as f:
    th = prog.crashed_thread()
    f.write("crashed thread: tid %d comm %s\n" % (th.tid, th.object.comm.string_().decode()))
    f.write(str(th.stack_trace()) + "\n")
# the kc-spinner task (running in user mode on the other CPU at crash time)
spin = [t for t in for_each_task(prog) if t.comm.string_() == b"kc-spinner"]
with open(out + "/bt-spinner.txt", "w") as f:
    for t in spin:
        f.write("pid %d comm kc-spinner cpu %d\n" % (int(t.pid), task_cpu(t)))
        try:
            f.write(str(prog.stack_trace(t)) + "\n")
        except Exception as e:
            f.write("error: %s: %s\n" % (type(e).__name__, e))
'''
drgn_py = os.path.join(TMP, "drgn_oracle.py")
open(drgn_py, "w").write(DRGN_SCRIPT)

def do_dump(dump):
    cdir = os.path.join(OUT, "oracle", "crash", dump)
    if os.environ.get("ORACLE_RESUME") == "1" and os.path.exists(os.path.join(cdir, "index.tsv")) \
            and os.path.isdir(os.path.join(OUT, "oracle", "drgn", dump)):
        return
    shutil.rmtree(cdir, ignore_errors=True)
    os.makedirs(cdir)
    raw = os.path.join(TMP, "out-" + dump)
    shutil.rmtree(raw, ignore_errors=True)
    os.makedirs(raw)
    console = crash_batch(dump, cmds, outdir=raw, label="golden")
    open(os.path.join(TMP, "console-" + dump + ".txt"), "w").write(console)
    with open(os.path.join(cdir, "index.tsv"), "w") as idx:
        for i, c in enumerate(cmds):
            name = "%03d.txt" % (i + 1)
            p = os.path.join(raw, name)
            text = open(p, errors="replace").read() if os.path.exists(p) else None
            if not text:
                # no output captured at all (crash prints most errors into
                # the redirect too): re-run the command alone on the console
                text = crash_one(dump, c)
            open(os.path.join(cdir, name), "w").write(scrub(text))
            idx.write("%s\t%s\n" % (name, c))
    # drgn
    ddir = os.path.join(OUT, "oracle", "drgn", dump)
    shutil.rmtree(ddir, ignore_errors=True)
    os.makedirs(ddir)
    t0 = time.time()
    dtmp = os.path.join(TMP, "drgn-" + dump)
    os.makedirs(dtmp, exist_ok=True)
    r = subprocess.run(["chroot", CHROOT, "python3", cpath(drgn_py), cpath(os.path.join(WORK, SC, dump)),
                        VMLINUX, "/corpus/%s/kcrashtest.ko" % KDIR, cpath(dtmp)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    timings.append("drgn\t%s\t\t\t%.1f s" % (dump, time.time() - t0))
    for fn in ("tasks.txt", "bt-panic.txt", "bt-spinner.txt"):
        src = os.path.join(dtmp, fn)
        if r.returncode == 0 and os.path.exists(src):
            open(os.path.join(ddir, fn), "w").write(scrub(open(src).read()))
            os.remove(src)
        else:
            open(os.path.join(ddir, "error.txt"), "w").write(
                "drgn 0.0.31 failed on this dump (exit %d):\n%s" % (r.returncode, scrub(r.stdout.decode(errors="replace"))))
            break


with ThreadPoolExecutor(max_workers=int(os.environ.get("ORACLE_JOBS", "4"))) as ex:
    for r in ex.map(do_dump, dumps):
        pass

with open(os.path.join(WORK, SC, "oracle-timings.tsv"), "w") as f:
    f.write("\n".join(timings) + "\n")
print("\n".join(timings))
