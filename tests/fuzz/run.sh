#!/bin/sh
# tests/fuzz/run.sh: coverage-guided fuzzing of the readers with libFuzzer, under AddressSanitizer
# and UBSan (make fuzz). Each target runs FUZZ_SECONDS (60) from seeds that libmae writes
# (seeds.c); inputs that crash, leak, hang or abort are kept as $MAE_BUILD/fuzz/crash-TARGET-*
# and the run fails. The corpora grow in $MAE_BUILD/fuzz/corpus-TARGET and are reused next time.
#
#   FUZZ_SECONDS=600 make fuzz          FUZZ_TARGETS="idx image" make fuzz
#
# Targets: record (the stream's record decoder), safetensors (checkpoint reader and loader),
# idx (IDX files, gzip'd or plain), image (JPEG and PNG decoding and the crop after it),
# tar (webdataset shards, plain or gzip'd: the header indexer and the reads after it),
# ps (the parameter server's message handler: a refused message changes nothing).
# Needs clang and its fuzzer runtime: apt-get install clang libclang-rt-14-dev. The include
# and link flags are the Makefile's (FUZZ_INCLUDES, FUZZ_LIBS), so run it by make fuzz.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"   # FUZZ_INCLUDES names include/ from here
: "${FUZZ_INCLUDES:?run by make fuzz}" "${FUZZ_LIBS:?run by make fuzz}"
B=${MAE_BUILD:-$ROOT/build}
F=$B/fuzz
SECS=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-record safetensors idx image tar ps}
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "fuzz: needs clang (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
[ -f "$B/libmae.a" ] || { echo "fuzz: build first (make)" >&2; exit 1; }

CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined $FUZZ_INCLUDES"

# libmae instrumented for coverage (two compilers at a time: the machines have 2 cores)
mkdir -p "$F/obj"
ls "$ROOT"/lib/*/*.c | xargs -P2 -I{} sh -c \
	'o="$1/obj/$(basename "$2" .c).o"; [ "$o" -nt "$2" ] || $3 $4 -fsanitize=fuzzer-no-link -c -o "$o" "$2"' \
	sh "$F" {} "$CLANG" "$CFLAGS"
rm -f "$F/libmae-fuzz.a"
ar rcs "$F/libmae-fuzz.a" "$F"/obj/*.o

# seeds from the ordinary build
cc -std=c11 -D_GNU_SOURCE $FUZZ_INCLUDES -o "$F/seeds" "$ROOT/tests/fuzz/seeds.c" "$B/libmae.a" $FUZZ_LIBS
"$F/seeds" "$F/seeds.d"

failed=
for t in $TARGETS; do
	[ -f "$ROOT/tests/fuzz/fuzz_$t.c" ] || { echo "fuzz: no target '$t'" >&2; exit 1; }
	$CLANG $CFLAGS -fsanitize=fuzzer -o "$F/fuzz_$t" "$ROOT/tests/fuzz/fuzz_$t.c" "$F/libmae-fuzz.a" $FUZZ_LIBS
	mkdir -p "$F/corpus-$t"
	cp "$F/seeds.d/$t"/* "$F/corpus-$t/"
	echo "# $t: $SECS s"
	if "$F/fuzz_$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$F/crash-$t-" "$F/corpus-$t" > "$F/$t.log" 2>&1; then
		grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$F/$t.log" | tail -2
	else
		echo "fuzz: $t failed; see $F/$t.log and $F/crash-$t-*"
		grep -E 'ERROR|SUMMARY' "$F/$t.log" | head -5
		failed="$failed $t"
	fi
done
[ -z "$failed" ] || { echo "fuzz: failures in:$failed" >&2; exit 1; }
echo "# fuzz: no crash in $TARGETS"
