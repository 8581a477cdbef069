#!/bin/sh
# model-parity.t: maepipe's model against a PyTorch reference (tests/ref/mae_ref.py), for MAE
# (3 channels, so the conv weight's (c,a,b) order matters), LoMaR (7x7 windows: every iRPE
# bucket, saturation included), SimMIM (L1), MFM (frequency loss), tiny-28's 1-channel MAE and
# SupMAE's branch (BatchNorm1d, cross-entropy over a temperature; its loss term and dlatent
# checked too): at its constants (0.01, 10) and with weight 1, temperature 2, so the branch's
# share of the encoder's gradients is large enough for the 1e-4 bound to see an error in it;
# BootMAE's feature decoder (feat_weight 0.7: pred_feature and its gradients), and both at once
# (the feature decoder and SupMAE's branch on one latent, dlatent the sum of the three parts);
# CMAE's contrastive branch (projector, predictor, InfoNCE against a constant contrast_target:
# its term and dlatent checked) at its constants (weight 1, temperature 0.07), and with every
# branch on at once (weight 0.5, temperature 0.2). VideoMAE on clips: the tubelet embedding
# against Conv3d (3 channels, so the (c, t, a, b) weight order matters), the 3-D sin-cos
# tables against get_3d_sincos_pos_embed and VideoMAE's 1-D sinusoid table (pos=2), and the
# per-tubelet, per-channel normtube target. The bf16 setting (MAE, and tiny-28 with SupMAE's
# branch, whose linears are bf16 too): against the same model with maepipe's bf16 products and
# against fp32, beside PyTorch's autocast bf16 (tolerances in tests/ref/parity.py).
# Each case: maepipe writes a checkpoint and one step's loss, predictions and gradients; PyTorch
# loads the checkpoint with load_state_dict(strict=True), runs the same batch, and compares
# (loss rel <= 1e-5, predictions and every gradient rel <= 1e-4).
B=${MAE_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
if ! $PY -c 'import torch, numpy' 2>/dev/null; then
	echo "1..0 # SKIP /usr/bin/python3 has no torch (apt-get install python3-torch)"
	exit 0
fi
TMP=$(mktemp -d /tmp/mae-parity.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM
set -- \
	"vit-tiny,img=32,patch=8,dim=48,heads=3,depth=2,dec_dim=32,dec_depth=2,dec_heads=4" \
	"vit-tiny,img=64,patch=8,mode=lomar,dim=48,heads=3,depth=2,window=7,nwindows=2" \
	"vit-tiny,img=32,patch=8,mode=simmim,dim=48,heads=3,depth=2" \
	"vit-tiny,img=32,patch=8,mode=mfm,dim=48,heads=3,depth=2" \
	"tiny-28,depth=2,dim=64,heads=4,dec_dim=32,dec_depth=1,dec_heads=2" \
	"vit-tiny,img=32,patch=8,dim=48,heads=3,depth=2,dec_dim=32,dec_depth=1,dec_heads=4,feat_depth=2,feat_weight=0.7" \
	"vit-tiny,img=32,patch=8,dim=48,heads=3,depth=2,dec_dim=32,dec_depth=1,dec_heads=4,sup_classes=5" \
	"tiny-28,depth=2,dim=64,heads=4,dec_dim=32,dec_depth=1,dec_heads=2,sup_classes=10,sup_weight=1,sup_temp=2" \
	"vit-tiny,img=32,patch=8,dim=48,heads=3,depth=2,dec_dim=32,dec_depth=1,dec_heads=4,feat_depth=1,feat_weight=0.7,sup_classes=5,sup_weight=1,sup_temp=2" \
	"vit-tiny,img=32,patch=8,dim=48,heads=3,depth=2,dec_dim=32,dec_depth=1,dec_heads=4,cl_dim=24" \
	"tiny-28,depth=2,dim=64,heads=4,dec_dim=32,dec_depth=1,dec_heads=2,feat_depth=1,feat_weight=0.7,sup_classes=10,sup_weight=1,sup_temp=2,cl_dim=16,cl_weight=0.5,cl_temp=0.2" \
	"vit-tiny,img=32,patch=8,dim=48,heads=3,depth=2,dec_dim=32,dec_depth=1,dec_heads=4,frames=4,tubelet=2,loss=normtube" \
	"vit-tiny,img=32,patch=8,channels=1,dim=48,heads=3,depth=2,dec_dim=32,dec_depth=1,dec_heads=4,frames=6,tubelet=2,pos=2,loss=normtube" \
	"vit-tiny,img=32,patch=8,dim=48,heads=3,depth=2,dec_dim=32,dec_depth=2,dec_heads=4,bf16=1" \
	"tiny-28,depth=2,dim=64,heads=4,dec_dim=32,dec_depth=1,dec_heads=2,sup_classes=10,sup_weight=1,sup_temp=2,bf16=1"
n=0 fail=0
for spec in "$@"; do
	if ! "$B/tests/test_model_parity" --dump "$spec" 11 4 "$TMP" 2>"$TMP/err"; then
		n=$((n + 1)); fail=1
		echo "not ok $n - $spec: maepipe dump failed: $(cat "$TMP/err")"
		continue
	fi
	out=$($PY "$HERE/ref/parity.py" "$TMP" "$spec" 2>"$TMP/err") || fail=1
	[ -n "$out" ] || { out="not ok - $spec: parity.py failed: $(tail -n 3 "$TMP/err" | tr '\n' ' ')"; fail=1; }
	while IFS= read -r line; do
		n=$((n + 1))
		case $line in
		"ok - "*) echo "ok $n - ${line#ok - }" ;;
		*) echo "not ok $n - ${line#not ok - }" ;;
		esac
	done <<EOT
$out
EOT
done
echo "1..$n"
exit $fail
