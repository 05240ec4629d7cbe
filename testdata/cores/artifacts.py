#!/usr/bin/env python3
"""Compress the corpus into the repository and write meta.json files.

usage: artifacts.py WORK OUTDIR CHROOT
"""
import hashlib, json, os, re, shutil, subprocess, sys, time

WORK, OUT, CHROOT = sys.argv[1:4]
KDIR = os.environ.get("KERNEL_DIR", "kernel")
SCENARIOS = ["qemu-4l", "qemu-5l", "kdump"]
# kept uncompressed (the bundled sample dump); no .zst of it is committed
BUNDLED = {("qemu-4l", "vmcore-d31-zstd.kdump")}
# Dumps made and recorded (sha256, goldens) but not committed, to keep the
# committed corpus under 60 MiB. Reason per file.
OMIT = {
    ("qemu-4l", "vmcore-percpu.elf"):
        "not committed (size budget); regenerate exactly with "
        "`python3 elfcore.py percpu vmcore.elf vmcore-percpu.elf` (deterministic, check sha256)",
    ("qemu-5l", "vmcore.elf"):
        "not committed (size budget); qemu-5l keeps vmcore-d31-zstd.kdump",
    ("qemu-4l", "vmcore-qemu-zlib.flat"):
        "not committed (size budget: 9.6 MiB compressed)",
    ("kdump", "vmcore-d31-zlib.kdump"):
        "not committed (size budget)",
}
# goldens are kept only for omitted dumps that can be regenerated exactly
KEEP_GOLDENS = {("qemu-4l", "vmcore-percpu.elf")}
OMIT.update({tuple(k.split("/", 1)): "not committed (size budget)"
             for k in os.environ.get("OMIT_EXTRA", "").split() if "/" in k})
ZSTD = ["zstd", "-q", "-f", "-" + os.environ.get("ZSTD_LEVEL", "19"), "--long=27", "-T0"]


def sh(cmd, chroot=False):
    if chroot:
        cmd = ["chroot", CHROOT] + cmd
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              check=False).stdout.decode(errors="replace")
    except FileNotFoundError:
        return ""


def dpkg_ver(pkg, chroot=False):
    return sh(["dpkg-query", "-W", "-f", "${Version}", pkg], chroot).strip()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def compress(src, dst):
    """zstd src -> dst unless dst was already made from identical src"""
    sdir = os.path.join(WORK, "zst-stamps")
    os.makedirs(sdir, exist_ok=True)
    stamp = os.path.join(sdir, os.path.relpath(dst, OUT).replace("/", "__"))
    want = sha256(src)
    if os.path.exists(dst) and os.path.exists(stamp) and open(stamp).read() == want:
        return 0.0
    t0 = time.time()
    subprocess.run(ZSTD + [src, "-o", dst], check=True)
    open(stamp, "w").write(want)
    return time.time() - t0


timings = {}

# ---------------------------------------------------------------- kernel
kdir = os.path.join(OUT, "kernel")
os.makedirs(kdir, exist_ok=True)
vmlinux = os.path.join(WORK, KDIR, "vmlinux")
ko = os.path.join(WORK, KDIR, "kcrashtest.ko")
timings["zstd vmlinux"] = round(compress(vmlinux, os.path.join(kdir, "vmlinux.zst")), 1)
shutil.copy(ko, os.path.join(kdir, "kcrashtest.ko"))
shutil.copy(os.path.join(WORK, KDIR, "config"), os.path.join(kdir, "config"))
release = open(os.path.join(WORK, "kernelrelease")).read().strip()
notes = sh(["readelf", "-n", vmlinux])
build_id = re.search(r"Build ID: ([0-9a-f]+)", notes).group(1)
ko_notes = sh(["readelf", "-n", ko])
m = re.search(r"Build ID: ([0-9a-f]+)", ko_notes)
ko_build_id = m.group(1) if m else None
build_time = open(os.path.join(WORK, "kernel-build-time.txt")).read().strip() \
    if os.path.exists(os.path.join(WORK, "kernel-build-time.txt")) else None

versions = {
    "linux-source-6.1": dpkg_ver("linux-source-6.1"),
    "qemu-system-x86": dpkg_ver("qemu-system-x86"),
    "qemu": sh(["qemu-system-x86_64", "--version"]).splitlines()[0],
    "makedumpfile (bookworm)": sh(["makedumpfile", "-v"]).splitlines()[0],
    "makedumpfile (trixie chroot)": sh(["makedumpfile", "-v"], True).splitlines()[0],
    "crash (trixie chroot)": ([l.strip() for l in sh(["crash", "--version"], True).splitlines() if l.strip()] or [""])[0],
    "crash package": dpkg_ver("crash", True),
    "drgn (trixie chroot, python3-drgn)": dpkg_ver("python3-drgn", True),
    "busybox-static": dpkg_ver("busybox-static"),
    "gcc": sh(["gcc", "--version"]).splitlines()[0],
    "kexec-tools": dpkg_ver("kexec-tools"),
    "zstd": dpkg_ver("zstd"),
    "binutils": dpkg_ver("binutils"),
}

top = {
    "kernel": {
        "release": release,
        "source": "Debian linux-source-6.1 " + versions["linux-source-6.1"],
        "config": "kernel/config (make tinyconfig + kernel.config)",
        "vmlinux": {
            "file": "kernel/vmlinux.zst",
            "sha256_uncompressed": sha256(vmlinux),
            "size_uncompressed": os.path.getsize(vmlinux),
            "build_id": build_id,
            "note": "relocation sections .rela.debug* and .rela.orc* removed with objcopy",
        },
        "kcrashtest.ko": {"file": "kernel/kcrashtest.ko", "sha256": sha256(ko),
                          "size": os.path.getsize(ko), "build_id": ko_build_id},
        "build_time": build_time,
    },
    "versions": versions,
    "scenarios": [],
}

# ---------------------------------------------------------------- scenarios
for sc in SCENARIOS:
    wd = os.path.join(WORK, sc)
    if not os.path.exists(os.path.join(wd, "dumps.txt")):
        continue
    od = os.path.join(OUT, sc)
    os.makedirs(od, exist_ok=True)
    dumps = open(os.path.join(wd, "dumps.txt")).read().split()
    vmci_text = open(os.path.join(wd, "vmcoreinfo.txt")).read()
    vmci = dict(l.split("=", 1) for l in vmci_text.splitlines() if "=" in l)
    mdf = {}
    if os.path.exists(os.path.join(wd, "makedumpfile.tsv")):
        for l in open(os.path.join(wd, "makedumpfile.tsv")).read().splitlines():
            name, ver, args = l.split("\t")
            mdf[name] = {"makedumpfile": ver, "args": args}
    files = []
    for dmp in dumps:
        src = os.path.join(wd, dmp)
        zst = os.path.join(od, dmp + ".zst")
        ent = {"name": dmp, "sha256": sha256(src), "size": os.path.getsize(src)}
        if (sc, dmp) in OMIT or (sc, dmp) in BUNDLED:
            if os.path.exists(zst):
                os.remove(zst)
        else:
            t = compress(src, zst)
            timings["zstd %s/%s" % (sc, dmp)] = round(t, 1)
            ent["file"] = dmp + ".zst"
            ent["size_zst"] = os.path.getsize(zst)
        if (sc, dmp) in OMIT:
            ent["committed"] = False
            ent["note"] = OMIT[(sc, dmp)]
            if (sc, dmp) not in KEEP_GOLDENS:
                for tool in ("crash", "drgn"):
                    shutil.rmtree(os.path.join(od, "oracle", tool, dmp), ignore_errors=True)
        if dmp in mdf:
            ent["made_by"] = mdf[dmp]
        elif dmp == "vmcore.elf" and sc != "kdump":
            ent["made_by"] = {"qemu": "dump-guest-memory paging=false format=elf"}
        elif dmp == "vmcore-qemu-zlib.flat":
            ent["made_by"] = {"qemu": "dump-guest-memory paging=false format=kdump-zlib (flattened)"}
        elif dmp == "vmcore-percpu.elf":
            ent["made_by"] = {"script": "elfcore.py percpu vmcore.elf (one PT_NOTE per CPU + one for VMCOREINFO)"}
        elif dmp == "vmcore.elf":
            ent["made_by"] = {"kernel": "capture kernel /proc/vmcore copied with dd"}
        if (sc, dmp) in BUNDLED:
            shutil.copy(src, os.path.join(od, dmp))
            os.chmod(os.path.join(od, dmp), 0o644)
            ent["file"] = dmp
            ent["note"] = "committed uncompressed (bundled sample dump)"
        files.append(ent)
    # small text side files
    serial = open(os.path.join(wd, "serial.log"), errors="replace").read()
    serial = serial.replace(WORK + "/", "")
    open(os.path.join(od, "serial.log"), "w").write(serial)
    open(os.path.join(od, "vmcoreinfo.txt"), "w").write(vmci_text)
    tim = {}
    for fn in ("timings.tsv", "oracle-timings.tsv"):
        p = os.path.join(wd, fn)
        if os.path.exists(p):
            tim[fn] = open(p).read().splitlines()
    l5 = vmci.get("NUMBER(pgtable_l5_enabled)")
    meta = {
        "scenario": sc,
        "kernel_release": vmci.get("OSRELEASE"),
        "vmlinux_build_id": build_id,
        "vmcoreinfo_build_id": vmci.get("BUILD-ID"),
        "KERNELOFFSET": "0x" + vmci["KERNELOFFSET"] if "KERNELOFFSET" in vmci else None,
        "phys_base": vmci.get("NUMBER(phys_base)"),
        "phys_base_hex": hex(int(vmci["NUMBER(phys_base)"]) & 0xffffffffffffffff) if "NUMBER(phys_base)" in vmci else None,
        "pgtable_l5_enabled": l5,
        "paging_levels": 5 if l5 == "1" else 4,
        "guest_memory_mib": int(open(os.path.join(wd, "mem_mib")).read()),
        "cpus": int(open(os.path.join(wd, "ncpus")).read()),
        "qemu_cpu": open(os.path.join(wd, "qemu_cpu")).read().strip(),
        "crashkernel": open(os.path.join(wd, "crashkernel")).read().strip() if os.path.exists(os.path.join(wd, "crashkernel")) else None,
        "crashtime_unix": int(vmci["CRASHTIME"]) if "CRASHTIME" in vmci else None,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(os.path.join(wd, "vmcore.elf")))),
        "dumps": files,
        "versions": versions,
        "timings": tim,
    }
    with open(os.path.join(od, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    top["scenarios"].append({"scenario": sc, "meta": sc + "/meta.json",
                             "KERNELOFFSET": meta["KERNELOFFSET"], "phys_base": meta["phys_base"]})

top["compression_timings_s"] = timings
if os.path.exists(os.path.join(WORK, "timings.tsv")):
    top["build_step_timings"] = open(os.path.join(WORK, "timings.tsv")).read().splitlines()
with open(os.path.join(OUT, "meta.json"), "w") as f:
    json.dump(top, f, indent=2)
    f.write("\n")
print(json.dumps(timings, indent=1))
