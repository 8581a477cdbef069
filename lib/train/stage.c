/* stage.c: the model stages' common ground (see stage.h). */
#include "mae/train/checkpoint.h"
#include "mae/train/stage.h"
#include "mae/util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mae_stage_opts_init(mae_stage_opts *o)
{
	memset(o, 0, sizeof *o);
	o->grad_timeout = 300;
}

int mae_stage_opt(mae_stage_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case 'w': o->weights = arg; return 1;
	case 'M': o->override = arg; return 1;
	case MAE_STAGE_OPT_PS: o->ps = arg; return 1;
	case MAE_STAGE_OPT_REPLICA: o->replica = (int)mae_parse_int(arg, 0, 63, "--replica"); return 1;
	case MAE_STAGE_OPT_GRAD: o->grad = arg; return 1;
	case MAE_STAGE_OPT_GTIMEOUT: o->grad_timeout = mae_parse_double(arg, 0.1, 1e7, "--grad-timeout"); return 1;
	}
	return 0;
}

void mae_stage_open(mae_stage *s, const mae_stage_opts *o, const char *group, const char *usage)
{
	if (!o->weights == !o->ps)
		mae_usage_error(usage, "give -w CHECKPOINT (frozen) or --ps ENDPOINT (trainable)");
	if (o->ps && o->override)
		mae_usage_error(usage, "-M: the parameter server decides a trainable stage's model");
	if (o->teacher && (!o->ps || o->grad))
		mae_usage_error(usage, "--teacher: with --ps ENDPOINT (the run's server), and no --grad");
	if (o->teacher)
		mae_stage_teacher(s, o->ps, o->replica, o->grad_timeout);
	else if (o->ps)
		mae_stage_trainable(s, o->ps, group, o->replica, o->grad, o->grad_timeout);
	else
		mae_stage_frozen(s, o->weights, o->override);
}

void mae_stage_frozen(mae_stage *s, const char *checkpoint, const char *override)
{
	char err[512];
	memset(s, 0, sizeof *s);
	if (!(s->m = mae_checkpoint_load(checkpoint, override, err, sizeof err)))
		mae_die(MAE_EXIT_DATA, "-w %s", err);
}

void mae_stage_trainable(mae_stage *s, const char *ps, const char *group, int replica,
                         const char *grad_spec, double grad_timeout)
{
	char err[512];
	mae_config cfg;
	memset(s, 0, sizeof *s);
	s->grad_timeout = grad_timeout;
	/* the gradient port first: a wrong --grad is a usage error, said at once rather than after
	 * the wait for the parameter server */
	s->port = mae_gradport_open(grad_spec);
	s->ps = mae_ps_join(ps, group, replica, grad_timeout, &cfg);
	if (!(s->m = mae_model_new(&cfg, err, sizeof err)))
		mae_die(MAE_EXIT_DATA, "model from the parameter server: %s", err);
	s->step = mae_ps_weights(s->ps, s->m);
}

void mae_stage_teacher(mae_stage *s, const char *ps, int replica, double timeout)
{
	char err[512];
	mae_config cfg;
	memset(s, 0, sizeof *s);
	s->grad_timeout = timeout;
	s->teacher = 1;
	s->ps = mae_ps_join(ps, "teacher", replica, timeout, &cfg);
	if (!(s->m = mae_model_new(&cfg, err, sizeof err)))
		mae_die(MAE_EXIT_DATA, "model from the parameter server: %s", err);
	s->step = mae_ps_weights(s->ps, s->m);
}

void mae_stage_follow(mae_stage *s, const mae_record *rec)
{
	if (!s->teacher)
		return;
	int64_t seq = mae_rec_seq(rec);
	if (seq < 0)
		mae_die(MAE_EXIT_DATA, "record %lld: a teacher needs the batch's seq (from mae-decode) to know "
		        "which average it uses", (long long)rec->number);
	s->step = mae_ps_pull(s->ps, s->m, seq);
}

void mae_stage_config(mae_stage *s, const char *spec)
{
	char err[512];
	mae_config cfg;
	memset(s, 0, sizeof *s);
	if (mae_config_parse(&cfg, spec, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "model %s: %s", spec, err);
	if (!(s->m = mae_model_new(&cfg, err, sizeof err)))
		mae_die(MAE_EXIT_DATA, "model %s: %s", spec, err);
}

void mae_stage_close(mae_stage *s)
{
	if (s->ps)
		mae_ps_leave(s->ps);
	mae_gradport_close(s->port);
	mae_grad_close_all();
	mae_model_free(s->m);
	free(s->zeros);
	memset(s, 0, sizeof *s);
}

void mae_stage_header(mae_stage *s, mae_reader *in, mae_writer *out, mae_record *hdr, int argc,
                      char **argv)
{
	mae_read_header(in, hdr);
	mae_header_stage(hdr, argc, argv);
	mae_header_set_model(hdr, &s->m->cfg);
	mae_write(out, hdr);
}

void mae_header_set_model(mae_record *hdr, const mae_config *c)
{
	char spec[1024];
	mae_config_spec(c, spec, sizeof spec);
	mae_map_set_str(mae_rec_meta(hdr), "model", spec);
}

const char *mae_header_model(const mae_record *hdr)
{
	return mae_map_str(mae_map_get(&hdr->fields, "meta"), "model", NULL);
}

static void check_shape(const mae_record *r, const mae_tensor *t, int64_t d0, int64_t d1, int64_t d2,
                        const char *want)
{
	int64_t want_d[3] = {d0, d1, d2};
	for (int i = 0; i < t->ndim && i < 3; i++)
		if (want_d[i] >= 0 && t->shape[i] != want_d[i])
			mae_rec_wrong_shape(r, t, want);
}

void mae_stage_batch(mae_stage *s, mae_record *r, mae_batch *b, int allow_no_mask)
{
	const mae_model *m = s->m;
	const mae_config *c = &m->cfg;
	char want[160];
	memset(b, 0, sizeof *b);
	mae_tensor *p = mae_rec_tensor(r, "patches");
	if (p) {
		p = mae_rec_need(r, "patches", MAE_F32, 3, "[B,N,P]");
		if (m->gt > 1)   /* clips */
			snprintf(want, sizeof want, "[B,%d,%d] (the model's %d slices of a %dx%d grid, tubelets of %d values)",
			         m->N, m->P, m->gt, m->gh, m->gw, m->P);
		else
			snprintf(want, sizeof want, "[B,%d,%d] (the model's %dx%d grid of %d values)", m->N, m->P, m->gh,
			         m->gw, m->P);
		check_shape(r, p, -1, m->N, m->P, want);
		b->B = (int)p->shape[0];
		b->patches = p->data;
	}
	mae_tensor *t = mae_rec_tensor(r, "target");
	if (t) {
		t = mae_rec_need(r, "target", MAE_F32, 3, "[B,N,T]");
		snprintf(want, sizeof want, "[%d,%d,%d]%s", b->B, m->N, m->Pt, c->target_dim ? " (the model's target_dim)" : "");
		check_shape(r, t, b->B ? b->B : -1, m->N, m->Pt, want);
		b->B = (int)t->shape[0];
		b->target = t->data;
	}
	mae_tensor *ft = mae_rec_tensor(r, "feature_target");
	if (ft && c->feat_depth) {   /* BootMAE's: read by the models that have a feature decoder */
		ft = mae_rec_need(r, "feature_target", MAE_F32, 3, "[B,N,D]");
		snprintf(want, sizeof want, "[%d,%d,%d] (the model's grid and encoder width)", b->B, m->N, c->dim);
		check_shape(r, ft, b->B ? b->B : -1, m->N, c->dim, want);
		b->B = (int)ft->shape[0];
		b->feature_target = ft->data;
	}
	mae_tensor *ct = mae_rec_tensor(r, "contrast_target");
	if (ct && c->cl_dim) {   /* CMAE's: read by the models that have the contrastive branch */
		ct = mae_rec_need(r, "contrast_target", MAE_F32, 2, "[B,D]");
		snprintf(want, sizeof want, "[%d,%d] (the model's encoder width)", b->B, c->dim);
		check_shape(r, ct, b->B ? b->B : -1, c->dim, -1, want);
		b->B = (int)ct->shape[0];
		b->contrast_target = ct->data;
	}
	mae_tensor *k = mae_rec_tensor(r, "mask");
	if (k) {
		k = mae_rec_need(r, "mask", MAE_U8, 2, "[B,N]");
		snprintf(want, sizeof want, "[%d,%d]", b->B, m->N);
		check_shape(r, k, b->B ? b->B : -1, m->N, -1, want);
		b->B = (int)k->shape[0];
		b->mask = k->data;
	} else if (c->mode != MAE_MODE_MFM) {
		mae_tensor *lat = mae_rec_tensor(r, "latent");
		int B = b->B ? b->B : lat && lat->ndim == 3 ? (int)lat->shape[0] : 0;
		if (!allow_no_mask || B == 0)
			mae_die(MAE_EXIT_DATA, "record %lld: no tensor 'mask' (U8 [B,N]): mode %s needs one (put "
			        "mae-mask before this stage)", (long long)r->number, mae_mode_name(c->mode));
		size_t n = (size_t)B * m->N;
		if (n > s->nzeros) {
			free(s->zeros);
			s->zeros = mae_calloc(n, 1);
			s->nzeros = n;
		}
		b->mask = s->zeros;
		b->B = B;
	}
	if (c->mode == MAE_MODE_LOMAR) {
		mae_tensor *w = mae_rec_need(r, "windows", MAE_I32, 3, "[B,M,2]");
		snprintf(want, sizeof want, "[%d,%d,2] (the model's %d windows)", b->B, c->nwindows, c->nwindows);
		check_shape(r, w, b->B, c->nwindows, 2, want);
		b->windows = w->data;
	}
	if (c->mode == MAE_MODE_MFM || c->loss == MAE_LOSS_FREQ) {
		mae_tensor *f = mae_rec_tensor(r, "fmask");
		if (f) {
			f = mae_rec_need(r, "fmask", MAE_U8, 3, "[B,H,W]");
			snprintf(want, sizeof want, "[%d,%d,%d]", b->B, c->img_h, c->img_w);
			check_shape(r, f, b->B, c->img_h, c->img_w, want);
			b->fmask = f->data;
		}
	}
	mae_tensor *lb = mae_rec_tensor(r, "label");
	if (lb && c->sup_classes) {   /* the class ids SupMAE's branch learns from */
		lb = mae_rec_need(r, "label", MAE_I32, 1, "[B]");
		snprintf(want, sizeof want, "[%d]", b->B);
		check_shape(r, lb, b->B ? b->B : -1, -1, -1, want);
		b->labels = lb->data;
	}
	if (b->B <= 0) {
		mae_tensor *lat = mae_rec_tensor(r, "latent");
		if (lat && lat->ndim == 3)
			b->B = (int)lat->shape[0] / (c->mode == MAE_MODE_LOMAR ? c->nwindows : 1);
	}
}

const float *mae_stage_pass(mae_stage *s, mae_writer *out, mae_record *rec, mae_record *grad,
                            const int64_t *shape, int ndim, int watch_fd)
{
	if (!s->ps || s->teacher) {
		mae_write(out, rec);
		return NULL;
	}
	mae_route_append(rec, mae_gradport_address(s->port));
	mae_write(out, rec);
	const float *g = mae_stage_wait_grad(s, rec, grad, shape, ndim, watch_fd);
	mae_model_zero_grad(s->m);
	return g;
}

void mae_stage_finish(mae_stage *s, mae_reader *in, mae_writer *out, mae_record *rec,
                      mae_record *grad)
{
	mae_writer_close(out, mae_reader_skipped(in));
	mae_reader_close(in);
	mae_rec_free(rec);
	mae_rec_free(grad);
	mae_stage_close(s);
}

const float *mae_stage_wait_grad(mae_stage *s, mae_record *rec, mae_record *grad,
                                 const int64_t *shape, int ndim, int watch_fd)
{
	char got[160];
	mae_gradport_recv(s->port, grad, mae_rec_seq(rec), s->grad_timeout, watch_fd, s->ps);
	mae_tensor *g = mae_rec_tensor(grad, "grad");
	int same = g && g->dtype == MAE_F32 && g->ndim == ndim;
	for (int i = 0; same && i < ndim; i++)
		same = g->shape[i] == shape[i];
	if (!same) {
		mae_tensor want = {.dtype = MAE_F32, .ndim = ndim};
		for (int i = 0; i < ndim; i++)
			want.shape[i] = shape[i];
		char w[160];
		mae_die(MAE_EXIT_DATA, "gradient of batch %lld: expected %s, got %s", (long long)mae_rec_seq(rec),
		        mae_tensor_desc(&want, w, sizeof w), g ? mae_tensor_desc(g, got, sizeof got) : "no tensor 'grad'");
	}
	return mae_rec_need(grad, "grad", MAE_F32, ndim, NULL)->data;
}

void mae_stage_send_grad(mae_record *grad, const float *g, const int64_t *shape, int ndim)
{
	char addr[512];
	if (!mae_route_pop(grad, addr, sizeof addr))
		return;   /* the first trainable stage: nobody before us wants a gradient */
	mae_tensor *t = mae_rec_add(grad, "grad", MAE_F32, ndim, shape);
	memcpy(t->data, g, mae_tensor_nbytes(t));
	mae_grad_send(addr, grad);
}

void mae_stage_update(mae_stage *s, const mae_record *grad)
{
	double loss = mae_map_float(&grad->fields, "loss", 0);
	int images = (int)mae_map_int(&grad->fields, "images", 0);
	s->step = mae_ps_step(s->ps, s->m, loss, images);
}
