/* mae-view: render a stream's images, patches, masks and predictions as a PNG or JPEG grid;
 * with `pred`, MAE's figure: original | masked | reconstruction | reconstruction + visible.
 * LoMaR's predictions (per window token, with `windows`) are put back at their patches.
 * A clip (image [B,T,H,W,C], or tubelets) is a row of its frames side by side per panel.
 * See mae-view(1). */
#include "mae/data/image.h"
#include "mae/data/patchify.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: mae-view [-qv] [-n N] [-r RECORD] [--every K] [--cols K] [--scale K] [--gap PX]\n"
	"                [--norm-pix] [--drain] [-f png|jpeg] [-Q QUALITY] [-i ENDPOINT] [-o PICTURE]\n"
	"  -n samples to show (8)   -r first batch record to use (1)\n"
	"  --every K  one picture per K-th record; PICTURE holds %d for the record number\n"
	"  --norm-pix  predictions are per-patch normalized: show them with each target patch's\n"
	"              mean and standard deviation\n";

enum { OPT_EVERY = MAE_OPT_FIRST_PROGRAM, OPT_COLS, OPT_SCALE, OPT_GAP, OPT_NORMPIX, OPT_DRAIN };

typedef struct view {
	int n, cols, scale, gap, normpix, quality;
	const char *fmt;
	/* geometry, fixed by the first record used; F frames a sample (1 for images) cut in
	 * tubelets of t (clips: mae-patchify(1)) */
	int H, W, C, p, gh, gw, N, P, panels, F, t;
	float mean[4], std[4];
	int have_mean;
	/* collected panels: samples x panels images of H*W*C bytes */
	int count;
	uint8_t *pix;
} view;

static const mae_val *hmeta;

/* Geometry and panel count from a record and the header. */
static void setup(view *v, mae_record *rec)
{
	mae_tensor *img = mae_rec_tensor(rec, "image"), *x = mae_rec_tensor(rec, "patches");
	mae_tensor *m = mae_rec_tensor(rec, "mask"), *pred = mae_rec_tensor(rec, "pred");
	if (!img && !x)
		mae_die(MAE_EXIT_DATA, "record %lld: neither 'image' nor 'patches' to show",
		        (long long)rec->number);
	v->p = (int)mae_map_int(hmeta, "patch_size", 0);
	v->t = (int)mae_map_int(hmeta, "tubelet", 1);
	int64_t g3[3], *g = g3;
	int ng = mae_map_ints(hmeta, "grid", g3, 3);
	v->F = ng == 3 ? (int)g3[0] * v->t : 1;
	if (ng == 3)   /* clips: [frames / tubelet, gh, gw] */
		g = g3 + 1, ng = 2;
	if (v->t < 1 || v->t > 64 || v->F < 1 || v->F > 4096)
		mae_die(MAE_EXIT_DATA, "record %lld: tubelet %d and %d frames in the header",
		        (long long)rec->number, v->t, v->F);
	if (img) {
		img = mae_rec_need(rec, "image", MAE_U8, -1, "[B,H,W,C] or [B,T,H,W,C]");
		if (img->ndim != 4 && img->ndim != 5)
			mae_rec_wrong_shape(rec, img, "[B,H,W,C] or [B,T,H,W,C]");
		int k = img->ndim - 4;
		v->F = k ? (int)img->shape[1] : 1;
		v->H = (int)img->shape[1 + k], v->W = (int)img->shape[2 + k], v->C = (int)img->shape[3 + k];
		if (v->F % v->t)
			mae_die(MAE_EXIT_DATA, "record %lld: clips of %d frames and tubelets of %d",
			        (long long)rec->number, v->F, v->t);
	}
	if (x) {
		x = mae_rec_need(rec, "patches", MAE_F32, 3, "[B,N,P]");
		v->N = (int)x->shape[1], v->P = (int)x->shape[2];
	} else if (m) {
		v->N = (int)m->shape[1];
	} else if (pred && !mae_rec_tensor(rec, "windows")) {
		v->N = (int)pred->shape[1];
	}
	int gt = v->F / v->t;
	if (!v->p && v->N && v->H)   /* square patches covering the image */
		v->p = (int)lround(sqrt((double)v->H * v->W * gt / v->N));
	if (!v->H) {   /* patches only: the grid from the header, or square */
		if (!v->p)
			mae_die(MAE_EXIT_DATA, "no patch_size in the header: cannot rebuild images from patches");
		v->C = v->P / (v->t * v->p * v->p);
		int nf = v->N / gt;   /* a frame's patches */
		if (ng == 2 && g[0] * g[1] == nf)
			v->gh = (int)g[0], v->gw = (int)g[1];
		else
			v->gh = v->gw = (int)lround(sqrt(nf));
		v->H = v->gh * v->p, v->W = v->gw * v->p;
	}
	if (v->C < 1 || v->C > 4 || v->H <= 0 || v->W <= 0)
		mae_die(MAE_EXIT_DATA, "record %lld: cannot show %dx%d images with %d channels",
		        (long long)rec->number, v->W, v->H, v->C);
	if (v->p) {
		v->gh = v->H / v->p, v->gw = v->W / v->p;
		if (v->N && gt * v->gh * v->gw != v->N)
			mae_die(MAE_EXIT_DATA, "record %lld: %d patches do not tile %d %dx%d frames with patch size %d",
			        (long long)rec->number, v->N, v->F, v->W, v->H, v->p);
		v->N = gt * v->gh * v->gw;
		v->P = v->t * v->p * v->p * v->C;
	}
	if ((m || pred) && !v->p)
		mae_die(MAE_EXIT_DATA, "record %lld: a mask or prediction but no patch size", (long long)rec->number);
	v->panels = pred ? 4 : m ? 2 : 1;
	double mm[4], ss[4];
	float dm[4], ds[4];
	mae_norm_defaults(v->C, dm, ds);
	int nm = mae_map_floats(hmeta, "mean", mm, 4), ns = mae_map_floats(hmeta, "std", ss, 4);
	for (int c = 0; c < v->C; c++) {
		v->mean[c] = nm == v->C ? (float)mm[c] : dm[c];
		v->std[c] = ns == v->C ? (float)ss[c] : ds[c];
	}
}

/* LoMaR's pred [B, M*K*K, P] lists window m's tokens in raster order inside the window, whose
 * top-left patch is windows[b, m] (mae-reconstruct(1)). Put sample b's back at their patches of
 * out [N, P]; covered[i] says whether patch i got one (where windows overlap, the later wins). */
static void windows_to_patches(const view *v, const mae_record *rec, const mae_tensor *pred,
                               const mae_tensor *win, int K, int64_t b, float *out, uint8_t *covered)
{
	int M = (int)win->shape[1];
	memset(covered, 0, (size_t)v->N);
	const int32_t *w = (const int32_t *)win->data + (size_t)b * M * 2;
	const float *pr = (const float *)pred->data + (size_t)b * M * K * K * v->P;
	for (int m = 0; m < M; m++) {
		int top = w[2 * m], left = w[2 * m + 1];
		if (top < 0 || left < 0 || top + K > v->gh || left + K > v->gw)
			mae_die(MAE_EXIT_DATA, "record %lld: window %d of sample %lld at (%d,%d) leaves the %dx%d grid",
			        (long long)rec->number, m, (long long)b, top, left, v->gh, v->gw);
		for (int k = 0; k < K * K; k++) {
			int i = (top + k / K) * v->gw + left + k % K;
			memcpy(out + (size_t)i * v->P, pr + ((size_t)m * K * K + k) * v->P, sizeof *out * v->P);
			covered[i] = 1;
		}
	}
}

/* Add the panels of every sample of rec (up to v->n in all). */
static void collect(view *v, mae_record *rec)
{
	char want[64];
	mae_tensor *img = NULL, *x = NULL, *m = NULL, *pred = NULL, *win = NULL;
	int K = 0;
	if (mae_rec_tensor(rec, "image")) {
		int clip = v->F > 1, k = clip;
		if (clip)
			snprintf(want, sizeof want, "[B,%d,%d,%d,%d]", v->F, v->H, v->W, v->C);
		else
			snprintf(want, sizeof want, "[B,%d,%d,%d]", v->H, v->W, v->C);
		img = mae_rec_need(rec, "image", MAE_U8, 4 + clip, want);
		if ((clip && img->shape[1] != v->F) || img->shape[1 + k] != v->H || img->shape[2 + k] != v->W ||
		    img->shape[3 + k] != v->C)
			mae_rec_wrong_shape(rec, img, want);
	}
	snprintf(want, sizeof want, "[B,%d,%d]", v->N, v->P);
	if (mae_rec_tensor(rec, "patches") && v->p) {
		x = mae_rec_need(rec, "patches", MAE_F32, 3, want);
		if (x->shape[1] != v->N || x->shape[2] != v->P)
			mae_rec_wrong_shape(rec, x, want);
	}
	if (v->panels == 4 && mae_rec_tensor(rec, "windows")) {
		/* LoMaR: one prediction per window token */
		win = mae_rec_need(rec, "windows", MAE_I32, 3, "[B,M,2]");
		K = (int)mae_map_int(hmeta, "window_size", 0);
		if (win->shape[2] != 2)
			mae_rec_wrong_shape(rec, win, "[B,M,2]");
		if (K <= 0)
			mae_die(MAE_EXIT_DATA, "record %lld: 'windows' but no window_size in the header",
			        (long long)rec->number);
		snprintf(want, sizeof want, "[B,%lld,%d]", (long long)win->shape[1] * K * K, v->P);
		pred = mae_rec_need(rec, "pred", MAE_F32, 3, want);
		if (pred->shape[1] != win->shape[1] * K * K || pred->shape[2] != v->P ||
		    pred->shape[0] != win->shape[0])
			mae_rec_wrong_shape(rec, pred, want);
	} else if (v->panels == 4) {
		pred = mae_rec_need(rec, "pred", MAE_F32, 3, want);
		if (pred->shape[1] != v->N || pred->shape[2] != v->P)
			mae_rec_wrong_shape(rec, pred, want);
	}
	if (v->panels >= 2 && mae_rec_tensor(rec, "mask")) {
		snprintf(want, sizeof want, "[B,%d]", v->N);
		m = mae_rec_need(rec, "mask", MAE_U8, 2, want);
		if (m->shape[1] != v->N)
			mae_rec_wrong_shape(rec, m, want);
	}
	int64_t B = img ? img->shape[0] : x ? x->shape[0] : pred->shape[0];
	if ((x && x->shape[0] != B) || (m && m->shape[0] != B) || (pred && pred->shape[0] != B))
		mae_die(MAE_EXIT_DATA, "record %lld: tensors disagree on the batch size",
		        (long long)rec->number);
	size_t isz = (size_t)v->F * v->H * v->W * v->C, NP = (size_t)v->N * v->P;
	float *xs = v->p ? mae_malloc(sizeof *xs * NP) : NULL, *tmp = v->p ? mae_malloc(sizeof *tmp * NP) : NULL;
	float *wpred = win ? mae_malloc(sizeof *wpred * NP) : NULL;
	uint8_t *covered = win ? mae_malloc((size_t)v->N) : NULL;
	for (int64_t b = 0; b < B && v->count < v->n; b++) {
		uint8_t *dst = v->pix + isz * v->panels * v->count;
		/* normalized patches of the sample */
		if (xs) {
			if (x)
				memcpy(xs, (float *)x->data + NP * b, sizeof *xs * NP);
			else
				mae_patchify_clip(xs, (uint8_t *)img->data + isz * b, 1, v->F, v->H, v->W, v->C, v->p, v->t, v->mean, v->std);
		}
		if (img)
			memcpy(dst, (uint8_t *)img->data + isz * b, isz);
		else
			mae_unpatchify_clip(dst, xs, 1, v->F, v->H, v->W, v->C, v->p, v->t, v->mean, v->std);
		if (v->panels >= 2) {
			const uint8_t *mk = m ? (uint8_t *)m->data + (size_t)v->N * b : NULL;
			/* masked: hidden patches at 0, i.e. the mean colour (MAE's demo) */
			memcpy(tmp, xs, sizeof *tmp * NP);
			for (int i = 0; i < v->N; i++)
				if (mk && mk[i])
					memset(tmp + (size_t)i * v->P, 0, sizeof *tmp * v->P);
			mae_unpatchify_clip(dst + isz, tmp, 1, v->F, v->H, v->W, v->C, v->p, v->t, v->mean, v->std);
		}
		if (v->panels == 4) {
			const uint8_t *mk = m ? (uint8_t *)m->data + (size_t)v->N * b : NULL;
			const float *pr = (float *)pred->data + NP * b;
			if (win) {
				windows_to_patches(v, rec, pred, win, K, b, wpred, covered);
				pr = wpred;
			}
			for (int i = 0; i < v->N; i++) {
				const float *t = xs + (size_t)i * v->P;
				float *o = tmp + (size_t)i * v->P;
				/* --norm-pix: the target's own statistics (unbiased variance): of the patch
				 * (MAE), or of the tubelet per channel (clips, VideoMAE's normtube) */
				int groups = v->F > 1 ? v->C : 1, K = v->P / groups;
				for (int c = 0; c < groups; c++) {
					double mu = 0, var = 0, sd = 1;
					if (v->normpix) {
						for (int k = 0; k < K; k++)
							mu += t[k * groups + c];
						mu /= K;
						for (int k = 0; k < K; k++)
							var += (t[k * groups + c] - mu) * (t[k * groups + c] - mu);
						var /= K > 1 ? K - 1 : 1;
						sd = groups > 1 || v->F > 1 ? sqrt(var) + 1e-6 : sqrt(var + 1e-6);
					}
					for (int k = 0; k < K; k++)
						o[k * groups + c] = (float)(pr[(size_t)i * v->P + k * groups + c] * sd + mu);
				}
				if (covered && !covered[i])   /* outside every window: no prediction */
					memset(o, 0, sizeof *o * v->P);
			}
			mae_unpatchify_clip(dst + 2 * isz, tmp, 1, v->F, v->H, v->W, v->C, v->p, v->t, v->mean, v->std);
			/* pasted: visible patches from the input, hidden ones from the prediction */
			for (int i = 0; i < v->N; i++)
				if (!mk || !mk[i])
					memcpy(tmp + (size_t)i * v->P, xs + (size_t)i * v->P, sizeof *tmp * v->P);
			mae_unpatchify_clip(dst + 3 * isz, tmp, 1, v->F, v->H, v->W, v->C, v->p, v->t, v->mean, v->std);
		}
		v->count++;
	}
	free(xs);
	free(tmp);
	free(wpred);
	free(covered);
}

static int render(view *v, const char *path)
{
	int n = v->count, k = v->scale, gap = v->gap;
	int th = v->H * k, tw = v->W * k;
	int cols, rows;
	if (v->F > 1)   /* a clip: each panel a row of its frames */
		cols = v->F, rows = n * v->panels;
	else if (v->panels > 1)
		cols = v->panels, rows = n;
	else {
		cols = v->cols ? v->cols : (int)ceil(sqrt((double)n));
		if (cols > n)
			cols = n;
		rows = (n + cols - 1) / cols;
	}
	int oc = v->C == 1 ? 1 : 3;
	mae_image canvas, tile, big;
	if (mae_image_alloc(&canvas, cols * tw + (cols + 1) * gap, rows * th + (rows + 1) * gap, oc) < 0)
		mae_die(MAE_EXIT_USAGE, "a %dx%d picture is too large", cols * tw, rows * th);
	memset(canvas.px, 255, canvas.stride * canvas.h);
	mae_image_alloc(&big, tw, th, oc);
	mae_image_alloc(&tile, v->W, v->H, oc);
	size_t fsz = (size_t)v->H * v->W * v->C, isz = fsz * v->F;
	for (int s = 0; s < n; s++)
		for (int j = 0; j < v->panels; j++)
			for (int f = 0; f < v->F; f++) {
				int cell = v->F > 1 ? (s * v->panels + j) * cols + f : v->panels > 1 ? s * cols + j : s;
				int r = cell / cols, cc = cell % cols;
				mae_image src = { v->W, v->H, v->C, (size_t)v->W * v->C,
				                  v->pix + isz * ((size_t)s * v->panels + j) + fsz * f, NULL };
				mae_image_convert(&src, &tile);   /* 4 channels: the first three */
				mae_image_upscale(&tile, k, &big);
				mae_image dst = mae_image_view(&canvas, gap + cc * (tw + gap), gap + r * (th + gap), tw, th);
				for (int y = 0; y < th; y++)
					memcpy(dst.px + y * dst.stride, big.px + y * big.stride, (size_t)tw * oc);
			}
	char err[256];
	int rc = mae_image_save(&canvas, path, v->fmt, v->quality, err, sizeof err);
	if (rc < 0)
		mae_warn("%s", err);
	else
		mae_info("%s: %d sample%s, %dx%d", path, n, n == 1 ? "" : "s", canvas.w, canvas.h);
	mae_image_free(&canvas), mae_image_free(&big), mae_image_free(&tile);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, {"samples", 1, 0, 'n'}, {"record", 1, 0, 'r'}, {"every", 1, 0, OPT_EVERY},
		{"cols", 1, 0, OPT_COLS}, {"scale", 1, 0, OPT_SCALE}, {"gap", 1, 0, OPT_GAP},
		{"norm-pix", 0, 0, OPT_NORMPIX}, {"drain", 0, 0, OPT_DRAIN}, {"format", 1, 0, 'f'},
		{"quality", 1, 0, 'Q'}, {0, 0, 0, 0}};
	mae_common c;
	view v = { 0 };
	int opt, drain = 0;
	long long first = 1, every = 0;
	v.n = 8, v.gap = 2, v.quality = 90, v.scale = 0;

	mae_setprog(argv[0]);
	mae_common_init(&c);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "n:r:f:Q:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'n': v.n = (int)mae_parse_int(optarg, 1, 4096, "-n samples"); break;
		case 'r': first = mae_parse_int(optarg, 1, 1LL << 50, "-r record"); break;
		case OPT_EVERY: every = mae_parse_int(optarg, 1, 1LL << 50, "--every"); break;
		case OPT_COLS: v.cols = (int)mae_parse_int(optarg, 1, 1024, "--cols"); break;
		case OPT_SCALE: v.scale = (int)mae_parse_int(optarg, 1, 64, "--scale"); break;
		case OPT_GAP: v.gap = (int)mae_parse_int(optarg, 0, 64, "--gap"); break;
		case OPT_NORMPIX: v.normpix = 1; break;
		case OPT_DRAIN: drain = 1; break;
		case 'f':
			if (strcmp(optarg, "png") && strcmp(optarg, "jpeg") && strcmp(optarg, "jpg"))
				mae_usage_error(usage, "-f: '%s' is not png or jpeg", optarg);
			v.fmt = optarg;
			break;
		case 'Q': v.quality = (int)mae_parse_int(optarg, 1, 100, "-Q quality"); break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind + 1 == argc && !strcmp(c.out, "-"))
		c.out = argv[optind++];   /* the picture may also be given as an operand */
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (!strcmp(c.out, "-") && isatty(1))
		mae_usage_error(usage, "refusing to write a picture to a terminal: use -o PICTURE");
	if (every) {
		/* the name is a printf format: exactly one %d (flags and width allowed), %% */
		int conv = 0, bad = 0;
		for (const char *q = c.out; *q; q++) {
			if (*q != '%')
				continue;
			if (q[1] == '%') {
				q++;
				continue;
			}
			q += strspn(q + 1, "0-+ 123456789") + 1;
			if (*q == 'd')
				conv++;
			else
				bad = 1;
		}
		if (conv != 1 || bad)
			mae_usage_error(usage, "--every needs a PICTURE name with one %%d (e.g. view-%%05d.png)");
	}

	mae_reader *in = mae_reader_open(c.in, &c);
	mae_record hdr = {0}, rec = {0};
	mae_read_header(in, &hdr);
	hmeta = mae_rec_meta(&hdr);
	int64_t k = 0;
	int rc = 0, done = 0;
	while (mae_read(in, &rec)) {
		k++;
		if (done || k < first || (every && (k - first) % every))
			continue;
		if (!v.pix) {
			setup(&v, &rec);
			if (!v.scale)   /* small images are enlarged to about 112 pixels */
				v.scale = v.H < 112 && v.W < 112 ? 112 / (v.H > v.W ? v.H : v.W) : 1;
			if (v.scale < 1)
				v.scale = 1;
			v.pix = mae_malloc((size_t)v.n * v.panels * v.F * v.H * v.W * v.C);
		}
		collect(&v, &rec);
		if (every) {
			char path[4096];
			snprintf(path, sizeof path, c.out, (int)k);
			rc |= render(&v, path);
			v.count = 0;
		} else if (v.count == v.n) {
			done = 1;
			if (!drain)
				break;
		}
	}
	if (!every) {
		if (!v.count)
			mae_die(MAE_EXIT_DATA, "%s: no samples to show (%lld batch records)", mae_reader_name(in),
			        (long long)k);
		rc = render(&v, c.out);
	}
	free(v.pix);
	mae_rec_free(&rec);
	mae_rec_free(&hdr);
	mae_reader_close(in);
	return rc ? MAE_EXIT_DATA : 0;
}
