// Package symbols names kernel addresses: the vmlinux ELF symbol table,
// kallsyms decoded from a dump's own memory, and the kernel's C types
// from its DWARF (DWARF 5 and earlier): a name index over every unit
// (Types: LookupType, LookupVar, LookupFunc), C declarations spelled as
// gdb spells them (Declare, TypeName, Ptype), and values formatted as
// gdb prints them for crash (Printer, AddrNamer).
//
// It is a leaf: it imports no other kcrash package. Where it needs the
// crashed machine's memory (kallsyms, strings behind char pointers) it
// takes a read function, the way x/arch's disassembler takes a symbol
// lookup, so it never learns about dumps or address translation.
package symbols
