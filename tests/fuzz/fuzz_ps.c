/* fuzz_ps: libFuzzer target for the parameter server's message handler (lib/train/ps.c), fed
 * directly, without a network. An input is a sequence of messages, each a peer byte (peers
 * are told apart by it, as ZeroMQ's routing ids tell stages apart), a 2-byte little-endian
 * length and the message body. Whatever comes, the server must not crash, and a message it
 * refuses must change nothing: weights, AdamW moments and step stay as they were. A message
 * it takes changes the weights only when it completes a step. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mae/model/model.h"
#include "mae/train/optim.h"
#include "mae/train/train.h"
#include "mae/util/util.h"
#include "fuzz_ps.h"

static mae_model *m;
static mae_optim o;
static float *p0, *m0, *v0;

static void setup(void)
{
	mae_config c;
	char err[256];
	if (mae_config_parse(&c, FUZZ_PS_MODEL, err, sizeof err) || !(m = mae_model_new(&c, err, sizeof err))) {
		fprintf(stderr, "fuzz_ps: %s\n", err);
		abort();
	}
	mae_optim_init(&o, m->n_params);
	size_t nb = m->n_params * sizeof(float);
	p0 = malloc(nb), m0 = malloc(nb), v0 = malloc(nb);
	mae_quiet = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static int run;
	if (!m)
		setup();
	size_t nb = m->n_params * sizeof(float);
	mae_model_init(m, 1);
	memset(o.m, 0, nb);
	memset(o.v, 0, nb);
	o.step = 0;
	o.lr = 1e-3, o.warmup = 1, o.total = 100;
	char ep[64];
	snprintf(ep, sizeof ep, "@inproc://fuzz-ps-%d", run++);   /* a closed inproc name may linger */
	mae_ps_server_opts opt = {.endpoint = ep, .replicas = FUZZ_PS_REPLICAS, .timeout = 30};
	mae_ps_server *s = mae_ps_server_open(m, &o, &opt);
	while (n >= 3) {
		uint8_t peer = d[0];
		size_t len = (size_t)d[1] | (size_t)d[2] << 8;
		d += 3, n -= 3;
		if (len > n)
			len = n;
		memcpy(p0, m->params, nb);
		memcpy(m0, o.m, nb);
		memcpy(v0, o.v, nb);
		int64_t step = o.step;
		int rc = mae_ps_server_message(s, &peer, 1, d, len);
		if (rc != 0 && (o.step != step || memcmp(m0, o.m, nb) || memcmp(v0, o.v, nb)))
			abort();   /* a refused message moved the optimiser */
		if (o.step == step && memcmp(p0, m->params, nb))
			abort();   /* the weights changed without a step */
		if (o.step != step && o.step != step + 1)
			abort();   /* one message, at most one step */
		d += len, n -= len;
	}
	mae_ps_server_close(s);
	return 0;
}
