# bench/lib.sh: the common start of the benchmark scripts that run maepipe's programs from
# the build (sourced; bench/run.sh does not run it): $here is the checkout, build/bin (or
# $MAE_BUILD/bin) leads PATH, $PY is Debian's Python (numpy, torch, zmq).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
: "${MAE_BUILD:=$here/build}"
PATH="$MAE_BUILD/bin:$PATH"
export PATH MAE_BUILD
PY=/usr/bin/python3
