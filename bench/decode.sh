#!/bin/sh
# bench/decode.sh: JPEG decode + resize to 224 throughput, images per second on one core, for
# mae-decode and for PIL (python3-pil, the reference of torchvision's transforms) on the same
# real photos (DATA.md), in the same run. One process each, OPENBLAS_NUM_THREADS=1; the median
# of several runs is printed with the ratio. Rates are per CPU second of the process (user +
# system), so other load on the machine changes them little: mae-decode is charged for its
# whole process (start-up and listing included), PIL for its loop only.
#
#   sh bench/decode.sh [RUNS]        (MAE_BUILD: build directory, default ./build)
#
# Two transforms, the same in both programs:
#   eval   Resize(256, bicubic) + CenterCrop(224)      (mae-decode --eval)
#   train  RandomResizedCrop(224, scale 0.2-1, bicubic) + flip   (mae-decode --train)
# and two photo sets: "all" (every photo listed below, up to 6028x3391) and "small" (those of
# at most one megapixel, the size of ImageNet photos). mae-decode shrinks JPEGs in the DCT
# domain (keeping twice the output size, like Pillow's thumbnail()); the "exact" rows turn that
# off and show the decoder and resampler alone (byte-identical to PIL's output).
set -eu
RUNS=${1:-5}
: "${MAE_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build}"
DEC="$MAE_BUILD/bin/mae-decode"
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
[ -x "$DEC" ] || { echo "bench/decode.sh: $DEC missing: run make" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/mae-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT

# The real photos of DATA.md (colour and grey JPEGs)
ls /usr/share/backgrounds/*.jpg /usr/share/backgrounds/mate/nature/*.jpg \
   /usr/share/doc/opencv-doc/examples/data/*.jpg /usr/share/doc/libdlib19.1/examples/faces/*.jpg \
   /usr/share/pixmaps/faces/*.jpg /usr/share/doc/labelme-examples/examples/*/data_annotated/*.jpg \
   2>/dev/null > "$W/all.txt" || true
$PY - "$W/all.txt" "$W/small.txt" <<'PY'
import sys
from PIL import Image
with open(sys.argv[1]) as f, open(sys.argv[2], 'w') as g:
    for p in f.read().split():
        w, h = Image.open(p).size
        if w * h <= 1000000: g.write(p + '\n')
PY

cat > "$W/pil.py" <<'PY'
# PIL the way torchvision uses it: open, convert('RGB'), crop/resize with BICUBIC, to numpy.
import math, random, sys, time
import numpy as np
from PIL import Image
mode, files, reps = sys.argv[1], open(sys.argv[2]).read().split(), int(sys.argv[3])
def rrc(w, h, rnd):
    area = w * h
    for _ in range(10):
        ta = area * rnd.uniform(0.2, 1.0)
        ar = math.exp(rnd.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(ta * ar))), int(round(math.sqrt(ta / ar)))
        if 0 < cw <= w and 0 < ch <= h:
            return rnd.randint(0, w - cw), rnd.randint(0, h - ch), cw, ch
    return 0, 0, w, h
rnd = random.Random(0)
t = time.process_time()
for _ in range(reps):
    for p in files:
        im = Image.open(p).convert('RGB')
        w, h = im.size
        if mode == 'eval':
            s = 256
            nw, nh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
            im = im.resize((nw, nh), Image.BICUBIC)
            l, tp = int(round((nw - 224) / 2.0)), int(round((nh - 224) / 2.0))
            im = im.crop((l, tp, l + 224, tp + 224))
        else:
            x, y, cw, ch = rrc(w, h, rnd)
            im = im.crop((x, y, x + cw, y + ch)).resize((224, 224), Image.BICUBIC)
            if rnd.random() < 0.5: im = im.transpose(Image.FLIP_LEFT_RIGHT)
        a = np.asarray(im)
print(reps * len(files) / (time.process_time() - t))
PY

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

mae_rate() {   # mae_rate LIST REPS ARGS...: images per CPU second of one mae-decode process
	list=$1 reps=$2; shift 2
	n=$(wc -l < "$list")
	$PY -c '
import resource, subprocess, sys
subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(int(sys.argv[1]) / (r.ru_utime + r.ru_stime))' $((n * reps)) "$DEC" -q -b 32 -e "$reps" -s 1 "$@" "@$list"
}

printf '%-6s %-6s %6s %12s %12s %12s %8s %8s\n' set mode photos mae-decode exact PIL ratio exact/PIL
for set in all small; do
	list="$W/$set.txt"
	n=$(wc -l < "$list")
	reps=$(( n < 50 ? 4 : 1 ))
	for mode in eval train; do
		: > "$W/m"; : > "$W/x"; : > "$W/p"
		for r in $(seq "$RUNS"); do
			mae_rate "$list" $reps --$mode >> "$W/m"
			mae_rate "$list" $reps --$mode --exact >> "$W/x"
			$PY "$W/pil.py" $mode "$list" $reps >> "$W/p"
		done
		m=$(median < "$W/m"); x=$(median < "$W/x"); p=$(median < "$W/p")
		printf '%-6s %-6s %6d %10.1f/s %10.1f/s %10.1f/s %7.2fx %7.2fx\n' $set $mode "$n" "$m" "$x" "$p" \
			"$($PY -c "print($m / $p)")" "$($PY -c "print($x / $p)")"
	done
done
echo "(images per CPU second, one process each, median of $RUNS runs; target: mae-decode >= 1.3x PIL)"
