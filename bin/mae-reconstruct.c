/* mae-reconstruct: the MAE decoder (or the linear head of LoMaR, SimMIM, MFM) as a stage:
 * latent in, predicted patches out; frozen (-w) or trainable (--ps). A BootMAE model
 * (feat_depth) also runs its feature decoder: pred_feature out, and its gradient back. With
 * SupMAE's branch (sup_classes > 0) it also classifies the latent: the branch's loss term goes
 * on in the record (sup_loss, added by mae-loss) and its gradient joins the latent's. Both
 * together: pred_feature and sup_loss both go on, and the latent's gradient is the sum of
 * the three parts'. CMAE's contrastive branch (cl_dim > 0) likewise: it reads the record's
 * contrast_target, its term goes on as cl_loss and its gradient joins the latent's. */
#include "mae/train/stage.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: mae-reconstruct [-qv] (-w CHECKPOINT [-M key=value,...] | --ps ENDPOINT [--replica R]\n"
	"                       [--grad @ENDPOINT] [--grad-timeout SEC]) [--keep-latent] [-i in] [-o out]\n";

enum { O_KEEP = MAE_OPT_FIRST_PROGRAM };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, MAE_STAGE_LONG, {"keep-latent", 0, 0, O_KEEP}, {0, 0, 0, 0}};
	mae_common c;
	mae_stage_opts so;
	int keep = 0, opt;
	mae_setprog(argv[0]);
	mae_common_init(&c);
	mae_stage_opts_init(&so);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT MAE_STAGE_SHORT, longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage) || mae_stage_opt(&so, opt, optarg))
			continue;
		switch (opt) {
		case O_KEEP: keep = 1; break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	const char *ps = so.ps;
	mae_stage st;
	mae_stage_open(&st, &so, "decoder", usage);
	mae_model *m = st.m;
	mae_reader *in = mae_reader_open(c.in, &c);
	mae_writer *out = mae_writer_open(c.out, &c);
	mae_record rec = {0}, g = {0};
	mae_batch b;
	int watch = ps && !strcmp(c.out, "-") ? 1 : -1;

	mae_stage_header(&st, in, out, &rec, argc, argv);
	while (mae_read(in, &rec)) {
		mae_stage_batch(&st, &rec, &b, 1);
		mae_tensor *lt = mae_rec_need(&rec, "latent", MAE_F32, 3, "[S,T,D]");
		if (mae_model_layout(m, &b))
			mae_die(MAE_EXIT_DATA, "record %lld: %s", (long long)rec.number, m->err);
		if (lt->shape[0] != m->S_enc || lt->shape[1] != m->T_enc || lt->shape[2] != m->cfg.dim)
			mae_die(MAE_EXIT_DATA, "record %lld: latent [%lld,%lld,%lld] does not fit the mask and the "
			        "model's encoder (expected [%d,%d,%d])", (long long)rec.number,
			        (long long)lt->shape[0], (long long)lt->shape[1], (long long)lt->shape[2],
			        m->S_enc, m->T_enc, m->cfg.dim);
		if (mae_decoder_forward(m, lt->data, &b))
			mae_die(MAE_EXIT_DATA, "record %lld: %s", (long long)rec.number, m->err);
		int64_t ls[3] = {lt->shape[0], lt->shape[1], lt->shape[2]};
		int64_t ps3[3] = {b.B, m->Npred, m->Pt};
		mae_tensor *pt = mae_rec_add(&rec, "pred", MAE_F32, 3, ps3);
		memcpy(pt->data, m->pred, mae_tensor_nbytes(pt));
		int64_t fs[3] = {b.B, m->N, m->cfg.dim};
		if (m->cfg.feat_depth) {
			mae_tensor *ft = mae_rec_add(&rec, "pred_feature", MAE_F32, 3, fs);
			memcpy(ft->data, m->pred_feat, mae_tensor_nbytes(ft));
		}
		if (m->cfg.sup_classes)
			*(float *)mae_rec_add(&rec, "sup_loss", MAE_F32, 0, NULL)->data = m->sup_loss;
		if (m->cfg.cl_dim)
			*(float *)mae_rec_add(&rec, "cl_loss", MAE_F32, 0, NULL)->data = m->cl_loss;
		if (!keep)
			mae_rec_remove(&rec, "latent");   /* consumed; the storage lives until the next read */
		const float *dp = mae_stage_pass(&st, out, &rec, &g, ps3, 3, watch);
		if (dp) {
			const float *dpf = NULL;
			if (m->cfg.feat_depth) {
				mae_tensor *gf = mae_rec_need(&g, "grad_feature", MAE_F32, 3, "[B,N,D]");
				if (gf->shape[0] != fs[0] || gf->shape[1] != fs[1] || gf->shape[2] != fs[2])
					mae_rec_wrong_shape(&g, gf, "[B,N,D] as pred_feature");
				dpf = gf->data;
			}
			if (mae_decoder_backward(m, dp, dpf, &b))
				mae_die(MAE_EXIT_DATA, "record %lld: backward: %s", (long long)rec.number, m->err);
			mae_rec_remove(&g, "grad_feature");   /* the encoder's is the sum, in dlatent */
			mae_stage_send_grad(&g, m->dlatent, ls, 3);   /* the encoder starts its backward now */
			mae_stage_update(&st, &g);
		}
	}
	mae_stage_finish(&st, in, out, &rec, &g);
	return 0;
}
