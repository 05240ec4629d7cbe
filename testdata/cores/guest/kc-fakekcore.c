/* kc-fakekcore KALLSYMS OUT [DIRECTMAP_ADDR]: write a minimal ELF core header
 * that looks like the start of /proc/kcore: one PT_LOAD for the kernel text
 * mapping [_text, _end) and, given any direct-map address, one PT_LOAD at the
 * start of the direct map (the address rounded down to 1 GiB, which is
 * page_offset_base under 4-level paging with RANDOMIZE_MEMORY).
 * kexec-tools (x86_64, kexec -p) only reads the program headers of
 * /proc/kcore: the kernel text mapping gives the kernel's virtual address and
 * size, the lowest PT_LOAD (rounded down to 1 GiB) gives PAGE_OFFSET, used for
 * the p_vaddr of the direct-map PT_LOADs in the elfcorehdr. The
 * corpus kernel has no CONFIG_PROC_KCORE, so /init bind-mounts a fake /proc
 * that holds this file while kexec runs. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	unsigned long long addr, text = 0, end = 0, maxdata = 0;
	char type, name[512], line[1024];
	FILE *f, *o;
	Elf64_Ehdr eh;
	Elf64_Phdr ph, dm;
	unsigned long long dmaddr = 0;
	static char pad[65536];

	if (argc != 3 && argc != 4)
		return 2;
	if (argc == 4)
		dmaddr = strtoull(argv[3], NULL, 16) & ~((1ULL << 30) - 1);
	f = fopen(argv[1], "r");
	if (!f) { perror(argv[1]); return 1; }
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %511s", &addr, &type, name) != 3 || strchr(line, '['))
			continue;
		if (!strcmp(name, "_text")) text = addr;
		else if (!strcmp(name, "_end")) end = addr;
		if (addr >= 0xffffffff80000000ULL && addr < 0xffffffffc0000000ULL && addr > maxdata)
			maxdata = addr;
	}
	fclose(f);
	if (!end)
		end = (maxdata + 0x1000) & ~0xfffULL;
	if (!text || end <= text) {
		fprintf(stderr, "kc-fakekcore: _text/_end not found\n");
		return 1;
	}
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh.e_type = ET_CORE;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = dmaddr ? 2 : 1;
	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_LOAD;
	ph.p_flags = PF_R | PF_W | PF_X;
	ph.p_offset = 0x1000;
	ph.p_vaddr = text;
	ph.p_paddr = -1ULL;
	ph.p_filesz = ph.p_memsz = end - text;
	ph.p_align = 0x1000;
	o = fopen(argv[2], "w");
	if (!o) { perror(argv[2]); return 1; }
	fwrite(pad, 1, sizeof(pad), o);
	rewind(o);
	fwrite(&eh, sizeof(eh), 1, o);
	fwrite(&ph, sizeof(ph), 1, o);
	if (dmaddr) {
		memset(&dm, 0, sizeof(dm));
		dm.p_type = PT_LOAD;
		dm.p_flags = PF_R | PF_W | PF_X;
		dm.p_offset = 0x2000;
		dm.p_vaddr = dmaddr;
		dm.p_paddr = 0;
		dm.p_filesz = dm.p_memsz = 0x1000;
		dm.p_align = 0x1000;
		fwrite(&dm, sizeof(dm), 1, o);
	}
	fclose(o);
	printf("kc-fakekcore: kernel text %llx-%llx direct map %llx\n", text, end, dmaddr);
	return 0;
}
