#!/bin/sh
# pipelines/show-masks.sh end to end (one image per set): every strategy renders a PNG through
# mae-decode | mae-patchify | mae-mask | mae-view, on a real photo and on Fashion-MNIST.
. "$(dirname "$0")/lib.sh"
ls /usr/share/backgrounds/*.jpg /usr/share/backgrounds/mate/nature/*.jpg >/dev/null 2>&1 ||
	skip_all "no photos installed (make deps)"
sh "$TDIR/../pipelines/show-masks.sh" -n 1 -o "$T/g" > "$T/log" 2>&1
rc=$?
[ $rc -eq 0 ] || sed 's/^/# /' "$T/log"
ok $rc "show-masks.sh runs"
is "$(ls "$T/g"/photos-*.png | wc -l | tr -d ' ')" 17 "17 strategy pictures on photos"
is "$(ls "$T/g"/fmnist-*.png | wc -l | tr -d ' ')" 16 "16 on Fashion-MNIST (SimMIM cells do not tile its 7x7 grid)"
bad=0
for f in "$T/g"/*-*.png; do
	[ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || bad=$((bad + 1))
done
is "$bad" 0 "every picture is a PNG"
finish
