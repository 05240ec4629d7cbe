/* kc-sleeper: sleeps forever; with argument "thread" it first starts a
 * second thread (named kc-sleeper-thr) so its thread group has 2 threads. */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void *thr(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "kc-sleeper-thr", 0, 0, 0);
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;

	if (argc > 1 && strcmp(argv[1], "thread") == 0)
		pthread_create(&t, NULL, thr, NULL);
	for (;;)
		pause();
}
