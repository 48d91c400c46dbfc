// SPDX-License-Identifier: Apache-2.0
/*
 * kiln top: a live terminal view of the hottest functions, like perf top. A consumer of the
 * shared-memory ring: it attaches to a running agent's ring, or starts a private agent as a
 * child when it may (and stops it and removes its ring on exit).
 *
 * The screen is drawn with plain ANSI/VT100 sequences and TIOCGWINSZ rather than ncurses or
 * terminfo: every terminal an operator reaches over ssh understands this small set (cursor
 * home, erase line/screen, alternate screen, hide cursor), and it adds no library or
 * terminfo database to the node image.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "profile/top.h"
#include "common/cgroup.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "profile/wrec.h"
#include "run/agent_child.h"
#include "shm/runstate.h"
#include "shm/counters.h"
#include "shm/reader.h"

/* How long a ring whose producer is still initializing it is waited for. */
#define ATTACH_INIT_WAIT_NS (10 * 1000000000ull)

#define TOP_DEFAULT_HZ 99 /* a private agent's rate: 19 Hz (the agent's) is too coarse live */
#define TOP_HEADER_LINES 5
#define TOP_BATCH_ROWS 20
#define AGENT_START_TIMEOUT_NS (30ull * 1000000000ull)

static volatile sig_atomic_t stop_sig, winch;
/* For the second-signal path, which must restore the terminal from the handler. */
static volatile sig_atomic_t term_raw;
static struct termios term_saved;

#define SEQ_ENTER "\x1b[?1049h\x1b[?25l" /* alternate screen, hide cursor */
#define SEQ_LEAVE "\x1b[?25h\x1b[?1049l" /* show cursor, back to the main screen */

/* Leaves raw mode and the alternate screen; async-signal-safe (write, tcsetattr). */
static void term_restore(void)
{
	ssize_t n;

	if (!term_raw)
		return;
	term_raw = 0;
	n = write(STDOUT_FILENO, SEQ_LEAVE, sizeof(SEQ_LEAVE) - 1);
	(void)n;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &term_saved);
}

static void on_signal(int sig)
{
	if (sig == SIGWINCH) {
		winch = 1;
		return;
	}
	/* A second signal while shutting down exits at once, leaving a usable terminal. */
	if (stop_sig) {
		term_restore();
		agent_child__kill_from_signal(SIGTERM);
		_exit(1);
	}
	stop_sig = sig;
}

static int term_enter(void)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &term_saved))
		return -errno;
	t = term_saved;
	/* Keys arrive one by one, unechoed; ^C is read as a key (ISIG off) and quits too. */
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
	t.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t))
		return -errno;
	term_raw = 1;
	if (write(STDOUT_FILENO, SEQ_ENTER, sizeof(SEQ_ENTER) - 1) < 0) {
		term_restore();
		return -errno;
	}
	return 0;
}

static void term_size(int *rows, int *cols)
{
	struct winsize ws = { 0 };

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || !ws.ws_row || !ws.ws_col) {
		ws.ws_row = 24;
		ws.ws_col = 80;
	}
	*rows = ws.ws_row;
	*cols = ws.ws_col;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kiln top [OPTIONS]\n"
		"\n"
		"Live view of the hottest functions, refreshed once per window, like perf top.\n"
		"Reads window records from a shared-memory ring: the one given with --ring, else\n"
		"the default ring when an agent writes it (no privileges needed), else a private\n"
		"agent it starts itself (root, or CAP_BPF and CAP_PERFMON), stopped on exit; with\n"
		"-p that agent samples only those processes (kiln agent --pid). Its ring,\n"
		"kiln-top-private-PID, is removed on exit; one left by a kiln top that was killed\n"
		"is removed by the next kiln top or kiln run.\n"
		"\n"
		"  -r, --ring NAME          attach to ring NAME (/dev/shm/kiln-NAME) or absolute "
		"path\n"
		"  -w, --workload KEY       only records whose workload key or name is KEY\n"
		"  -p, --pid PID            only samples of process PID (repeatable, up to %d)\n"
		"      --cgroup PATH        only workloads in cgroup v2 PATH or below it, as\n"
		"                           records name it (/system.slice/x.service), or\n"
		"                           the directory under the cgroup2 mount\n"
		"  -F, --freq HZ            private agent's sampling rate (default %d)\n"
		"  -s, --sort self|total    order rows by Self (default) or Total\n"
		"  -n, --rows N             rows to show, 1 to 10000 (default and most: what the\n"
		"                           terminal's height leaves; %d in batch mode)\n"
		"      --horizon SECONDS    count the windows of the last SECONDS, 1 to 86400\n"
		"                           (default 10)\n"
		"  -b, --batch              plain-text frames, one per window, separated by a "
		"blank\n"
		"                           line (the default when stdout is not a terminal)\n"
		"      --iterations N       stop after N frames, 1 to 1000000000\n"
		"  -d, --duration SECONDS   stop after SECONDS, 1 to 31536000\n"
		"  -v, --verbose            more messages (repeat for debug)\n"
		"  -h, --help               this help\n"
		"\n"
		"Columns: Self%% = samples whose leaf frame is the function, Total%% = samples "
		"whose\n"
		"stack contains it (once per stack, however deep the recursion), both of the\n"
		"samples in view; Samples = the Self count. Keys: q quit, s sort by Self, t by\n"
		"Total. On exit, stderr gets a summary: windows, samples, lost records.\n",
		TOP_MAX_PIDS, TOP_DEFAULT_HZ, TOP_BATCH_ROWS);
}

/* True when ring NAME exists and the pid in its header is a live process. */
static bool ring_has_producer(const char *name)
{
	struct shm_view *v = NULL;
	int32_t pid;
	bool live = false;

	if (shm_view__open(&v, name))
		return false;
	pid = atomic_load(&shm_view__hdr(v)->producer_pid);
	live = pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
	shm_view__free(v);
	return live;
}

struct topcmd {
	const char *ring;
	bool private_agent;
	unsigned int hz;
	bool tty;
	enum top_sort sort;
	uint64_t rows_opt; /* 0: terminal height */
	uint64_t horizon_s;
	const char *scope;
	struct top *model;
	struct shm_reader *rd;
	uint64_t frames;
	struct strbuf ob; /* a whole frame is written at once, so the screen never tears */
};

/* Ends a line: on a terminal erase the rest of it (the previous frame) first. */
static void ob_eol(struct topcmd *c)
{
	strbuf__printf(&c->ob, "%s", c->tty ? "\x1b[K\r\n" : "\n");
}

/* Draws one frame into c->ob and writes it out. Returns 0 or -errno (-EPIPE: reader gone). */
static int render(struct topcmd *c, bool waiting)
{
	const struct symtotal_row *rows = NULL;
	struct shm_reader_stats rs;
	struct top_stats st;
	long n, i, max;
	int trows = 24, tcols = 80, width;
	size_t start, off;
	ssize_t w;

	top__stats(c->model, &st);
	shm_reader__stats(c->rd, &rs);
	n = top__rows(c->model, c->sort, &rows);
	if (n < 0)
		return (int)n;
	if (c->tty)
		term_size(&trows, &tcols);
	width = c->tty ? tcols : 0;
	max = c->rows_opt ? (long)c->rows_opt : TOP_BATCH_ROWS;
	/*
	 * On a terminal the frame must fit: the line feed after the bottom line would scroll
	 * the header away, so the last line stays empty.
	 */
	if (c->tty && (!c->rows_opt || max > trows - TOP_HEADER_LINES - 1))
		max = trows > TOP_HEADER_LINES + 2 ? trows - TOP_HEADER_LINES - 1 : 1;
	strbuf__reset(&c->ob);
	if (c->tty)
		strbuf__printf(&c->ob, "\x1b[H");

		/* Each line is cut to the terminal's width on a tty: a wrapped line scrolls the frame. */
#define LINE(...)                                                             \
	do {                                                                  \
		start = c->ob.len;                                            \
		strbuf__printf(&c->ob, __VA_ARGS__);                          \
		if (width && !c->ob.err && c->ob.len - start > (size_t)width) \
			c->ob.len = start + (size_t)width;                    \
		ob_eol(c);                                                    \
	} while (0)

	LINE("kiln top - ring %s%s - window %llu (%.2f s) - horizon %llu s (%u windows)", c->ring,
	     c->private_agent ? " (private agent)" : "", (unsigned long long)st.newest_seq,
	     st.newest_duration_ns / 1e9, (unsigned long long)c->horizon_s, st.view_windows);
	LINE("scope: %s - samples in view: %llu - %.0f Hz - sort: %s", c->scope,
	     (unsigned long long)st.view_samples, st.period_ns ? 1e9 / (double)st.period_ns : 0.0,
	     c->sort == TOP_SORT_SELF ? "self" : "total");
	LINE("records: %llu (%llu in scope) - lost: %llu - lapped: %llu - corrupt: %llu - "
	     "stale: %llu - bad: %llu - agent dropped: %llu, missed: %llu",
	     (unsigned long long)st.records, (unsigned long long)st.records_in_scope,
	     (unsigned long long)rs.lost, (unsigned long long)rs.lapped,
	     (unsigned long long)rs.corrupt, (unsigned long long)rs.stale,
	     (unsigned long long)rs.bad,
	     (unsigned long long)shm_counters__value(shm_reader__hdr(c->rd),
						     KILN_C_DROP_RINGBUF_FULL),
	     (unsigned long long)shm_counters__value(shm_reader__hdr(c->rd), KILN_C_MISSED));
	/* Batch frames hold no blank line: a blank line separates frames. */
	if (waiting)
		LINE("waiting for the first window...%s", c->tty ? "  (q quits)" : "");
	else if (c->tty)
		LINE("keys: q quit, s sort by self, t sort by total");
	LINE("%7s %7s %9s  %s", "Self%", "Total%", "Samples", "Function (module)");
	for (i = 0; i < n && i < max; i++) {
		double d = st.view_samples ? 100.0 / (double)st.view_samples : 0.0;

		LINE("%7.2f %7.2f %9llu  %s%s%s%s", (double)rows[i].self * d,
		     (double)rows[i].total * d, (unsigned long long)rows[i].self, rows[i].name,
		     rows[i].module[0] ? " (" : "", rows[i].module, rows[i].module[0] ? ")" : "");
	}
#undef LINE
	if (c->tty)
		strbuf__printf(&c->ob, "\x1b[J");
	else
		strbuf__printf(&c->ob, "\n");
	if (c->ob.err)
		return c->ob.err;
	for (off = 0; off < c->ob.len; off += (size_t)w) {
		w = write(STDOUT_FILENO, c->ob.buf + off, c->ob.len - off);
		if (w < 0 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w < 0)
			return -errno;
	}
	return 0;
}

/* Counts every record the ring holds now. Returns how many were added, or -errno. */
static long drain(struct topcmd *c)
{
	struct shm_record rec;
	long added = 0;
	int err;

	while (!stop_sig) {
		err = shm_reader__next(c->rd, &rec);
		if (err == -EBADMSG)
			continue; /* counted by the reader */
		if (err == -EAGAIN || err == -ENOTCONN)
			break;
		if (err)
			return err;
		err = top__add(c->model, &rec.v);
		if (err < 0)
			return err;
		added++;
	}
	return added;
}

/*
 * Attaches to c->ring, reading from START the first time and from the oldest record after
 * the segment was replaced. Returns 0 or -errno.
 */
static int attach(struct topcmd *c, enum ring_start start)
{
	struct shm_reader_opts o = {
		.sz = sizeof(o), .name = c->ring, .start = start, .restart = RING_START_OLDEST
	};
	int err;

	if (!c->rd) {
		err = shm_reader__new(&c->rd, &o);
		if (err)
			return err;
	}
	return shm_reader__attach(c->rd);
}

/* Builds the cgroup scope: the path relative to the cgroup2 mount. Returns 0 or -errno. */
static int cgroup_scope(const char *arg, char *out, size_t len)
{
	char mnt[512], full[1024], *res = NULL, *mres = NULL;
	uint64_t id;
	size_t n;
	int err;

	err = cgroup2_mount(mnt, sizeof(mnt));
	if (err) {
		log_error("--cgroup '%s': cgroup2 is not mounted", arg);
		return err;
	}
	/*
	 * Records name cgroups relative to the mount ("/system.slice/x.service"), so that form
	 * is tried first; a full directory path (under the mount) works too.
	 */
	snprintf(full, sizeof(full), "%s%s%s", mnt, arg[0] == '/' ? "" : "/", arg);
	err = cgroup_id_of_path(full, &id);
	if (err && arg[0] == '/') {
		snprintf(full, sizeof(full), "%s", arg);
		err = cgroup_id_of_path(full, &id);
	}
	if (err) {
		log_error("--cgroup '%s': %s under the cgroup2 mount %s", arg,
			  err == -ENOENT ? "no such cgroup" : "not a cgroup v2 directory", mnt);
		return err;
	}
	res = realpath(full, NULL);
	mres = realpath(mnt, NULL);
	err = -EINVAL;
	if (!res || !mres)
		goto cleanup;
	n = strlen(mres);
	if (strncmp(res, mres, n) || (res[n] && res[n] != '/'))
		goto cleanup;
	snprintf(out, len, "%s", res[n] ? res + n : "/");
	err = 0;
cleanup:
	if (err)
		log_error("--cgroup '%s': expected a directory under the cgroup2 mount %s", arg,
			  mnt);
	free(res);
	free(mres);
	return err;
}

enum {
	OPT_CGROUP = 256,
	OPT_HORIZON,
	OPT_ITER,
};

/* The command line of kiln top, beside what goes into struct topcmd. */
struct top_args {
	const char *freq, *cgroup, *workload;
	uint32_t pids[TOP_MAX_PIDS];
	size_t nr_pids;
	uint64_t iterations, duration_s;
	bool batch;
	int verbose;
	char cg_rel[1024]; /* --cgroup relative to the cgroup2 mount */
};

/*
 * Applies option OPT (getopt_long's value, argument in optarg) to C and A. Returns 0, 1 after
 * --help was printed, or -EINVAL (message printed).
 */
static int parse_opt(int opt, struct topcmd *c, struct top_args *a)
{
	uint64_t v;

	switch (opt) {
	case 'r':
		c->ring = optarg;
		break;
	case 'w':
		if (!optarg[0]) {
			log_error("--workload '': expected a workload key or name");
			return -EINVAL;
		}
		a->workload = optarg;
		break;
	case 'p':
		if (a->nr_pids == TOP_MAX_PIDS) {
			log_error("--pid: at most %d processes", TOP_MAX_PIDS);
			return -EINVAL;
		}
		if (cli_parse_num("--pid", optarg, 1, INT32_MAX, "a process id", &v))
			return -EINVAL;
		if (kill((pid_t)v, 0) && errno == ESRCH) {
			log_error("--pid %llu: no such process", (unsigned long long)v);
			return -EINVAL;
		}
		a->pids[a->nr_pids++] = (uint32_t)v;
		break;
	case OPT_CGROUP:
		a->cgroup = optarg;
		break;
	case 'F':
		a->freq = optarg;
		break;
	case 's':
		if (!strcmp(optarg, "self")) {
			c->sort = TOP_SORT_SELF;
		} else if (!strcmp(optarg, "total")) {
			c->sort = TOP_SORT_TOTAL;
		} else {
			log_error("--sort '%s': expected self or total", optarg);
			return -EINVAL;
		}
		break;
	case 'n':
		if (cli_parse_num("--rows", optarg, 1, 10000, "a number of rows", &c->rows_opt))
			return -EINVAL;
		break;
	case OPT_HORIZON:
		if (cli_parse_num("--horizon", optarg, 1, 86400, "whole seconds", &c->horizon_s))
			return -EINVAL;
		break;
	case 'b':
		a->batch = true;
		break;
	case OPT_ITER:
		if (cli_parse_num("--iterations", optarg, 1, 1000000000, "a number of frames",
				  &a->iterations))
			return -EINVAL;
		break;
	case 'd':
		if (cli_parse_num("--duration", optarg, 1, 365 * 86400ull, "whole seconds",
				  &a->duration_s))
			return -EINVAL;
		break;
	default:
		return cli_opt_common(opt, &a->verbose, usage);
	}
	return 0;
}

/*
 * Parses and checks kiln top's command line into C and A. Returns 0, 1 after --help was
 * printed, or -EINVAL (message printed).
 */
static int parse_args(int argc, char **argv, struct topcmd *c, struct top_args *a)
{
	static const struct option longopts[] = {
		{ "ring", required_argument, NULL, 'r' },
		{ "workload", required_argument, NULL, 'w' },
		{ "pid", required_argument, NULL, 'p' },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "freq", required_argument, NULL, 'F' },
		{ "sort", required_argument, NULL, 's' },
		{ "rows", required_argument, NULL, 'n' },
		{ "horizon", required_argument, NULL, OPT_HORIZON },
		{ "batch", no_argument, NULL, 'b' },
		{ "iterations", required_argument, NULL, OPT_ITER },
		{ "duration", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char msg[512];
	int opt, err;

	while ((opt = getopt_long(argc, argv, "r:w:p:F:s:n:bd:vh", longopts, NULL)) != -1) {
		err = parse_opt(opt, c, a);
		if (err)
			return err;
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	cli_set_verbosity(a->verbose);
	if (c->ring && shm__path(c->ring, msg, sizeof(msg))) {
		log_error("--ring '%s': expected a name of letters, digits, '.', '_', '-' (at "
			  "most %d) or an absolute path",
			  c->ring, SHM_NAME_MAX);
		return -EINVAL;
	}
	if (a->freq && cli_parse_freq("--freq", a->freq, &c->hz))
		return -EINVAL;
	if (a->cgroup && cgroup_scope(a->cgroup, a->cg_rel, sizeof(a->cg_rel)))
		return -EINVAL;
	return 0;
}

/* The scope line of the header ("workload W cgroup C pid P...", or "whole host"). */
static void scope_line(const struct top_args *a, char *scope, size_t len)
{
	size_t k = (size_t)snprintf(scope, len, "%s", "");

	if (a->workload)
		k += (size_t)snprintf(scope + k, len - k, "workload %s ", a->workload);
	if (a->cgroup && k < len)
		k += (size_t)snprintf(scope + k, len - k, "cgroup %s ", a->cg_rel);
	for (size_t i = 0; i < a->nr_pids && k < len; i++)
		k += (size_t)snprintf(scope + k, len - k, "%s%u ", i ? "" : "pid ", a->pids[i]);
	if (!k)
		snprintf(scope, len, "whole host ");
	scope[strlen(scope) - 1] = '\0';
}

/*
 * Starts a private agent on ring c->ring and attaches once it created the ring (polled with
 * a deadline). Returns 0 when attached, -1 with the exit status in *STATUS otherwise
 * (messages printed).
 */
static int start_private(struct topcmd *c, struct agent_child *ag, const struct top_args *a,
			 int *status)
{
	char msg[512];
	uint64_t end_ns;
	int err;

	c->private_agent = true;
	*status = 1;
	err = agent_child__start(ag, c->ring, c->hz, a->pids, a->nr_pids);
	if (err) {
		log_error("starting the private agent: %s", strerror(-err));
		return -1;
	}
	end_ns = mono_ns() + AGENT_START_TIMEOUT_NS;
	/* The agent creates the ring once BPF is loaded; poll for it with a deadline. */
	for (;;) {
		struct timespec ts = { 0, 20 * 1000000 };

		agent_child__read_err(ag);
		if (agent_child__gone(ag)) {
			agent_child__read_err(ag);
			agent_child__report(ag);
			return -1;
		}
		err = attach(c, RING_START_OLDEST);
		if (!err)
			return 0;
		if ((err != -ENOENT && err != -EAGAIN && err != -EBADMSG) || mono_ns() > end_ns ||
		    stop_sig) {
			if (!stop_sig)
				log_error("the private agent's ring: %s",
					  shm__strerror(c->ring, err, msg, sizeof(msg)));
			*status = stop_sig ? 0 : 1;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
}

/*
 * Attaches to the ring given, else the default one when an agent writes it, else to a
 * private agent's (its name in RING_BUF). Returns 0 when attached, -1 with the exit status in
 * *STATUS otherwise (messages printed).
 */
static int open_ring(struct topcmd *c, struct agent_child *ag, const struct top_args *a,
		     char *ring_buf, size_t len, int *status)
{
	char msg[512];
	int err;

	*status = 1;
	if (c->ring || ring_has_producer(NULL)) {
		if (!c->ring)
			c->ring = SHM_DEFAULT_NAME;
		if (a->freq)
			log_warn("--freq applies to a private agent only; ring %s samples at its "
				 "agent's rate",
				 c->ring);
		err = attach(c, RING_START_NEWEST);
		/*
		 * A producer between creating the file and stamping it (an agent started alongside
		 * this top, as kiln run and scripts do): wait for it, bounded.
		 */
		for (uint64_t end = mono_ns() + ATTACH_INIT_WAIT_NS;
		     err == -EAGAIN && mono_ns() < end && !stop_sig;) {
			struct timespec ts = { 0, 20 * 1000000 };

			nanosleep(&ts, NULL);
			err = attach(c, RING_START_NEWEST);
		}
		if (err) {
			log_error("%s", shm__strerror(c->ring, err, msg, sizeof(msg)));
			return -1;
		}
		return 0;
	}
	if (agent_child__may_run()) {
		/* Named after this process, so that a later kiln top can tell when it is stale. */
		runstate__private_ring(getpid(), ring_buf, len);
		c->ring = ring_buf;
		return start_private(c, ag, a, status);
	}
	log_error("no agent writes the default ring (%s%s), and a private agent needs root "
		  "or CAP_BPF and CAP_PERFMON: start `kiln agent` (or `kiln run`) and "
		  "rerun, "
		  "pass --ring NAME of a running agent, or run kiln top as root",
		  "/dev/shm/kiln-", SHM_DEFAULT_NAME);
	return -1;
}

/* Reads the keys pressed (q quits, s and t sort); sets *DIRTY when the frame must be redrawn. */
static void read_keys(struct topcmd *c, bool *dirty)
{
	char key;

	while (read(STDIN_FILENO, &key, 1) == 1) {
		if (key == 'q' || key == 'Q' || key == 3 /* ^C */)
			stop_sig = SIGINT;
		else if (key == 's' || key == 'S')
			c->sort = TOP_SORT_SELF, *dirty = true;
		else if (key == 't' || key == 'T')
			c->sort = TOP_SORT_TOTAL, *dirty = true;
	}
}

/*
 * Reads new records and draws frames until a signal, the end of the run (--iterations,
 * --duration), the reader going away or an error. *TERM_ON is cleared when the terminal was
 * restored early. Returns the exit status.
 */
static int top_loop(struct topcmd *c, struct agent_child *ag, const struct top_args *a,
		    bool *term_on)
{
	uint64_t end_ns = a->duration_s ? mono_ns() + a->duration_s * 1000000000ull : 0;
	uint64_t last_seq = UINT64_MAX;
	struct pollfd pfd[2];
	struct top_stats st;
	char msg[512];
	int err, nfd;
	long added;
	bool dirty;

	while (!stop_sig) {
		dirty = false;
		nfd = 0;
		if (c->tty)
			pfd[nfd++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		if (ag->err_fd >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = ag->err_fd, .events = POLLIN };
		/*
		 * Keys and the agent's stderr are file descriptors, the ring is a futex: with
		 * descriptors to watch, poll them briefly and check the ring after each wake-up.
		 */
		if (nfd && poll(pfd, (nfds_t)nfd, 100) > 0 && c->tty &&
		    (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))) {
			/* The terminal went away (ssh dropped): nobody is watching any more. */
			stop_sig = SIGHUP;
			break;
		}
		err = shm_reader__wait(c->rd, nfd ? 0 : 200);
		if (err == -ESTALE) {
			log_info("ring %s was replaced; reattaching", c->ring);
			err = attach(c, RING_START_OLDEST);
			if (err) {
				log_error("%s", shm__strerror(c->ring, err, msg, sizeof(msg)));
				return 1;
			}
		}
		if (c->tty)
			read_keys(c, &dirty);
		if (winch) {
			winch = 0;
			dirty = c->tty;
		}
		agent_child__read_err(ag);
		if (c->private_agent && agent_child__gone(ag)) {
			if (*term_on)
				term_restore();
			*term_on = false;
			agent_child__read_err(ag);
			agent_child__report(ag);
			return 1;
		}
		added = drain(c);
		if (added < 0) {
			log_error("%s", strerror((int)-added));
			return 1;
		}
		top__stats(c->model, &st);
		/*
		 * One frame per window: a batch that only completes a window already shown is
		 * folded into the next frame. On a terminal any news is drawn.
		 */
		if (added > 0 && (st.newest_seq != last_seq || c->tty)) {
			if (st.newest_seq != last_seq)
				c->frames++;
			last_seq = st.newest_seq;
			dirty = true;
		}
		if (dirty && !stop_sig) {
			err = render(c, st.records == 0);
			if (err == -EPIPE) {
				/* `kiln top -b | head`: the reader has what it wanted. */
				break;
			}
			if (err) {
				log_error("writing a frame: %s", strerror(-err));
				return 1;
			}
		}
		if (a->iterations && c->frames >= a->iterations)
			break;
		if (end_ns && mono_ns() >= end_ns)
			break;
	}
	return 0;
}

/* The closing line on stderr: what was read and what the reader lost. */
static void print_totals(const struct topcmd *c)
{
	struct shm_reader_stats rs;
	struct top_stats st;

	top__stats(c->model, &st);
	shm_reader__stats(c->rd, &rs);
	fprintf(stderr,
		"kiln top: %llu windows, %llu samples in scope, %llu records (%llu in "
		"scope), lost %llu, lapped %llu, corrupt %llu, stale %llu, bad %llu\n",
		(unsigned long long)st.windows, (unsigned long long)st.samples_in_scope,
		(unsigned long long)st.records, (unsigned long long)st.records_in_scope,
		(unsigned long long)rs.lost, (unsigned long long)rs.lapped,
		(unsigned long long)rs.corrupt, (unsigned long long)rs.stale,
		(unsigned long long)rs.bad);
}

int cmd_top(int argc, char **argv)
{
	struct topcmd c = { .sort = TOP_SORT_SELF, .horizon_s = 10, .hz = TOP_DEFAULT_HZ };
	struct agent_child ag = { .pid = -1, .err_fd = -1 };
	struct top_args a = { 0 };
	struct top_opts to = { 0 };
	struct sigaction sa = { 0 };
	char ring_buf[32], scope[256];
	int ret = EXIT_USAGE, err;
	bool term_on = false;

	err = parse_args(argc, argv, &c, &a);
	if (err) {
		ret = err > 0 ? 0 : EXIT_USAGE;
		goto cleanup;
	}
	scope_line(&a, scope, sizeof(scope));
	c.scope = scope;

	to.horizon_ns = c.horizon_s * 1000000000ull;
	to.workload = a.workload;
	to.cgroup = a.cgroup ? a.cg_rel : NULL;
	to.pids = a.pids;
	to.nr_pids = a.nr_pids;
	ret = 1;
	err = top__new(&c.model, &to);
	if (err) {
		log_error("%s", strerror(-err));
		goto cleanup;
	}

	/* Signals before the agent starts: a SIGINT now must still stop it and remove the ring. */
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Rings of kiln top processes that were SIGKILLed: nobody else would remove them. */
	runstate__sweep_private(NULL);
	if (open_ring(&c, &ag, &a, ring_buf, sizeof(ring_buf), &ret))
		goto cleanup;

	c.tty = !a.batch && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	if (c.tty) {
		err = term_enter();
		if (err) {
			log_error("setting up the terminal: %s", strerror(-err));
			goto cleanup;
		}
		term_on = true;
		render(&c, true);
	}
	ret = top_loop(&c, &ag, &a, &term_on);
	if (term_on)
		term_restore();
	print_totals(&c);
cleanup:
	if (term_on)
		term_restore();
	shm_reader__free(c.rd);
	if (c.private_agent) {
		agent_child__stop(&ag);
		err = shm__unlink(c.ring);
		if (err && err != -ENOENT)
			log_warn("removing ring %s: %s", c.ring, strerror(-err));
	}
	top__free(c.model);
	strbuf__release(&c.ob);
	return ret;
}
