// Package analyze is kcrash's model of the crashed kernel: it turns a
// dump's physical memory, its VMCOREINFO and the kernel's symbols into
// answers about kernel objects (address translation, tasks, stacks, the
// printk log, modules, the struct page classification of dump levels).
//
// It sits between the commands and the two leaf packages: it imports
// vmcore (memory) and symbols (names and types) and nothing above it.
// Subsystems are small files named after the kernel code they mirror.
package analyze
