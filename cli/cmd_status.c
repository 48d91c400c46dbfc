// SPDX-License-Identifier: Apache-2.0
/*
 * kiln status: the health of a ring's processes (the `kiln run` supervisor and its children,
 * the producer, every consumer), the agent's sampling counters grouped by what they count,
 * ring lag and losses per consumer, and each consumer's own counters (export deliveries,
 * spool, UI slots). Text for people, --json for scripts. Needs only read access to the
 * ring (membership of its group); never attaches as a consumer.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_opts.h"
#include "commands.h"
#include "common/util.h"
#include "common/strbuf.h"
#include "shm/counters.h"
#include "shm/runstate.h"
#include "shm/shm.h"
#include "shm/status.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kiln status [--ring NAME] [--json]\n"
		"\n"
		"Shows the health of a kiln pipeline from its shared-memory ring: the `kiln run`\n"
		"supervisor and its children (when it runs), the producer (agent) with its\n"
		"heartbeat, every attached consumer with its ring lag and losses, the agent's\n"
		"counters grouped (samples, drops and errors, kernel, records, symbolization,\n"
		"configuration; docs/counters.md says what each counts),\n"
		"and each consumer's own counters (export: deliveries, failures, retries, spool;\n"
		"ui: records, slots, bytes held). Non-zero drops and errors are marked '<-- !'\n"
		"and listed at the end. Exit 0 when the ring was read, 1 when it cannot be.\n"
		"\n"
		"  -r, --ring NAME  ring name (/dev/shm/kiln-NAME) or absolute path\n"
		"                   (default: %s)\n"
		"  -j, --json       the same facts as one JSON object on stdout\n"
		"  -h, --help       show this help\n",
		SHM_DEFAULT_NAME);
}

static const char *group_title(int g)
{
	return g == SHM_STATUS_PROBLEMS ? "drops and errors" : kiln_counter_group__title(g);
}

static const char *group_key(int g)
{
	return g == SHM_STATUS_PROBLEMS ? "drops_errors" : kiln_counter_group__key(g);
}

/* Seconds from THEN to now, or a negative value when unknown. */
static double age_s(const struct shm_status *s, uint64_t then)
{
	if (!then || then > s->now)
		return -1;
	return (double)(s->now - then) / 1e9;
}

static uint64_t in_use(const struct shm_status *s)
{
	return s->head - s->tail <= s->data_size ? s->head - s->tail : 0;
}

/* ---- text ---- */

static void txt_age(const char *fmt, double a)
{
	char buf[32];

	if (a < 0)
		snprintf(buf, sizeof(buf), "-");
	else
		snprintf(buf, sizeof(buf), "%.1fs", a);
	printf(fmt, buf);
}

static void txt_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	if (!ns || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "-");
}

static const char *mark(bool problem, uint64_t v)
{
	return v && problem ? "  <-- !" : "";
}

static void txt_supervisor(const struct shm_status *s)
{
	int i;

	if (s->run_err == -ENOENT) {
		printf("supervisor  none (no kiln run state file at %s)\n", s->run_path);
		return;
	}
	if (s->run_err) {
		printf("supervisor  state file %s unreadable: %s  <-- !\n", s->run_path,
		       s->run_err == -EINVAL ? "malformed" : strerror(-s->run_err));
		return;
	}
	printf("supervisor  kiln run, pid %d, %s", (int)s->run.supervisor_pid,
	       s->sup_alive ? "alive" : "dead  <-- !");
	if (s->sup_alive)
		txt_age(", up %s", age_s(s, s->run.start_ns));
	printf(", config reloads %" PRIu64 ", failed %" PRIu64 "%s", s->run.reloads,
	       s->run.reload_failures, s->run.reload_failures ? "  <-- !" : "");
	printf("\n  %-8s %8s %-6s %-8s %8s %9s  %s\n", "child", "pid", "alive", "state", "restarts",
	       "uptime", "last exit");
	for (i = 0; i < s->run.nr_children; i++) {
		const struct runstate_child *c = &s->run.children[i];
		bool bad = !s->child_alive[i] && strcmp(c->state, "stopped");

		printf("  %-8s %8d %-6s %-8s %8" PRIu64, c->name, (int)c->pid,
		       c->pid <= 0	   ? "down"
		       : s->child_alive[i] ? "alive"
					   : "dead",
		       c->state, c->restarts);
		txt_age(" %9s", s->child_alive[i] ? age_s(s, c->start_ns) : -1);
		printf("  %s%s", c->last_exit, bad || c->restarts ? "  <-- !" : "");
		if (s->run.child_reloads[i])
			printf("  (restarted %" PRIu64 "x for config reloads)",
			       s->run.child_reloads[i]);
		printf("\n");
	}
}

static void txt_producer(const struct shm_status *s)
{
	char t[64];
	int i, g = -1;

	printf("producer    pid %d, %s, generation %" PRIu64, (int)s->ppid,
	       s->ppid <= 0 ? "detached (no agent)  <-- !"
	       : s->palive  ? "alive"
			    : "dead  <-- !",
	       s->generation);
	txt_age(", heartbeat %s ago", age_s(s, s->heartbeat_ns));
	txt_time(s->pstart_ns, t, sizeof(t));
	printf(", started %s\n", t);
	printf("  %-10s head %" PRIu64 ", oldest record %" PRIu64 ", next seq %" PRIu64 ", %" PRIu64
	       " bytes in use\n",
	       "position", s->head, s->tail, s->next_seq, in_use(s));
	printf("  %-10s", "ring");
	for (i = 0; i < 8; i++)
		printf("%s %s %" PRIu64, i ? "," : "", shm_status_ring_names[i], s->ring[i]);
	printf("%s\n", s->ring[5] ? "  <-- ! (records too big for the ring)" : "");
	for (i = 0; i < s->nr_pc; i++) {
		const struct shm_status_counter *p = &s->pc[i];

		if ((int)p->g != g) {
			g = (int)p->g;
			printf("%s\n", group_title(g));
		}
		printf("  %-24s %14" PRIu64 "%s\n", p->name, p->value, mark(p->problem, p->value));
	}
}

static void txt_consumers(const struct shm_status *s)
{
	int i, k;

	printf("consumers (claims %" PRIu64 ", reclaimed after death %" PRIu64 ")\n", s->claims,
	       s->reclaimed);
	if (!s->nr_cs) {
		printf("  (none attached)\n");
		return;
	}
	printf("  %4s %8s %-5s %-15s %-6s %12s %5s %12s %8s %6s %7s %4s %8s %8s\n", "slot", "pid",
	       "state", "comm", "kind", "lag", "lag%", "consumed", "lost", "lapped", "corrupt",
	       "gens", "waits", "active");
	for (i = 0; i < s->nr_cs; i++) {
		const struct shm_status_consumer *c = &s->cs[i];

		printf("  %4d %8d %-5s %-15s %-6s %12" PRIu64 " %4.0f%% %12" PRIu64 " %8" PRIu64
		       " %6" PRIu64 " %7" PRIu64 " %4" PRIu64 " %8" PRIu64,
		       c->slot, (int)c->pid, c->alive ? "alive" : "dead",
		       c->comm[0] ? c->comm : "-", shm_kind__name(c->kind), c->lag,
		       100.0 * (double)c->lag / (double)s->data_size, c->consumed, c->lost,
		       c->lapped, c->corrupt, c->generations, c->waits);
		txt_age(" %8s", age_s(s, c->active_ns));
		printf("%s\n", !c->alive || c->lost || c->lapped || c->corrupt ? "  <-- !" : "");
	}
	for (i = 0; i < s->nr_cs; i++) {
		const struct shm_status_consumer *c = &s->cs[i];

		if (c->kind == SHM_KIND_OTHER)
			continue;
		printf("%s counters (slot %d, pid %d)\n", shm_kind__name(c->kind), c->slot,
		       (int)c->pid);
		for (k = 0; k < SHM_SLOT_STATS_ALL; k++) {
			const char *n = shm_kind__stat_name(c->kind, k);

			if (n)
				printf("  %-24s %14" PRIu64 "%s\n", n, c->stats[k],
				       mark(shm_kind__stat_problem(c->kind, k), c->stats[k]));
		}
	}
}

/* Calls FN for each problem: a sentence per non-zero drop/error or dead process. */
static int problems(const struct shm_status *s, void (*fn)(const char *what, void *ctx), void *ctx)
{
	char buf[PATH_MAX + 64];
	int i, k, n = 0;

#define PROBLEM(...)                                     \
	do {                                             \
		snprintf(buf, sizeof(buf), __VA_ARGS__); \
		fn(buf, ctx);                            \
		n++;                                     \
	} while (0)
	if (s->ppid <= 0)
		PROBLEM("no producer: the agent detached");
	else if (!s->palive)
		PROBLEM("producer pid %d is dead", (int)s->ppid);
	if (s->ring[5])
		PROBLEM("ring too_big=%" PRIu64, s->ring[5]);
	for (i = 0; i < s->nr_pc; i++)
		if (s->pc[i].value && s->pc[i].problem)
			PROBLEM("%s=%" PRIu64, s->pc[i].name, s->pc[i].value);
	if (!s->run_err) {
		if (!s->sup_alive)
			PROBLEM("supervisor pid %d is dead", (int)s->run.supervisor_pid);
		for (i = 0; i < s->run.nr_children; i++) {
			const struct runstate_child *c = &s->run.children[i];

			if (!s->child_alive[i] && strcmp(c->state, "stopped"))
				PROBLEM("%s is down (pid %d, %s, last exit %s)", c->name,
					(int)c->pid, c->state, c->last_exit);
			if (c->restarts)
				PROBLEM("%s restarts=%" PRIu64, c->name, c->restarts);
		}
		if (s->run.reload_failures)
			PROBLEM("config reloads refused=%" PRIu64 " (kiln run's stderr says why)",
				s->run.reload_failures);
	} else if (s->run_err != -ENOENT) {
		PROBLEM("state file %s unreadable", s->run_path);
	}
	for (i = 0; i < s->nr_cs; i++) {
		const struct shm_status_consumer *c = &s->cs[i];
		const uint64_t ring[3] = { c->lost, c->lapped, c->corrupt };
		static const char *const rn[3] = { "lost", "lapped", "corrupt" };

		if (!c->alive)
			PROBLEM("consumer slot %d (%s, pid %d) is dead", c->slot,
				c->comm[0] ? c->comm : "-", (int)c->pid);
		for (k = 0; k < 3; k++)
			if (ring[k])
				PROBLEM("consumer slot %d (%s) %s=%" PRIu64, c->slot,
					shm_kind__name(c->kind), rn[k], ring[k]);
		for (k = 0; k < SHM_SLOT_STATS_ALL; k++) {
			const char *name = shm_kind__stat_name(c->kind, k);

			if (name && c->stats[k] && shm_kind__stat_problem(c->kind, k))
				PROBLEM("consumer slot %d (%s) %s=%" PRIu64, c->slot,
					shm_kind__name(c->kind), name, c->stats[k]);
		}
	}
#undef PROBLEM
	return n;
}

static void txt_problem(const char *what, void *ctx)
{
	(void)ctx;
	printf("  ! %s\n", what);
}

static void print_text(const struct shm_status *s)
{
	char t[64];
	int n;

	printf("ring %s\n", s->path);
	printf("  %-10s version %u, %" PRIu64 " data bytes (%.1f MiB), %u consumer slots, ",
	       "format", s->version, s->data_size, (double)s->data_size / (1 << 20),
	       s->max_consumers);
	if (s->gid == (uint32_t)-1)
		printf("group of the creator\n");
	else
		printf("group %s (gid %u)\n", s->group[0] ? s->group : "?", s->gid);
	txt_time(s->created_ns, t, sizeof(t));
	printf("  %-10s %s\n", "created", t);
	txt_supervisor(s);
	txt_producer(s);
	txt_consumers(s);
	printf("problems\n");
	n = problems(s, txt_problem, NULL);
	if (!n)
		printf("  none: no drops, errors or dead processes\n");
}

/* ---- JSON ---- */

static void js_str(const char *v)
{
	json_fputs(stdout, v);
}

static void js_key(const char *k, bool *first)
{
	if (!*first)
		putchar(',');
	*first = false;
	js_str(k);
	putchar(':');
}

static void js_u64(const char *k, uint64_t v, bool *first)
{
	js_key(k, first);
	printf("%" PRIu64, v);
}

static void js_bool(const char *k, bool v, bool *first)
{
	js_key(k, first);
	printf(v ? "true" : "false");
}

/* Seconds with millisecond precision, or null when unknown. */
static void js_age(const char *k, double a, bool *first)
{
	js_key(k, first);
	if (a < 0)
		printf("null");
	else
		printf("%.3f", a);
}

static void js_strkey(const char *k, const char *v, bool *first)
{
	js_key(k, first);
	js_str(v);
}

static void js_supervisor(const struct shm_status *s, bool *top)
{
	bool f = true;
	int i;

	js_key("supervisor", top);
	if (s->run_err) {
		printf("null");
		if (s->run_err != -ENOENT)
			js_strkey("supervisor_error",
				  s->run_err == -EINVAL ? "malformed state file"
							: strerror(-s->run_err),
				  top);
		return;
	}
	putchar('{');
	js_strkey("state_file", s->run_path, &f);
	js_u64("pid", (uint64_t)s->run.supervisor_pid, &f);
	js_bool("alive", s->sup_alive, &f);
	js_u64("start_ns", s->run.start_ns, &f);
	js_age("uptime_s", s->sup_alive ? age_s(s, s->run.start_ns) : -1, &f);
	js_u64("config_reloads", s->run.reloads, &f);
	js_u64("config_reload_failures", s->run.reload_failures, &f);
	js_key("children", &f);
	putchar('[');
	for (i = 0; i < s->run.nr_children; i++) {
		const struct runstate_child *c = &s->run.children[i];
		bool cf = true;

		printf("%s{", i ? "," : "");
		js_strkey("name", c->name, &cf);
		js_u64("pid", (uint64_t)c->pid, &cf);
		js_bool("alive", s->child_alive[i], &cf);
		js_strkey("state", c->state, &cf);
		js_u64("restarts", c->restarts, &cf);
		js_u64("reload_restarts", s->run.child_reloads[i], &cf);
		js_u64("start_ns", c->start_ns, &cf);
		js_age("uptime_s", s->child_alive[i] ? age_s(s, c->start_ns) : -1, &cf);
		js_strkey("last_exit", c->last_exit, &cf);
		putchar('}');
	}
	printf("]}");
}

static void js_problem(const char *what, void *ctx)
{
	int *n = ctx;

	printf("%s", (*n)++ ? "," : "");
	js_str(what);
}

static void print_json(const struct shm_status *s)
{
	bool top = true, f = true;
	int i, k, n = 0;

	putchar('{');
	js_key("ring", &top);
	putchar('{');
	js_strkey("path", s->path, &f);
	js_u64("version", s->version, &f);
	js_u64("data_size", s->data_size, &f);
	js_u64("consumer_slots", s->max_consumers, &f);
	js_key("gid", &f);
	if (s->gid == (uint32_t)-1)
		printf("null");
	else
		printf("%u", s->gid);
	js_strkey("group", s->group, &f);
	js_u64("created_ns", s->created_ns, &f);
	putchar('}');
	js_supervisor(s, &top);

	js_key("producer", &top);
	f = true;
	putchar('{');
	js_u64("pid", (uint64_t)(s->ppid > 0 ? s->ppid : 0), &f);
	js_bool("alive", s->palive, &f);
	js_u64("generation", s->generation, &f);
	js_u64("start_ns", s->pstart_ns, &f);
	js_u64("heartbeat_ns", s->heartbeat_ns, &f);
	js_age("heartbeat_age_s", age_s(s, s->heartbeat_ns), &f);
	js_u64("head", s->head, &f);
	js_u64("tail", s->tail, &f);
	js_u64("next_seq", s->next_seq, &f);
	js_u64("bytes_in_use", in_use(s), &f);
	js_key("ring", &f);
	putchar('{');
	for (i = 0, f = true; i < 8; i++)
		js_u64(shm_status_ring_names[i], s->ring[i], &f);
	printf("}}");

	js_key("counters", &top);
	putchar('{');
	for (i = 0, f = true; i < s->nr_pc; i++)
		js_u64(s->pc[i].name, s->pc[i].value, &f);
	putchar('}');
	js_key("groups", &top);
	putchar('{');
	for (i = 0, f = true; i < s->nr_pc; i++) {
		if (i && s->pc[i].g == s->pc[i - 1].g) {
			putchar(',');
		} else {
			if (i)
				putchar(']');
			js_key(group_key(s->pc[i].g), &f);
			putchar('[');
		}
		js_str(s->pc[i].name);
	}
	printf("%s}", s->nr_pc ? "]" : "");

	js_u64("claims", s->claims, &top);
	js_u64("reclaimed", s->reclaimed, &top);
	js_key("consumers", &top);
	putchar('[');
	for (i = 0; i < s->nr_cs; i++) {
		const struct shm_status_consumer *c = &s->cs[i];

		f = true;
		printf("%s{", i ? "," : "");
		js_u64("slot", (uint64_t)c->slot, &f);
		js_u64("pid", (uint64_t)(c->pid > 0 ? c->pid : 0), &f);
		js_bool("alive", c->alive, &f);
		js_strkey("comm", c->comm, &f);
		js_strkey("kind", shm_kind__name(c->kind), &f);
		js_u64("attach_ns", c->attach_ns, &f);
		js_age("active_age_s", age_s(s, c->active_ns), &f);
		js_u64("lag_bytes", c->lag, &f);
		js_key("lag_pct", &f);
		printf("%.2f", 100.0 * (double)c->lag / (double)s->data_size);
		js_u64("consumed", c->consumed, &f);
		js_u64("bytes", c->bytes, &f);
		js_u64("lost", c->lost, &f);
		js_u64("lapped", c->lapped, &f);
		js_u64("corrupt", c->corrupt, &f);
		js_u64("generations", c->generations, &f);
		js_u64("waits", c->waits, &f);
		js_key("stats", &f);
		putchar('{');
		{
			bool sf = true;

			for (k = 0; k < SHM_SLOT_STATS_ALL; k++) {
				const char *name = shm_kind__stat_name(c->kind, k);

				if (name)
					js_u64(name, c->stats[k], &sf);
			}
		}
		printf("}}");
	}
	putchar(']');
	js_key("problems", &top);
	putchar('[');
	problems(s, js_problem, &n);
	printf("]}\n");
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ring", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL;
	struct shm_view *v = NULL;
	struct shm_status *s = NULL;
	bool json = false;
	char msg[512];
	int c, err, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "r:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			name = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cli_opt_common(c, NULL, usage) > 0 ? 0 : EXIT_USAGE;
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
		goto cleanup;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		fprintf(stderr, "kiln status: out of memory\n");
		goto cleanup;
	}
	s->name = name;
	shm_status__read(s, v);
	if (json)
		print_json(s);
	else
		print_text(s);
	ret = fflush(stdout) ? 1 : 0;
cleanup:
	free(s);
	shm_view__free(v);
	return ret;
}
