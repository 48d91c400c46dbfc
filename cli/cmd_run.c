// SPDX-License-Identifier: Apache-2.0
/*
 * kiln run: the one-box default. Starts `kiln agent` (privileged), `kiln export` and `kiln
 * ui` (unprivileged) as separate processes sharing one ring, restarts them when they die,
 * and tears everything down on SIGINT/SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "run/runcfg.h"
#include "run/supervisor.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "shm/counters.h"
#include "shm/runstate.h"
#include "shm/shm.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: kiln run [OPTIONS]\n"
		   "\n"
		   "Starts the whole pipeline on this machine: `kiln agent` (the only privileged\n"
		   "process), `kiln export` and `kiln ui` (run as an unprivileged user), all on "
		   "one\n"
		   "shared-memory ring. A child that dies is restarted with backoff (0.5 s "
		   "doubling\n"
		   "to 30 s); `kiln status --ring NAME` shows the ring and the children. SIGINT /\n"
		   "SIGTERM stop the children, remove the ring and print a summary; a second "
		   "signal\n"
		   "kills them at once. SIGHUP reloads the -c file: an invalid one is refused "
		   "(logged,\n"
		   "counted) and the run goes on unchanged; a valid one is handed to the agent "
		   "(SIGHUP)\n"
		   "and the exporter or UI is restarted when its part changed. At start, private "
		   "rings\n"
		   "of `kiln top` processes that were killed are removed.\n"
		   "\n"
		   "With no configuration: the whole host at 19 Hz, ring /dev/shm/kiln-default, UI "
		   "on\n"
		   "http://127.0.0.1:7070/, OTLP files in ./profiles, no network destination.\n"
		   "\n"
		   "  -c, --config FILE      YAML configuration (see docs/configuration.md)\n"
		   "  -r, --ring NAME        ring name (/dev/shm/kiln-NAME) or absolute path\n"
		   "  -l, --listen ADDR:PORT the UI's address\n"
		   "  -F, --frequency HZ     samples per second per CPU\n"
		   "  -o, --output-dir DIR   directory of the file destination (added if none)\n"
		   "  -u, --user USER        user the exporter and UI run as (default: the\n"
		   "                         config's `user`, else `kiln` if it exists, else "
		   "nobody)\n"
		   "      --insecure-listen  let the UI listen on a non-loopback -l address\n"
		   "                         without an access token (KILN_UI_TOKEN)\n"
		   "      --no-ui            do not start the UI\n"
		   "      --no-export        do not start the exporter\n"
		   "  -v, --verbose          more logging, passed on to the children\n"
		   "  -h, --help             this help\n"
		   "\n"
		   "Needs root: the agent loads BPF programs.\n");
}

/* ---- set-up ---- */

struct run_opts {
	const char *config, *ring, *listen, *freq, *output_dir, *user;
	bool no_ui, no_export, insecure_listen;
	int verbose;
};

/* Whether the UI's ADDR:PORT is a loopback address (what kiln ui serves without a token). */
static bool loopback_listen(const char *listen)
{
	return !strncmp(listen, "127.", 4) || !strncmp(listen, "[::1]:", 6) ||
	       !strncmp(listen, "localhost:", 10);
}

/*
 * The UI refuses a non-loopback address without a token or --insecure-listen; said here once
 * rather than by a child that fails and restarts forever. Returns 0 or EXIT_USAGE.
 */
static int check_ui_listen(const struct kiln_config *c, const struct run_opts *ro)
{
	const char *tok = getenv("KILN_UI_TOKEN");

	if (!c->ui.enabled || ro->insecure_listen || (tok && *tok) || loopback_listen(c->ui.listen))
		return 0;
	log_error("UI address %s is not a loopback address, so anyone who can reach it could "
		  "read every profile; give the UI an access token (environment KILN_UI_TOKEN) "
		  "or accept that with --insecure-listen",
		  c->ui.listen);
	return EXIT_USAGE;
}

/* Replaces *DST with a copy of SRC. Returns 0 or -ENOMEM. */
static int set_str(char **dst, const char *src)
{
	char *s = strdup(src);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* An absolute form of the directory DIR, resolved against the working directory. */
static char *absolute(const char *dir)
{
	char cwd[PATH_MAX], *out;

	if (dir[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(dir);
	if (asprintf(&out, "%s/%s", strcmp(cwd, "/") ? cwd : "", dir) < 0)
		return NULL;
	return out;
}

/* Applies the flags over the file. Returns 0, or EXIT_USAGE / 1 after logging why. */
static int apply_flags(struct kiln_config *c, const struct run_opts *ro)
{
	char path[320];
	char *dir = NULL;
	size_t i;

	if (ro->ring && shm__path(ro->ring, path, sizeof(path))) {
		log_error("--ring '%s': expected a name of letters, digits, '-', '_' or '.' or an "
			  "absolute path",
			  ro->ring);
		return EXIT_USAGE;
	}
	if (ro->listen) {
		const char *colon = strrchr(ro->listen, ':');
		uint64_t port;

		if (!colon || parse_u64(colon + 1, 0, 65535, &port)) {
			log_error("--listen '%s': expected ADDR:PORT such as 127.0.0.1:7070",
				  ro->listen);
			return EXIT_USAGE;
		}
		if (set_str(&c->ui.listen, ro->listen))
			return 1;
	}
	if (ro->freq && cli_parse_freq("--frequency", ro->freq, &c->sampling_hz))
		return EXIT_USAGE;
	if (ro->user && set_str(&c->user, ro->user))
		return 1;
	if (ro->no_ui)
		c->ui.enabled = false;
	if (ro->output_dir) {
		if (!ro->output_dir[0] || strstr(ro->output_dir, "://")) {
			log_error("--output-dir '%s': expected a directory path", ro->output_dir);
			return EXIT_USAGE;
		}
		dir = absolute(ro->output_dir);
		if (!dir)
			return 1;
		for (i = 0; i < c->nr_dests && c->dests[i].type != KILN_DEST_FILE; i++)
			;
		if (i == c->nr_dests) {
			/* No file destination in the file: the flag adds one. */
			struct kiln_destination *d = realloc(c->dests, (i + 1) * sizeof(*d));

			if (!d)
				goto oom;
			c->dests = d;
			d = &c->dests[i];
			memset(d, 0, sizeof(*d));
			d->type = KILN_DEST_FILE;
			d->profiles = true;
			d->name = strdup("output-dir");
			d->format = strdup("otlp");
			d->max_bytes = KILN_FILE_DEST_MAX_BYTES;
			c->nr_dests++;
			if (!d->name || !d->format)
				goto oom;
		}
		free(c->dests[i].url);
		c->dests[i].url = dir;
	}
	return 0;
oom:
	free(dir);
	log_error("out of memory");
	return 1;
}

/* Resolves a user name or number into *PW. Returns 0 or -ENOENT. */
static int lookup_user(const char *name, struct passwd *pw, char *buf, size_t len)
{
	struct passwd *res = NULL;
	uint64_t uid;

	if (!parse_u64(name, 0, UINT32_MAX - 1, &uid))
		getpwuid_r((uid_t)uid, pw, buf, len, &res);
	else
		getpwnam_r(name, pw, buf, len, &res);
	return res ? 0 : -ENOENT;
}

/* Resolves a group name or number. Returns 0 and *GID, or -ENOENT. */
static int lookup_group(const char *name, gid_t *gid)
{
	struct group *g;
	uint64_t v;

	if (!parse_u64(name, 0, UINT32_MAX - 1, &v)) {
		*gid = (gid_t)v;
		return 0;
	}
	g = getgrnam(name);
	if (!g)
		return -ENOENT;
	*gid = g->gr_gid;
	return 0;
}

/*
 * Picks the unprivileged user: the configured one, else `kiln`, else `nobody`, and the
 * ring's group (ring.group, else that user's group). Returns 0 or 1 after logging why.
 */
static int pick_creds(struct kiln_config *c, struct sup_creds *cr, char *uname, size_t ulen)
{
	char buf[4096], gbuf[24];
	struct passwd pw;
	gid_t ring_gid;

	memset(cr, 0, sizeof(*cr));
	if (c->user && c->user[0]) {
		if (lookup_user(c->user, &pw, buf, sizeof(buf))) {
			log_error("user '%s' (--user or the config's `user`): no such user",
				  c->user);
			return 1;
		}
	} else if (lookup_user("kiln", &pw, buf, sizeof(buf)) &&
		   lookup_user("nobody", &pw, buf, sizeof(buf))) {
		log_error("neither a `kiln` nor a `nobody` user exists: set `user` in the config "
			  "or --user");
		return 1;
	}
	snprintf(uname, ulen, "%s", pw.pw_name);
	ring_gid = pw.pw_gid;
	if (c->ring_group && c->ring_group[0] && lookup_group(c->ring_group, &ring_gid)) {
		log_error("ring.group '%s': no such group", c->ring_group);
		return 1;
	}
	/* The agent learns the group from the effective config, as a number. */
	snprintf(gbuf, sizeof(gbuf), "%u", (unsigned)ring_gid);
	if (set_str(&c->ring_group, gbuf))
		return 1;
	if (geteuid() != 0) {
		log_warn("not root: the exporter and UI run as the current user");
		return 0;
	}
	if (pw.pw_uid == 0) {
		log_warn("user '%s' is root: the exporter and UI keep root's privileges", uname);
		return 0;
	}
	cr->drop = true;
	cr->uid = pw.pw_uid;
	cr->gid = pw.pw_gid;
	cr->groups[cr->nr_groups++] = pw.pw_gid;
	if (ring_gid != pw.pw_gid)
		cr->groups[cr->nr_groups++] = ring_gid;
	return 0;
}

/*
 * Whether CR's user can write into DIR: a parent closed to it (a checkout under /root) would
 * otherwise show up as an exporter that fails and restarts forever. Asked in a child that
 * takes the user's credentials, as the kernel's own permission check is the only exact one.
 */
static bool user_can_write(const struct sup_creds *cr, const char *dir)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return true; /* cannot tell: the exporter will say */
	if (pid == 0) {
		if (setgroups((size_t)cr->nr_groups, cr->groups) || setgid(cr->gid) ||
		    setuid(cr->uid))
			_exit(2);
		_exit(access(dir, W_OK | X_OK) ? 1 : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return true;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Directories the unprivileged exporter cannot reach by path, opened for it. */
#define RUN_MAX_DIRFDS 8
struct dirfds {
	char *path[RUN_MAX_DIRFDS];
	char *arg[RUN_MAX_DIRFDS]; /* "PATH=FD" for the exporter's --dir-fd */
	int fd[RUN_MAX_DIRFDS];
	int nr;
};

static bool dirfds_has(const struct dirfds *df, const char *dir)
{
	for (int i = 0; i < df->nr; i++)
		if (!strcmp(df->path[i], dir))
			return true;
	return false;
}

static void dirfds_free(struct dirfds *df)
{
	for (int i = 0; i < df->nr; i++) {
		free(df->path[i]);
		free(df->arg[i]);
		close(df->fd[i]);
	}
	df->nr = 0;
}

/*
 * DIR is the user's own but a parent is closed to it (a clone under /root, 0700): the
 * exporter gets the directory open instead, and works in it with *at() calls, so it keeps
 * running unprivileged without any path to it. Returns 0, or -errno.
 */
static int dirfds_add(struct dirfds *df, const char *dir)
{
	int fd;

	if (df->nr == RUN_MAX_DIRFDS)
		return -E2BIG;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	df->path[df->nr] = strdup(dir);
	if (!df->path[df->nr] || asprintf(&df->arg[df->nr], "%s=%d", dir, fd) < 0) {
		free(df->path[df->nr]);
		close(fd);
		return -ENOMEM;
	}
	df->fd[df->nr++] = fd;
	return 0;
}

/*
 * Creates DIR (and missing parents, root's, 0755) and hands the leaf to CR's user with MODE,
 * so that a process running as that user can write there. When a parent is closed to the
 * user, DIR is opened for the exporter (DF; at start only: a running exporter cannot be
 * handed a new one). Returns 0 or 1 after logging why.
 */
static int make_dir(const char *what, const char *dir, mode_t mode, const struct sup_creds *cr,
		    const char *uname, struct dirfds *df, bool at_start)
{
	char path[PATH_MAX];
	size_t i, n = strlen(dir);

	if (n >= sizeof(path) || dir[0] != '/') {
		log_error("%s %s: expected an absolute path", what, dir);
		return 1;
	}
	memcpy(path, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i])
			continue;
		path[i] = 0;
		if (mkdir(path, i == n ? mode : 0755) && errno != EEXIST) {
			log_error("%s %s: creating %s: %s", what, dir, path, strerror(errno));
			return 1;
		}
		path[i] = i == n ? 0 : '/';
	}
	if (cr->drop && (chown(dir, cr->uid, cr->gid) || chmod(dir, mode))) {
		log_error("%s %s: giving it to uid %u: %s", what, dir, (unsigned)cr->uid,
			  strerror(errno));
		return 1;
	}
	if (cr->drop && !dirfds_has(df, dir) && !user_can_write(cr, dir)) {
		int err = at_start ? dirfds_add(df, dir) : -EXDEV;

		if (err) {
			log_error("%s %s: user %s cannot reach it (a parent directory is closed to "
				  "it) and %s: %s; choose another directory (--output-dir) or user "
				  "(--user)",
				  what, dir, uname,
				  at_start ? "kiln run cannot open it for the exporter"
					   : "a running exporter cannot be handed it",
				  strerror(-err));
			return 1;
		}
		/* One line: where the files go is the user's choice, and how they get there. */
		fprintf(stderr,
			"kiln run: %s %s: a parent directory is closed to user %s; the exporter "
			"gets it open from kiln run\n",
			what, dir, uname);
	}
	return 0;
}

/* Refuses to start beside another live supervisor of the same ring. Returns 0 or 1. */
static int check_alone(const char *ring)
{
	struct runstate rs;
	char path[320];

	if (runstate__path(ring, path, sizeof(path)) || runstate__read(path, &rs))
		return 0;
	if (rs.supervisor_pid == getpid() || (kill(rs.supervisor_pid, 0) && errno != EPERM))
		return 0; /* a stale file of a supervisor that was killed */
	log_error("ring %s is already run by `kiln run` pid %d (see %s)", ring,
		  (int)rs.supervisor_pid, path);
	return 1;
}

/*
 * Writes C to PATH for the children: first to PATH.new (root's, readable by CR's group
 * only: headers may carry secrets), checked to load back, then renamed over PATH, so that a
 * child starting meanwhile reads the old file or the new one, never half of one. Returns 0
 * or 1 after logging why.
 */
static int write_config_file(const struct kiln_config *c, const struct sup_creds *cr,
			     const char *path)
{
	struct kiln_config *back = NULL;
	char tmp[PATH_MAX + 8], msg[512];
	FILE *f = NULL;
	int fd = -1, err;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if (unlink(tmp) && errno != ENOENT)
		goto fail;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0 || (cr->drop && fchown(fd, 0, cr->gid)))
		goto fail;
	f = fdopen(fd, "w");
	if (!f)
		goto fail;
	fd = -1;
	fprintf(f, "# kiln run: the effective configuration of this run (removed at exit)\n");
	err = runcfg__write(c, f);
	if (fclose(f) || err) {
		f = NULL;
		errno = err ? -err : errno;
		goto fail;
	}
	f = NULL;
	err = kiln_config__load(tmp, &back, msg, sizeof(msg));
	kiln_config__free(back);
	if (err) {
		log_error("the effective config does not load back (a bug): %s", msg);
		unlink(tmp);
		return 1;
	}
	if (rename(tmp, path))
		goto fail;
	return 0;
fail:
	log_error("writing the effective config %s: %s", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (f)
		fclose(f);
	unlink(tmp);
	return 1;
}

/*
 * Writes the effective config into a fresh private directory readable by CR's group: the
 * children load it (the user's file may be unreadable to them, and the flags must reach
 * them). Returns 0 and DIR/PATH, or 1 after logging why.
 */
static int write_effective(const struct kiln_config *c, const struct sup_creds *cr, char *dir,
			   size_t dlen, char *path, size_t plen)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, dlen, "%s/kiln-run.XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		log_error("creating a directory for the effective config in %s: %s",
			  tmp ? tmp : "/tmp", strerror(errno));
		dir[0] = 0;
		return 1;
	}
	if (snprintf(path, plen, "%s/config.yaml", dir) >= (int)plen) {
		log_error("%s/config.yaml: path too long", dir);
		return 1;
	}
	if (cr->drop && (chown(dir, 0, cr->gid) || chmod(dir, 0750))) {
		log_error("giving %s to gid %u: %s", dir, (unsigned)cr->gid, strerror(errno));
		return 1;
	}
	return write_config_file(c, cr, path);
}

static void remove_effective(const char *dir, const char *path)
{
	char tmp[PATH_MAX + 8];

	if (!dir[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	unlink(path);
	if (rmdir(dir))
		log_warn("removing %s: %s", dir, strerror(errno));
}

/* What a reload cannot change: the ring, the user, and which children exist. */
struct fixed {
	char *ring_name, *ring_group, *user;
	uint64_t ring_size;
	bool profiling, ui;
};

static bool str_eq(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

static void fixed_free(struct fixed *x)
{
	free(x->ring_name);
	free(x->ring_group);
	free(x->user);
	memset(x, 0, sizeof(*x));
}

/* Copies C's fixed settings as the file and flags gave them. Returns 0 or -ENOMEM. */
static int fixed_save(struct fixed *x, const struct kiln_config *c)
{
	x->ring_name = c->ring_name ? strdup(c->ring_name) : NULL;
	x->ring_group = c->ring_group ? strdup(c->ring_group) : NULL;
	x->user = c->user ? strdup(c->user) : NULL;
	x->ring_size = c->ring_size;
	x->profiling = c->profiling_enabled;
	x->ui = c->ui.enabled;
	if ((c->ring_name && !x->ring_name) || (c->ring_group && !x->ring_group) ||
	    (c->user && !x->user))
		return -ENOMEM;
	return 0;
}

/* Everything SIGHUP needs: the run's settings and its supervisor. */
struct run {
	const struct run_opts *ro;
	struct kiln_config *cfg; /* the effective config the children read */
	struct fixed fixed; /* the fixed settings as first loaded, before pick_creds */
	struct sup_creds cr;
	char uname[64];
	const char *path; /* the effective config file */
	struct supervisor *sup;
	struct dirfds dirfds; /* directories handed to the exporter open */
};

/* Creates the file destinations' and spool directories of C. Returns 0 or 1 (logged). */
static int make_dirs(const struct kiln_config *c, const struct run_opts *ro,
		     const struct sup_creds *cr, const char *uname, struct dirfds *df,
		     bool at_start)
{
	size_t i;

	if (ro->no_export)
		return 0;
	for (i = 0; i < c->nr_dests; i++)
		if (c->dests[i].type == KILN_DEST_FILE &&
		    make_dir("file destination", c->dests[i].url, 0755, cr, uname, df, at_start))
			return 1;
	if (c->exporter.spool_enabled && c->exporter.spool_dir &&
	    make_dir("spool directory", c->exporter.spool_dir, 0700, cr, uname, df, at_start))
		return 1;
	return 0;
}

/*
 * Keeps NEXT's fixed settings those of the running CUR, warning about each one the file
 * changed. Returns 0 or -ENOMEM.
 */
static int keep_fixed(struct kiln_config *next, const struct kiln_config *cur,
		      const struct fixed *was)
{
	if (!str_eq(next->ring_name, was->ring_name) || next->ring_size != was->ring_size)
		log_warn("config reload: ring.name / ring.size changes take effect at the next "
			 "start "
			 "of kiln run");
	if (!str_eq(next->user, was->user) || !str_eq(next->ring_group, was->ring_group))
		log_warn("config reload: user / ring.group changes take effect at the next start "
			 "of kiln run");
	if (next->profiling_enabled != was->profiling || next->ui.enabled != was->ui)
		log_warn("config reload: profiling.enabled / profiling.ui.enabled changes take "
			 "effect at the next start of kiln run");
	next->ring_size = cur->ring_size;
	next->profiling_enabled = cur->profiling_enabled;
	next->ui.enabled = cur->ui.enabled;
	if ((cur->ring_name && set_str(&next->ring_name, cur->ring_name)) ||
	    (cur->ring_group && set_str(&next->ring_group, cur->ring_group)) ||
	    (cur->user && set_str(&next->user, cur->user)))
		return -ENOMEM;
	return 0;
}

/*
 * SIGHUP: re-reads the -c file. A file that does not load, or that cannot be applied, is
 * refused (logged, counted) and the run goes on as it was. Otherwise the effective config is
 * rewritten, the agent is told (it reloads its sources on SIGHUP), and the exporter and UI
 * are restarted only when their part changed.
 */
static void on_hup(void *ctx)
{
	struct run *r = ctx;
	struct kiln_config *next = NULL;
	char msg[512];
	int diff, err;

	if (!r->ro->config) {
		log_warn("SIGHUP: kiln run was started without -c FILE: nothing to reload");
		return;
	}
	err = kiln_config__load(r->ro->config, &next, msg, sizeof(msg));
	if (err) {
		log_error("config reload failed, keeping the running config: %s", msg);
		goto refused;
	}
	if (apply_flags(next, r->ro) || keep_fixed(next, r->cfg, &r->fixed)) {
		log_error("config reload failed, keeping the running config: out of memory");
		goto refused;
	}
	if (make_dirs(next, r->ro, &r->cr, r->uname, &r->dirfds, false)) {
		log_error("config reload failed (%s), keeping the running config", r->ro->config);
		goto refused;
	}
	diff = runcfg__diff(r->cfg, next);
	if (diff < 0) {
		log_error("config reload failed, keeping the running config: %s", strerror(-diff));
		goto refused;
	}
	if (write_config_file(next, &r->cr, r->path))
		goto refused;
	kiln_config__free(r->cfg);
	r->cfg = next;
	supervisor__note_reload(r->sup, true);
	/* The agent reloads the effective file itself; it is told even when its part is the
	 * same, as it also re-scans which processes the sources select. */
	err = supervisor__signal(r->sup, "agent", SIGHUP);
	if (err && err != -ENOENT && err != -ESRCH)
		log_warn("config reload: signalling the agent: %s", strerror(-err));
	if (diff & RUNCFG_EXPORT)
		supervisor__restart(r->sup, "export");
	if (diff & RUNCFG_UI)
		supervisor__restart(r->sup, "ui");
	fprintf(stderr, "kiln run: config reloaded from %s: agent %s, export %s, ui %s\n",
		r->ro->config, diff & RUNCFG_AGENT ? "reloads (changed)" : "re-scans (unchanged)",
		diff & RUNCFG_EXPORT ? "restarted (changed)" : "unchanged",
		diff & RUNCFG_UI ? "restarted (changed)" : "unchanged");
	return;
refused:
	kiln_config__free(next);
	supervisor__note_reload(r->sup, false);
}

/* Prints the ring's producer counters (read before the ring is removed). */
static void print_ring_counters(const char *ring, FILE *f)
{
	struct shm_view *v = NULL;
	const struct shm_hdr *h;
	struct shm_counter_entry e;
	char msg[256];
	int i = 0, n = 0, err;

	err = shm_view__open(&v, ring);
	if (err) {
		fprintf(f, "  ring: %s\n", shm__strerror(ring, err, msg, sizeof(msg)));
		return;
	}
	h = shm_view__hdr(v);
	fprintf(f, "  ring %s: %llu records, %llu bytes; producer counters:\n", shm_view__path(v),
		(unsigned long long)atomic_load(&h->ctl.records),
		(unsigned long long)atomic_load(&h->ctl.bytes));
	while (shm_counters__next(h, &i, &e)) {
		fprintf(f, "%s%s %llu",
			n % 4 ? ", "
			: n   ? "\n    "
			      : "    ",
			e.name, (unsigned long long)e.value);
		n++;
	}
	fprintf(f, "\n");
	shm_view__free(v);
}

/*
 * Parses kiln run's command line into RO. Returns 0, 1 after --help was printed, or -EINVAL
 * (message and usage printed).
 */
static int parse_args(int argc, char **argv, struct run_opts *ro)
{
	enum {
		OPT_NO_UI = 256,
		OPT_NO_EXPORT,
		OPT_INSECURE,
	};
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "ring", required_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "frequency", required_argument, NULL, 'F' },
		{ "freq", required_argument, NULL, 'F' },
		{ "output-dir", required_argument, NULL, 'o' },
		{ "user", required_argument, NULL, 'u' },
		{ "no-ui", no_argument, NULL, OPT_NO_UI },
		{ "no-export", no_argument, NULL, OPT_NO_EXPORT },
		{ "insecure-listen", no_argument, NULL, OPT_INSECURE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, err;

	while ((opt = getopt_long(argc, argv, "c:r:l:F:o:u:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ro->config = optarg;
			break;
		case 'r':
			ro->ring = optarg;
			break;
		case 'l':
			ro->listen = optarg;
			break;
		case 'F':
			ro->freq = optarg;
			break;
		case 'o':
			ro->output_dir = optarg;
			break;
		case 'u':
			ro->user = optarg;
			break;
		case OPT_NO_UI:
			ro->no_ui = true;
			break;
		case OPT_NO_EXPORT:
			ro->no_export = true;
			break;
		case OPT_INSECURE:
			ro->insecure_listen = true;
			break;
		default:
			err = cli_opt_common(opt, &ro->verbose, usage);
			if (err)
				return err;
			break;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/*
 * Registers the children with r->sup: the agent (when profiling is enabled), the exporter
 * (with the directories it is handed) and the UI, each `kiln SUB --config PATH --ring RING`.
 * Returns 0 or -errno.
 */
static int add_children(struct run *r, const struct run_opts *ro, const char *ring, char *path)
{
	char *args[10], *xargs[10 + 2 * RUN_MAX_DIRFDS];
	int err, nargs;

	/* Every child: kiln SUB --config EFFECTIVE --ring RING [-v...]. */
	args[0] = "kiln";
	args[2] = "--config";
	args[3] = path;
	args[4] = "--ring";
	args[5] = (char *)ring;
	nargs = 6;
	if (ro->verbose)
		args[nargs++] = ro->verbose > 1 ? "-vv" : "-v";
	args[nargs] = NULL;
	if (!r->cfg->profiling_enabled)
		log_warn("profiling.enabled is false: no agent (the UI and exporter wait for a "
			 "ring some other agent produces)");
	args[1] = "agent";
	err = r->cfg->profiling_enabled ? supervisor__add(r->sup, "agent", args, NULL, false) : 0;
	/* The exporter: the same, plus --dir-fd PATH=FD for each directory handed to it. */
	memcpy(xargs, args, (size_t)(nargs + 1) * sizeof(*args));
	xargs[1] = "export";
	for (int i = 0; i < r->dirfds.nr; i++) {
		xargs[nargs + 2 * i] = "--dir-fd";
		xargs[nargs + 2 * i + 1] = r->dirfds.arg[i];
	}
	xargs[nargs + 2 * r->dirfds.nr] = NULL;
	if (!err && !ro->no_export)
		err = supervisor__add(r->sup, "export", xargs, &r->cr, true);
	for (int i = 0; !err && !ro->no_export && i < r->dirfds.nr; i++)
		err = supervisor__keep_fd(r->sup, "export", r->dirfds.fd[i]);
	args[1] = "ui";
	if (ro->insecure_listen) {
		args[nargs] = "--insecure-listen";
		args[nargs + 1] = NULL;
	}
	if (!err && r->cfg->ui.enabled)
		err = supervisor__add(r->sup, "ui", args, &r->cr, true);
	return err;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts ro = { 0 };
	struct run r = { .ro = &ro };
	struct supervisor_opts so = { 0 };
	char msg[512], dir[PATH_MAX] = "", path[PATH_MAX] = "";
	int ret = EXIT_USAGE, err, run_err;
	const char *ring;

	err = parse_args(argc, argv, &ro);
	if (err)
		return err > 0 ? 0 : EXIT_USAGE;
	cli_set_verbosity(ro.verbose);
	if (ro.config) {
		err = kiln_config__load(ro.config, &r.cfg, msg, sizeof(msg));
		if (err) {
			log_error("%s", msg);
			ret = 1;
			goto cleanup;
		}
	} else if (!(r.cfg = kiln_config__defaults())) {
		log_error("out of memory");
		ret = 1;
		goto cleanup;
	}
	ret = apply_flags(r.cfg, &ro);
	if (!ret)
		ret = check_ui_listen(r.cfg, &ro);
	if (ret)
		goto cleanup;
	ret = 1;
	if (fixed_save(&r.fixed, r.cfg)) {
		log_error("out of memory");
		goto cleanup;
	}
	/* Not r.cfg's: a reload frees that, and the supervisor keeps this pointer. */
	ring = ro.ring ? ro.ring : r.fixed.ring_name;
	if (pick_creds(r.cfg, &r.cr, r.uname, sizeof(r.uname)) || check_alone(ring))
		goto cleanup;
	/* Rings of kiln top processes that were SIGKILLed: nobody else would remove them. */
	runstate__sweep_private(NULL);
	if (make_dirs(r.cfg, &ro, &r.cr, r.uname, &r.dirfds, true))
		goto cleanup;
	if (write_effective(r.cfg, &r.cr, dir, sizeof(dir), path, sizeof(path)))
		goto cleanup;
	r.path = path;

	so.ring = ring;
	so.on_hup = on_hup;
	so.ctx = &r;
	err = supervisor__new(&r.sup, &so);
	if (err) {
		log_error("starting the supervisor: %s", strerror(-err));
		goto cleanup;
	}
	err = add_children(&r, &ro, ring, path);
	if (err) {
		log_error("%s", strerror(-err));
		goto cleanup;
	}
	fprintf(stderr, "kiln run: ring %s, %u Hz; ui %s%s; export %s (as %s); Ctrl-C stops\n",
		ring, r.cfg->sampling_hz, r.cfg->ui.enabled ? "http://" : "off",
		r.cfg->ui.enabled ? r.cfg->ui.listen : "", ro.no_export ? "off" : "on",
		r.cr.drop ? r.uname : "the current user");
	run_err = supervisor__run(r.sup);
	supervisor__print_summary(r.sup, stderr);
	/* The counters live in the ring: read them before it goes. */
	print_ring_counters(ring, stderr);
	if (r.cfg->profiling_enabled) {
		err = shm__unlink(ring);
		if (err && err != -ENOENT)
			log_warn("removing ring %s: %s", ring, strerror(-err));
	}
	/* 0 only for a clean stop: children that had to be killed make it 1. */
	ret = run_err ? 1 : 0;
cleanup:
	remove_effective(dir, path);
	supervisor__free(r.sup);
	dirfds_free(&r.dirfds);
	kiln_config__free(r.cfg);
	fixed_free(&r.fixed);
	return ret;
}
