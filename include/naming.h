/* naming.h - the names llama.cpp's converter gives a model and its file.
 *
 * convert_hf_to_gguf.py (with gguf-py's metadata.py and utility.py)
 * derives general.name, organization, basename, finetune, version and
 * size_label from, in this order of precedence, the model card (the YAML
 * front matter of README.md), config.json's "_name_or_path" (when it looks
 * like a hub id, not a path) and the model directory's name; a missing
 * size label comes from the parameter count. Its default output file name
 * is <basename or name>[-<size>][-<finetune>][-<version>]-<TYPE>.gguf, and
 * mmproj-<...>-<TYPE>.gguf for a vision projector (which has no size).
 * This module does the same from a gg_model, so that the llamacpp profile
 * writes those keys and a mount can show each file under that name.
 *
 * A model opened from the hub cache is named after its repository (its
 * snapshot directory is called by a commit hash, which names nothing):
 * gg_options.hub_id stands in for the directory name then.
 *
 * The model card is read as the small YAML subset model cards use for
 * these keys: top-level "key: value" scalars (plain or quoted) and lists
 * ("- item" lines or "[a, b]"); anything else is ignored.
 *
 * Pure functions of their arguments (the model card is read from disk);
 * thread-safe. Strings are malloc'd and owned by the caller.
 */
#ifndef GGUFFS_NAMING_H
#define GGUFFS_NAMING_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* What get_model_id_components returns for an id ("org/name" or "name"). */
struct gg_id_parts {
	char *full_name, *org, *basename, *finetune, *version, *size_label;
};

/* Split id as metadata.py's get_model_id_components(id, total_params):
 * every field NULL for NULL. */
void gg_naming_id_parts(const char *id, int64_t total_params,
			struct gg_id_parts *out);
void gg_naming_id_parts_free(struct gg_id_parts *p);

/* metadata.py's id_to_title: '-' to ' ', lowercase words title-cased
 * unless they are versions or start with a digit. */
char *gg_naming_title(const char *s);

/* utility.py's model_weight_count_rounded_notation: "1.2B", "21M". */
char *gg_naming_count(uint64_t n, int min_digits);

/* Parameter counts of f as gguf_writer's get_total_parameter_count:
 * every element, experts ("_exps." tensors of 3 or more dims) counted
 * once per expert in *expert. */
struct gg_param_count {
	uint64_t total, shared, expert, expert_count;
};
void gg_naming_params(const struct gg_outfile *f, struct gg_param_count *out);

/* utility.py's size_label: "8x7.0B" with experts, else the count. */
char *gg_naming_size_label(const struct gg_param_count *c);

struct gg_naming {
	char *name, *author, *organization, *basename, *finetune, *version,
	     *size_label, *license;
	char **tags, **languages;
	size_t ntags, nlanguages;
};

/* The names convert_hf_to_gguf.py gives output file f of m. */
void gg_naming_derive(const struct gg_model *m, const struct gg_outfile *f,
		      struct gg_naming *out);
void gg_naming_free(struct gg_naming *n);

/* The encoding part of the file name ("BF16", "F16", "F32"), from f's
 * general.file_type when it has one, else from its tensor types. */
const char *gg_naming_output_type(const struct gg_outfile *f);

/* f's conventional file name, e.g. "Llama-3.2-1B-Instruct-BF16.gguf" or
 * "mmproj-Llama-4-Scout-17B-16E-Instruct-BF16.gguf" (f is a projector when
 * its general.architecture is "clip"). */
char *gg_naming_file_name(const struct gg_model *m, const struct gg_outfile *f);

/* llamacpp profile: write the keys convert_hf_to_gguf.py writes on f
 * before it is finished: general.type ("model", or "mmproj" for a
 * projector), general.name and the other names, general.license, tags and
 * languages from the model card, and general.file_type
 * (gg_ftype_of_outfile, ftype.h). */
void gg_naming_set_kvs(const struct gg_model *m, struct gg_outfile *f);

#endif
