#!/bin/sh
# libmae exports only names that start with mae_, so that a program linking it with other
# libraries (a BLAS, ZeroMQ, a user's own code) meets no clash of names like linear_forward.
. "$(dirname "$0")/lib.sh"
command -v nm > /dev/null || skip_all "no nm (Debian package binutils)"
lib="$MAE_BUILD/libmae.a"
[ -f "$lib" ] || { echo "not ok 1 - $lib: not built"; exit 1; }
nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u > "$T/syms"
# (names that start with __ are the compiler's own, as AddressSanitizer's __odr_asan.*)
is "$(grep -v -e '^mae_' -e '^__' "$T/syms" | paste -sd' ' -)" "" "every symbol libmae.a exports starts with mae_"
n=$(grep -c '^mae_' "$T/syms")
ok "$([ "$n" -gt 200 ] && echo 0 || echo 1)" "and it exports them ($n names)"
finish
