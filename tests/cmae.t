#!/bin/sh
# CMAE: a model with the contrastive branch (cl_dim) trains the same weights through the stage
# processes as in one process (mae-train), bit for bit, given the same contrast_target stream;
# mae-encode --contrast-target writes the whole image's pooled feature (what -F mean gives);
# mae-loss adds the branch's cl_loss to the loss; with BootMAE's feature decoder and SupMAE's
# branch too, the checkpoint holds feature_decoder.*, head.*, projector.*, predictor.* in that
# order and the pipeline still equals mae-train; mae-ttt trains such a model on the pixel loss;
# pretrain.sh --method cmae trains with its teacher and gives the same bits twice; the
# mistakes are refused with messages that say what is missing.
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1   # bitwise comparisons: one thread
M=micro-28,cl_dim=16
mae-decode -q -n 128 -b 16 -s 4 fashion-mnist:train | mae-patchify -q -p 7 > "$T/raw.mae"
mae-mask -q -s 4 random -i "$T/raw.mae" > "$T/m.mae" &&
	mae-train -q -s 2 -m micro-28 --steps 4 --warmup 1 --lr 1e-3 -d "$T/t" -i "$T/m.mae" > /dev/null
ok $? "a teacher: micro-28 trained 4 steps"
W=$T/t/checkpoint.safetensors
mae-encode -q -w "$W" --contrast-target --no-latent -i "$T/raw.mae" | mae-mask -q -s 4 random > "$T/h.mae"
ok $? "8 batches of patches with the teacher's contrast_target [16,32] and random masks"
mae-encode -q -w "$W" -F mean --no-latent -i "$T/raw.mae" > "$T/f.mae"
$PY - "$T/h.mae" "$T/f.mae" <<'PY'
import sys, numpy as np, maestream as m
c = [m.tensor(r['tensors']['contrast_target']) for r in m.records(sys.argv[1])[1:-1]]
f = [m.tensor(r['tensors']['feature']) for r in m.records(sys.argv[2])[1:-1]]
sys.exit(0 if len(c) == 8 and all(a.shape == (16, 32) and np.array_equal(a, b) for a, b in zip(c, f)) else 1)
PY
ok $? "contrast_target is the pooled feature of the whole image (-F mean), bit for bit"

same_training CMAE $M "$T/h.mae"
meta=$(head -c 8192 "$T/p/checkpoint.safetensors" | grep -ao '"predictor.3.weight":{[^}]*}\|"cl_dim":"[0-9]*"\|"cl_temp":"[0-9.]*"' | tr '\n' ' ')
like "$meta" '"cl_dim":"16" "cl_temp":"0.0700000003" "predictor.3.weight":\{"dtype":"F32","shape":\[32,128\]' \
	"the checkpoint holds projector.* and predictor.* and records cl_dim 16, cl_temp 0.07"

# the trained model's loss: the pixel loss (numpy) plus cl_loss, which sits beside it
C=$T/p/checkpoint.safetensors
mae-encode -q -w "$C" -i "$T/h.mae" | mae-reconstruct -q -w "$C" | mae-loss -q > "$T/l.mae"
ok $? "the trained model's predictions and losses (frozen stages)"
$PY - "$T/l.mae" <<'PY'
import math, sys, numpy as np, maestream as m
n, worst, cls = 0, 0.0, []
for r in m.records(sys.argv[1])[1:-1]:
    t = {k: m.tensor(v) for k, v in r['tensors'].items()}
    mask = t['mask'].astype(bool)
    x = t['patches'].astype(np.float64)
    tgt = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, ddof=1, keepdims=True) + 1e-6)
    lp = ((t['pred'].astype(np.float64) - tgt) ** 2).mean(axis=2)[mask].mean()
    cl = float(t['cl_loss'])
    cls.append(cl)
    worst = max(worst, abs(float(t['loss']) - (lp + cl)) / (lp + cl))
    n += 1
print('# cl_loss per batch: %s (ln 16 = %.4f)' % (' '.join('%.4f' % c for c in cls), math.log(16)))
print(f'# {n} batches: loss against the pixel loss + cl_loss, max relative error {worst:.3g}')
sys.exit(0 if n == 8 and worst < 1e-5 and all(math.isfinite(c) and c > 0 for c in cls) else 1)
PY
ok $? "loss = the norm-pix MSE over the hidden patches (numpy) + cl_loss"

# mistakes
err=$(mae-encode -q -w "$C" -i "$T/m.mae" | mae-reconstruct -q -w "$C" 2>&1 >/dev/null)
like "$err" "cl_dim=16: CMAE's branch needs the teacher's features, a 'contrast_target' tensor \(F32 \[B,32\]: mae-encode --teacher --contrast-target before mae-mask\)" \
	"no contrast_target: the decoder says which tensor and who writes it"
msg=$(mae-train -q -s 5 -m $M --steps 2 -i "$T/m.mae" 2>&1 > /dev/null); st=$?
is $st 2 "mae-train on the same: status 2"
like "$msg" "record 1: cl_dim=16: .*'contrast_target'" "  and it names the record"
err=$(mae-encode -q -w "$W" --contrast-target -i "$T/m.mae" 2>&1 >/dev/null)
like "$err" "the encoder sees 4 of the 16 patches; the target is the feature of the whole image \(put this stage before mae-mask\)" \
	"--contrast-target after the masker: refused, and it says where the stage goes"
mae-encode --ps "ipc://$T/nowhere" --contrast-target < /dev/null > /dev/null 2> "$T/ct.err"
is "$?" 1 "--contrast-target on the encoder that trains: status 1"
mae-optimize --show-config -m micro-28,mode=simmim,cl_dim=16 > /dev/null 2> "$T/sm.err"
like "$(cat "$T/sm.err")" "cl_dim 16: CMAE's contrastive branch pools MAE's visible tokens: it needs mode mae, not simmim" \
	"the branch without MAE's encoder: refused"
mae-optimize --show-config -m micro-28,cl_dim=16,cl_temp=0 > /dev/null 2> "$T/t0.err"
like "$(cat "$T/t0.err")" "cl_temp '0': expected a number in \(0, 1e\+06\]" "a temperature of 0: refused"

# with BootMAE's feature decoder and SupMAE's branch too: every branch on one latent
mae-encode -q -w "$W" --contrast-target --target-features --no-latent -i "$T/raw.mae" | mae-mask -q -s 4 random > "$T/all.mae"
T0=$T; T=$T/all; mkdir -p "$T"
same_training "BootMAE + SupMAE + CMAE" "$M,feat_depth=1,sup_classes=10" "$T0/all.mae"
C2=$T/p/checkpoint.safetensors
T=$T0
hdr=$(head -c 32768 "$C2")
off() { printf '%s' "$hdr" | grep -ao "\"$1\":{\"dtype\":\"F32\",\"shape\":\[[0-9,]*\],\"data_offsets\":\[[0-9]*" | sed 's/.*\[//'; }
f=$(off feature_decoder.pred.weight) h=$(off head.0.weight) p=$(off projector.0.weight) q=$(off predictor.0.weight)
[ -n "$f" ] && [ -n "$h" ] && [ -n "$p" ] && [ -n "$q" ] && [ "$f" -lt "$h" ] && [ "$h" -lt "$p" ] && [ "$p" -lt "$q" ]
ok $? "  its checkpoint holds feature_decoder.*, head.*, projector.*, predictor.* in that order ($f < $h < $p < $q)"
mae-encode -q -w "$C2" -F mean --no-latent -i "$T/raw.mae" > "$T/f2.mae" &&
	mae-probe -q -e 2 -t "$T/f2.mae" -i "$T/f2.mae" --save "$T/probe2.safetensors" > /dev/null
ok $? "  a probe on its encoder"
out=$(mae-decode -q -n 8 -b 8 fashion-mnist:test | mae-patchify -q -p 7 |
	mae-ttt -q -w "$C2" --head "$T/probe2.safetensors" --steps 2 --copies 4)
like "$out" "^before top1=[0-9.]+% after top1=[0-9.]+% n=8$" "  TTT-MAE trains it on the pixel loss alone (no teacher, no labels)"

# pretrain.sh --method cmae: its teacher before the masker; twice the same bits
pretrain_twice cmae
like "$(cat "$T/a.err")" "cmae \(micro-28,cl_dim=32,mode=mae\), mask: random" "  and the branch on, as wide as the encoder"
finish
