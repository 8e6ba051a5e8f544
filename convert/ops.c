/* ops.c - the element-wise ops a plan tensor may apply (plan.h). */
#include "plan.h"

#include <math.h>

static void op_tanh(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = tanhf(x[i]);
}

static void op_one_minus_tanh(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = 1.0f - tanhf(x[i]);
}

static void op_add_one(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] += 1.0f;
}

static void (*const ops[GG_OP_COUNT])(float *x, size_t n) = {
	[GG_OP_TANH] = op_tanh,
	[GG_OP_ONE_MINUS_TANH] = op_one_minus_tanh,
	[GG_OP_ADD_ONE] = op_add_one,
};

void gg_op_apply(enum gg_op op, float *x, size_t n)
{
	if (op > GG_OP_NONE && op < GG_OP_COUNT && ops[op])
		ops[op](x, n);
}

const char *gg_op_name(enum gg_op op)
{
	static const char *const names[GG_OP_COUNT] = {
		[GG_OP_NONE] = "none",
		[GG_OP_TANH] = "tanh",
		[GG_OP_ONE_MINUS_TANH] = "one_minus_tanh",
		[GG_OP_MXFP4_REPACK] = "mxfp4_repack",
		[GG_OP_ADD_ONE] = "add_one",
	};
	return op >= GG_OP_NONE && op < GG_OP_COUNT && names[op] ? names[op] : "unknown";
}
