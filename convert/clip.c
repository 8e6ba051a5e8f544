/* clip.c - clip mmproj KVs (clip.h). */
#include "clip.h"

#include <math.h>
#include <stdlib.h>

#include "jsonutil.h"

/* Three finite numbers of pp's key; 0.5 each when absent. */
static int read_norm3(const cJSON *pp, const char *key, const char *path,
		      float out[3], gg_err *e)
{
	const cJSON *a = pp ? cJSON_GetObjectItem(pp, key) : NULL;
	out[0] = out[1] = out[2] = 0.5f;
	if (!a || cJSON_IsNull(a))
		return 0;
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3)
		return gg_fail(e, "%s: %s: expected an array of 3 numbers", path, key);
	for (int i = 0; i < 3; i++) {
		const cJSON *x = cJSON_GetArrayItem(a, i);
		if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
			return gg_fail(e, "%s: %s[%d]: expected a finite number", path, key, i);
		out[i] = (float)x->valuedouble;
	}
	return 0;
}

static int write_preprocessor(const char *dir, struct gguf_kvs *kv, double *seq_len,
			      gg_err *e)
{
	char *path = gg_path_join(dir, "preprocessor_config.json");
	cJSON *pp = NULL;
	float mean[3], std[3];
	int rc = gg_json_load(path, true, true, &pp, e) ||
		 read_norm3(pp, "image_mean", path, mean, e) ||
		 read_norm3(pp, "image_std", path, std, e) ? -1 : 0;
	if (rc == 0) {
		gguf_kvs_set_arr(kv, "clip.vision.image_mean", GGUF_VT_F32, mean, 3);
		gguf_kvs_set_arr(kv, "clip.vision.image_std", GGUF_VT_F32, std, 3);
		const cJSON *n = pp ? cJSON_GetObjectItem(pp, "image_seq_length") : NULL;
		if (seq_len)
			*seq_len = cJSON_IsNumber(n) && isfinite(n->valuedouble) ? n->valuedouble : 0;
	}
	cJSON_Delete(pp);
	free(path);
	return rc;
}

int gg_clip_write_kv(const char *dir, const struct gg_clip *c, struct gguf_kvs *kv,
		     double *image_seq_length, gg_err *e)
{
	gguf_kvs_set_str(kv, "general.architecture", "clip");
	gguf_kvs_set_str(kv, "general.type", "mmproj");
	gguf_kvs_set_u32(kv, "general.file_type", 1);
	gguf_kvs_set_bool(kv, "clip.has_vision_encoder", true);
	gguf_kvs_set_str(kv, "clip.projector_type", c->projector);
	gguf_kvs_set_bool(kv, "clip.use_gelu", true);
	gguf_kvs_set_u32(kv, "clip.vision.image_size", c->image_size);
	gguf_kvs_set_u32(kv, "clip.vision.patch_size", c->patch_size);
	gguf_kvs_set_u32(kv, "clip.vision.embedding_length", c->hidden);
	gguf_kvs_set_u32(kv, "clip.vision.feed_forward_length", c->intermediate);
	gguf_kvs_set_u32(kv, "clip.vision.block_count", c->layers);
	gguf_kvs_set_u32(kv, "clip.vision.attention.head_count", c->heads);
	gguf_kvs_set_u32(kv, "clip.vision.projection_dim", c->projection_dim);
	gguf_kvs_set_f32(kv, "clip.vision.attention.layer_norm_epsilon", c->norm_eps);
	return write_preprocessor(dir, kv, image_seq_length, e);
}
