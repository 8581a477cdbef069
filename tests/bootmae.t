#!/bin/sh
# BootMAE: a model with a feature decoder (feat_depth) trains the same weights through the
# stage processes as in one process (mae-train), bit for bit, given the same feature_target
# stream; mae-encode --target-features writes the whole image's final-norm patch tokens (the
# latent's, cls excluded); the loss is the pixel loss plus feat_weight times the MSE of
# pred_feature against feature_target over the hidden patches (numpy); pretrain.sh --method
# bootmae trains with its teacher and gives the same bits twice; the mistakes are refused with
# messages that say what is missing. With SupMAE's branch as well (sup_classes), the pipeline
# still equals mae-train bit for bit, feature_decoder.* precede head.* in the checkpoint, the
# loss is the sum of the three terms, and mae-ttt trains such a model on the pixel loss.
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1   # bitwise comparisons: one thread
M=micro-28,feat_depth=1,feat_weight=0.5
mae-decode -q -n 128 -b 16 -s 4 fashion-mnist:train | mae-patchify -q -p 7 > "$T/raw.mae"
mae-mask -q -s 4 random -i "$T/raw.mae" > "$T/m.mae" &&
	mae-train -q -s 2 -m micro-28 --steps 4 --warmup 1 --lr 1e-3 -d "$T/t" -i "$T/m.mae" > /dev/null
ok $? "a teacher: micro-28 trained 4 steps"
W=$T/t/checkpoint.safetensors
mae-encode -q -w "$W" --target-features --no-latent -i "$T/raw.mae" | mae-mask -q -s 4 random > "$T/h.mae"
ok $? "8 batches of patches with the teacher's feature_target [16,16,32] and random masks"
mae-encode -q -w "$W" -i "$T/raw.mae" > "$T/lat.mae"
$PY - "$T/h.mae" "$T/lat.mae" <<'PY'
import sys, numpy as np, maestream as m
f = [m.tensor(r['tensors']['feature_target']) for r in m.records(sys.argv[1])[1:-1]]
l = [m.tensor(r['tensors']['latent']) for r in m.records(sys.argv[2])[1:-1]]
sys.exit(0 if len(f) == 8 and all(a.shape == (16, 16, 32) and np.array_equal(a, b[:, 1:, :]) for a, b in zip(f, l)) else 1)
PY
ok $? "feature_target is the latent of the whole image without its cls token, bit for bit"

same_training BootMAE $M "$T/h.mae"
meta=$(head -c 8192 "$T/p/checkpoint.safetensors" | grep -ao '"feature_decoder.pred.weight":{[^}]*}\|"feat_depth":"[0-9]*"\|"feat_weight":"[0-9.]*"' | tr '\n' ' ')
like "$meta" '"feat_depth":"1" "feat_weight":"0.5" "feature_decoder.pred.weight":\{"dtype":"F32","shape":\[32,32\]' \
	"the checkpoint holds feature_decoder.* and records feat_depth 1, feat_weight 0.5"

# the trained model's two losses, against numpy
C=$T/p/checkpoint.safetensors
mae-encode -q -w "$C" -i "$T/h.mae" | mae-reconstruct -q -w "$C" | mae-loss -q > "$T/l.mae"
ok $? "the trained model's predictions and losses (frozen stages)"
$PY - "$T/l.mae" <<'PY'
import sys, numpy as np, maestream as m
wf = wp = wt = 0.0
n = 0
for r in m.records(sys.argv[1])[1:-1]:
    t = {k: m.tensor(v) for k, v in r['tensors'].items()}
    pf, ft = t['pred_feature'].astype(np.float64), t['feature_target'].astype(np.float64)
    mask = t['mask'].astype(bool)
    assert pf.shape == ft.shape == mask.shape + (32,), (pf.shape, ft.shape)
    lf = ((pf - ft) ** 2).mean(axis=2)[mask].mean()
    x = t['patches'].astype(np.float64)
    tgt = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, ddof=1, keepdims=True) + 1e-6)
    lp = ((t['pred'].astype(np.float64) - tgt) ** 2).mean(axis=2)[mask].mean()
    wf = max(wf, abs(float(t['loss_feature']) - lf) / lf)
    wp = max(wp, abs(float(t['loss_pixel']) - lp) / lp)
    wt = max(wt, abs(float(t['loss']) - (lp + 0.5 * lf)) / (lp + 0.5 * lf))
    n += 1
    if n == 1:
        print(f'# batch 0: loss_pixel {lp:.6f}, loss_feature {lf:.6f}')
print(f'# {n} batches: max relative error: feature loss {wf:.3g}, pixel loss {wp:.3g}, total {wt:.3g}')
sys.exit(0 if n == 8 and max(wf, wp, wt) < 1e-5 else 1)
PY
ok $? "loss_feature is the MSE over the hidden patches' 32 features, loss = loss_pixel + 0.5 loss_feature (numpy)"

# mistakes
err=$(mae-encode -q -w "$C" -i "$T/m.mae" | mae-reconstruct -q -w "$C" | mae-loss -q 2>&1 >/dev/null)
like "$err" "feat_depth 1: the loss needs a 'feature_target' tensor \[B,16,32\] \(mae-encode --teacher --target-features\)" \
	"no feature_target: the loss says which tensor and who writes it"
err=$(mae-encode -q -w "$W" --target-features -i "$T/m.mae" 2>&1 >/dev/null)
like "$err" "the encoder sees 4 of the 16 patches; the targets are features of the whole image \(put this stage before mae-mask\)" \
	"--target-features after the masker: refused, and it says where the stage goes"
mae-encode --ps "ipc://$T/nowhere" --target-features < /dev/null > /dev/null 2> "$T/tf.err"
is "$?" 1 "--target-features on the encoder that trains: status 1"
mae-optimize --show-config -m micro-28,mode=simmim,feat_depth=1 > /dev/null 2> "$T/sm.err"
like "$(cat "$T/sm.err")" "feat_depth 1: the feature decoder \(BootMAE\) is a second MAE decoder; it needs mode mae, not simmim" \
	"a feature decoder without MAE's decoder: refused"

# with SupMAE's branch too (sup_classes): the feature decoder and the branch on one latent
T0=$T; T=$T/both; mkdir -p "$T"
same_training "BootMAE + SupMAE" "$M,sup_classes=10" "$T0/h.mae"
C2=$T/p/checkpoint.safetensors
T=$T0
hdr=$(head -c 16384 "$C2")
fpos=$(printf '%s' "$hdr" | grep -ao '"feature_decoder.pred.weight":{"dtype":"F32","shape":\[[0-9,]*\],"data_offsets":\[[0-9]*' | sed 's/.*\[//')
hpos=$(printf '%s' "$hdr" | grep -ao '"head.0.weight":{"dtype":"F32","shape":\[[0-9,]*\],"data_offsets":\[[0-9]*' | sed 's/.*\[//')
[ -n "$fpos" ] && [ -n "$hpos" ] && [ "$fpos" -lt "$hpos" ]
ok $? "  its checkpoint holds feature_decoder.* and then head.* (offsets ${fpos:-?} < ${hpos:-?})"
mae-encode -q -w "$C2" -i "$T/h.mae" | mae-reconstruct -q -w "$C2" | mae-loss -q > "$T/l2.mae"
ok $? "  its frozen stages run"
$PY - "$T/l2.mae" <<'PY'
import sys, numpy as np, maestream as m
n, worst = 0, 0.0
for r in m.records(sys.argv[1])[1:-1]:
    t = {k: m.tensor(v) for k, v in r['tensors'].items()}
    lp, lf, ls, l = (float(t[k]) for k in ('loss_pixel', 'loss_feature', 'sup_loss', 'loss'))
    want = np.float32(np.float32(lp + np.float32(0.5 * lf)) + ls)
    worst = max(worst, abs(l - want) / want)
    n += 1
print(f'# {n} batches: loss against loss_pixel + 0.5 loss_feature + sup_loss, max relative error {worst:.3g}')
sys.exit(0 if n == 8 and worst < 1e-6 else 1)
PY
ok $? "  loss = loss_pixel + feat_weight loss_feature + sup_loss, the three beside it"
mae-encode -q -w "$C2" -F mean --no-latent -i "$T/raw.mae" > "$T/f2.mae" &&
	mae-probe -q -e 2 -t "$T/f2.mae" -i "$T/f2.mae" --save "$T/probe2.safetensors" > /dev/null
ok $? "  a probe on its encoder"
out=$(mae-decode -q -n 8 -b 8 fashion-mnist:test | mae-patchify -q -p 7 |
	mae-ttt -q -w "$C2" --head "$T/probe2.safetensors" --steps 2 --copies 4)
like "$out" "^before top1=[0-9.]+% after top1=[0-9.]+% n=8$" "  TTT-MAE trains it on the pixel loss alone (no labels, no feature targets)"

# pretrain.sh --method bootmae: its teacher before the masker; twice the same bits
pretrain_twice bootmae
like "$(cat "$T/a.err")" "bootmae \(micro-28,feat_depth=1,mode=mae\)" "  and a feature decoder as deep as the pixel decoder"
finish
