/* options.c - the -o options (options.h). */
#include "options.h"
#include "outtype.h"

#include <stdlib.h>
#include <string.h>

static const char *const profile_names[] = {
	[GG_PROFILE_LLAMACPP] = "llamacpp",
	[GG_PROFILE_OLLAMA] = "ollama",
	[GG_PROFILE_OLLAMA_LEGACY] = "ollama-legacy",
};

const char *gg_profile_name(enum gg_profile p)
{
	return profile_names[p];
}

static int parse_profile(const char *v, enum gg_profile *out, gg_err *e)
{
	for (size_t i = 0; i < sizeof profile_names / sizeof *profile_names; i++) {
		if (strcmp(v, profile_names[i]) == 0) {
			*out = (enum gg_profile)i;
			return 0;
		}
	}
	return gg_fail(e, "unknown profile '%s' (use llamacpp, ollama or ollama-legacy)", v);
}

/* Whether tok is "key=..." for this key; *val is then the value. */
static bool option_is(char *tok, const char *key, char **val)
{
	size_t n = strlen(key);
	if (strncmp(tok, key, n) != 0 || tok[n] != '=')
		return false;
	*val = tok + n + 1;
	return true;
}

static void append_unknown(char **list, size_t *len, const char *tok)
{
	size_t n = strlen(tok);
	*list = gg_realloc(*list, *len + n + 2);
	if (*len)
		(*list)[(*len)++] = ',';
	memcpy(*list + *len, tok, n + 1);
	*len += n;
}

int gg_options_parse(char *s, struct gg_options *opt, char **rest, gg_err *e)
{
	char *save = NULL, *unknown = NULL, *val;
	size_t ulen = 0;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (option_is(tok, "profile", &val)) {
			if (parse_profile(val, &opt->profile, e)) {
				free(unknown);
				return -1;
			}
		} else if (option_is(tok, "base", &val)) {
			opt->base = val;
		} else if (option_is(tok, "type", &val)) {
			if (gg_ftype_parse(val, &opt->ftype, e)) {
				free(unknown);
				return -1;
			}
			opt->has_ftype = true;
		} else if (option_is(tok, "mmproj_type", &val)) {
			if (gg_ftype_parse(val, &opt->aux_ftype, e) ||
			    gg_outtype_check("mmproj_type", GG_ROLE_AUX, opt->aux_ftype, e)) {
				free(unknown);
				return -1;
			}
			opt->has_aux_ftype = true;
		} else if (rest) {
			append_unknown(&unknown, &ulen, tok);
		} else {
			return gg_fail(e, "unknown option '%s'", tok);
		}
	}
	if (rest)
		*rest = unknown;
	return 0;
}
