#!/bin/busybox sh
# /init for the benchmark guest (Debian's distro kernel): publish
# VMCOREINFO through fw_cfg, start the corpus's named processes, panic.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in /lib/modules/*.ko; do insmod "$m"; done
/bin/kc-spinner 1 &
/bin/kc-sleeper &
/bin/kc-sleeper thread &
/bin/kc-writer &
sleep 1
echo "KCRASH-BENCH-MARKER" > /dev/kmsg
echo c > /proc/sysrq-trigger
sleep 1000000
