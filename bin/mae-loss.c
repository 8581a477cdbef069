/* mae-loss: the reconstruction loss as a stage. Writes the per-batch loss and, when the record
 * came through trainable stages (it has a route), sends the gradient of the loss with respect to
 * the prediction back to the last of them. A BootMAE model (feat_depth) adds the feature loss
 * of pred_feature against feature_target; both terms go out beside the total, and the gradient
 * record carries grad_feature beside grad. A loss term computed upstream (sup_loss, SupMAE's
 * branch in mae-reconstruct; cl_loss, CMAE's contrastive branch) is added to the loss it writes
 * and reports: loss = loss_pixel + feat_weight * loss_feature + sup_loss + cl_loss. */
#include "mae/train/stage.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: mae-loss [-qv] [-m MODEL] [--loss normpix|mse|l1|freq] [--loss-only] [--no-grad]\n"
	"                [-i in] [-o out]\n"
	"  -m MODEL      the model configuration (default: the one the stream's header names)\n"
	"  --loss-only   write only loss, seq, index, label, sup_loss and cl_loss (not the tensors it read)\n"
	"  --no-grad     never send gradients, even for records with a route\n";

enum { O_LOSS = MAE_OPT_FIRST_PROGRAM, O_ONLY, O_NOGRAD };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, {"model", 1, 0, 'm'}, {"loss", 1, 0, O_LOSS}, {"loss-only", 0, 0, O_ONLY},
		{"no-grad", 0, 0, O_NOGRAD}, {0, 0, 0, 0}};
	mae_common c;
	const char *model = NULL, *loss_kind = NULL;
	int only = 0, nograd = 0, opt;
	mae_setprog(argv[0]);
	mae_common_init(&c);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "m:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'm': model = optarg; break;
		case O_LOSS: loss_kind = optarg; break;
		case O_ONLY: only = 1; break;
		case O_NOGRAD: nograd = 1; break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (loss_kind) {
		mae_config probe;
		char err[256];
		mae_config_preset(&probe, "micro-28");
		if (mae_config_set(&probe, "loss", loss_kind, err, sizeof err))
			mae_usage_error(usage, "--loss: %s", err);
	}

	mae_reader *in = mae_reader_open(c.in, &c);
	mae_writer *out = mae_writer_open(c.out, &c);
	mae_record rec = {0}, g = {0};
	mae_batch b;
	mae_stage st;
	char spec[1200];
	double sum = 0;

	mae_read_header(in, &rec);
	if (!model && !(model = mae_header_model(&rec)))
		mae_die(MAE_EXIT_DATA, "%s: the header names no model (no mae-encode upstream?): give -m MODEL",
		        mae_reader_name(in));
	/* --loss is part of the configuration the model is built from (the frequency loss has a
	 * workspace of its own) */
	if (loss_kind)
		snprintf(spec, sizeof spec, "%s,loss=%s", model, loss_kind);
	else
		snprintf(spec, sizeof spec, "%s", model);
	mae_stage_config(&st, spec);
	mae_model *m = st.m;
	mae_header_stage(&rec, argc, argv);
	mae_map_set_str(mae_rec_meta(&rec), "loss", mae_loss_name(m->cfg.loss));
	mae_write(out, &rec);
	while (mae_read(in, &rec)) {
		float loss;
		mae_stage_batch(&st, &rec, &b, 1);
		mae_tensor *pt = mae_rec_need(&rec, "pred", MAE_F32, 3, "[B,N,T]");
		if (mae_model_layout(m, &b))
			mae_die(MAE_EXIT_DATA, "record %lld: %s", (long long)rec.number, m->err);
		if (pt->shape[0] != b.B || pt->shape[1] != m->Npred || pt->shape[2] != m->Pt)
			mae_die(MAE_EXIT_DATA, "record %lld: pred [%lld,%lld,%lld], expected [%d,%d,%d]",
			        (long long)rec.number, (long long)pt->shape[0], (long long)pt->shape[1],
			        (long long)pt->shape[2], b.B, m->Npred, m->Pt);
		const float *pf = NULL;
		int64_t fs[3] = {b.B, m->N, m->cfg.dim};
		if (m->cfg.feat_depth) {
			mae_tensor *ft = mae_rec_need(&rec, "pred_feature", MAE_F32, 3, "[B,N,D]");
			if (ft->shape[0] != fs[0] || ft->shape[1] != fs[1] || ft->shape[2] != fs[2])
				mae_rec_wrong_shape(&rec, ft, "[B,N,D] (the model's grid and encoder width)");
			pf = ft->data;
		}
		if (mae_loss_forward(m, pt->data, pf, &b, &loss))
			mae_die(MAE_EXIT_DATA, "record %lld: %s", (long long)rec.number, m->err);
		if (mae_rec_tensor(&rec, "sup_loss"))   /* the term of SupMAE's branch: in the total */
			loss += *(const float *)mae_rec_need(&rec, "sup_loss", MAE_F32, 0, "[]")->data;
		if (mae_rec_tensor(&rec, "cl_loss"))    /* CMAE's contrastive term, after it */
			loss += *(const float *)mae_rec_need(&rec, "cl_loss", MAE_F32, 0, "[]")->data;
		sum += loss;
		mae_val *route = mae_map_get(&rec.fields, "route");
		if (!nograd && route && route->type == MAE_V_ARRAY && route->a.n > 0) {
			if (mae_loss_backward(m, pt->data, pf, &b))
				mae_die(MAE_EXIT_DATA, "record %lld: %s", (long long)rec.number, m->err);
			mae_rec_clear(&g);
			g.type = MAE_REC_BATCH;
			mae_rec_set_seq(&g, mae_rec_seq(&rec));
			mae_val_copy(mae_map_put(&g.fields, "route"), route);
			mae_map_set_float(&g.fields, "loss", loss);
			mae_map_set_int(&g.fields, "images", b.B);
			int64_t shape[3] = {pt->shape[0], pt->shape[1], pt->shape[2]};
			if (pf)
				memcpy(mae_rec_add(&g, "grad_feature", MAE_F32, 3, fs)->data, m->dpred_feat,
				       (size_t)fs[0] * fs[1] * fs[2] * sizeof(float));
			mae_stage_send_grad(&g, m->dpred, shape, 3);
			mae_map_del(&rec.fields, "route");   /* spent */
		}
		if (only) {
			for (int i = rec.ntensors - 1; i >= 0; i--) {
				const char *n = rec.tensors[i].name;
				if (strcmp(n, "index") && strcmp(n, "label") && strcmp(n, "sup_loss") && strcmp(n, "cl_loss"))
					mae_rec_remove(&rec, n);
			}
		}
		*(float *)mae_rec_add(&rec, "loss", MAE_F32, 0, NULL)->data = loss;
		if (pf) {   /* the two terms: loss = loss_pixel + feat_weight * loss_feature (+ sup_loss) */
			*(float *)mae_rec_add(&rec, "loss_pixel", MAE_F32, 0, NULL)->data = m->loss_pix;
			*(float *)mae_rec_add(&rec, "loss_feature", MAE_F32, 0, NULL)->data = m->loss_feat;
		}
		mae_write(out, &rec);
	}
	int64_t n = mae_reader_count(in);
	mae_info("%lld batches, mean loss %.6f", (long long)n, n ? sum / (double)n : 0.0);
	mae_stage_finish(&st, in, out, &rec, &g);
	return 0;
}
