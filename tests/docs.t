#!/bin/sh
# Documentation is part of the feature: every program has a man page and -h; every man
# page is clean mdoc; a wrong option is a usage error (status 1).
. "$(dirname "$0")/lib.sh"
MAN=$TDIR/../man
for p in "$MAE_BUILD"/bin/mae-*; do
	[ -x "$p" ] || continue
	name=$(basename "$p")
	[ -f "$MAN/man1/$name.1" ]; ok $? "$name has a man page"
	out=$("$p" -h 2>&1); rc=$?
	is "$rc" 0 "$name -h exits 0"
	like "$out" "^usage: $name" "$name -h prints its synopsis"
	"$p" --no-such-option </dev/null >/dev/null 2>&1; is $? 1 "$name rejects an unknown option with status 1"
done
for f in "$MAN"/man1/*.1 "$MAN"/man5/*.5 "$MAN"/man7/*.7; do
	msg=$(mandoc -T lint -W warning "$f" 2>&1); ok $? "$(basename "$f") is clean mdoc${msg:+: $msg}"
done
for f in man5/mae-stream.5 man5/mae-checkpoint.5 man7/mae.7; do [ -f "$MAN/$f" ]; ok $? "$f exists"; done
# every cross-reference names a page of ours or of the system
for f in "$MAN"/man?/*.[157]; do
	for x in $(sed -n 's/^\.Xr \(mae[-a-z]*\) \([157]\).*/\1.\2/p' "$f" | sort -u); do
		[ -f "$MAN/man${x##*.}/$x" ]; ok $? "$(basename "$f") refers to $x, which exists"
	done
done
finish
