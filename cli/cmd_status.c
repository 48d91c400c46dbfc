// SPDX-License-Identifier: Apache-2.0
/* kiln status: what a shared-memory ring holds, who produces and consumes it, what was lost. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "common/util.h"
#include "shm/shm.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kiln status [--ring NAME]\n"
		"\n"
		"Shows a shared-memory ring: its header, the producer (pid, alive or not,\n"
		"generation), every attached consumer with its lag and counters, and the\n"
		"global and producer counters.\n"
		"\n"
		"  -r, --ring NAME  ring name (/dev/shm/kiln-NAME) or absolute path\n"
		"                   (default: %s)\n"
		"  -h, --help       show this help\n",
		SHM_DEFAULT_NAME);
}

/* "alive", "dead" or "none"; EPERM means the process exists under another user. */
static const char *pid_state(int32_t pid)
{
	if (pid <= 0)
		return "none";
	if (kill(pid, 0) == 0 || errno == EPERM)
		return "alive";
	return "dead";
}

static void print_time(const char *label, uint64_t ns)
{
	char buf[64];
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	if (!ns || !gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, sizeof(buf), "-");
	printf("  %-10s %s\n", label, buf);
}

static void print_ago(uint64_t now, uint64_t then)
{
	if (!then || then > now)
		printf(" %8s", "-");
	else
		printf(" %7.1fs", (double)(now - then) / 1e9);
}

static uint64_t ld(const _Atomic uint64_t *v)
{
	/* Relaxed: a snapshot for display; values move while we print. */
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void print_ring(const struct shm_view *v)
{
	const struct shm_hdr *h = shm_view__hdr(v);
	const struct shm_cons *cons = shm_view__cons(v);
	const struct ring_ctl *ctl = &h->ctl;
	uint64_t head = ld(&ctl->head), now = wall_ns();
	int32_t pid = atomic_load_explicit(&h->producer_pid, memory_order_relaxed);
	struct group *g = h->gid != (uint32_t)-1 ? getgrgid(h->gid) : NULL;
	int i, n = 0;

	printf("ring %s\n", shm_view__path(v));
	printf("  %-10s version %u, %llu data bytes (%.1f MiB), %u consumer slots, ", "format",
	       h->version, (unsigned long long)h->data_size, (double)h->data_size / (1 << 20),
	       h->max_consumers);
	if (h->gid == (uint32_t)-1)
		printf("group of the creator\n");
	else
		printf("group %s (gid %u)\n", g ? g->gr_name : "?", h->gid);
	print_time("created", h->created_ns);
	printf("  %-10s pid %d (%s), generation %llu\n", "producer", pid, pid_state(pid),
	       (unsigned long long)ld(&ctl->generation));
	print_time("started", ld(&h->producer_start_ns));
	printf("  %-10s head %llu, oldest record %llu, next seq %llu, %llu bytes in use\n",
	       "position", (unsigned long long)head, (unsigned long long)ld(&ctl->tail),
	       (unsigned long long)ld(&ctl->next_seq),
	       (unsigned long long)(head - ld(&ctl->tail) <= h->data_size ? head - ld(&ctl->tail)
									  : 0));
	printf("  %-10s records %llu, bytes %llu, pads %llu, flushes %llu, wakeups %llu, "
	       "too_big %llu, recovered %llu, reset %llu\n",
	       "counters", (unsigned long long)ld(&ctl->records),
	       (unsigned long long)ld(&ctl->bytes), (unsigned long long)ld(&ctl->pads),
	       (unsigned long long)ld(&ctl->flushes), (unsigned long long)ld(&ctl->wakeups),
	       (unsigned long long)ld(&ctl->too_big), (unsigned long long)ld(&ctl->recovered),
	       (unsigned long long)ld(&ctl->reset));
	for (i = 0; i < SHM_NUM_COUNTERS; i++) {
		char name[SHM_COUNTER_NAME];

		memcpy(name, h->counters[i].name, sizeof(name));
		name[sizeof(name) - 1] = 0;
		if (!name[0])
			continue;
		if (!n++)
			printf("producer counters\n");
		printf("  %-24s %llu\n", name, (unsigned long long)ld(&h->counters[i].value));
	}
	printf("consumers (claims %llu, reclaimed after death %llu)\n",
	       (unsigned long long)ld(&cons->claims), (unsigned long long)ld(&cons->reclaimed));
	printf("  %4s %8s %-5s %-15s %12s %5s %12s %10s %6s %7s %4s %8s %9s\n", "slot", "pid",
	       "state", "comm", "lag", "lag%", "consumed", "lost", "lapped", "corrupt", "gens",
	       "waits", "idle");
	n = 0;
	for (i = 0; i < SHM_MAX_CONSUMERS; i++) {
		const struct shm_slot *sl = &cons->slots[i];
		const struct ring_cursor *c = &sl->cursor;
		uint64_t owner = ld(&sl->owner), pos = ld(&c->pos);
		uint64_t lag = head > pos ? head - pos : 0;
		int32_t cpid = shm_slot__pid(owner);
		char comm[sizeof(sl->comm) + 1];

		if (!owner)
			continue;
		n++;
		memcpy(comm, sl->comm, sizeof(sl->comm));
		comm[sizeof(sl->comm)] = 0;
		printf("  %4d %8d %-5s %-15s %12llu %4.0f%% %12llu %10llu %6llu %7llu %4llu %8llu",
		       i, cpid, pid_state(cpid), comm[0] ? comm : "-", (unsigned long long)lag,
		       100.0 * (double)lag / (double)h->data_size,
		       (unsigned long long)ld(&c->consumed), (unsigned long long)ld(&c->lost),
		       (unsigned long long)ld(&c->lapped), (unsigned long long)ld(&c->corrupt),
		       (unsigned long long)ld(&c->generations), (unsigned long long)ld(&c->waits));
		print_ago(now, ld(&sl->active_ns));
		printf("\n");
	}
	if (!n)
		printf("  (none attached)\n");
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ring", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL;
	struct shm_view *v = NULL;
	char msg[512];
	int c, err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			name = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kiln status: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	err = shm_view__open(&v, name);
	if (err) {
		fprintf(stderr, "kiln status: %s\n", shm__strerror(name, err, msg, sizeof(msg)));
		return 1;
	}
	print_ring(v);
	shm_view__free(v);
	return 0;
}
