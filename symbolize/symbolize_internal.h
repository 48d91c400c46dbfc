/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the symbolizer's files share, and nothing outside symbolize/ includes. The public
 * contract is symbolize/symbolize.h; this is the layout behind it:
 *
 *   symbolize.c    the object: construction, the string pool (intern()), statistics
 *   kallsyms.c     kernel addresses (/proc/kallsyms)
 *   elf_cache.c    the ELF cache (build id, else device/inode/mtime; LRU within the budget),
 *                  opening a mapped file as its process sees it, naming an address in an entry
 *   elf_parse.c    one ELF file into an entry: segments, symbols, build id, debuglink, Go
 *   debugfile.c    separate debug files (build-id tree, .gnu_debuglink) in a root
 *   procmaps.c     the process table, /proc/PID/maps, capture, sweeps, user lookups
 *   proc_events.c  processes and mappings reported by events (fork, exec, mmap, exit)
 *   perfmap.c      perf maps of JIT code
 *   stack.c        whole stacks, marker frames and Python frames merged in
 */
#ifndef KILN_SYMBOLIZE_INTERNAL_H
#define KILN_SYMBOLIZE_INTERNAL_H

#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/util.h"
#include "common/htab.h"
#include "symbolize/symbolize.h"

/* No kernel function is anywhere near this long; beyond it an address is in a gap. */
#define KSYM_MAX_SPAN (4ULL << 20)
/*
 * A live process's mappings are re-read on a miss (dlopen) at most this often; after each
 * re-read that still leaves the address unmapped, twice as long apart, up to the maximum.
 * Such misses are mostly broken frame-pointer chains (binaries built without frame
 * pointers: garbage return addresses), not new libraries, and re-reading every second for
 * them was 4-6 % of the agent's CPU host-wide (perf). A re-read that maps it resets the wait.
 */
#define MAPS_REFRESH_NS 1000000000ULL
/*
 * Events report mappings but not their removal (munmap): a live process whose list from
 * events grows past this is read from /proc again, which drops what it unmapped.
 */
#define EVENT_MAPS_MAX 8192
#define MAPS_REFRESH_MAX_NS 8000000000ULL
/* A live process's perf map is checked for growth at most this often. */
#define JIT_REFRESH_NS 100000000ULL
/* Without explicit sweeps, exited processes are kept this long for late samples. */
#define EXIT_LINGER_NS (30 * 1000000000ULL)
#define SWEEP_INTERVAL_NS 1000000000ULL
#define DEFAULT_CACHE_BYTES (32ULL << 20)
/*
 * A cached file no process has used for this long is dropped even within the budget: a
 * big program that ran once (a compiler, a debugger) otherwise held its symbols, tens of
 * MiB, until other files pushed them out. Jobs that recur within it keep theirs.
 */
#define ELF_IDLE_NS (300 * 1000000000ULL)
/* A perf map larger than this is not read (it would not fit any sane budget). */
#define PERFMAP_MAX_BYTES (256ULL << 20)

struct ksym {
	uint64_t addr;
	const char *name; /* points into symbolizer.kbuf */
	const char *module; /* interned */
	/*
	 * Before the sort: the file order, so sorting is stable among aliases. After it: the
	 * function's name (NAME without a .cold / .isra.0 marker, interned when it has one),
	 * NULL until the symbol is first looked up: finding the marker costs a scan of the
	 * name, once per symbol rather than once per sampled frame.
	 */
	union {
		size_t order;
		const char *fname;
	};
};

struct load_seg {
	uint64_t offset, vaddr, filesz;
};

struct elf_sym {
	uint64_t start, size;
	/*
	 * Until the symbol is first returned, NAME is the offset of its name as in the binary
	 * in elf_file.names; from then on (INAME set) the interned strings are kept instead,
	 * so a frame seen again costs no hashing of its name (and no demangling). The pool
	 * outlives every ELF entry, so the pointers stay valid however long the entry lives.
	 */
	union {
		size_t name;
		const char *isys; /* interned name as in the binary, once INAME is set */
	};
	const char *iname; /* interned demangled name (== isys when not mangled), or NULL */
	uint8_t binding_rank;
};

struct elf_file;

/* One (device, inode, mtime) known to hold ELF_FILE. */
struct elf_alias {
	uint64_t dev, ino, mtime_ns;
	struct elf_file *e;
	struct elf_alias *next; /* the file's other aliases */
};

struct elf_file {
	/* In symbolizer.lru while cached and unreferenced, most recently used first. */
	struct elf_file *lru_prev, *lru_next;
	struct elf_alias *aliases;
	unsigned int refs; /* mappings of cached processes that use it */
	int err; /* parse error: the file is cached as unusable */
	bool go; /* has .gopclntab: a Go binary */
	bool cached; /* accounted in symbolizer.elf_bytes */
	bool dbg_wanted; /* stripped, its debug file asked of debuginfod: re-read when it lands */
	const char *build_id; /* interned; the bids key when set */
	size_t bytes; /* what it accounts for in the budget */
	uint64_t released_ns; /* when its last user went (symbolizer clock), while on the LRU */
	struct load_seg *segs;
	size_t nr_segs;
	struct elf_sym *syms;
	size_t nr_syms;
	char *names;
	size_t names_len, names_cap;
};

struct umap {
	uint64_t start, end, offset, dev, ino;
	const char *path; /* interned; "//anon" for anonymous executable memory */
	struct elf_file *elf; /* NULL when not an ELF file or it could not be opened */
	const char *bid; /* interned hex build id the kernel reported (events only), or NULL */
	bool events; /* reported by an event: the file may be opened by its host path */
	bool elf_tried; /* ELF set (or not) by get_elf(); events' mappings are opened lazily */
};

struct proc {
	uint32_t tgid;
	uint32_t nspid; /* the pid in its own namespace: perf maps are named by it */
	bool nspid_known;
	bool exited; /* set and cleared only by proc_mark_exited() and proc_unmark_exited() */
	bool by_events; /* mappings from symbolizer__add_mapping(), not /proc; proc_set_by_events */
	bool partial; /* only the mappings events added since the agent started: read /proc */
	size_t reread_nr; /* mappings after the last re-read for EVENT_MAPS_MAX */
	uint64_t exit_ns, exit_gen, refresh_ns;
	uint64_t refresh_wait_ns; /* before the next re-read on a miss; 0: MAPS_REFRESH_NS */
	struct umap *maps; /* sorted by start, as /proc/PID/maps lists them */
	size_t nr_maps;
	struct elf_file *jit; /* its perf map's symbols (not in the ELF cache), or NULL */
	int64_t jit_size; /* size of the perf map when read, -1 when none */
	uint64_t jit_check_ns;
	size_t bytes; /* maps and perf map, in symbolizer.proc_bytes */
	LIST_ENTRY(proc) exit_link; /* on symbolizer.exited while exited */
};

/* One entry of struct symbolizer's cache of recent symbol lookups. */
struct sym_cache_slot {
	const struct elf_file *e;
	uint64_t vaddr;
	size_t idx; /* in e->syms */
};
#define SYM_CACHE_SLOTS 4096

struct symbolizer {
	char *proc_root;
	char *kallsyms_path;
	char *debug_root;
	uint64_t budget;

	const char *kcore; /* "[kernel.kallsyms]" */
	const char *jit_module; /* "[jit]" */
	bool kloaded;
	int kerr;
	char *kbuf;
	size_t kbuf_len;
	struct ksym *ksyms;
	size_t nr_ksyms;

	struct htab strs; /* val: char * */
	struct htab bids; /* build id -> struct elf_file * */
	struct htab inodes; /* (dev, ino, mtime) -> struct elf_alias * */
	struct htab procs; /* val: struct proc * */
	/*
	 * The exited processes not yet released, so the sweeps visit only them: walking the
	 * whole process table each window read every struct proc (2000 at density) to find
	 * the few exited ones.
	 */
	LIST_HEAD(, proc) exited;
	/* Processes with by_events set: symbolizer__stats() runs once a window, no walk. */
	uint64_t nr_by_events;
	/*
	 * Unreferenced cached ELF files (the only evictable ones), most recently released
	 * first: eviction pops the tail without walking past entries in use.
	 */
	struct elf_file lru;
	uint64_t sweep_gen, last_sweep_ns;

	uint64_t str_bytes, elf_bytes, proc_bytes;
	uint64_t nr_elfs, hits, misses, evictions;
	uint64_t name_hits, name_misses; /* fill_name(): names already interned, or not */
	uint64_t maps_rereads; /* mappings re-read on a lookup miss */
	uint64_t mappings_added; /* by symbolizer__add_mapping() */
	uint64_t (*clock_ns)(void *ctx); /* NULL: mono_ns() */
	void *clock_ctx;
	symbolizer_python_fn py_lookup; /* NULL: Python words become markers */
	void *py_ctx;
	uint64_t py_frames, py_unnamed, py_inexact;
	struct dbgfetch *dbg; /* not owned; NULL: no fetching (debugfetch.c) */
	uint64_t dbg_reloads, dbg_retry_ns;
	uint64_t files_denied; /* mapped files the agent may not open (elf_cache.c) */
	bool warned_denied;
	/*
	 * Symbols of recent lookups (sym_cache_lookup()): the same return addresses recur in
	 * nearly every stack, and each elf_lookup() was a binary search over thousands of
	 * symbols that missed the CPU's caches.
	 */
	struct sym_cache_slot sym_cache[SYM_CACHE_SLOTS];
};

/* What parse_elf() learns about a binary's separate debug information. */
struct debug_ref {
	char link[NAME_MAX + 1]; /* .gnu_debuglink file name, "" when none */
	uint32_t crc;
};

/* Now, by the symbolizer's clock (symbolizer_opts.clock_ns). */
static inline uint64_t sym_now(const struct symbolizer *s)
{
	return s->clock_ns ? s->clock_ns(s->clock_ctx) : mono_ns();
}

/* symbolize.c */

/* STR's copy in S's string pool (lives as long as S), or NULL when out of memory. */
const char *intern(struct symbolizer *s, const char *str);
/* Everything S accounts for in its cache budget, in bytes. */
uint64_t total_bytes(const struct symbolizer *s);

/* elf_cache.c */

/*
 * elf_lookup() through S's cache: the symbol of E covering VADDR, or NULL. A cached entry is
 * checked against E's symbols as they are now, so files freed, re-read or replaced at the
 * same address never give a stale answer.
 */
struct elf_sym *sym_cache_lookup(struct symbolizer *s, struct elf_file *e, uint64_t vaddr);

/* Frees E and its aliases (not removed from any index); NULL is a no-op. */
void elf_file__free(struct elf_file *e);
/* The bytes E accounts for in the budget. */
size_t elf_bytes_of(const struct elf_file *e);
/* Takes a reference on cached E: it leaves the LRU list and cannot be evicted. */
void elf_ref(struct elf_file *e);
/* Drops a reference; the last one puts cached E on the LRU list. */
void elf_unref(struct symbolizer *s, struct elf_file *e);
/* Evicts unused ELF files, least recently used first, until S is within its budget. */
void enforce_budget(struct symbolizer *s);
/* Evicts the ELF files no process has used since NOW - ELF_IDLE_NS; returns how many. */
size_t evict_idle(struct symbolizer *s, uint64_t now);
/*
 * Parses ELF (NULL when the file is not one; open as FD), seen by TGID at PATH with build id
 * BID ("" if none), into a new entry that is not yet cached. Returns the entry (err set when unusable) or NULL
 * when out of memory.
 */
struct elf_file *load_elf(struct symbolizer *s, uint32_t tgid, const char *path, int fd, Elf *elf,
			  const char *bid);
/* Returns the cached or newly parsed ELF file of M (a reference), or NULL. */
struct elf_file *get_elf(struct symbolizer *s, uint32_t tgid, const struct umap *m);
/* Mapped file offset FILE_OFF of E (NULL: none) as an ELF virtual address. */
uint64_t to_elf_vaddr(const struct elf_file *e, uint64_t file_off);
/* E's symbol covering VADDR, or NULL. */
struct elf_sym *elf_lookup(const struct elf_file *e, uint64_t vaddr);
/*
 * Sets OUT's name, system name and offset from SYM of E (whose symbols use VADDR's address
 * space). Interns (and demangles) on first use only: see struct elf_sym. Returns 0 or
 * -ENOMEM.
 */
int fill_name(struct symbolizer *s, struct elf_file *e, struct elf_sym *sym, uint64_t vaddr,
	      struct sym_frame *out);

/* elf_parse.c */

/* Appends a symbol to E (growing the table, capacity in *CAP). Returns 0 or -ENOMEM. */
int add_sym(struct elf_file *e, size_t *cap, uint64_t start, uint64_t size, uint8_t rank,
	    const char *name);
/* Appends the function symbols of symbol table SCN (header SH) to E. Returns 0 or -ENOMEM. */
int read_symtab(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct elf_file *e, size_t *cap);
/* Sorts E's symbols and keeps the best one per address; gives back the spare capacity. */
void finish_syms(struct elf_file *e);
/* Writes ELF's GNU build id as lowercase hex into HEX (129 bytes); "" when it has none. */
void read_build_id(Elf *elf, char *hex);
/*
 * Fills E from ELF (open as FD, or -1), a binary that process TGID (0: none, host paths)
 * maps from PATH, with build id BID ("" if none). Returns 0, -ENOEXEC (not a usable ELF) or
 * -ENOMEM.
 */
int parse_elf(struct symbolizer *s, int fd, Elf *elf, uint32_t tgid, const char *path,
	      const char *bid, struct elf_file *e);

/* debugfile.c */

/*
 * Opens regular file PATH for reading as seen from ROOT ("" for the host; else a process's
 * /proc/PID/root), symlinks resolved within it. Returns an fd or -errno.
 */
int open_in_root(const char *root, const char *path);
/*
 * Reads the .symtab of the debug file open on FD into E. WANT_BID: the binary's build id
 * ("" if none), which the debug file must carry too. Returns 0 when symbols were added,
 * -ENOENT when the file is not a matching debug file, or -ENOMEM. Local files and fetched
 * ones (debugfetch.c) are read alike.
 */
int read_debug_file(int fd, const char *want_bid, struct elf_file *e, size_t *cap);
/*
 * Finds the separate debug file of a binary seen at PATH under ROOT ("/proc/PID/root", or
 * "" for the host) and reads its symbols into E. Returns 0 when found, -ENOENT, or -ENOMEM.
 */
int find_debug_in(struct symbolizer *s, const char *root, const char *path, const char *bid,
		  const struct debug_ref *ref, struct elf_file *e, size_t *cap);

/* procmaps.c */

uint64_t proc_hash(uint32_t tgid);
/* TGID's cached process, or NULL. */
struct proc *find_proc(struct symbolizer *s, uint32_t tgid);
/* Frees P, dropping its references on ELF files; NULL is a no-op. */
void proc__free(struct symbolizer *s, struct proc *p);
/* Re-counts P's bytes after its maps or perf map changed. */
void proc_account(struct symbolizer *s, struct proc *p);
/* Removes P from the process table (and the exited list) and frees it. */
void release_proc(struct symbolizer *s, struct proc *p);
/* Sets P's by_events to ON, keeping symbolizer.nr_by_events. */
void proc_set_by_events(struct symbolizer *s, struct proc *p, bool on);
/* Marks P (in the process table) exited now, for the sweeps to release; once only. */
void proc_mark_exited(struct symbolizer *s, struct proc *p);
/* Reads TGID's executable mappings into *P (its old ones are released). Returns 0 or -errno. */
int read_maps(struct symbolizer *s, struct proc *p);
/* True for the kernel's own executable mappings ([vdso], [vsyscall], [uprobes]). */
bool kernel_special(const char *path);
/* P's mapping holding ADDR, or NULL. */
const struct umap *find_map(const struct proc *p, uint64_t addr);
/*
 * TGID's cached process, captured on first sight. Returns it, or NULL with *ERR set
 * (-ENOENT when it is gone and was never seen).
 */
struct proc *proc_of(struct symbolizer *s, uint32_t tgid, int *err);
/* symbolizer__user() for a process already looked up; OUT is initialised by the caller. */
int user_lookup(struct symbolizer *s, struct proc *p, uint64_t addr, struct sym_frame *out);

/* debugfetch.c */

/*
 * The debug file of build id BID from the debuginfod cache, read into E; or, not there yet,
 * asked for in the background (E is re-read when it lands). Returns 0 when read, -ENOENT,
 * or -ENOMEM.
 */
int fetched_debug(struct symbolizer *s, const char *bid, struct elf_file *e, size_t *cap);
/* Once a window: the entries whose debug file landed take its symbols; waiting ones ask again. */
void debuginfo_poll(struct symbolizer *s, uint64_t now);
/*
 * The interned name of the function NAME is part of: "foo.cold" and "foo.part.0" (pieces the
 * compiler split off foo) are named foo, so a function's Self and Total add up; the system
 * name keeps the piece's own symbol. NULL when out of memory.
 */
const char *function_name(struct symbolizer *s, const char *name);

/* perfmap.c */

/*
 * (Re)reads P's perf map when it appeared or changed size since the last read. Returns 0
 * (also when there is none) or -ENOMEM.
 */
int load_perfmap(struct symbolizer *s, struct proc *p);
/* Names ADDR from P's perf map when it covers it. Returns 0 or -ENOMEM. */
int jit_lookup(struct symbolizer *s, struct proc *p, uint64_t addr, struct sym_frame *out);

#endif /* KILN_SYMBOLIZE_INTERNAL_H */
