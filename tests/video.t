#!/bin/sh
# VideoMAE end to end on Moving Fashion-MNIST clips (mae-synth --moving-fmnist): mae-patchify
# cuts clips into VideoMAE's tubelets (checked against numpy's rearrange of the decoded frames,
# and --inverse gives the bytes back), tube masks repeat one spatial mask over the temporal
# slices, the clip model trains through the pipeline exactly as in process (mae-train),
# pretrain.sh --method videomae lowers the loss, mae-view draws a clip as rows of frames, and
# clips with the wrong geometry are refused with the shapes named.
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1 MAE_THREADS=1   # bitwise comparisons: one thread
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip_all "dataset-fashion-mnist is not installed"

mae-synth -q --moving-fmnist "$T/clips" -n 96 --frames 12 -s 4
ok $? "96 Moving Fashion-MNIST clips of 12 frames"
CLIP="--clip 8 --frame-stride 1 --crop none -g"
mae-decode -q $CLIP -b 8 -n 16 "$T/clips" > "$T/img.mae" &&
	mae-patchify -q -p 8 --keep < "$T/img.mae" > "$T/p.mae"
ok $? "decode 16 clips of 8 frames, tubelets of 2x8x8"
like "$(mae-inspect -H < "$T/p.mae")" "grid:\[4,8,8\],tubelet:2" "the header's grid is [frames/2, 8, 8], tubelet 2"
$PY - "$T/p.mae" <<'PY'
import sys, numpy as np
from maestream import records, tensor
recs = records(sys.argv[1])
worst, n = 0.0, 0
for r in recs[1:-1]:
    img = tensor(r['tensors']['image'])           # [B, T, H, W, C]
    x = tensor(r['tensors']['patches'])           # [B, N, P]
    B, T, H, W, C = img.shape
    v = (img.astype(np.float32) / np.float32(255) - np.float32(0.2860)) / np.float32(0.3530)
    # VideoMAE: 'b (t p0) (h p1) (w p2) c -> b (t h w) (p0 p1 p2 c)'
    ref = v.reshape(B, T // 2, 2, H // 8, 8, W // 8, 8, C).transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(B, -1, 2 * 64 * C)
    worst = max(worst, float(np.abs(ref - x).max())); n += B
print('# %d clips, worst difference %.3g' % (n, worst))
sys.exit(0 if n == 16 and worst == 0 and x.shape[1:] == (256, 128) else 1)
PY
ok $? "tubelet patches equal numpy's (t h w)(p0 p1 p2 c) rearrangement of the frames, bit for bit"
mae-patchify -q --inverse < "$T/p.mae" | mae-inspect -c | grep -o 'image:U8 \[8,8,64,64,1\][^ ]* .*crc=[0-9a-f]*' > "$T/back.txt"
mae-inspect -c < "$T/img.mae" | grep -o 'image:U8 \[8,8,64,64,1\][^ ]* .*crc=[0-9a-f]*' > "$T/orig.txt"
cmp -s "$T/back.txt" "$T/orig.txt" && [ -s "$T/orig.txt" ]
ok $? "mae-patchify --inverse gives the clips' bytes back ($(wc -l < "$T/orig.txt") records)"

# tube masking: one spatial mask over the 4 temporal slices, 90% of each slice
mae-mask -q -s 2 tube -r 0.9 < "$T/p.mae" > "$T/m.mae"
$PY - "$T/m.mae" <<'PY'
import sys, numpy as np
from maestream import records, tensor
good = 0
for r in records(sys.argv[1])[1:-1]:
    m = tensor(r['tensors']['mask']).reshape(-1, 4, 64)
    good += int(all((s == s[0]).all() and s[0].sum() == 57 for s in m))   # floor(64 * 0.9)
    diff = len({m[i, 0].tobytes() for i in range(len(m))})
print('# %d records with tube masks, %d different masks in the last' % (good, diff))
sys.exit(0 if good == 2 and diff > 1 else 1)
PY
ok $? "tube masks: every temporal slice hides the same 57 of 64 patches, and clips differ"

# the clip model trains through the pipeline exactly as in process
M="micro-28,img=64,patch=16,frames=8,tubelet=2,loss=normtube"
mae-decode -q $CLIP -b 16 -n 96 -s 3 --shuffle "$T/clips" | mae-patchify -q -p 16 | mae-mask -q -s 3 tube -r 0.9 > "$T/b.mae"
mkdir -p "$T/pp"
mae-optimize -q --ps "@ipc://$T/pp/ps" --timeout 60 -s 5 -m "$M" --steps 6 --warmup 1 --lr 1e-3 -d "$T/pp" & ps=$!
mae-encode -q --ps "ipc://$T/pp/ps" -i "$T/b.mae" | mae-reconstruct -q --ps "ipc://$T/pp/ps" | mae-loss -q --loss-only > /dev/null
wait $ps
ok $? "a VideoMAE model (3-D sin-cos, Conv3d tubelets, normtube) trains 6 steps through the pipeline"
mae-train -q -s 5 -m "$M" --steps 6 --warmup 1 --lr 1e-3 -d "$T/ip" -i "$T/b.mae" > /dev/null
cmp -s "$T/pp/checkpoint.safetensors" "$T/ip/checkpoint.safetensors"
ok $? "pipeline and in-process weights are bitwise identical"
like "$(head -c 4096 "$T/ip/checkpoint.safetensors" | tr -d '\n')" '"patch_embed.proj.weight":\{"dtype":"F32","shape":\[32,1,2,16,16\]' \
	"the checkpoint holds Conv3d's (D, c, t, p, p) weight"

# a clip stream into an image model, and an image stream into a clip model: refused
out=$(mae-encode -q -w "$T/ip/checkpoint.safetensors" -i "$T/b.mae" 2>&1 > /dev/null; echo "status $?")
like "$out" "status 0" "the clip checkpoint encodes its own stream"
mae-decode -q -n 8 -b 8 fashion-mnist:train | mae-patchify -q -p 16 --no-norm > /dev/null 2>&1
out=$(mae-decode -q -n 8 -b 8 --crop resize --size 64 fashion-mnist:train | mae-patchify -q -p 16 | mae-mask -q random |
	mae-encode -q -w "$T/ip/checkpoint.safetensors" 2>&1 > /dev/null; echo "status $?")
like "$(echo $out)" "patches.*\[B,64,512\] \(the model's 4 slices of a 4x4 grid, tubelets of 512 values\), got F32 \[8,16,256\].*status 2" "an image stream into the clip model: status 2, both shapes named"
out=$(mae-patchify -q -p 8 --tubelet 3 < "$T/img.mae" 2>&1 > /dev/null; echo "status $?")
like "$(echo $out)" "clips of 8 frames do not split into tubelets of 3.*status 2" "8 frames in tubelets of 3: status 2"
out=$(mae-decode -q -n 8 -b 8 fashion-mnist:train | mae-patchify -q --tubelet 2 2>&1 > /dev/null; echo "status $?")
like "$(echo $out)" "stream holds images, not clips.*status 1" "--tubelet on images: a usage error"
out=$(mae-optimize --show-config -m "micro-28,frames=8,tubelet=2,dim=40,heads=2" 2>&1; echo "status $?")
like "$(echo $out)" "3-D sin-cos.*multiples of 16.*status [12]" "a width the 3-D table cannot split: refused"

# pretrain.sh --method videomae, and the figure
timeout 300 sh "$TDIR/../pipelines/pretrain.sh" -o "$T/vm" --method videomae --frames 8 --model "micro-28,img=64,patch=16" \
	--data "$T/clips" --epochs 8 --batch 16 --blr 1e-2 --decode "--shuffle --crop none -g --frame-stride 1" 2> "$T/vm.err"
ok $? "pretrain.sh --method videomae runs"
like "$(cat "$T/vm.err")" "videomae \(micro-28,frames=8,tubelet=2,loss=normtube,img=64,patch=16,mode=mae\), mask: tube -r 0.9;" \
	"  with the method's frames, tubelets, target and tube masking"
$PY - "$T/vm/metrics.tsv" <<'PY'
import sys
loss = [float(l.split('\t')[2]) for l in open(sys.argv[1]).read().split('\n')[1:] if l]
first, last = sum(loss[:3]) / 3, sum(loss[-3:]) / 3
print('# %d steps, loss of the first 3 %.4f, of the last 3 %.4f' % (len(loss), first, last))
sys.exit(0 if len(loss) == 48 and last < 0.8 * first else 1)
PY
ok $? "48 steps; the loss of the last 3 is below 0.8 x that of the first 3"
mae-decode -q $CLIP -n 2 -b 2 "$T/clips" | mae-patchify -q -p 16 | mae-mask -q tube -r 0.9 |
	mae-encode -q -w "$T/vm/checkpoint.safetensors" | mae-reconstruct -q -w "$T/vm/checkpoint.safetensors" |
	mae-view -q --norm-pix -n 2 --scale 1 --gap 2 -o "$T/fig.png"
ok $? "a reconstruction figure of two clips"
is "$($PY -c "from PIL import Image; im = Image.open('$T/fig.png'); print(im.size)")" "(530, 530)" \
	"  8 frames side by side, 4 rows a clip (clip, masked, reconstruction, pasted): 8 x 66 + 2 by 8 x 66 + 2"
# the demo script: clips, pretraining, figure, k-NN and probe against raw pixels
timeout 300 sh "$TDIR/../pipelines/videomae.sh" -o "$T/demo" --clips 40 --test-clips 20 --frames 4 --epochs 1 \
	--batch 20 --model "micro-28,img=64,patch=16" --probe 2 > "$T/demo.out" 2> "$T/demo.err"
ok $? "pipelines/videomae.sh runs"
like "$(cat "$T/demo.out")" "k-NN \(k=20\) +features [0-9.]+%, raw pixels [0-9.]+%" "  and reports k-NN of clip features and raw pixels"
is "$($PY -c "from PIL import Image; print(Image.open('$T/demo/reconstruction.png').size)")" "(266, 1058)" \
	"  and draws 4 clips of 4 frames, 4 rows each (64 x 64 frames, gaps of 2)"
finish
