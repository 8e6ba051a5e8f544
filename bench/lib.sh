# bench/lib.sh - helpers shared by the benchmark scripts (sourced, not run).
#
# Needs WORK (a private temporary directory) and PRETOUCH_GB set by the caller.
# bench_tools builds WORK/ptfs (bench/ptfs.c, a trivial passthrough FUSE fs)
# and WORK/pretouch; pretouch touches and frees PRETOUCH_GB GiB so that each
# measured page-cache fill starts from the same reclaim state (0 disables).

exec {SLEEPFD}<> <(:)
nap() { read -r -t "$1" -u "$SLEEPFD" || true; }   # sleep without a fork
now_ns() { date +%s%N; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b>0) printf "%.2f", a/b; else print "nan"}'; }

bench_tools() {
  cc -O2 -Wall bench/ptfs.c $(pkg-config --cflags --libs fuse3) -o "$WORK/ptfs"
  cat >"$WORK/pretouch.c" <<'EOC'
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
	size_t n = (size_t)(atof(argc > 1 ? argv[1] : "0") * 1073741824.0);
	char *p = n ? malloc(n) : NULL;
	if (p) memset(p, 1, n);
	return p && p[n / 2] != 1;
}
EOC
  cc -O2 "$WORK/pretouch.c" -o "$WORK/pretouch"
}
pretouch() { [ "$PRETOUCH_GB" = 0 ] || "$WORK/pretouch" "$PRETOUCH_GB"; }
