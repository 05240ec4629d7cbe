/* kc-trigger: pins itself to CPU 0, writes
 * "KCRASH-CORPUS-MARKER scenario=<argv[1]>" to /dev/kmsg, sleeps 1 s and
 * writes 'c' to /proc/sysrq-trigger (the kernel panics in this task). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char line[128];
	cpu_set_t set;
	int fd;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	snprintf(line, sizeof(line), "KCRASH-CORPUS-MARKER scenario=%s\n",
		 argc > 1 ? argv[1] : "unknown");
	fd = open("/dev/kmsg", O_WRONLY);
	if (fd >= 0) {
		write(fd, line, strlen(line));
		close(fd);
	}
	sleep(1);
	sync();
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd < 0) {
		perror("kc-trigger: /proc/sysrq-trigger");
		return 1;
	}
	write(fd, "c", 1);
	perror("kc-trigger: still alive after sysrq-c");
	return 1;
}
