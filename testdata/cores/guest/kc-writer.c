/* kc-writer: allocates and touches 8 MiB of anonymous memory (pattern
 * "KCWRITER" + page index), then sleeps forever so the RSS is visible. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SIZE (8UL << 20)

int main(void)
{
	unsigned char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long i;

	if (p == MAP_FAILED)
		return 1;
	for (i = 0; i < SIZE; i += 4096) {
		uint64_t idx = i / 4096;
		memcpy(p + i, "KCWRITER", 8);
		memcpy(p + i + 8, &idx, 8);
		memset(p + i + 16, 0xa5, 4096 - 16);
	}
	for (;;)
		pause();
}
