// SPDX-License-Identifier: Apache-2.0
/*
 * bench/workload: a known-answer CPU workload for profiler tests and benches.
 *
 * Burn functions alpha, beta, gamma, delta, epsilon and zeta consume given shares of *thread
 * CPU time* (CLOCK_THREAD_CPUTIME_ID), so the expected profile does not depend on how busy the
 * machine is. Every sample of a burning thread has the stack
 *
 *   worker_main -> run_mix -> level_* (--depth) -> hop_* (--stacks) -> alpha [-> libc -> kernel]
 *
 * Built three times from this file (bench/CMakeLists.txt): `workload` with frame pointers and
 * no inlining, so frame-pointer unwinders see whole stacks (libc itself has no frame pointers on
 * Debian, so in --syscall mode the user part of a stack may stop inside libc's read());
 * `workload-nofp` (gcc -O2 -fomit-frame-pointer) and `workload-clang` (clang -O2
 * -fomit-frame-pointer), as distributions build, whose stacks only .eh_frame can unwind. The
 * named frames keep existing at -O2 because every one is KEEP_FRAME (no inlining, no cloning)
 * and every call that would be a tail call is followed by NO_TAIL(), so the expected chain is
 * the same in all three builds:
 *
 *   start_thread -> worker_main -> ...            (threads 1..N-1)
 *   __libc_start_call_main -> main -> run_threads -> worker_main -> ...   (thread 0)
 *
 * Optional extra frames: --recurse N puts N frames of `recurse` between run_mix and the
 * level_* frames; --signal interrupts the workers with SIGPROF, whose handler on_sigprof burns
 * CPU in sig_burn; --dlopen LIB makes each burn function call dl_burn -> dl_spin in LIB.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

/*
 * The frames tests expect must survive -O2: no inlining, and (GCC) no clones, which would be
 * named run_mix.constprop.0 and the like. clang has no noclone and does not clone this code.
 */
#if defined(__clang__)
#define KEEP_FRAME __attribute__((noinline))
#else
#define KEEP_FRAME __attribute__((noinline, noclone))
#endif

/*
 * Placed after a call that is the last thing a function does: an empty volatile asm must run
 * after the call returns, so the compiler cannot turn the call into a jump that reuses the
 * caller's frame (-O2 does, with -foptimize-sibling-calls), which would drop the caller from
 * every stack.
 */
#define NO_TAIL() __asm__ volatile("" ::: "memory")

/* Iterations per call of a burn function: ~20 us of arithmetic, or one 64 KiB read(). */
#define CHUNK_ITERS 16384
#define SYSCALL_CHUNK 1
#define SYSCALL_BYTES 65536
/*
 * Scheduling quantum: the function furthest below its share of the thread's running total
 * runs next for one quantum, so an overshoot is paid back at once (no drift) and a run that
 * stops at any moment is off by at most one quantum per thread.
 */
#define QUANTUM_NS 1000000ull
#define QUANTUM_ITERS 1000000ull

/*
 * Each quantum's length is drawn uniformly from [QUANTUM/4, 7*QUANTUM/4). A fixed quantum
 * makes the mix periodic (70/30 repeats every ~10.1 ms once chunk overshoot is counted),
 * which beats against a 99 Hz sampler's 10.1 ms period: the same phase gets sampled again
 * and again, and shares measured at 99 Hz came out anywhere from 0.64 to 0.98 for 0.70.
 * A random length keeps the mean and the no-drift bookkeeping but has no period to alias.
 */
static uint64_t quantum_jitter(uint64_t *state, uint64_t quantum)
{
	/* xorshift64: a statistically adequate, allocation-free generator, one per thread */
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return quantum / 4 + x % (quantum * 3 / 2);
}

struct call;
typedef void (*frame_fn)(struct call *c);

/* What one descent from run_mix down to a burn function carries. */
struct call {
	frame_fn burn;
	int depth_left; /* level_* frames still to enter */
	int hops_left; /* hop_* frames still to enter */
	uint32_t path; /* base-16 digits choosing the hop_* frames */
	uint64_t iters; /* loop iterations (or reads) for this call */
	int recurse_left; /* recurse frames still to enter */
	bool syscall; /* burn in the kernel: read() from /dev/zero */
	int zero_fd; /* per thread */
	char *buf; /* per thread, SYSCALL_BYTES */
	bool read_clock; /* time mode: return thread CPU time at the end in t_end */
	uint64_t t_end;
	int err; /* first read() errno, reported by the worker */
};

const char *const func_names[NFUNCS] = { "alpha", "beta", "gamma", "delta", "epsilon", "zeta" };

static volatile sig_atomic_t stop_requested;
struct config cfg;

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * System calls made straight from the burn functions, not through libc: Debian's libc has no
 * frame pointers, so a frame-pointer unwinder entering through libc's read() would skip the
 * burn function's own frame. With the syscall instruction inside alpha, the user leaf is alpha.
 */
#if defined(__x86_64__)
#define RAW_SYSCALL3(nr, a, b, c)                                                                  \
	({                                                                                         \
		long _ret;                                                                         \
		__asm__ volatile("syscall"                                                         \
				 : "=a"(_ret)                                                      \
				 : "0"((long)(nr)), "D"((long)(a)), "S"((long)(b)), "d"((long)(c)) \
				 : "rcx", "r11", "memory");                                        \
		_ret;                                                                              \
	})
#elif defined(__aarch64__)
#define RAW_SYSCALL3(nr, a, b, c)                                                                \
	({                                                                                       \
		register long _x8 __asm__("x8") = (long)(nr);                                    \
		register long _x0 __asm__("x0") = (long)(a);                                     \
		register long _x1 __asm__("x1") = (long)(b);                                     \
		register long _x2 __asm__("x2") = (long)(c);                                     \
		__asm__ volatile("svc 0" : "+r"(_x0) : "r"(_x8), "r"(_x1), "r"(_x2) : "memory"); \
		_x0;                                                                             \
	})
#else
#define RAW_SYSCALL3(nr, a, b, c) (syscall((nr), (a), (b), (c)) < 0 ? -(long)errno : 0L)
#endif

/* Thread CPU time in ns, read with RAW_SYSCALL3 for the reason above. */
#define THREAD_CPU_NS_RAW()                                                        \
	({                                                                         \
		struct timespec _ts = { 0, 0 };                                    \
		RAW_SYSCALL3(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &_ts, 0); \
		(uint64_t) _ts.tv_sec * 1000000000ull + (uint64_t)_ts.tv_nsec;     \
	})

/*
 * One burn function per name. Each mixes its own constant into its own volatile global, so
 * no two have identical code and no linker or compiler pass can fold them into one symbol.
 */
#define BURN_FN(name, salt)                                                                        \
	volatile uint64_t name##_sink;                                                             \
	KEEP_FRAME void name(struct call *c)                                                       \
	{                                                                                          \
		uint64_t x = name##_sink, i;                                                       \
                                                                                                   \
		if (c->syscall) {                                                                  \
			for (i = 0; i < c->iters; i++) {                                           \
				long r =                                                           \
					RAW_SYSCALL3(SYS_read, c->zero_fd, c->buf, SYSCALL_BYTES); \
				if (r < 0 && !c->err)                                              \
					c->err = (int)-r;                                          \
				x += (uint64_t)c->buf[i & 63] + (salt);                            \
			}                                                                          \
		} else if (cfg.dl_burn) {                                                          \
			x = cfg.dl_burn(c->iters, x, (salt));                                      \
		} else {                                                                           \
			for (i = 0; i < c->iters; i++)                                             \
				x = (x ^ (x >> 29)) * 0x9e3779b97f4a7c15ull + (salt);              \
		}                                                                                  \
		name##_sink = x;                                                                   \
		if (c->read_clock)                                                                 \
			c->t_end = THREAD_CPU_NS_RAW();                                            \
	}

/*
 * gamma is also a GCC builtin (libm's log-gamma); the executable's own definition is what its
 * code calls, so only the builtin's prototype needs setting aside.
 */
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wbuiltin-declaration-mismatch"
#endif
BURN_FN(alpha, 0x1111)
BURN_FN(beta, 0x2222)
BURN_FN(gamma, 0x3333)
BURN_FN(delta, 0x4444)
BURN_FN(epsilon, 0x5555)
BURN_FN(zeta, 0x6666)
#pragma GCC diagnostic pop

static const frame_fn burn_fns[NFUNCS] = { alpha, beta, gamma, delta, epsilon, zeta };

/*
 * Descends one frame: first the --recurse frames of recurse, then the --depth level_* frames,
 * then the hop_* frames spelled by the
 * path's base-16 digits, then the burn function. A macro, not a function, so no helper frame
 * appears between the named ones.
 */
#define DESCEND(c)                                                                             \
	do {                                                                                   \
		if ((c)->recurse_left > 0) {                                                   \
			(c)->recurse_left--;                                                   \
			recurse(c);                                                            \
		} else if ((c)->depth_left > 0) {                                              \
			/* outermost first: level_0, ..., level_7, level_0, ... */             \
			level_fns[(cfg.depth - (unsigned int)(c)->depth_left--) % NLEVELS](c); \
		} else if ((c)->hops_left > 0) {                                               \
			(c)->hops_left--;                                                      \
			hop_fns[((c)->path >> (4 * (c)->hops_left)) & 0xf](c);                 \
		} else {                                                                       \
			(c)->burn(c);                                                          \
		}                                                                              \
	} while (0)

static const frame_fn level_fns[NLEVELS];
static const frame_fn hop_fns[NHOPS];

/* Each frame function touches its own counter so that none are identical. */
#define FRAME_FN(name, counter)              \
	volatile uint64_t name##_calls;      \
	KEEP_FRAME void name(struct call *c) \
	{                                    \
		name##_calls += (counter);   \
		DESCEND(c);                  \
		NO_TAIL();                   \
	}

#define DECL_FRAME(name) void name(struct call *c);
DECL_FRAME(recurse)
DECL_FRAME(level_0)
DECL_FRAME(level_1)
DECL_FRAME(level_2)
DECL_FRAME(level_3)
DECL_FRAME(level_4)
DECL_FRAME(level_5)
DECL_FRAME(level_6)
DECL_FRAME(level_7)
DECL_FRAME(hop_0)
DECL_FRAME(hop_1)
DECL_FRAME(hop_2)
DECL_FRAME(hop_3)
DECL_FRAME(hop_4)
DECL_FRAME(hop_5)
DECL_FRAME(hop_6)
DECL_FRAME(hop_7)
DECL_FRAME(hop_8)
DECL_FRAME(hop_9)
DECL_FRAME(hop_10)
DECL_FRAME(hop_11)
DECL_FRAME(hop_12)
DECL_FRAME(hop_13)
DECL_FRAME(hop_14)
DECL_FRAME(hop_15)

static const frame_fn level_fns[NLEVELS] = { level_0, level_1, level_2, level_3,
					     level_4, level_5, level_6, level_7 };
static const frame_fn hop_fns[NHOPS] = { hop_0,	 hop_1,	 hop_2,	 hop_3, hop_4,	hop_5,
					 hop_6,	 hop_7,	 hop_8,	 hop_9, hop_10, hop_11,
					 hop_12, hop_13, hop_14, hop_15 };

/* --recurse: calls itself through DESCEND, one frame per level (never a loop: NO_TAIL). */
FRAME_FN(recurse, 99)
FRAME_FN(level_0, 1)
FRAME_FN(level_1, 2)
FRAME_FN(level_2, 3)
FRAME_FN(level_3, 4)
FRAME_FN(level_4, 5)
FRAME_FN(level_5, 6)
FRAME_FN(level_6, 7)
FRAME_FN(level_7, 8)
FRAME_FN(hop_0, 101)
FRAME_FN(hop_1, 102)
FRAME_FN(hop_2, 103)
FRAME_FN(hop_3, 104)
FRAME_FN(hop_4, 105)
FRAME_FN(hop_5, 106)
FRAME_FN(hop_6, 107)
FRAME_FN(hop_7, 108)
FRAME_FN(hop_8, 109)
FRAME_FN(hop_9, 110)
FRAME_FN(hop_10, 111)
FRAME_FN(hop_11, 112)
FRAME_FN(hop_12, 113)
FRAME_FN(hop_13, 114)
FRAME_FN(hop_14, 115)
FRAME_FN(hop_15, 116)

volatile uint64_t sig_burn_sink;

/* --signal: burns SIGNAL_BURN_NS of this thread's CPU time, called by the SIGPROF handler. */
KEEP_FRAME void sig_burn(void)
{
	uint64_t t0 = THREAD_CPU_NS_RAW(), x = sig_burn_sink, i;

	do {
		for (i = 0; i < 4096; i++)
			x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ull + 0x7777;
	} while (THREAD_CPU_NS_RAW() - t0 < SIGNAL_BURN_NS);
	sig_burn_sink = x;
}

/*
 * The SIGPROF handler of --signal. Its caller, as an unwinder sees it, is the kernel's signal
 * frame (glibc's __restore_rt), and beyond it the interrupted function and its callers.
 */
KEEP_FRAME void on_sigprof(int sig)
{
	(void)sig;
	sig_burn();
	NO_TAIL();
}

/* Per-thread state of the scheduler. */
struct worker {
	unsigned int index; /* thread index across all processes, spreads the path rotation */
	struct call call;
	uint32_t next_path;
	uint64_t units[NFUNCS]; /* thread CPU ns (time mode) or iterations (work mode) */
	uint64_t cpu_ns[NFUNCS];
	uint64_t cap[NFUNCS]; /* work mode: this function's part of --work */
	uint64_t rng; /* quantum_jitter's state, never 0 */
};

static bool time_is_up(void)
{
	return stop_requested || clock_ns(CLOCK_MONOTONIC) >= cfg.deadline_ns;
}

/*
 * One call of burn function F, for ITERS iterations, down the next of the --stacks paths.
 * A macro so that run_mix is the frame right above the depth chain.
 */
#define DESCEND_ONCE(w, f, n)                                                               \
	do {                                                                                \
		struct call *_c = &(w)->call;                                               \
                                                                                            \
		_c->burn = burn_fns[(f)];                                                   \
		_c->recurse_left = (int)cfg.recurse;                                        \
		_c->depth_left = (int)cfg.depth;                                            \
		_c->hops_left = cfg.hop_digits;                                             \
		_c->path = (w)->next_path;                                                  \
		_c->iters = (n);                                                            \
		(w)->next_path = (w)->next_path + 1 == cfg.stacks ? 0 : (w)->next_path + 1; \
		DESCEND(_c);                                                                \
	} while (0)

/*
 * Index of the mix function furthest below its share of TOTAL, or -1 when, in work mode,
 * every function has done its part of --work.
 */
static int most_behind(const struct worker *w, uint64_t total)
{
	double deficit, best_deficit = 0;
	int f, best = -1;

	for (f = 0; f < NFUNCS; f++) {
		if (!cfg.pct[f] || (cfg.work && w->units[f] >= w->cap[f]))
			continue;
		deficit = (double)cfg.pct[f] * (double)total / 100.0 - (double)w->units[f];
		if (best < 0 || deficit > best_deficit) {
			best = f;
			best_deficit = deficit;
		}
	}
	return best;
}

/*
 * Runs the mix until --seconds elapse (time mode) or until this thread's --work iterations are
 * done, one quantum at a time, each to the function most behind its share.
 */
KEEP_FRAME void run_mix(struct worker *w)
{
	uint64_t chunk = cfg.syscall ? SYSCALL_CHUNK : CHUNK_ITERS;
	uint64_t total = 0, end, n, t0, t_prev;
	int f;

	for (f = 0; f < NFUNCS; f++)
		w->cap[f] = cfg.work / 100 * cfg.pct[f] + cfg.work % 100 * cfg.pct[f] / 100;
	for (;;) {
		f = most_behind(w, total);
		if (f < 0)
			break;
		if (cfg.work) {
			end = w->units[f] + quantum_jitter(&w->rng, QUANTUM_ITERS);
			if (end > w->cap[f])
				end = w->cap[f];
			t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
			while (w->units[f] < end) {
				n = end - w->units[f] < chunk ? end - w->units[f] : chunk;
				DESCEND_ONCE(w, f, n);
				w->units[f] += n;
				total += n;
			}
			w->cpu_ns[f] += clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
			if (stop_requested)
				return;
			continue;
		}
		end = w->units[f] + quantum_jitter(&w->rng, QUANTUM_NS);
		t_prev = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		while (w->units[f] < end) {
			DESCEND_ONCE(w, f, chunk);
			w->units[f] += w->call.t_end - t_prev;
			w->cpu_ns[f] += w->call.t_end - t_prev;
			total += w->call.t_end - t_prev;
			t_prev = w->call.t_end;
			if (time_is_up() || (cfg.cpu_limit_ns && total >= cfg.cpu_limit_ns))
				return;
		}
	}
}

/* Thread entry of every worker, the main thread's included. Returns NULL. */
KEEP_FRAME void *worker_main(void *arg)
{
	struct worker *w = arg;
	char byte = 1;
	int f;

	w->call.syscall = cfg.syscall;
	w->call.read_clock = !cfg.work;
	w->call.zero_fd = -1;
	w->next_path = cfg.stacks ? (w->index * 7919u) % cfg.stacks : 0;
	w->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)getpid() << 20) ^ w->index;
	if (!w->rng)
		w->rng = 1;
	if (cfg.syscall) {
		w->call.buf = malloc(SYSCALL_BYTES);
		w->call.zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
		if (!w->call.buf || w->call.zero_fd < 0) {
			fprintf(stderr, "workload: cannot open /dev/zero: %s\n", strerror(errno));
			__atomic_fetch_add(&cfg.totals->failed, 1, __ATOMIC_RELAXED);
			goto cleanup;
		}
	}
	if (cfg.started_pipe[1] >= 0 && write(cfg.started_pipe[1], &byte, 1) != 1)
		fprintf(stderr, "workload: start notification: %s\n", strerror(errno));
	run_mix(w);
	if (w->call.err) {
		fprintf(stderr, "workload: read /dev/zero: %s\n", strerror(w->call.err));
		__atomic_fetch_add(&cfg.totals->failed, 1, __ATOMIC_RELAXED);
	}
	for (f = 0; f < NFUNCS; f++) {
		__atomic_fetch_add(&cfg.totals->cpu_ns[f], w->cpu_ns[f], __ATOMIC_RELAXED);
		__atomic_fetch_add(&cfg.totals->units[f], cfg.work ? w->units[f] : 0,
				   __ATOMIC_RELAXED);
	}
cleanup:
	if (w->call.zero_fd >= 0)
		close(w->call.zero_fd);
	free(w->call.buf);
	return NULL;
}

/*
 * Runs cfg.threads workers in this process (the calling thread is worker 0) and joins them.
 * FIRST is the global index of worker 0. Returns 0 or -errno.
 */
KEEP_FRAME static int run_threads(unsigned int first)
{
	struct itimerval prof = { .it_interval = { 0, SIGNAL_PERIOD_US },
				  .it_value = { 0, SIGNAL_PERIOD_US } };
	struct worker *workers;
	pthread_t *tids;
	unsigned int i, started = 1;
	int err = 0;

	/* Per process: a forked child does not inherit its parent's interval timers. */
	if (cfg.signal && setitimer(ITIMER_PROF, &prof, NULL)) {
		err = -errno;
		fprintf(stderr, "workload: --signal: setitimer: %s\n", strerror(errno));
		return err;
	}

	workers = calloc(cfg.threads, sizeof(*workers));
	tids = calloc(cfg.threads, sizeof(*tids));
	if (!workers || !tids) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < cfg.threads; i++)
		workers[i].index = first + i;
	for (i = 1; i < cfg.threads; i++, started++) {
		err = -pthread_create(&tids[i], NULL, worker_main, &workers[i]);
		if (err) {
			fprintf(stderr, "workload: pthread_create: %s\n", strerror(-err));
			/* Let the threads already running finish; the exit status reports failure. */
			stop_requested = 1;
			break;
		}
	}
	if (!err)
		worker_main(&workers[0]);
	for (i = 1; i < started; i++)
		pthread_join(tids[i], NULL);
	if (cfg.signal) {
		memset(&prof, 0, sizeof(prof));
		setitimer(ITIMER_PROF, &prof, NULL);
	}
cleanup:
	free(workers);
	free(tids);
	return err;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Waits until every worker has written its start byte, then tells --ready-fd. */
static void wait_started(unsigned int expected)
{
	unsigned int seen = 0;
	char buf[256];
	ssize_t n;

	while (seen < expected) {
		n = read(cfg.started_pipe[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* every writer is gone: workers failed, nothing to announce */
		seen += (unsigned int)n;
	}
	buf[0] = 'R';
	if (write(cfg.ready_fd, buf, 1) != 1)
		fprintf(stderr, "workload: --ready-fd %d: %s\n", cfg.ready_fd, strerror(errno));
}

static void *ready_waiter(void *arg)
{
	(void)arg;
	wait_started(cfg.threads);
	return NULL;
}

static void print_summary(uint64_t elapsed_ns)
{
	uint64_t total = 0, ops = 0;
	int f;

	for (f = 0; f < NFUNCS; f++) {
		total += cfg.totals->cpu_ns[f];
		ops += cfg.totals->units[f];
	}
	fprintf(stderr, "workload: cpu_ns total=%llu", (unsigned long long)total);
	for (f = 0; f < NFUNCS; f++) {
		if (!cfg.pct[f])
			continue;
		fprintf(stderr, " %s=%llu (%.2f%%)", func_names[f],
			(unsigned long long)cfg.totals->cpu_ns[f],
			total ? 100.0 * (double)cfg.totals->cpu_ns[f] / (double)total : 0.0);
	}
	fprintf(stderr, "\n");
	if (cfg.work) {
		printf("elapsed_ns=%llu\nops=%llu\n", (unsigned long long)elapsed_ns,
		       (unsigned long long)ops);
		fflush(stdout);
	}
}

/* Blocks until the parent closes the gate's write end (EOF), then closes FD. */
static void pass_gate(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR && !stop_requested)
		;
	close(fd);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t start_ns;
	pid_t *pids = NULL;
	void *dl_handle = NULL;
	pthread_t waiter;
	unsigned int i, j, forked = 0;
	int err, status, ret = 1;

	cfg.started_pipe[0] = cfg.started_pipe[1] = -1;
	cfg.gate_pipe[0] = cfg.gate_pipe[1] = -1;
	err = parse_args(argc, argv);
	if (err < 0)
		fprintf(stderr, "workload: try --help\n");
	if (err) {
		if (err > 0)
			usage(stdout);
		return err > 0 ? 0 : EXIT_USAGE;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (cfg.signal) {
		struct sigaction prof = { .sa_handler = on_sigprof, .sa_flags = SA_RESTART };

		sigaction(SIGPROF, &prof, NULL);
	}
	if (cfg.dlopen_path) {
		/* Kept loaded until exit: the burn functions call into it. */
		dl_handle = dlopen(cfg.dlopen_path, RTLD_NOW);
		if (dl_handle)
			*(void **)&cfg.dl_burn = dlsym(dl_handle, "dl_burn");
		if (!cfg.dl_burn) {
			fprintf(stderr,
				"workload: --dlopen %s: %s (expected a library with dl_burn)\n",
				cfg.dlopen_path, dlerror());
			goto cleanup;
		}
	}

	cfg.totals = mmap(NULL, sizeof(*cfg.totals), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cfg.totals == MAP_FAILED) {
		fprintf(stderr, "workload: mmap: %s\n", strerror(errno));
		cfg.totals = NULL;
		goto cleanup;
	}
	if (cfg.ready_fd >= 0 && pipe2(cfg.started_pipe, O_CLOEXEC)) {
		fprintf(stderr, "workload: pipe: %s\n", strerror(errno));
		goto cleanup;
	}
	if (cfg.nice && setpriority(PRIO_PROCESS, 0, cfg.nice)) {
		fprintf(stderr, "workload: --nice %d: %s\n", cfg.nice, strerror(errno));
		goto cleanup;
	}
	start_ns = clock_ns(CLOCK_MONOTONIC);
	cfg.deadline_ns = start_ns + (uint64_t)(cfg.seconds * 1e9);

	if (cfg.procs == 1) {
		if (cfg.print_pids) {
			printf("pid=%d\n", (int)getpid());
			fflush(stdout);
		}
		/* A helper thread waits for the start bytes, as the main thread is a worker. */
		if (cfg.ready_fd >= 0) {
			err = pthread_create(&waiter, NULL, ready_waiter, NULL);
			if (err) {
				fprintf(stderr, "workload: pthread_create: %s\n", strerror(err));
				goto cleanup;
			}
			pthread_detach(waiter);
		}
		if (run_threads(0))
			goto cleanup;
	} else {
		pids = calloc(cfg.procs, sizeof(*pids));
		if (!pids)
			goto cleanup;
		/*
		 * Children wait at a gate until every one is forked: a running child takes its
		 * share of the CPU from the parent's fork loop, so 2000 children that started at
		 * once came up over a minute (20-40 per second), and a profiler under --procs saw
		 * a stream of new processes instead of the node of N processes asked for.
		 */
		if (pipe2(cfg.gate_pipe, O_CLOEXEC)) {
			fprintf(stderr, "workload: pipe: %s\n", strerror(errno));
			goto cleanup;
		}
		fflush(stdout);
		for (i = 0; i < cfg.procs; i++, forked++) {
			pids[i] = fork();
			if (pids[i] < 0) {
				fprintf(stderr, "workload: fork: %s\n", strerror(errno));
				stop_requested = 1;
				break;
			}
			if (pids[i] == 0) {
				if (cfg.started_pipe[0] >= 0)
					close(cfg.started_pipe[0]);
				close(cfg.gate_pipe[1]);
				pass_gate(cfg.gate_pipe[0]);
				_exit(run_threads(i * cfg.threads) ? 1 : 0);
			}
			if (cfg.print_pids) {
				printf("pid=%d\n", (int)pids[i]);
				fflush(stdout);
			}
		}
		close(cfg.gate_pipe[0]);
		close(cfg.gate_pipe[1]);
		if (cfg.started_pipe[1] >= 0) {
			close(cfg.started_pipe[1]);
			cfg.started_pipe[1] = -1;
			if (!stop_requested)
				wait_started(cfg.procs * cfg.threads);
		}
		for (i = 0; i < forked; i++) {
			while (waitpid(pids[i], &status, 0) < 0) {
				if (errno != EINTR)
					goto cleanup;
				/* Our own SIGINT/SIGTERM: pass it on, children may not share our tty. */
				for (j = i; j < forked; j++)
					kill(pids[j], SIGTERM);
			}
			if (!WIFEXITED(status) || WEXITSTATUS(status)) {
				fprintf(stderr, "workload: process %d failed\n", (int)pids[i]);
				cfg.totals->failed++;
			}
		}
		if (forked < cfg.procs)
			goto cleanup;
	}
	print_summary(clock_ns(CLOCK_MONOTONIC) - start_ns);
	ret = cfg.totals->failed ? 1 : 0;
cleanup:
	free(pids);
	if (cfg.totals)
		munmap(cfg.totals, sizeof(*cfg.totals));
	if (dl_handle)
		dlclose(dl_handle);
	return ret;
}
