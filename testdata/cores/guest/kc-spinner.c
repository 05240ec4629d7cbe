/* kc-spinner: pins itself to CPU 1 (or argv[1]) and spins forever. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

volatile unsigned long kc_spin_counter;

int main(int argc, char **argv)
{
	cpu_set_t set;
	int cpu = argc > 1 ? atoi(argv[1]) : 1;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		perror("kc-spinner: sched_setaffinity");
	for (;;)
		kc_spin_counter++;
}
