#!/bin/sh
# SupMAE (METHODS 5.7) as `pretrain.sh --method supmae`: MAE plus a classifier on the visible
# tokens. The method trains a minute model on a few hundred Fashion-MNIST images with the data's
# 10 classes and MAE's one-block decoder; the loss the server logs carries the branch's term
# (at step 1, the same weights and masks as MAE's run give MAE's loss plus about 0.01 ln 10);
# the pipeline trains exactly mae-train's model with the branch on; a record without labels,
# or with a label past the classes, stops the stage with status 2 and says which record.
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1   # bitwise comparisons: one thread
P=$TDIR/../pipelines

for m in mae supmae; do
	timeout 300 sh "$P/pretrain.sh" -o "$T/$m" --method $m --model micro-28 --epochs 2 --batch 64 \
		--decode "--shuffle -n 384" 2> "$T/$m.err"
	ok $? "pretrain.sh --method $m runs"
done
like "$(cat "$T/supmae.err")" "supmae \(micro-28,sup_classes=10,dec_depth=1,mode=mae\), mask: random" \
	"supmae: the data's 10 classes, a decoder of one block, random masks"
is "$(tail -1 "$T/supmae/metrics.tsv" | cut -f1)" 12 "supmae: 12 steps in the metrics"
$PY - "$T" <<'PY'
import math, sys, numpy as np, maestream as m
d = sys.argv[1]
col = lambda f: [float(l.split('\t')[2]) for l in open(f).readlines()[1:]]
mae, sup = col(d + '/mae/metrics.tsv'), col(d + '/supmae/metrics.tsv')
recs = m.records(d + '/supmae/loss.mae')[1:-1]
term = [float(m.tensor(r['tensors']['sup_loss'])) for r in recs]
loss = [float(m.tensor(r['tensors']['loss'])) for r in recs]
ln10 = 0.01 * math.log(10)
print('# step 1: supmae %.6f, mae %.6f, difference %.6f, the branch term %.6f, 0.01 ln 10 = %.6f'
      % (sup[0], mae[0], sup[0] - mae[0], term[0], ln10))
print('# branch term over the run: %s' % ' '.join('%.4f' % t for t in term))
ok = all(math.isfinite(x) and x > 0 for x in sup) and len(term) == len(sup) == 12
ok &= abs(term[0] - ln10) < 0.25 * ln10                 # untrained: about uniform over 10 classes
ok &= abs((sup[0] - mae[0]) - term[0]) < 1e-5            # step 1: the same weights and masks as MAE's
ok &= all(abs(l - s) < 1e-6 for l, s in zip(loss, sup))   # the server logs what mae-loss writes (%.6f)
sys.exit(0 if ok else 1)
PY
ok $? "the logged loss is MAE's plus the branch's term (about 0.01 ln 10 at step 1), as mae-loss writes it"

# the pipeline trains mae-train's model, bit for bit, with the branch on
mae-decode -q -n 192 -b 32 -s 3 fashion-mnist:train | mae-patchify -p 7 | mae-mask -s 3 random > "$T/b.mae"
M=micro-28,sup_classes=10
mkdir -p "$T/p"
mae-optimize -q --ps "@ipc://$T/p/ps" --timeout 60 -s 5 -m $M --steps 6 --warmup 2 --lr 1e-3 -d "$T/p" & ps=$!
mae-encode -q --ps "ipc://$T/p/ps" -i "$T/b.mae" | mae-reconstruct -q --ps "ipc://$T/p/ps" |
	mae-loss -q --loss-only > "$T/p/loss.mae"
st=$?
wait $ps
ok $((st | $?)) "the pipeline trains micro-28 with sup_classes=10 for 6 steps"
mae-train -q -s 5 -m $M --steps 6 --warmup 2 --lr 1e-3 -d "$T/i" -i "$T/b.mae" > /dev/null
ok $? "mae-train trains the same 6 steps"
cmp -s "$T/p/checkpoint.safetensors" "$T/i/checkpoint.safetensors"
ok $? "pipeline and mae-train weights are bitwise identical, head.* included"
cmp -s "$T/p/optim.safetensors" "$T/i/optim.safetensors"
ok $? "and so are the AdamW moments"
is "$(cut -f3 "$T/p/metrics.tsv")" "$(cut -f3 "$T/i/metrics.tsv")" "the same loss at every step"

# labels missing or out of range: status 2, the record named
$PY - "$T/b.mae" "$T/nolabel.mae" <<'PY'
import msgpack, sys
recs = list(msgpack.Unpacker(open(sys.argv[1], 'rb'), raw=False))
p = msgpack.Packer(use_bin_type=True)
with open(sys.argv[2], 'wb') as f:
    for r in recs:
        if r.get('type') == 'batch' and r['seq'] == 1:
            del r['tensors']['label']
        f.write(p.pack(r))
PY
msg=$(mae-train -q -s 5 -m $M --steps 6 -i "$T/nolabel.mae" 2>&1 > /dev/null); st=$?
is $st 2 "mae-train on a record without labels, sup_classes=10: status 2"
like "$msg" "record 2: sup_classes=10: SupMAE's branch needs the images' classes, a 'label' tensor" "  and it names the record"
mae-encode -q -w "$T/i/checkpoint.safetensors" -i "$T/nolabel.mae" > "$T/lat.mae"
msg=$(mae-reconstruct -q -w "$T/i/checkpoint.safetensors" -i "$T/lat.mae" 2>&1 > /dev/null); st=$?
is "$st" 2 "a frozen mae-reconstruct with the branch, on the same: status 2"
like "$msg" "record 2: sup_classes=10: .*'label' tensor" "  and it names the record"
msg=$(mae-train -q -s 5 -m micro-28,sup_classes=5 --steps 6 -i "$T/b.mae" 2>&1 > /dev/null); st=$?
is $st 2 "labels past sup_classes: status 2"
like "$msg" "record 1: image [0-9]+ has label [5-9]: sup_classes=5 needs every label in \[0, 5\)" "  and it says which image and label"
msg=$(mae-optimize --show-config -m micro-28,mode=simmim,sup_classes=10 2>&1); st=$?
ok $([ $st != 0 ]; echo $?) "sup_classes with mode simmim is refused (status $st)"
like "$msg" "it needs mode mae" "  and it says the branch needs MAE's encoder"
finish
