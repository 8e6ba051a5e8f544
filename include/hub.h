/* hub.h - where a model named on the command line lives on disk.
 *
 * Users name models the way the HuggingFace hub and the shell do: a
 * directory ("~/hf/Llama-3.2-1B"), a hub id ("meta-llama/Llama-3.2-1B",
 * "org/name@REV") or a hub cache repository directory
 * (".../hub/models--org--name"). These functions turn such a name into the
 * directory of model files. They only read the local disk: nothing is ever
 * downloaded.
 *
 * Hub cache layout (huggingface_hub's file_download.py):
 *   <cache>/models--<org>--<name>/refs/<revision>    the commit hash, one line
 *   <cache>/models--<org>--<name>/snapshots/<commit>/<file> -> ../../blobs/<hash>
 * <cache> is $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub,
 * else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
 *
 * Every function is thread-safe (they read the environment and the disk
 * only) and returns malloc'd strings the caller frees.
 */
#ifndef GGUFFS_HUB_H
#define GGUFFS_HUB_H

#include "util.h"

/* A leading "~" or "~/" becomes $HOME (else the passwd entry's home), a
 * leading "~user" that user's home directory; anything else, and a "~user"
 * naming no user, is returned unchanged (as the shell does). */
char *hub_expand_user(const char *path);

/* The hub cache directory in use (see above); never fails. */
char *hub_cache_dir(void);

struct hub_model {
	char *dir;      /* the directory to open (a snapshot for hub models) */
	char *repo_id;  /* "org/name" when resolved through the hub cache, else NULL */
	char *revision; /* the revision asked for ("main" by default), or NULL */
	char *commit;   /* the snapshot's commit hash, or NULL */
};

/* Resolve spec (tilde-expanded first):
 *  - an existing path that is not a hub cache repository: itself;
 *  - a hub cache repository directory "models--org--name" (optionally
 *    "@REV"): its snapshot for REV (default "main");
 *  - "org/name" or "org/name@REV" that is not an existing path: the
 *    snapshot in the hub cache;
 *  - anything else: itself (the caller's open then reports the error).
 * REV is a name under refs/ (main, a branch or tag) or a commit hash with
 * a snapshot. On failure (a hub id or repository whose revision is not in
 * the cache) returns -1 and e says which path was looked at and the
 * huggingface-cli command that downloads it. Fill *out on success; free it
 * with hub_model_free. */
int hub_resolve(const char *spec, struct hub_model *out, gg_err *e);
void hub_model_free(struct hub_model *m);

#endif
