// SPDX-License-Identifier: GPL-2.0
/*
 * kcrashtest: test module for the kcrash dump corpus.
 * Creates a sleeping kthread "kcrashtest", a 3-page vmalloc buffer filled
 * with a known pattern (kcrashtest_vbuf) and a list of 5 known items
 * (kcrashtest_list), so crash-dump readers have a vmalloc address, module
 * symbols and a known linked list to check.
 *
 * vmalloc buffer layout (KCRASHTEST_VBUF_PAGES pages of 4096 bytes):
 *   each page: bytes 0..4031 = "KCRASH-VMALLOC-MARKER" repeated (21 chars,
 *   truncated at 4032), then bytes 4032..4095 = 8 u64 words
 *   KCRASHTEST_U64_PATTERN ^ (page_index << 8 | word_index).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/delay.h>
#include <linux/vmalloc.h>
#include <linux/list.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sched.h>

#define KCRASHTEST_VBUF_PAGES 3
#define KCRASHTEST_U64_PATTERN 0x4b43524153483634ULL /* "KCRASH64" */
#define KCRASHTEST_MARKER "KCRASH-VMALLOC-MARKER"

struct kcrashtest_item {
	int id;
	char name[16];
	struct list_head node;
};

void *kcrashtest_vbuf;
EXPORT_SYMBOL(kcrashtest_vbuf);
unsigned long kcrashtest_vbuf_size = KCRASHTEST_VBUF_PAGES * PAGE_SIZE;
EXPORT_SYMBOL(kcrashtest_vbuf_size);
LIST_HEAD(kcrashtest_list);
EXPORT_SYMBOL(kcrashtest_list);
struct task_struct *kcrashtest_task;
EXPORT_SYMBOL(kcrashtest_task);
static struct kcrashtest_item kcrashtest_items[5];
/* a named instance so debuggers can resolve the item type easily */
struct kcrashtest_item *kcrashtest_first_item = &kcrashtest_items[0];
EXPORT_SYMBOL(kcrashtest_first_item);

static int kcrashtest_thread(void *arg)
{
	while (!kthread_should_stop())
		msleep_interruptible(1000);
	return 0;
}

static void kcrashtest_fill(unsigned char *buf)
{
	static const char marker[] = KCRASHTEST_MARKER;
	const size_t mlen = sizeof(marker) - 1;
	unsigned long p, i;

	for (p = 0; p < KCRASHTEST_VBUF_PAGES; p++) {
		unsigned char *page = buf + p * PAGE_SIZE;
		u64 *words = (u64 *)(page + PAGE_SIZE - 64);

		for (i = 0; i < PAGE_SIZE - 64; i++)
			page[i] = marker[i % mlen];
		for (i = 0; i < 8; i++)
			words[i] = KCRASHTEST_U64_PATTERN ^ ((p << 8) | i);
	}
}

static int __init kcrashtest_init(void)
{
	static const char *const names[5] = {
		"alpha", "bravo", "charlie", "delta", "echo"
	};
	int i;

	kcrashtest_vbuf = vmalloc(KCRASHTEST_VBUF_PAGES * PAGE_SIZE);
	if (!kcrashtest_vbuf)
		return -ENOMEM;
	kcrashtest_fill(kcrashtest_vbuf);

	for (i = 0; i < 5; i++) {
		kcrashtest_items[i].id = i + 1;
		strscpy(kcrashtest_items[i].name, names[i],
			sizeof(kcrashtest_items[i].name));
		list_add_tail(&kcrashtest_items[i].node, &kcrashtest_list);
	}

	kcrashtest_task = kthread_run(kcrashtest_thread, NULL, "kcrashtest");
	if (IS_ERR(kcrashtest_task)) {
		vfree(kcrashtest_vbuf);
		return PTR_ERR(kcrashtest_task);
	}
	pr_info("kcrashtest: loaded vbuf=%px list=%px task=%px\n",
		kcrashtest_vbuf, &kcrashtest_list, kcrashtest_task);
	return 0;
}

static void __exit kcrashtest_exit(void)
{
	kthread_stop(kcrashtest_task);
	vfree(kcrashtest_vbuf);
}

module_init(kcrashtest_init);
module_exit(kcrashtest_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kcrash test corpus module");
