#!/bin/sh
# show-masks.sh: a gallery of every mae-mask strategy, on real photos (224x224, 14x14 patches of
# 16) and on Fashion-MNIST (28x28, 7x7 patches of 4):
#
#     mae-decode | mae-patchify | mae-mask STRATEGY | mae-view -o OUT/SET-STRATEGY.png
#
# Each picture has one row per image: original | masked (hidden patches at the mean colour).
# For frequency the second panel is the low- or high-pass corrupted image MFM's encoder sees.
# With Python's PIL available, OUT/gallery.png puts every strategy of both sets on one sheet.
#
# The attention strategy needs the encoder's cls attention (`attn`); until a trained encoder is
# given (MAE_ATTN_CMD, a filter command that adds `attn` F32 [B,N]), a stand-in is used: the
# contrast (standard deviation) of each patch, which is where a trained ViT's cls token tends to
# look. The stand-in is labelled as such.
#
# usage: pipelines/show-masks.sh [-o OUTDIR] [-n IMAGES] [-s SEED]
set -eu
out=out/masks
n=4
seed=1
while getopts o:n:s:h opt; do
	case $opt in
	o) out=$OPTARG ;;
	n) n=$OPTARG ;;
	s) seed=$OPTARG ;;
	*) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 1 ;;
	esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
: "${MAE_BUILD:=$here/build}"
PATH="$MAE_BUILD/bin:$PATH"
PY=/usr/bin/python3
for p in mae-decode mae-patchify mae-mask mae-view; do
	command -v $p > /dev/null || { echo "show-masks.sh: $p not found (run make)" >&2; exit 1; }
done
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/show-masks.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Real photos from Debian packages (see DATA.md); any readable JPEGs will do.
photos=$(ls /usr/share/backgrounds/*.jpg /usr/share/backgrounds/mate/nature/*.jpg \
	/usr/share/doc/opencv-doc/examples/data/*.jpg 2>/dev/null | head -n "$n" || true)
[ -n "$photos" ] || { echo "show-masks.sh: no photos found (make deps installs them)" >&2; exit 1; }

# shellcheck disable=SC2086
mae-decode -q -s "$seed" -c --crop center --size 224 -b "$n" -n "$n" $photos |
	mae-patchify -q --keep > "$tmp/photos.mae"
mae-decode -q -s "$seed" -b "$n" -n "$n" fashion-mnist:test | mae-patchify -q --keep > "$tmp/fmnist.mae"

# attn for the attention strategy: a trained encoder's, or the patch-contrast stand-in
attn_standin() {
	$PY -c '
import msgpack, numpy as np, sys
pk = msgpack.Packer(use_bin_type=True)
w = sys.stdout.buffer.write
for r in msgpack.Unpacker(sys.stdin.buffer, raw=False, max_buffer_size=1 << 31):
    if r["type"] == "batch":
        t = r["tensors"]["patches"]
        x = np.frombuffer(t["data"], "<f4").reshape(t["shape"])
        a = x.std(axis=2)
        a = (a / a.sum(axis=1, keepdims=True)).astype("<f4")
        r["tensors"]["attn"] = {"dtype": "F32", "shape": list(a.shape), "data": a.tobytes()}
    if r["type"] == "header":
        r.setdefault("meta", {})["attn_source"] = "patch contrast (stand-in)"
    w(pk.pack(r))
'
}
attn() { if [ -n "${MAE_ATTN_CMD:-}" ]; then sh -c "$MAE_ATTN_CMD"; else attn_standin; fi; }
for set in photos fmnist; do attn < "$tmp/$set.mae" > "$tmp/$set-attn.mae"; done

# name|arguments|sets
strategies='random|random|photos fmnist
block-simmim|block|photos
block-beit|block --variant beit|photos fmnist
grid|grid|photos fmnist
window|window|photos fmnist
noise-red|noise --color red|photos fmnist
noise-blue|noise --color blue|photos fmnist
noise-green|noise --color green|photos fmnist
noise-purple|noise --color purple|photos fmnist
semantic-start|semantic --lambda 1|photos fmnist
semantic-end|semantic --lambda 0|photos fmnist
attention-high|attention -r 0.75 --ratio-var 0 --mask-prob 1|photos fmnist
attention-low|attention --mode low -r 0.75 --ratio-var 0 --mask-prob 1|photos fmnist
attention-hint|attention --mode hint -r 0.75 --ratio-var 0 --mask-prob 1|photos fmnist
tube|tube|photos fmnist
frequency-low|frequency --filter low|photos fmnist
frequency-high|frequency --filter high|photos fmnist'

echo "$strategies" | while IFS='|' read -r name args sets; do
	for set in $sets; do
		src=$tmp/$set.mae
		case $name in attention*) src=$tmp/$set-attn.mae ;; esac
		# shellcheck disable=SC2086
		mae-mask -q -s "$seed" $args < "$src" | mae-view -q -n "$n" --scale "$([ $set = fmnist ] && echo 4 || echo 1)" \
			-o "$out/$set-$name.png"
		echo "$out/$set-$name.png"
	done
done > "$tmp/list"
made=$(cat "$tmp/list")
echo "$made" | sed 's/^/wrote /'

# one contact sheet with labels, when PIL is there
$PY - "$out" "$n" $made <<'PY' || echo "show-masks.sh: no gallery.png (PIL missing?)" >&2
import sys
from PIL import Image, ImageDraw
out, n, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
tiles = []
for f in files:
    im = Image.open(f).convert('RGB')
    tiles.append((f.rsplit('/', 1)[1][:-4], im))
w = max(t[1].width for t in tiles); h = max(t[1].height for t in tiles)
cols = 6
rows = (len(tiles) + cols - 1) // cols
sheet = Image.new('RGB', (cols * (w + 10), rows * (h + 30)), 'white')
d = ImageDraw.Draw(sheet)
for k, (name, im) in enumerate(tiles):
    x, y = (k % cols) * (w + 10), (k // cols) * (h + 30)
    sheet.paste(im, (x, y + 24))
    d.text((x + 2, y + 6), name, fill='black')
sheet.save(out + '/gallery.png')
print('wrote', out + '/gallery.png', sheet.size)
PY
