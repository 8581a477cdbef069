/* mae-encode: the ViT encoder as a stage: patches (and mask) in, latent tokens out; frozen
 * (-w checkpoint) or trainable (--ps: weights from mae-optimize, gradients back along the
 * route). */
#include "mae/train/stage.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: mae-encode [-qv] (-w CHECKPOINT [-M key=value,...] | --ps ENDPOINT [--replica R]\n"
	"                  [--grad @ENDPOINT] [--grad-timeout SEC] | --ps ENDPOINT --teacher)\n"
	"                  [-a] [-F cls|mean] [--target-features] [--contrast-target] [--no-latent] [--block N] [-i in] [-o out]\n"
	"  --teacher     frozen, following the run's moving average of the encoder (mae-optimize\n"
	"                --ema): batch i uses the average of step K*floor(i/K)\n"
	"  -a            also write 'attn' (cls-to-patch attention of the last block)\n"
	"  -F cls|mean   also write a pooled 'feature' (cls token or mean of patch tokens)\n"
	"  --target-features  also write 'feature_target' [B,N,D], the final-norm patch tokens of the\n"
	"                whole image (BootMAE's target; frozen or --teacher, before mae-mask)\n"
	"  --contrast-target  also write 'contrast_target' [B,D], the mean of the final-norm patch\n"
	"                tokens of the whole image (CMAE's target; frozen or --teacher, before mae-mask)\n"
	"  --no-latent   leave 'latent' out (feature extraction)\n"
	"  --block N     latent and feature from block N (1..depth, default the last) through the\n"
	"                final LayerNorm (frozen only)\n";

enum { O_NOLATENT = MAE_OPT_FIRST_PROGRAM, O_BLOCK, O_TEACHER, O_TFEAT, O_CTGT };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, MAE_STAGE_LONG, {"attn", 0, 0, 'a'}, {"feature", 1, 0, 'F'}, {"no-latent", 0, 0, O_NOLATENT},
		{"block", 1, 0, O_BLOCK}, {"teacher", 0, 0, O_TEACHER},
		{"target-features", 0, 0, O_TFEAT}, {"contrast-target", 0, 0, O_CTGT}, {0, 0, 0, 0}};
	mae_common c;
	mae_stage_opts so;
	int attn = 0, pool = -1, latent = 1, block = 0, tfeat = 0, ctgt = 0, opt;
	mae_setprog(argv[0]);
	mae_common_init(&c);
	mae_stage_opts_init(&so);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT MAE_STAGE_SHORT "aF:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage) || mae_stage_opt(&so, opt, optarg))
			continue;
		switch (opt) {
		case 'a': attn = 1; break;
		case 'F':
			if (!strcmp(optarg, "cls")) pool = 0;
			else if (!strcmp(optarg, "mean")) pool = 1;
			else mae_usage_error(usage, "-F %s: cls or mean", optarg);
			break;
		case O_NOLATENT: latent = 0; break;
		case O_BLOCK: block = (int)mae_parse_int(optarg, 1, 1 << 20, "--block"); break;
		case O_TEACHER: so.teacher = 1; break;
		case O_TFEAT: tfeat = 1; break;
		case O_CTGT: ctgt = 1; break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (so.ps && !so.teacher && !latent)
		mae_usage_error(usage, "--no-latent: a trainable encoder must send its latent on");
	if (so.ps && !so.teacher && block)
		mae_usage_error(usage, "--block: a trainable encoder sends its last block on");
	if (so.ps && !so.teacher && tfeat)
		mae_usage_error(usage, "--target-features: the targets come from a frozen encoder (-w) or the "
		                "teacher (--teacher), not from the encoder that trains");
	if (so.ps && !so.teacher && ctgt)
		mae_usage_error(usage, "--contrast-target: the target comes from a frozen encoder (-w) or the "
		                "teacher (--teacher), not from the encoder that trains");
	const char *ps = so.teacher ? NULL : so.ps;   /* trainable */
	mae_stage st;
	mae_stage_open(&st, &so, "encoder", usage);
	mae_model *m = st.m;
	if (block && block > m->cfg.depth)
		mae_usage_error(usage, "--block %d: the encoder has blocks 1 to %d", block, m->cfg.depth);
	mae_reader *in = mae_reader_open(c.in, &c);
	mae_writer *out = mae_writer_open(c.out, &c);
	mae_record rec = {0}, g = {0};
	mae_batch b;
	int watch = ps && !strcmp(c.out, "-") ? 1 : -1;

	mae_stage_header(&st, in, out, &rec, argc, argv);
	while (mae_read(in, &rec)) {
		mae_stage_batch(&st, &rec, &b, !ps);
		mae_stage_follow(&st, &rec);
		if (mae_encoder_forward(m, &b))
			mae_die(MAE_EXIT_DATA, "record %lld: %s", (long long)rec.number, m->err);
		if (block && mae_encoder_readout(m, block))
			mae_die(MAE_EXIT_DATA, "record %lld: %s", (long long)rec.number, m->err);
		int64_t ls[3] = {m->S_enc, m->T_enc, m->cfg.dim};
		if (latent) {
			mae_tensor *t = mae_rec_add(&rec, "latent", MAE_F32, 3, ls);
			memcpy(t->data, m->ea.out, mae_tensor_nbytes(t));
		}
		if (attn) {
			int64_t as[2] = {b.B, m->N};
			mae_model_cls_attention(m, mae_rec_add(&rec, "attn", MAE_F32, 2, as)->data);
		}
		if (tfeat) {
			/* the patch tokens of sequence b are rows 1..N of ea.out, in patch order, when the
			 * encoder saw every patch of every image */
			if (m->cfg.mode != MAE_MODE_MAE || m->ntok != m->N)
				mae_die(MAE_EXIT_DATA, "record %lld: --target-features: the encoder sees %d of the %d patches; "
				        "the targets are features of the whole image (put this stage before mae-mask)",
				        (long long)rec.number, m->ntok, m->N);
			int64_t fs[3] = {b.B, m->N, m->cfg.dim};
			float *f = mae_rec_add(&rec, "feature_target", MAE_F32, 3, fs)->data;
			size_t row = (size_t)m->N * m->cfg.dim;
			for (int s = 0; s < b.B; s++)
				memcpy(f + s * row, m->ea.out + (size_t)s * m->T_enc * m->cfg.dim + m->cfg.dim, row * sizeof(float));
		}
		if (ctgt) {
			/* CMAE's target: the pooled feature of the whole image, as -F mean gives it */
			if (m->cfg.mode != MAE_MODE_MAE || m->ntok != m->N)
				mae_die(MAE_EXIT_DATA, "record %lld: --contrast-target: the encoder sees %d of the %d patches; "
				        "the target is the feature of the whole image (put this stage before mae-mask)",
				        (long long)rec.number, m->ntok, m->N);
			int64_t fs[2] = {b.B, m->cfg.dim};
			mae_model_feature(m, mae_rec_add(&rec, "contrast_target", MAE_F32, 2, fs)->data, 1);
		}
		if (pool >= 0) {
			int64_t fs[2] = {b.B, m->cfg.dim};
			mae_model_feature(m, mae_rec_add(&rec, "feature", MAE_F32, 2, fs)->data, pool);
		}
		const float *dl = mae_stage_pass(&st, out, &rec, &g, ls, 3, watch);
		if (dl) {
			if (mae_encoder_backward(m, dl, &b))
				mae_die(MAE_EXIT_DATA, "record %lld: backward: %s", (long long)rec.number, m->err);
			mae_stage_update(&st, &g);
		}
	}
	mae_stage_finish(&st, in, out, &rec, &g);
	return 0;
}
