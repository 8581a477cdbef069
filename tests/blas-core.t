#!/bin/sh
# OpenBLAS's kernels (lib/kernels/blascore.c, mae(7) MAE_BLAS_CORE): a core weaker than the CPU runs is
# replaced by the best one unless the user chose it; -v says once which kernels run and why;
# the replaced core trains the same model to the same losses within float rounding.
. "$(dirname "$0")/lib.sh"
best=$(grep -m1 '^flags' /proc/cpuinfo | awk '
	{ for (i = 3; i <= NF; i++) f[$i] = 1 }
	END {
		if (f["avx512f"] && f["avx512bw"] && f["avx512vl"] && f["avx512dq"] && f["avx512cd"])
			print (f["avx512_bf16"] ? "Cooperlake" : "SkylakeX")
		else if (f["avx2"] && f["fma"]) print "Haswell"
		else if (f["avx"]) print "Sandybridge"
	}')
[ -n "$best" ] || skip_all "this CPU has no AVX: OpenBLAS's SSE kernels are its best"

report() { env "$@" mae-synth -v -n 1 2>&1 > /dev/null; }
is "$(report OPENBLAS_CORETYPE=Prescott MAE_BLAS_CORE=best)" \
	"mae-synth: OpenBLAS: $best kernels, the best this CPU runs, in place of Prescott" \
	"MAE_BLAS_CORE=best replaces a weaker core, and -v says so"
is "$(report OPENBLAS_CORETYPE=Prescott)" \
	"mae-synth: OpenBLAS: Prescott kernels, as OPENBLAS_CORETYPE=Prescott asks; this CPU runs $best's (MAE_BLAS_CORE=best takes them)" \
	"a core the user chose is kept, and -v names the better one"
is "$(report OPENBLAS_CORETYPE=Prescott MAE_BLAS_CORE=keep)" \
	"mae-synth: OpenBLAS: Prescott kernels, as OPENBLAS_CORETYPE=Prescott asks; this CPU runs $best's (MAE_BLAS_CORE=best takes them)" \
	"MAE_BLAS_CORE=keep keeps it too"
is "$(report OPENBLAS_CORETYPE=$best MAE_BLAS_CORE=best)" "mae-synth: OpenBLAS: $best kernels (OPENBLAS_CORETYPE)" \
	"the best core already set: nothing to replace"
like "$(report -u OPENBLAS_CORETYPE)" "^mae-synth: OpenBLAS: $best kernels, (its own choice|the best this CPU runs, in place of [A-Za-z]+)\$" \
	"left to itself, OpenBLAS ends with the best core, chosen by itself or by us"
is "$(report OPENBLAS_CORETYPE=Prescott MAE_BLAS_CORE=best | wc -l)" 1 "said once"
is "$(env OPENBLAS_CORETYPE=Prescott mae-synth -n 1 2>&1 > /dev/null)" "" "without -v, nothing is said"
is "$(env OPENBLAS_CORETYPE=Prescott MAE_BLAS_CORE=best mae-synth -q -n 4 | od -An -tx1 | md5sum)" \
	"$(env OPENBLAS_CORETYPE=Prescott mae-synth -q -n 4 | od -An -tx1 | md5sum)" "the re-executed program writes the same stream"

# the same training on the weakest and on the best core: other kernels, so other last bits,
# and the same weights within float rounding (a wrong kernel would be far off)
mae-decode -q -n 256 -b 32 -s 3 fashion-mnist:train | mae-patchify -q -p 4 | mae-mask -q -s 3 random > "$T/b.mae"
train() {   # DIR VAR=VALUE...
	_d=$1; shift
	env "$@" mae-train -q -s 5 -m tiny-28 --steps 8 --warmup 2 --lr 1e-3 -d "$T/$_d" < "$T/b.mae" > /dev/null
}
train sse OPENBLAS_CORETYPE=Prescott
train best OPENBLAS_CORETYPE=Prescott MAE_BLAS_CORE=best
# the loss and the gradient's norm at every step (AdamW turns rounding noise in a gradient
# that is exactly zero, as the keys' bias's, into steps of lr, so weights are not compared)
worst=$(paste "$T/sse/metrics.tsv" "$T/best/metrics.tsv" | tail -n +2 | awk '
	function rel(x, y) { d = (x - y) / x; return d < 0 ? -d : d }
	{ for (c = 3; c <= 5; c += 2) if (rel($c, $(c + 7)) > m) m = rel($c, $(c + 7)); n++ }
	END { if (n == 8) printf "%.2g", m }')
ok "$(awk -v d="$worst" 'BEGIN { print (d != "" && d < 1e-4) ? 0 : 1 }')" \
	"8 steps of tiny-28: the best core's losses and gradient norms are the Prescott core's within 1e-4 (largest relative difference $worst)"
cmp -s "$T/sse/checkpoint.safetensors" "$T/best/checkpoint.safetensors"
is $? 1 "  and other kernels ran: the weights differ in their last bits"
finish
