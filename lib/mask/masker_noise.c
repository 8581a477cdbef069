/* masker_noise.c: mae-mask noise, ColorMAE's filtered noise ranks the patches (mae_mask_noise). */
#include "mae/mask/masker.h"
#include "mae/util/util.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct noise {
	int color;
	double sigma1, sigma2;   /* <= 0: the colour's default */
} noise;

static const char *parse_color(void *st, const char *arg)
{
	noise *z = st;
	z->color = mae_noise_color_parse(arg);
	return z->color < 0 ? "expected red, blue, green or purple" : NULL;
}

static const char *parse_sigma(void *st, const char *arg)
{
	noise *z = st;
	const char *comma = strchr(arg, ',');
	char *s1 = strndup(arg, comma ? (size_t)(comma - arg) : strlen(arg));
	if (comma)
		z->sigma2 = mae_parse_double(comma + 1, 1e-3, 1e3, "--sigma S2");
	z->sigma1 = mae_parse_double(s1, 1e-3, 1e3, "--sigma S1");
	free(s1);
	return NULL;
}

static const mae_mask_opt opts[] = {
	{.name = "color", .arg = "red|blue|green|purple", .def = "green",
	 .help = "the noise filter: low-, high-, band-pass, band-stop",
	 .kind = MAE_MOPT_PARSE, .parse = parse_color},
	{.name = "sigma", .arg = "S1[,S2]",
	 .help = "its Gaussians' deviations in patches (default: the colour's)",
	 .kind = MAE_MOPT_PARSE, .parse = parse_sigma},
	{0}
};

static void setup(void *st, mae_mask_ctx *x, mae_val *meta)
{
	(void)x, (void)meta;
	noise *z = st;
	double d1, d2;
	mae_noise_default_sigma(z->color, &d1, &d2);
	if (z->sigma1 <= 0)
		z->sigma1 = d1;
	if (z->sigma2 <= 0)
		z->sigma2 = d2;
}

static void describe(const void *st, const mae_mask_ctx *x, mae_val *mm, mae_val *meta)
{
	(void)meta;
	const noise *z = st;
	mae_map_set_str(mm, "color", mae_noise_color_name(z->color));
	double s[2] = {z->sigma1, z->sigma2};
	int one = z->color == MAE_NOISE_RED || z->color == MAE_NOISE_BLUE;   /* no sigma2 */
	mae_map_set_floats(mm, "sigma", s, one ? 1 : 2);
	mae_map_set_int(mm, "hidden", mae_mask_hidden_mae(x->gh * x->gw, x->ratio));
}

static void sample(const void *st, const mae_mask_batch *bv, int b, int tid, mae_rng *rng)
{
	(void)tid;
	const noise *z = st;
	const mae_mask_ctx *x = bv->ctx;
	mae_mask_noise(bv->mask + (size_t)b * x->n, x->gh, x->gw, z->color, z->sigma1, z->sigma2,
	               mae_mask_hidden_mae(x->n, x->ratio), rng, NULL);
}

const mae_masker mae_masker_noise = {
	.name = "noise", .about = "ColorMAE: the patches where filtered noise is lowest",
	.ratio = 0.75, .size = sizeof(noise), .defaults = &(noise){.color = MAE_NOISE_GREEN},
	.opts = opts, .setup = setup, .describe = describe, .sample = sample,
};
