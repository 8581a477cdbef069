#!/bin/sh
# The kernels' other instruction-set paths. make builds for this CPU (-march=native) and the
# kernels pick their vector code at compile time (AVX-512, else AVX2+FMA, else plain C and
# OpenBLAS), so a machine with AVX-512 never runs the AVX2 code, and no machine of ours runs
# the fallback a CPU without AVX2 takes. Build libmae and the C unit tests again for those
# levels, each in $MAE_BUILD/isa-LEVEL, and run them: the same finite-difference checks, naive
# references and bit-for-bit comparisons as the native build's.
. "$(dirname "$0")/lib.sh"
ROOT=$TDIR/..
CC=${CC:-cc}

# the vector code the native build compiled (what `make` chose for this CPU)
native=$($CC -march=native -dM -E - </dev/null)
case $native in *__AVX512F__*) native_isa=avx512 ;; *__AVX2__*) native_isa=avx2 ;; *) native_isa=plain ;; esac

levels=x86-64
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
	if [ "$native_isa" = avx512 ]; then
		levels="$levels x86-64-v3"
	else
		echo "# x86-64-v3 (AVX2+FMA) is what the native build runs here: not built twice"
	fi
fi

for level in $levels; do
	B=$MAE_BUILD/isa-$level
	make -s -C "$ROOT" B="$B" OPT="-O2 -march=$level" units > "$T/build.$level" 2>&1
	rc=$?
	[ $rc -eq 0 ] || sed 's/^/# /' "$T/build.$level"
	ok $rc "libmae and the unit tests build with -march=$level"
	[ $rc -eq 0 ] || continue
	for u in "$B"/tests/test_*; do
		name=$(basename "$u")
		MAE_BUILD=$B "$u" > "$T/out" 2>&1
		rc=$?
		n=$(grep -c '^ok' "$T/out")
		bad=$(grep '^not ok' "$T/out")
		[ $rc -eq 0 ] && [ -z "$bad" ] && [ "$n" -gt 0 ]
		r=$?
		[ $r -eq 0 ] || { echo "# exit $rc"; grep -A4 '^not ok' "$T/out" | head -40 | sed 's/^/# /'; }
		ok $r "$name at -march=$level: $n checks pass"
		[ "$name" = test_kernels ] || continue
		# the build took the level's path: maepipe's own product is there with AVX2 (and
		# tested), absent in the baseline (the layers on OpenBLAS, its tests skipped)
		grep -q 'SKIP mae_gemm' "$T/out"
		if [ "$level" = x86-64 ]; then ok $? "x86-64 has no own product: OpenBLAS runs the layers"
		else is $? 1 "$level has the AVX2 product, and test_kernels checked it"; fi
	done
done
finish
