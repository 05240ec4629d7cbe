#!/bin/busybox sh
# /init of the kcrash corpus initramfs (busybox sh).
# Normal boot: run scenario from kernel arg kcrash.scenario=NAME and panic.
# Capture boot (kdump, /proc/vmcore exists): copy /proc/vmcore to /dev/vda, power off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo 8 > /proc/sys/kernel/printk

if [ -e /proc/vmcore ]; then
	echo "kcrash-capture: /proc/vmcore present, size $(stat -c %s /proc/vmcore)"
	dd if=/proc/vmcore of=/dev/vda bs=1M conv=fsync 2>&1
	sync
	echo "kcrash-capture: done"
	poweroff -f
	sleep 5
	reboot -f
fi

scenario=unknown
for arg in $(cat /proc/cmdline); do
	case "$arg" in kcrash.scenario=*) scenario=${arg#kcrash.scenario=} ;; esac
done
echo "kcrash-init: scenario=$scenario"

insmod /kcrashtest.ko

if [ -e /capture-initrd ]; then
	fake=
	if [ ! -e /proc/kcore ]; then
		# kexec-tools reads the kernel text mapping from /proc/kcore, which
		# this kernel lacks (no CONFIG_PROC_KCORE): run kexec with a fake
		# /proc (symlinks to the real one plus a header-only kcore).
		fake=1
		mkdir -p /realproc /fakeproc   # /fakeproc lives in the initramfs rootfs
		mount -t proc proc /realproc
		for e in /realproc/*; do ln -s "$e" "/fakeproc/${e#/realproc/}"; done
		# a direct-map address: the kcrashtest kthread's task_struct
		dm=$(dmesg | sed -n 's/.*kcrashtest: loaded .*task=\([0-9a-f]*\).*/\1/p' | tail -n1)
		/bin/kc-fakekcore /realproc/kallsyms /fakeproc/kcore $dm
		mount --bind /fakeproc /proc
	fi
	kexec -p /bzImage --initrd=/capture-initrd \
		--append="console=ttyS0 irqpoll nr_cpus=1 reset_devices panic=0 kcrash.capture=1" \
		|| echo "kcrash-init: kexec -p FAILED"
	if [ -n "$fake" ]; then
		umount /proc
		umount /realproc
	fi
	echo "kcrash-init: kexec_crash_loaded=$(cat /sys/kernel/kexec_crash_loaded)"
fi

/bin/kc-spinner 1 &
/bin/kc-sleeper &
/bin/kc-sleeper thread &
/bin/kc-writer &
sleep 1
ps
cat /proc/meminfo | head -3
/bin/kc-trigger "$scenario"
echo "kcrash-init: trigger returned"
sleep 1000000
