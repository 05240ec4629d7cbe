#!/usr/bin/env python3
"""Wait for the guest's panic (serial log), then dump guest memory over QMP.

usage: qmp.py QMP_SOCKET SERIAL_LOG TIMEOUT FORMAT:PATH [FORMAT:PATH ...]
FORMAT is a dump-guest-memory format: elf, kdump-zlib, kdump-lzo, kdump-snappy.
Dumps are taken with paging=false. The VM is stopped first and QEMU is told to
quit at the end. Prints timings."""
import json, os, socket, sys, time

sock_path, serial, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
targets = [a.split(":", 1) for a in sys.argv[4:]]
PANIC_END = b"---[ end Kernel panic"

t0 = time.time()
while True:
    try:
        with open(serial, "rb") as f:
            if PANIC_END in f.read():
                break
    except FileNotFoundError:
        pass
    if time.time() - t0 > timeout:
        sys.exit("qmp.py: timeout waiting for the panic in %s" % serial)
    time.sleep(0.5)
print("qmp.py: panic seen after %.1f s" % (time.time() - t0), flush=True)
time.sleep(1.0)  # let the other CPU settle in its stop loop

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)
f = s.makefile("rwb")

def recv():
    while True:
        line = f.readline()
        if not line:
            sys.exit("qmp.py: QMP connection closed")
        msg = json.loads(line)
        if "event" in msg:
            continue
        return msg

def cmd(name, **args):
    m = {"execute": name}
    if args:
        m["arguments"] = args
    f.write(json.dumps(m).encode() + b"\n"); f.flush()
    r = recv()
    if "error" in r:
        sys.exit("qmp.py: %s failed: %s" % (name, r["error"]))
    return r.get("return")

recv()  # greeting
cmd("qmp_capabilities")
cmd("stop")
for fmt, path in targets:
    t1 = time.time()
    cmd("dump-guest-memory", paging=False, protocol="file:" + os.path.abspath(path),
        format=fmt, detach=True)
    while True:
        st = cmd("query-dump")
        if st["status"] == "completed":
            break
        if st["status"] == "failed":
            sys.exit("qmp.py: dump %s failed" % fmt)
        time.sleep(0.2)
    print("qmp.py: dump %s -> %s: %.2f s, %d bytes" % (fmt, os.path.basename(path),
          time.time() - t1, os.path.getsize(path)), flush=True)
cmd("quit")
