// SPDX-License-Identifier: Apache-2.0
/* Symbolizer tests of files beside the binary: separate debug files, demangling, C++, perf maps, Go. */
#include <CUnit/Basic.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "symbolize/symbolize.h"

#include "symtest.h"

/* Build id of the ELF file at PATH through the symbolizer ("" when none). */
static void probe_build_id(const char *path, char *out, size_t len)
{
	struct symbolizer *s = symbolizer__new(NULL);
	struct sym_frame f;

	out[0] = '\0';
	if (s && !symbolizer__elf_probe(s, path, 0, &f) && f.build_id)
		snprintf(out, len, "%s", f.build_id);
	symbolizer__free(s);
}

void test_buildid_debug_file(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char dir[PATH_MAX], bin[PATH_MAX + 16], dbg[PATH_MAX + 16], root[PATH_MAX], bid[130];
	char cmd[CMD_MAX];
	uint64_t value = elf_sym_value(SYM_HELPER, "helper_burn", NULL), entry, entry_end;
	struct symbolizer *s = NULL;
	struct sym_frame f;
	struct child c;

	if (!*OBJCOPY || !*STRIP) {
		fprintf(stderr, "skipped: objcopy or strip (binutils) not found\n");
		return;
	}
	CU_ASSERT_FATAL(value != 0);
	snprintf(dir, sizeof(dir), "%s/bid", tmpdir);
	snprintf(bin, sizeof(bin), "%s/helper", dir);
	snprintf(dbg, sizeof(dbg), "%s/helper.debug", dir);
	snprintf(root, sizeof(root), "%s/debugroot", tmpdir);
	CU_ASSERT_FATAL(make_stripped(dir, "helper", dbg) == 0);
	/* Stripped for real: no .symtab entry left for it. */
	CU_ASSERT_EQUAL(elf_sym_value(bin, "helper_burn", NULL), 0);
	probe_build_id(bin, bid, sizeof(bid));
	CU_ASSERT_FATAL(strlen(bid) > 2);

	opts.debug_root = root;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	/* No debug file yet: the address stays unnamed. */
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, value + 1, &f), 0);
	CU_ASSERT_PTR_NULL(f.name);
	/*
	 * But the entry function, found by e_entry and its FDE, is _start even so: inside it,
	 * and not one byte past its end. The oracle: _start's symbol in the unstripped build.
	 */
	entry = elf_sym_find(SYM_HELPER, "_start", NULL, &entry_end);
	CU_ASSERT_FATAL(entry != 0 && entry_end > 4);
	entry_end += entry;
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, entry + 4, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "_start");
	CU_ASSERT_EQUAL(f.sym_offset, 4);
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, entry_end, &f), 0);
	CU_ASSERT(!f.name || strcmp(f.name, "_start"));

	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s/.build-id/%.2s' && mv '%s' '%s/.build-id/%.2s/%s.debug'", root, bid,
		 dbg, root, bid, bid + 2);
	CU_ASSERT_FATAL(run(cmd) == 0);
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, value + 1, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "helper_burn");
	CU_ASSERT_STRING_EQUAL(f.build_id, bid);

	/* The same through a live process of the stripped binary. */
	CU_ASSERT_FATAL(child_start(&c, bin, "burn") == 0);
	CU_ASSERT_EQUAL(symbolizer__capture(s, (uint32_t)c.pid), 0);
	CU_ASSERT_EQUAL(child_finish(&c), 0);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 3, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "helper_burn");
	CU_ASSERT_EQUAL(f.elf_vaddr, value + 3);
	CU_ASSERT_STRING_EQUAL(f.module, bin);
	symbolizer__free(s);
}

void test_debuglink(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char dir[PATH_MAX], bin[PATH_MAX + 16], dbg[PATH_MAX + 32], root[PATH_MAX];
	char cmd[CMD_MAX];
	uint64_t value = elf_sym_value(SYM_HELPER, "helper_burn", NULL);
	struct symbolizer *s = NULL;
	struct sym_frame f;

	if (!*OBJCOPY || !*STRIP) {
		fprintf(stderr, "skipped: objcopy or strip (binutils) not found\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/dl", tmpdir);
	snprintf(bin, sizeof(bin), "%s/helper2", dir);
	snprintf(dbg, sizeof(dbg), "%s/.debug/helper2.debug", dir);
	/* An empty debug root: only the debuglink can find it. */
	snprintf(root, sizeof(root), "%s/emptyroot", tmpdir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/.debug' '%s'", dir, root);
	CU_ASSERT_FATAL(run(cmd) == 0);
	CU_ASSERT_FATAL(make_stripped(dir, "helper2", dbg) == 0);
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' --add-gnu-debuglink='%s' helper2", dir, OBJCOPY,
		 dbg);
	CU_ASSERT_FATAL(run(cmd) == 0);

	opts.debug_root = root;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, value, &f), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "helper_burn");
	CU_ASSERT_EQUAL(f.sym_offset, 0);

	/* DEBUG_ROOT/DIR/NAME is the third place looked at. */
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s%s' && mv '%s' '%s%s/'", root, dir, dbg, root, dir);
	CU_ASSERT_FATAL(run(cmd) == 0);
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, value, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);

	/* A debug file of that name whose CRC does not match is not used. */
	snprintf(cmd, sizeof(cmd), "echo x >> '%s%s/helper2.debug'", root, dir);
	CU_ASSERT_FATAL(run(cmd) == 0);
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, value, &f), 0);
	CU_ASSERT_PTR_NULL(f.name);
	symbolizer__free(s);
}

void test_demangle(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "_ZN9kiln_test6Burner4spinEi", "kiln_test::Burner::spin(int)" },
		{ "_Z3fooPKc", "foo(char const*)" },
		{ "_ZNSt6vectorIiSaIiEE9push_backERKi", "std::vector<int, std::allocator<int> "
							">::push_back(int const&)" },
		/* Rust legacy: the trailing hash goes. */
		{ "_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write" },
		{ "_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h1e4f3b7c8a9d0e2fE",
		  "std::rt::lang_start::{{closure}}" },
		/* Rust v0. */
		{ "_RNvCs15kBYyAo9fc_7mycrate4main", "mycrate::main" },
		{ "_RINvNtCs1234_7mycrate3foo3barmE", "mycrate::foo::bar::<u32>" },
		/* Not mangled, or not validly. */
		{ "main", NULL },
		{ "_start", NULL },
		{ "_Zgarbage", NULL },
		{ "_R", NULL },
		{ "", NULL },
	};
	size_t i;
	char *d;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		d = symbolizer__demangle(cases[i].in);
		if (cases[i].out) {
			CU_ASSERT_PTR_NOT_NULL(d);
			if (d && strcmp(d, cases[i].out))
				fprintf(stderr, "%s -> %s, want %s\n", cases[i].in, d,
					cases[i].out);
			if (d)
				CU_ASSERT_STRING_EQUAL(d, cases[i].out);
		} else {
			CU_ASSERT_PTR_NULL(d);
		}
		free(d);
	}
	CU_ASSERT_PTR_NULL(symbolizer__demangle(NULL));
}

void test_cxx(void)
{
#ifdef CXX_HELPER
	struct symbolizer *s = symbolizer__new(NULL);
	struct sym_frame f;
	struct child c;

	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_FATAL(child_start(&c, CXX_HELPER, NULL) == 0);
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 1, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name) {
		CU_ASSERT_STRING_EQUAL(f.name, "kiln_test::Burner::spin(int)");
		CU_ASSERT_STRING_EQUAL(f.system_name, "_ZN9kiln_test6Burner4spinEi");
		CU_ASSERT_EQUAL(f.sym_offset, 1);
	}
	CU_ASSERT_EQUAL(child_finish(&c), 0);
	symbolizer__free(s);
#else
	fprintf(stderr, "skipped: no C++ compiler at configure time\n");
#endif
}

void test_perfmap_jit(void)
{
	struct symbolizer *s = symbolizer__new(NULL);
	char path[64];
	struct sym_frame f;
	struct child c;
	FILE *fp;

	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_FATAL(child_start(&c, SYM_HELPER, "jit") == 0);
	/* Same pid namespace: the file is named by the pid we see. */
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)c.pid);
	fp = fopen(path, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fprintf(fp, "%llx 40 LazyCompile:*jitFnOne app.js:1\n", c.addr);
	fprintf(fp, "%llx 10 stub\n", c.addr + 0x200);
	/* Recompiled at the same address: the later line wins. */
	fprintf(fp, "%llx 10 stub_v2\n", c.addr + 0x200);
	CU_ASSERT_FATAL(fclose(fp) == 0);

	CU_ASSERT_EQUAL(symbolizer__capture(s, (uint32_t)c.pid), 0);
	CU_ASSERT_EQUAL_FATAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 0x10, &f), 0);
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_JIT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.name);
	CU_ASSERT_STRING_EQUAL(f.name, "LazyCompile:*jitFnOne app.js:1");
	CU_ASSERT_STRING_EQUAL(f.module, "[jit]");
	CU_ASSERT_EQUAL(f.sym_offset, 0x10);
	CU_ASSERT_EQUAL(f.elf_vaddr, c.addr + 0x10);
	CU_ASSERT_EQUAL(f.map_start, c.addr);
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 0x205, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name)
		CU_ASSERT_STRING_EQUAL(f.name, "stub_v2");

	/* Not in the map (yet): the mapping without a name. */
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 0x1005, &f), 0);
	CU_ASSERT_PTR_NULL(f.name);
	CU_ASSERT_STRING_EQUAL(f.module, "//anon");
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_NATIVE);

	/* The runtime appends; the grown file is re-read. */
	fp = fopen(path, "a");
	CU_ASSERT_FATAL(fp != NULL);
	fprintf(fp, "%llx 100 _ZN9kiln_test6Burner4spinEi\n", c.addr + 0x1000);
	CU_ASSERT_FATAL(fclose(fp) == 0);
	usleep(150 * 1000);
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 0x1005, &f), 0);
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_JIT);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name) {
		CU_ASSERT_STRING_EQUAL(f.name, "kiln_test::Burner::spin(int)");
		CU_ASSERT_STRING_EQUAL(f.system_name, "_ZN9kiln_test6Burner4spinEi");
	}
	CU_ASSERT_EQUAL(child_finish(&c), 0);
	unlink(path);
	symbolizer__free(s);
}

/*
 * A container's perf map is read inside its root: an absolute symlink planted there must
 * not lead to a file of the agent's own (here: a map outside the fake root).
 */
void test_perfmap_in_root(void)
{
	struct symbolizer_opts opts = { .sz = sizeof(opts) };
	char proc[PATH_MAX], path[PATH_MAX + 64], jail[PATH_MAX], outside[PATH_MAX + 16];
	struct symbolizer *s = NULL;
	struct sym_frame f;

	snprintf(proc, sizeof(proc), "%s/jailproc", tmpdir);
	snprintf(jail, sizeof(jail), "%s/jail", tmpdir);
	snprintf(outside, sizeof(outside), "%s/outside.map", tmpdir);
	CU_ASSERT_FATAL(mkdir(proc, 0755) == 0 && mkdir(jail, 0755) == 0);
	snprintf(path, sizeof(path), "%s/tmp", jail);
	CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/700", proc);
	CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/700/root", proc);
	CU_ASSERT_FATAL(symlink(jail, path) == 0);
	snprintf(path, sizeof(path), "%s/700/maps", proc);
	write_text(path, "10000000-10100000 rwxp 00000000 00:00 0 \n");
	write_text(outside, "10000000 100 leaked\n");
	snprintf(path, sizeof(path), "%s/tmp/perf-700.map", jail);
	CU_ASSERT_FATAL(symlink(outside, path) == 0);

	opts.proc_root = proc;
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__user(s, 700, 0x10000010, &f), 0);
	CU_ASSERT_PTR_NULL(f.name);
	CU_ASSERT_STRING_EQUAL(f.module, "//anon");
	symbolizer__free(s);

	/* The same map as a regular file inside the root is read. */
	CU_ASSERT_FATAL(unlink(path) == 0);
	write_text(path, "10000000 100 inside\n");
	s = symbolizer__new(&opts);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(symbolizer__user(s, 700, 0x10000010, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name)
		CU_ASSERT_STRING_EQUAL(f.name, "inside");
	symbolizer__free(s);
}

void test_go(void)
{
	static const char prog[] = "package main\n\n"
				   "import (\n\t\"fmt\"\n\t\"os\"\n\t\"reflect\"\n)\n\n"
				   "//go:noinline\n"
				   "func burn(n int) int {\n\ts := 0\n\tfor i := 0; i < n; i++ "
				   "{\n\t\ts += i * i\n"
				   "\t}\n\treturn s\n}\n\n"
				   "func main() {\n\tfmt.Printf(\"%x\\n\", "
				   "reflect.ValueOf(burn).Pointer())\n"
				   "\tbuf := make([]byte, 1)\n\tfor {\n"
				   "\t\tif _, err := os.Stdin.Read(buf); err != nil "
				   "{\n\t\t\tbreak\n\t\t}\n\t}\n"
				   "\tos.Exit(burn(3) - 5)\n}\n";
	char dir[PATH_MAX], src[PATH_MAX + 16], bin[PATH_MAX + 16], cmd[CMD_MAX];
	struct symbolizer *s = NULL;
	struct sym_frame f;
	struct child c;

	if (!*GO_BIN || access(GO_BIN, X_OK)) {
		fprintf(stderr, "skipped: go not found (Debian golang-go builds the Go test "
				"binary)\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/go", tmpdir);
	snprintf(src, sizeof(src), "%s/main.go", dir);
	snprintf(bin, sizeof(bin), "%s/goprog", dir);
	CU_ASSERT_FATAL(mkdir(dir, 0755) == 0);
	write_text(src, prog);
	/* Offline and hermetic: GOPATH mode, caches in the temp dir, no GOFLAGS from outside. */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && env -u GOFLAGS GO111MODULE=off GOCACHE='%s/cache' GOPATH='%s/gopath' "
		 "HOME='%s' GOTOOLCHAIN=local '%s' build -ldflags=-s -o '%s' main.go",
		 dir, dir, dir, dir, GO_BIN, bin);
	CU_ASSERT_FATAL(run(cmd) == 0);
	/* -s: no symbol table; only .gopclntab can name its functions. */
	CU_ASSERT_EQUAL(elf_sym_value(bin, "main.burn", NULL), 0);

	s = symbolizer__new(NULL);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_FATAL(child_start(&c, bin, NULL) == 0);
	CU_ASSERT_EQUAL(symbolizer__user(s, (uint32_t)c.pid, c.addr + 1, &f), 0);
	CU_ASSERT_EQUAL(f.kind, SYM_FRAME_GO);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name) {
		CU_ASSERT_STRING_EQUAL(f.name, "main.burn");
		CU_ASSERT_EQUAL(f.sym_offset, 1);
	}
	CU_ASSERT_EQUAL(child_finish(&c), 0);
	/* The same file without a process. */
	CU_ASSERT_EQUAL(symbolizer__elf_probe(s, bin, c.addr, &f), 0);
	CU_ASSERT_PTR_NOT_NULL(f.name);
	if (f.name)
		CU_ASSERT_STRING_EQUAL(f.name, "main.burn");
	symbolizer__free(s);
}
