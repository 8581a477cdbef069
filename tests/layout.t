#!/bin/sh
# tests/layout.t: libmae's folders (mae(7) LAYOUT) depend on each other one way only: the
# folder graph drawn from every #include of lib/ and include/mae/ has no cycle, every folder
# of lib/ has its headers' folder under include/mae/, and no two sources share a base name.
. "$(dirname "$0")/lib.sh"
cd "$TDIR/.." || exit 1


# "a b" for every include in folder a of a header of folder b (a != b)
edges() {
	for f in lib/*/*.[ch] include/mae/*/*.h; do
		d=$(echo "$f" | sed -E 's#^(lib|include/mae)/([a-z]+)/.*#\2#')
		grep -oE '#include "(mae/)?[a-z]+/[a-z_0-9]+\.h"' "$f" |
			sed -E 's#.*"(mae/)?([a-z]+)/.*#\2#' |
			while read -r t; do [ "$d" = "$t" ] || echo "$t $d"; done
	done | sort -u
}
e=$(edges)
[ -n "$e" ]; ok $? "the include graph between folders is read (edges: $(echo "$e" | wc -l))"
loop=$(echo "$e" | tsort 2>&1 >/dev/null)
[ -z "$loop" ]; ok $? "no folder depends on itself through others${loop:+: $loop}"

missing=
for d in lib/*/; do
	d=$(basename "$d")
	[ -d "include/mae/$d" ] || missing="$missing $d"
done
[ -z "$missing" ]; ok $? "every folder of lib/ has its public headers in include/mae/<folder>/${missing:+ (missing:$missing)}"

dups=$(ls lib/*/*.c | xargs -n1 basename | sort | uniq -d)
[ -z "$dups" ]; ok $? "no two sources of lib/ share a base name${dups:+ ($dups)}"
finish
