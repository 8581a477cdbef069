#!/bin/sh
# Raw Fashion-MNIST pixels (Debian's dataset-fashion-mnist, decoded by mae-decode): plain L2
# k-NN gives the reference numbers of DATA.md (k=1 85.0%, k=5 85.5%, k=20 84.2%, within 0.5),
# weighted k-NN on pixels is sane, and a linear probe on pixels is above 80%.
. "$(dirname "$0")/lib.sh"
FM=/usr/share/datasets/fashion-mnist
[ -r $FM/t10k-images-idx3-ubyte.gz ] || skip_all "dataset-fashion-mnist is not installed"

mae-decode -q -b 1000 fashion-mnist:train > "$T/train.mae"; ok $? "decode the 60000 train images"
mae-decode -q -b 1000 fashion-mnist:test > "$T/test.mae"; ok $? "decode the 10000 test images"

# within tolerance of a reference: near GOT WANT TOL
near() { awk -v g="$1" -v w="$2" -v t="$3" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= t) }'; }

out=$(mae-knn -q --plain -f image -k 1,5,20 -t "$T/train.mae" -i "$T/test.mae"); ok $? "mae-knn --plain -f image on raw pixels"
echo "$out" | sed 's/^/# /'
for kv in 1:85.0 5:85.5 20:84.2; do
	k=${kv%%:*}; want=${kv#*:}
	got=$(printf '%s\n' "$out" | sed -n "s/^k=$k top1=\([0-9.]*\)% n=10000$/\1/p")
	near "${got:-0}" "$want" 0.5; ok $? "plain k=$k: $got% is within 0.5 of $want%"
done

# the probe: 10000 train images, 10 epochs (a few seconds)
mae-decode -q -b 500 -n 10000 fashion-mnist:train > "$T/train10k.mae"
out=$(mae-probe -q -f image -e 10 -s 1 -t "$T/train10k.mae" -i "$T/test.mae"); ok $? "mae-probe on raw pixels"
echo "# probe: $out"
got=$(printf '%s\n' "$out" | sed -n 's/^top1=\([0-9.]*\)% n=10000$/\1/p')
awk -v g="${got:-0}" 'BEGIN { exit !(g > 80 && g < 90) }'; ok $? "linear probe on pixels: $got% (sane: 80-90%)"
finish
