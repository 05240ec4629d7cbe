/* Seed for FuzzDIEScan: the kinds of DIE the kernel's DWARF has that the
 * scanner indexes (struct, union, enum, typedef, base type, variable,
 * function, bitfields, a declaration).  dwarf-seed.elf is linked, so
 * that .debug_info needs no relocation:
 *   gcc -g -gdwarf-5 -O0 -nostdlib -static -Wl,-e,schedule \
 *       -Wl,--build-id=none dwarf-seed.c -o dwarf-seed.elf
 *   strip --only-keep-debug dwarf-seed.elf
 */
struct list_head { struct list_head *next, *prev; };
typedef int pid_t;
enum state { TASK_RUNNING, TASK_INTERRUPTIBLE = 1, TASK_DEAD = 0x80 };
union u { long l; char c[8]; };
struct task { pid_t pid; unsigned flags:3, on_rq:1; enum state st; union u x; struct list_head tasks; char comm[16]; };
extern struct task other_task;
struct task init_task = { .pid = 0, .comm = "swapper" };
unsigned long volatile jiffies;
int schedule(struct task *t) { return t->pid + (int)jiffies; }
