// Package symbols names kernel addresses: the vmlinux ELF symbol table,
// kallsyms decoded from a dump's own memory, and (later) DWARF types.
//
// It is a leaf: it imports no other kcrash package. Where it needs the
// crashed machine's memory (kallsyms) it takes a read function, the way
// x/arch's disassembler takes a symbol lookup, so it never learns about
// dumps or address translation.
package symbols
