#!/bin/sh
# MaskFeat: a model whose head predicts mae-hog's target (target_dim) trains the same weights
# through the stage processes as in one process (mae-train), bit for bit; its loss is the MSE
# of pred [B,N,T] against target [B,N,T] over the hidden patches, as numpy computes it; a
# target that is missing or of the wrong width is an error that says so.
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1   # bitwise comparisons: one thread
M=micro-28,mode=simmim,loss=mse,target_dim=9
mae-decode -q -n 128 -b 16 -s 4 fashion-mnist:train | mae-patchify -q -p 7 | mae-hog -q |
	mae-mask -q -s 4 block --variant beit -r 0.4 --min-area 1 > "$T/h.mae"
ok $? "8 batches of Fashion-MNIST patches with their HOG target [16,16,9] and BEiT block masks"

same_training MaskFeat $M "$T/h.mae"

# the frozen model's pred [B,N,9] and loss, against numpy's masked MSE
mae-encode -q -w "$T/p/checkpoint.safetensors" -i "$T/h.mae" | mae-reconstruct -q -w "$T/p/checkpoint.safetensors" |
	mae-loss -q > "$T/l.mae"
ok $? "the trained model's predictions and losses (frozen stages)"
$PY - "$T/l.mae" <<'PY'
import sys, numpy as np, maestream as m
worst, n = 0.0, 0
for r in m.records(sys.argv[1])[1:-1]:
    t = {k: m.tensor(v) for k, v in r['tensors'].items()}
    pred, tgt, mask = t['pred'].astype(np.float64), t['target'].astype(np.float64), t['mask'].astype(bool)
    assert pred.shape == tgt.shape == mask.shape + (9,), (pred.shape, tgt.shape)
    ref = ((pred - tgt) ** 2).mean(axis=2)[mask].mean()
    worst, n = max(worst, abs(float(t['loss']) - ref) / ref), n + 1
print(f'# {n} batches: pred and target [16,16,9], max relative |loss - numpy| = {worst:.3g}')
sys.exit(0 if n == 8 and worst < 1e-6 else 1)
PY
ok $? "the loss is the MSE over the hidden patches' 9 HOG values (numpy)"
meta=$(head -c 4096 "$T/p/checkpoint.safetensors" | grep -ao '"decoder_pred.weight":{[^}]*}\|"target_dim":"[0-9]*"' | tr '\n' ' ')
like "$meta" '"target_dim":"9" "decoder_pred.weight":\{"dtype":"F32","shape":\[9,32\]' \
	"the checkpoint records target_dim 9 and a 32 -> 9 head"

# no target, or one of the wrong width
mae-decode -q -n 16 -b 16 fashion-mnist:train | mae-patchify -q -p 7 | mae-mask -q block --cell 1 > "$T/n.mae"
err=$(mae-encode -q -w "$T/p/checkpoint.safetensors" -i "$T/n.mae" | mae-reconstruct -q -w "$T/p/checkpoint.safetensors" |
	mae-loss -q 2>&1 >/dev/null)
like "$err" "target_dim 9: the loss needs a 'target' tensor \[B,16,9\] \(mae-hog\)" "no target: the loss says it needs mae-hog's"
err=$(mae-hog -q --cell 1 -i "$T/n.mae" | mae-encode -q -w "$T/p/checkpoint.safetensors" 2>&1 >/dev/null); rc=$?
like "$err" "tensor 'target': expected F32 \[16,16,9\] \(the model's target_dim\), got F32 \[16,16,441\]" "a target of 441 values for a model of 9: an error naming both"
finish
