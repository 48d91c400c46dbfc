// SPDX-License-Identifier: Apache-2.0
/*
 * The symbolizer's side of debuginfod (symbolize/debuginfod.h): a stripped file asks for its
 * debug file while it is parsed, and the entries that asked take the symbols of what landed,
 * in place, once a window (symbolizer__sweep()). Also the names of compiler-split pieces.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize/debuginfod.h"
#include "symbolize/symbolize_internal.h"

/*
 * How often the files still waiting for a debug file ask again (a failure's retry interval
 * is the fetcher's: until it passes, asking costs a stat and a lock).
 */
#define DBG_RETRY_NS 2000000000ull

int fetched_debug(struct symbolizer *s, const char *bid, struct elf_file *e, size_t *cap)
{
	char path[PATH_MAX];
	int fd, err;

	err = dbgfetch__request(s->dbg, bid, path, sizeof(path));
	/* Queued, or failed (asked again after the retry interval): see debuginfo_retry(). */
	if (err == -EINPROGRESS || err == -ENOENT || err == -ENOSPC)
		e->dbg_wanted = true;
	if (err)
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	err = read_debug_file(fd, bid, e, cap);
	close(fd);
	return err;
}

/* The cached entry of build id BID, or NULL (a walk: only when a debug file lands). */
static struct elf_file *entry_of(struct symbolizer *s, const char *bid)
{
	struct elf_file *e;
	size_t i;

	for (i = 0; s->bids.slots && i <= s->bids.mask; i++) {
		if (!s->bids.slots[i].hash)
			continue;
		e = (struct elf_file *)(uintptr_t)s->bids.slots[i].val;
		if (e->build_id && !strcmp(e->build_id, bid))
			return e;
	}
	return NULL;
}

/*
 * The debug file of BID landed at PATH: the cached entry that asked for it takes its
 * symbols, in place (the processes mapping it keep their pointer), so the next lookups are
 * named.
 */
static void debuginfo_landed(void *ctx, const char *bid, const char *path)
{
	struct symbolizer *s = ctx;
	struct elf_file *e = entry_of(s, bid), tmp = { 0 };
	size_t cap = 0, bytes;
	int fd;

	if (!e || !e->dbg_wanted || e->err || e->go)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* The debug file's .symtab holds the .dynsym's functions too. */
	if (!read_debug_file(fd, bid, &tmp, &cap)) {
		finish_syms(&tmp);
		free(e->syms);
		free(e->names);
		e->syms = tmp.syms;
		e->nr_syms = tmp.nr_syms;
		e->names = tmp.names;
		e->names_len = tmp.names_len;
		e->names_cap = tmp.names_cap;
		tmp.syms = NULL;
		tmp.names = NULL;
		e->dbg_wanted = false;
		bytes = elf_bytes_of(e);
		if (e->cached)
			s->elf_bytes = s->elf_bytes - e->bytes + bytes;
		e->bytes = bytes;
		s->dbg_reloads++;
	}
	free(tmp.syms);
	free(tmp.names);
	close(fd);
}

/* Asks again for the debug files of the cached files still without one. */
static void debuginfo_retry(struct symbolizer *s, uint64_t now)
{
	char path[PATH_MAX];
	struct elf_file *e;
	size_t i;

	if (now - s->dbg_retry_ns < DBG_RETRY_NS)
		return;
	s->dbg_retry_ns = now;
	for (i = 0; s->bids.slots && i <= s->bids.mask; i++) {
		if (!s->bids.slots[i].hash)
			continue;
		e = (struct elf_file *)(uintptr_t)s->bids.slots[i].val;
		if (e->dbg_wanted && !dbgfetch__request(s->dbg, e->build_id, path, sizeof(path)))
			debuginfo_landed(s, e->build_id, path);
	}
}

void debuginfo_poll(struct symbolizer *s, uint64_t now)
{
	if (!s->dbg)
		return;
	dbgfetch__drain(s->dbg, debuginfo_landed, s);
	debuginfo_retry(s, now);
}

void symbolizer__set_debuginfod(struct symbolizer *s, struct dbgfetch *d)
{
	s->dbg = d;
}

const char *function_name(struct symbolizer *s, const char *name)
{
	size_t len = symbolizer__function_len(name);
	char buf[512];

	if (name[len] == '\0' || len >= sizeof(buf))
		return intern(s, name);
	memcpy(buf, name, len);
	buf[len] = '\0';
	return intern(s, buf);
}
