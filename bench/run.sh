#!/bin/sh
# Run every benchmark script in bench/ (figures and ratios against a reference measured
# in the same run). Long; not part of the tests.
set -u
cd "$(dirname "$0")/.."
: "${MAE_BUILD:=$PWD/build}"
export MAE_BUILD PATH="$MAE_BUILD/bin:$PATH"
status=0
for b in bench/*.sh; do
	case $b in bench/run.sh|bench/lib.sh) continue ;; esac
	echo "== $b"
	sh "$b" || status=1
done
exit $status
