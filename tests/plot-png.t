#!/bin/sh
# mae-plot: a metrics table becomes a PNG of the asked size whose plot area shows the curves
# in their colours (checked with PIL); log axis, smoothing, stdin; bad input is exit 2.
. "$(dirname "$0")/lib.sh"
$PY -c 'import PIL' 2>/dev/null || skip_all "python3 PIL missing"

$PY - > "$T/m.tsv" <<'PY'
import math
print('# written by the test: a decaying loss and a warm-up + cosine lr')
print('step loss lr grad_norm img_s')
for s in range(0, 1000, 4):
    lr = 1.5e-4 * min(1, (s + 4) / 100) * 0.5 * (1 + math.cos(math.pi * s / 1000))
    print(s, round(1.0 * math.exp(-s / 300) + 0.2 + 0.05 * math.sin(s), 6), lr, 1 + 0.3 * math.cos(s / 7), 140)
PY

mae-plot -q -x step -y loss -y grad_norm -t "loss and gradient norm" -o "$T/a.png" "$T/m.tsv"
ok $? "mae-plot draws two columns"
mae-plot -q -x step -y lr --log --smooth 9 -W 640 -H 400 -o "$T/b.png" "$T/m.tsv"
ok $? "--log --smooth 9 -W 640 -H 400"
mae-plot -q -o "$T/c.png" < "$T/m.tsv"
ok $? "defaults: table on stdin, x = first column, y = all the others"

res=$($PY - "$T" <<'PY'
import sys
from PIL import Image
d = sys.argv[1]
def count(path, rgb, box):
    im = Image.open(path).convert('RGB'); px = im.load()
    x0, y0, x1, y1 = box
    return sum(1 for y in range(y0, y1) for x in range(x0, x1)
               if sum(abs(px[x, y][k] - rgb[k]) for k in range(3)) < 40)
out = []
for name, size in (('a', (800, 480)), ('b', (640, 400)), ('c', (800, 480))):
    im = Image.open(d + '/' + name + '.png')
    out.append('%s %s %dx%d' % (name, im.format, im.size[0], im.size[1]))
    assert (im.size) == size, (name, im.size)
im = Image.open(d + '/a.png').convert('RGB')
w, h = im.size
inner = (w // 5, h // 5, w * 4 // 5, h * 4 // 5)    # well inside the plot area
blue, orange = (31, 119, 180), (255, 127, 14)
nb, no = count(d + '/a.png', blue, inner), count(d + '/a.png', orange, inner)
out.append('a curves %s %s' % (nb > 200, no > 200))
# the loss curve falls: blue pixels in the left half sit higher (smaller y) than in the right half
px = im.load()
def mean_y(x0, x1):
    ys = [y for y in range(h) for x in range(x0, x1) if sum(abs(px[x, y][k] - blue[k]) for k in range(3)) < 40]
    return sum(ys) / max(1, len(ys))
out.append('a falls %s' % (mean_y(w // 8, w // 4) < mean_y(w * 3 // 4, w * 7 // 8)))
# text: dark pixels left of the plot (tick numbers) and below it
left = count(d + '/a.png', (0, 0, 0), (0, h // 4, w // 12, h * 3 // 4))
below = count(d + '/a.png', (0, 0, 0), (w // 4, h - 40, w * 3 // 4, h))
out.append('a text %s %s' % (left > 30, below > 30))
# corners of the image are background
out.append('a background %s' % (im.getpixel((1, h - 2)) == (255, 255, 255)))
# smoothed over raw: full blue and faded blue both present
b = 'b'
nfull = count(d + '/b.png', blue, (0, 0, 640, 400))
nfade = count(d + '/b.png', (175, 205, 227), (0, 0, 640, 400))
out.append('b smooth %s %s' % (nfull > 100, nfade > 20))
# defaults: four series (loss, lr, grad_norm, img_s) -> four colours in the legend
nc = [count(d + '/c.png', c, (0, 0, 800, 480)) > 10 for c in (blue, orange, (44, 160, 44), (214, 39, 40))]
out.append('c colours %s' % all(nc))
print('\n'.join(out))
PY
)
ok $? "PIL reads the PNGs"
echo "$res" | sed 's/^/# /'
like "$res" "a PNG 800x480" "default size 800x480"
like "$res" "b PNG 640x400" "-W 640 -H 400"
like "$res" "a curves True True" "both curves drawn in the plot area, in their colours"
like "$res" "a falls True" "the loss curve goes down"
like "$res" "a text True True" "tick numbers left of and below the plot"
like "$res" "a background True" "white background"
like "$res" "b smooth True True" "--smooth: the average over the faded raw curve"
like "$res" "c colours True" "defaults: every other column gets a colour"

# bad input
printf 'step loss\n1 0.5\n2 oops\n' > "$T/bad.tsv"
err=$(mae-plot -q -y loss -o "$T/x.png" "$T/bad.tsv" 2>&1); rc=$?
is $rc 2 "a non-numeric value: exit 2"
like "$err" "bad.tsv:3: column 'loss': 'oops' is not a number" "  with file, line, column and value"
err=$(mae-plot -q -y accuracy -o "$T/x.png" "$T/m.tsv" 2>&1); rc=$?
is $rc 2 "a missing column: exit 2"
like "$err" "no column 'accuracy' \(columns: step loss lr grad_norm img_s\)" "  naming the columns there are"
: > "$T/empty.tsv"
err=$(mae-plot -q -o "$T/x.png" "$T/empty.tsv" 2>&1); rc=$?
is $rc 2 "an empty file: exit 2"
like "$err" "empty" "  says so"
printf '# only a header\nstep loss\n' > "$T/hdr.tsv"
mae-plot -q -o "$T/x.png" "$T/hdr.tsv" 2>/dev/null; is $? 2 "a header without rows: exit 2"
printf 'step loss\n1 0.5 7\n' > "$T/wide.tsv"
err=$(mae-plot -q -o "$T/x.png" "$T/wide.tsv" 2>&1); rc=$?
is $rc 2 "a row with too many fields: exit 2"
like "$err" "wide.tsv:2: 3 fields, the header names 2 columns" "  says which line"
mae-plot -q -o "$T/x.png" "$T/nonexistent.tsv" 2>/dev/null; is $? 2 "a missing file: exit 2"
mae-plot -q -W 10 -o "$T/x.png" "$T/m.tsv" 2>/dev/null; is $? 1 "-W 10: usage error"
[ ! -e "$T/x.png" ]; ok $? "no PNG is left behind by a failure"
finish
