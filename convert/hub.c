/* hub.c - model names to directories (contract in hub.h). */
#include "hub.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPO_PREFIX "models--"
#define MAX_REPO_ID 96   /* huggingface_hub's validate_repo_id */
#define MAX_REF_BYTES 256

static char *home_of(const char *user, size_t len)
{
	if (len == 0) {
		const char *h = getenv("HOME");
		if (h && *h)
			return gg_strdup(h);
	}
	char *name = gg_strndup(user, len);
	struct passwd pw, *res = NULL;
	char buf[4096];
	int rc = len ? getpwnam_r(name, &pw, buf, sizeof buf, &res)
		     : getpwuid_r(getuid(), &pw, buf, sizeof buf, &res);
	free(name);
	return rc == 0 && res && res->pw_dir ? gg_strdup(res->pw_dir) : NULL;
}

char *hub_expand_user(const char *path)
{
	if (path[0] != '~')
		return gg_strdup(path);
	const char *slash = strchr(path, '/');
	size_t ulen = slash ? (size_t)(slash - path - 1) : strlen(path) - 1;
	char *home = home_of(path + 1, ulen);
	if (!home)
		return gg_strdup(path);
	const char *rest = path + 1 + ulen;
	size_t hl = strlen(home);
	while (hl > 0 && home[hl - 1] == '/' && rest[0] == '/')
		hl--; /* HOME=/ or HOME=/home/u/: no doubled slash */
	char *out = gg_malloc(hl + strlen(rest) + 1);
	memcpy(out, home, hl);
	strcpy(out + hl, rest);
	free(home);
	return out;
}

/* getenv, treating an empty value as unset. */
static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

char *hub_cache_dir(void)
{
	const char *v;
	if ((v = env("HF_HUB_CACHE")) || (v = env("HUGGINGFACE_HUB_CACHE")))
		return hub_expand_user(v);
	char *base;
	if ((v = env("HF_HOME"))) {
		base = hub_expand_user(v);
	} else {
		char *cache = (v = env("XDG_CACHE_HOME")) ? hub_expand_user(v)
							 : hub_expand_user("~/.cache");
		base = gg_path_join(cache, "huggingface");
		free(cache);
	}
	char *dir = gg_path_join(base, "hub");
	free(base);
	return dir;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool id_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* One component of a repo id: [\w.-]+, starting and ending with a word
 * character, without "--" or ".." (huggingface_hub's validate_repo_id). */
static bool id_part_ok(const char *s, size_t n)
{
	if (n == 0 || (!isalnum((unsigned char)s[0]) && s[0] != '_'))
		return false;
	if (!isalnum((unsigned char)s[n - 1]) && s[n - 1] != '_')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!id_char(s[i]))
			return false;
		if (i && (s[i] == '-' || s[i] == '.') && s[i - 1] == s[i])
			return false;
	}
	return true;
}

/* True when s[0..n) is "org/name". */
static bool is_repo_id(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);
	if (!slash || n > MAX_REPO_ID)
		return false;
	size_t a = (size_t)(slash - s);
	return id_part_ok(s, a) && id_part_ok(slash + 1, n - a - 1);
}

/* A revision is a ref name or a commit hash; refuse what could leave the
 * repository directory. */
static bool rev_ok(const char *r)
{
	if (!*r || r[0] == '/' || strlen(r) > 255)
		return false;
	for (const char *p = r; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '\\')
			return false;
	for (const char *p = r; p; p = strchr(p, '/')) {
		p += *p == '/';
		if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || !p[2]))
			return false;
	}
	return true;
}

static bool is_hex(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

/* "<repo>/refs/<rev>" holds a commit hash; NULL when absent or unreadable. */
static char *read_ref(const char *repo, const char *rev)
{
	char *refs = gg_path_join(repo, "refs");
	char *path = gg_path_join(refs, rev);
	free(refs);
	char *data = NULL;
	size_t len;
	int rc = gg_read_file(path, MAX_REF_BYTES, &data, &len, NULL);
	free(path);
	if (rc)
		return NULL;
	while (len && isspace((unsigned char)data[len - 1]))
		data[--len] = 0;
	return data;
}

static void download_hint(char *buf, size_t cap, const char *id, const char *rev)
{
	if (rev && strcmp(rev, "main") != 0)
		snprintf(buf, cap, "huggingface-cli download %s --revision %s", id, rev);
	else
		snprintf(buf, cap, "huggingface-cli download %s", id);
}

/* The snapshot of rev in repository directory repo (of repo id id). */
static int resolve_snapshot(const char *spec, const char *repo, const char *id,
			    const char *rev, struct hub_model *out, gg_err *e)
{
	char hint[400];
	download_hint(hint, sizeof hint, id, rev);
	if (!rev_ok(rev))
		return gg_fail(e, "%s: '%s' is not a revision name", spec, rev);
	char *snaps = gg_path_join(repo, "snapshots");
	char *commit = read_ref(repo, rev);
	if (commit && !is_hex(commit, 7, 64)) {
		gg_fail(e, "%s/refs/%s: not a commit hash", repo, rev);
		free(commit);
		free(snaps);
		return -1;
	}
	if (!commit && is_hex(rev, 40, 64))
		commit = gg_strdup(rev);
	char *dir = commit ? gg_path_join(snaps, commit) : NULL;
	int rc = 0;
	if (!commit)
		rc = gg_fail(e, "%s: revision '%s' is not in the HuggingFace hub cache "
			     "(no %s/refs/%s and no snapshot of that name); "
			     "download it with: %s", spec, rev, repo, rev, hint);
	else if (!is_dir(dir))
		rc = gg_fail(e, "%s: revision '%s' (commit %s) has no snapshot in the "
			     "HuggingFace hub cache (looked for %s); download it with: %s",
			     spec, rev, commit, dir, hint);
	free(snaps);
	if (rc) {
		free(commit);
		free(dir);
		return rc;
	}
	out->dir = dir;
	out->repo_id = gg_strdup(id);
	out->revision = gg_strdup(rev);
	out->commit = commit;
	return 0;
}

/* "org/name" of a repository directory named "models--org--name", or
 * NULL when path is not one (a directory with snapshots/ inside). */
static char *repo_dir_id(const char *path)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	const char *base = path + n;
	while (base > path && base[-1] != '/')
		base--;
	size_t bl = (size_t)(path + n - base), pl = strlen(REPO_PREFIX);
	if (bl <= pl || strncmp(base, REPO_PREFIX, pl) != 0)
		return NULL;
	char *id = gg_strndup(base + pl, bl - pl);
	char *sep = strstr(id, "--");
	if (sep) {
		*sep = '/';
		memmove(sep + 1, sep + 2, strlen(sep + 2) + 1);
	}
	char *trimmed = gg_strndup(path, n);
	char *snaps = gg_path_join(trimmed, "snapshots");
	bool ok = sep && is_dir(snaps);
	free(snaps);
	free(trimmed);
	if (!ok) {
		free(id);
		return NULL;
	}
	return id;
}

/* spec is "PATH" or "PATH@REV" with PATH a repository directory. */
static int try_repo_dir(const char *spec, const char *path, struct hub_model *out,
			int *rc, gg_err *e)
{
	const char *at = NULL;
	char *id = repo_dir_id(path);
	char *dir = NULL;
	if (!id && !is_dir(path) && (at = strrchr(path, '@'))) {
		dir = gg_strndup(path, (size_t)(at - path));
		id = repo_dir_id(dir);
	}
	if (!id) {
		free(dir);
		return 0;
	}
	*rc = resolve_snapshot(spec, dir ? dir : path, id, at ? at + 1 : "main", out, e);
	free(dir);
	free(id);
	return 1;
}

static int try_repo_id(const char *spec, const char *s, struct hub_model *out,
		       int *rc, gg_err *e)
{
	const char *at = strchr(s, '@');
	size_t n = at ? (size_t)(at - s) : strlen(s);
	if (!is_repo_id(s, n))
		return 0;
	char *id = gg_strndup(s, n);
	char *cache = hub_cache_dir();
	char *name = gg_malloc(strlen(REPO_PREFIX) + n + 2);
	const char *slash = strchr(id, '/');
	sprintf(name, REPO_PREFIX "%.*s--%s", (int)(slash - id), id, slash + 1);
	char *repo = gg_path_join(cache, name);
	if (is_dir(repo)) {
		*rc = resolve_snapshot(spec, repo, id, at ? at + 1 : "main", out, e);
	} else {
		char hint[400];
		download_hint(hint, sizeof hint, id, at ? at + 1 : NULL);
		*rc = gg_fail(e, "%s: no such directory, and not in the HuggingFace "
			      "hub cache (looked for %s); download it with: %s",
			      spec, repo, hint);
	}
	free(repo);
	free(name);
	free(cache);
	free(id);
	return 1;
}

int hub_resolve(const char *spec, struct hub_model *out, gg_err *e)
{
	memset(out, 0, sizeof *out);
	char *path = hub_expand_user(spec);
	int rc = 0;
	struct stat st;
	if (try_repo_dir(spec, path, out, &rc, e) ||
	    (stat(path, &st) != 0 && try_repo_id(spec, path, out, &rc, e))) {
		free(path);
		return rc;
	}
	out->dir = path;
	return 0;
}

void hub_model_free(struct hub_model *m)
{
	if (!m)
		return;
	free(m->dir);
	free(m->repo_id);
	free(m->revision);
	free(m->commit);
	memset(m, 0, sizeof *m);
}
