#!/bin/sh
# Record the crash utility's output for the type commands (struct, union,
# whatis, p) on one corpus dump, as goldens for commands/types_test.go.
#
# usage: record.sh [DUMP]   (DUMP relative to the corpus, default qemu-4l/vmcore.elf)
#
# Needs the trixie oracle chroot (crash 8.0.6) with the corpus work dir
# bind-mounted at /corpus. Writes commands/testdata/types/<dump>/NNN.txt,
# index.tsv ("file<TAB>command", as testdata/cores/*/oracle/crash) and
# meta.txt (the dump's sha256, so the test skips goldens of another dump).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../record-lib.sh"
record_setup types "$@"

# Discovery: addresses that differ from build to build.
printf 'p current_task:1\np &init_task\nexit\n' > "$TMP/cmds.txt"
disc=$(crash)
task1=$(echo "$disc" | sed -n 's/^per_cpu(current_task, 1) = .*) \(0x[0-9a-f]*\).*/\1/p')
init=$(echo "$disc" | sed -n 's/^\$[0-9]* = (struct task_struct \*) \(0x[0-9a-f]*\).*/\1/p')
[ -n "$task1" ] && [ -n "$init" ] || { echo "discovery failed:"; echo "$disc"; exit 1; }

cat > "$TMP/list.txt" <<CMDS
p jiffies
p init_task.comm
whatis linux_banner
whatis task_struct
whatis list_head
whatis struct list_head
whatis pid_t
whatis init_task
whatis jiffies
whatis current_task
struct list_head
struct list_head -o
struct task_struct -o
struct task_struct
struct task_struct.pid
struct task_struct.comm $init
struct task_struct $init
struct task_struct $task1
struct mm_struct -o
struct rq -o
struct page -o
struct page
union thread_union
p init_task
p init_task.pid
p &init_task
p init_task.tasks
p *init_task.tasks.next
p (struct list_head *)init_task.tasks.next
p init_task.sched_class
p init_task.pid + 3
p init_task.comm[0]
p &init_task.comm
p linux_banner
p init_uts_ns
p init_uts_ns.name.release
p init_task.thread
p init_task.se
p runqueues:0
p current_task:a
p __per_cpu_offset
p system_state
p nr_cpu_ids
p saved_command_line
p init_mm
p *(struct task_struct *)$task1
p ((struct task_struct *)$task1)->comm
p ((struct task_struct *)$task1)->pid * 2 - 1
p init_task.thread_pid->numbers[0]
p sizeof(struct task_struct)
p init_nsproxy
p ((struct task_struct *)$task1)->mm
p schedule
p panic
whatis schedule
whatis panic
whatis u64
whatis atomic_t
whatis enum system_states
whatis init_task.comm
p init_task.thread_info
p *init_task.sched_class
p init_task.cpus_ptr
p init_task.stats
struct task_struct.tasks init_task
struct task_struct.tasks,pid $task1
p init_mm.saved_auxv
p SYSTEM_RUNNING
p 7 % 3
p (char)65
p 1 << 40
p ~0
p init_task.comm[1] + 1
p init_task.tasks.next->next
p sizeof(int)
p init_task.se.load.weight * 3 / 2
p *init_task.thread_pid
p init_task.restart_block.nanosleep.type
struct rq -o
struct sched_entity
struct hrtimer -o
struct list_head $init
struct list_head $init 2
p current_task:0
p runqueues
p jiffies_64
p init_uts_ns.name.sysname
p &init_task.comm[3]
p *init_task.comm@3
struct page.flags
p -x init_task.pid
p -x init_task.se.load
p -x jiffies
p -x init_task.thread_info
p -x init_task.comm[0]
p -x init_task.sched_class
p -x system_state
p nosuch
p init_task.nosuch
struct nosuch
struct task_struct.nosuch
whatis nosuch
struct list_head -o $init
struct task_struct.rcu_users $init
struct task_struct.se $init
struct task_struct.pid,comm $init
p jiffies:0
union sigval $init
struct list_head -x $init
p &runqueues
p &jiffies
p &linux_banner
p init_task.thread_pid->numbers
struct pid init_struct_pid
p init_struct_pid.numbers[0].ns
p (unsigned long)&init_task
p &init_task.se
p (void *)init_task.stack
p init_task.stack + 8
p *init_task.stack
whatis init_task.se
whatis &init_task
p nr_cpu_ids * 2
p sizeof(init_task)
p init_task.comm + 1
p &init_task.comm[0]
p -d jiffies
p __per_cpu_offset[1]
p init_uts_ns.name
struct mm_struct
struct mm_struct -o
struct rq
struct rq -o
struct page
struct page -o
struct file
struct file -o
struct inode
struct inode -o
struct dentry
struct dentry -o
struct super_block
struct super_block -o
struct cred
struct cred -o
struct signal_struct
struct signal_struct -o
struct sighand_struct
struct sighand_struct -o
struct pid
struct pid -o
struct nsproxy
struct nsproxy -o
struct vm_area_struct
struct vm_area_struct -o
struct zone
struct zone -o
struct pglist_data
struct pglist_data -o
struct kmem_cache
struct kmem_cache -o
struct timer_list
struct timer_list -o
struct hrtimer
struct hrtimer -o
struct work_struct
struct work_struct -o
struct module
struct module -o
struct request_queue
struct request_queue -o
struct irq_desc
struct irq_desc -o
struct thread_struct
struct thread_struct -o
struct fpu
struct fpu -o
struct fpstate
struct fpstate -o
struct xregs_state
struct xregs_state -o
struct fxregs_state
struct fxregs_state -o
struct rb_root_cached
struct rb_root_cached -o
struct sched_entity
struct sched_entity -o
struct sched_dl_entity
struct sched_dl_entity -o
struct cfs_rq
struct cfs_rq -o
struct rt_rq
struct rt_rq -o
struct dl_rq
struct dl_rq -o
struct maple_tree
struct maple_tree -o
struct address_space
struct address_space -o
struct vfsmount
struct vfsmount -o
struct path
struct path -o
struct qstr
struct qstr -o
struct kobject
struct kobject -o
struct device
struct device -o
struct bus_type
struct bus_type -o
struct file_operations
struct file_operations -o
struct inode_operations
struct inode_operations -o
struct seq_file
struct seq_file -o
struct task_group
struct task_group -o
struct percpu_ref
struct percpu_ref -o
whatis atomic64_t
whatis spinlock_t
whatis cpumask_var_t
whatis pgd_t
whatis gfp_t
whatis irq_handler_t
whatis wait_queue_head_t
whatis pte_t
whatis refcount_t
whatis kernel_cap_t
whatis sigset_t
whatis raw_spinlock_t
whatis arch_spinlock_t
whatis seqcount_t
whatis cpumask_t
whatis nodemask_t
p contig_page_data
p init_fs
p init_files
p init_signals
p init_sighand
p init_cred
p init_pid_ns
p init_struct_pid
p runqueues:a
p init_mm.mm_mt
p super_blocks
p *init_files.fdt
p init_task.signal->rlim
p init_task.cred->user
p *init_task.cred->user
p *init_task.nsproxy->uts_ns
p irq_stack_backing_store
p node_states
p cpu_bit_bitmap
p jiffies_64
p panic_cpu
p oops_in_progress
p system_wq
p *system_wq
p swapper_pg_dir
p init_top_pgt
whatis init_top_pgt
whatis -o list_head
whatis -o task_struct
struct task_struct.thread_info $task1
struct task_struct.thread_info,pid,comm,__state $task1
p ((struct task_struct *)$task1)->mm
p ((struct task_struct *)$task1)->signal
p ((struct task_struct *)$task1)->cred
p ((struct task_struct *)$task1)->files
p ((struct task_struct *)$task1)->fs
p *((struct task_struct *)$task1)->mm
p *((struct task_struct *)$task1)->signal
p *((struct task_struct *)$task1)->cred
p *((struct task_struct *)$task1)->files
p *((struct task_struct *)$task1)->files->fdt
p *((struct task_struct *)$task1)->fs
p ((struct task_struct *)$task1)->fs->root
p *((struct task_struct *)$task1)->fs->root.dentry
p ((struct task_struct *)$task1)->fs->root.dentry->d_name
p *((struct task_struct *)$task1)->thread_pid
p *((struct task_struct *)$task1)->mm->exe_file
p ((struct task_struct *)$task1)->mm->exe_file->f_path.dentry->d_iname
p *((struct task_struct *)$task1)->real_parent
p ((struct task_struct *)$task1)->real_parent->comm
p *((struct task_struct *)$task1)->sighand
p ((struct task_struct *)$task1)->signal->rlim[3]
p ((struct task_struct *)$task1)->thread.sp
p ((struct task_struct *)$task1)->stack
p *((struct task_struct *)$task1)->nsproxy
p vector_irq:0
p idt_table
p kmalloc_caches
p boot_command_line
struct rq.nr_running runqueues:a
struct rq.cpu,nr_running runqueues:0
struct list_head runqueues:1
CMDS
record_list
