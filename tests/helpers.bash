# helpers.bash — shared setup for the command tests (bats).
bats_require_minimum_version 1.5.0
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

: "${VDB_BIN:=$BATS_TEST_DIRNAME/../build/cmd}"
: "${VDB_TESTDATA:=$BATS_TEST_DIRNAME/data}"
: "${VDB_SRCDIR:=$BATS_TEST_DIRNAME/..}"
: "${VDB_SHARED_DATA:=$VDB_SRCDIR/../shared/data}"
PATH="$VDB_BIN:$PATH"
D=$VDB_TESTDATA

setup() {
  T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vdb-test.XXXXXX")
  cd "$T" || return 1
}

teardown() {
  cd / && rm -rf "$T"
}

need_shared() {
  [ -d "$VDB_SHARED_DATA/siftsmall" ] ||
    skip "../shared/data is absent (set VDB_SHARED_DATA to run the real-data tests)"
  S=$VDB_SHARED_DATA
}

# fvecs FILE DIM V1 V2 ... : write float32 records of DIM values each
fvecs() {
  local f=$1 d=$2; shift 2
  perl -e 'my $d = shift; my @v = @ARGV;
           while (@v) { print pack("l<", $d), pack("f<*", splice(@v, 0, $d)); }' "$d" "$@" >"$f"
}

# random_fvecs FILE N DIM SEED [LEVELS]: deterministic pseudo-random vectors;
# with LEVELS, values are integers in 0..LEVELS-1 (so exact ties happen)
random_fvecs() {
  local f=$1; shift
  perl -e 'my ($n, $d, $s, $lv) = @ARGV; srand($s);
           for (1..$n) { print pack("l<", $d);
             print pack("f<*", map { $lv ? int(rand($lv)) : rand(2) - 1 } 1..$d); }' "$@" >"$f"
}

# brute FILE_BASE FILE_QUERY K METRIC: exact ids per query, one line each,
# computed independently of vdb in perl (double precision, ties to smaller id)
brute() {
  perl -e '
    sub rd { my ($f) = @_; open(my $h, "<:raw", $f) or die; local $/; my $b = <$h>; my @r;
      while (length $b) { my $d = unpack("l<", $b); push @r, [unpack("f<$d", substr($b, 4))];
        $b = substr($b, 4 + 4 * $d); } return @r; }
    my ($bf, $qf, $k, $m) = @ARGV; my @b = rd($bf); my @q = rd($qf);
    sub nrm { my $s = 0; $s += $_ * $_ for @{$_[0]}; return sqrt($s) || 1; }
    for my $q (@q) { my @d;
      for my $i (0..$#b) { my $x = $b[$i]; my $v = 0;
        if ($m eq "l2") { $v += ($q->[$_] - $x->[$_]) ** 2 for 0..$#$q; }
        elsif ($m eq "ip") { $v -= $q->[$_] * $x->[$_] for 0..$#$q; }
        else { my $dot = 0; $dot += $q->[$_] * $x->[$_] for 0..$#$q;
               $v = 1 - $dot / (nrm($q) * nrm($x)); }
        push @d, [$v, $i]; }
      @d = sort { $a->[0] <=> $b->[0] || $a->[1] <=> $b->[1] } @d;
      print join(" ", map { $_->[1] } @d[0 .. ($k > @d ? @d : $k) - 1]), "\n"; }' "$@"
}

# ids of vdb-query jsonl output, one line per query, space-separated
ids_of() { jq -r '.ids | map(tostring) | join(" ")' "$@"; }

# recall@10 of an index on queries against ground truth, as a number
recall10() { # INDEX QUERIES GT [query options...]
  local ix=$1 q=$2 gt=$3; shift 3
  vdb-query -x "$ix" -k 10 "$@" "$q" | vdb-eval recall -k 10 "$gt" | awk '{print $2}'
}

# ge A B: A >= B as numbers
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
# near A B EPS: |A - B| <= EPS
# (recalls are multiples of 1/queries: 1.00 - 0.99 must count as 0.01, not a float above it)
near() { awk -v a="$1" -v b="$2" -v e="$3" 'BEGIN { d = a - b; e += 1e-9; exit !(d <= e && -d <= e) }'; }

# section_at INDEX KIND: "offset length" of the index's section of that kind
section_at() {
  vdb-query -x "$1" --info | jq -r --arg k "$2" '.sections[] | select(.kind == $k) | "\(.offset) \(.length)"'
}

# poke FILE OFFSET TEMPLATE VALUES...: write perl pack(TEMPLATE, VALUES) at OFFSET
poke() {
  perl -e 'my ($f, $o, $t, @v) = @ARGV; open(my $h, "+<:raw", $f) or die "$f: $!";
           seek($h, $o, 0) or die; print $h pack($t, @v) or die;' "$@"
}

# fill FILE OFFSET TEMPLATE COUNT VALUE: COUNT values (perl pack TEMPLATE; VALUE
# may be 0x hex) at OFFSET
fill() {
  perl -e 'my ($f, $o, $t, $n, $v) = @ARGV; $v = hex($v) if $v =~ /^0x/i;
           open(my $h, "+<:raw", $f) or die "$f: $!";
           seek($h, $o, 0) or die; print $h pack("$t*", ($v) x $n) or die;' "$@"
}

# reseal FILE: recompute the XXH3-64 of every section the header lists, then
# the header's own, as vdb's writer does: a crafted file then passes every
# checksum and only vdb's structural and value checks can refuse it
# (needs xxhsum, Debian package xxhash)
reseal() {
  perl -e '
    use File::Temp qw(tempfile);
    sub xxh3 { my ($fh, $tmp) = tempfile(UNLINK => 1); binmode $fh; print $fh $_[0]; close $fh;
      my $out = `xxhsum -H3 "$tmp"`; $out =~ /= ([0-9a-f]{16})/ or die "xxhsum: $out";
      return hex($1); }
    no warnings "portable";
    open(my $h, "+<:raw", $ARGV[0]) or die "$ARGV[0]: $!"; local $/; my $b = <$h>;
    my $n = unpack("V", substr($b, 28, 4));
    for my $i (0 .. $n - 1) {
      my $e = 512 + 32 * $i;
      my ($off, $len) = unpack("Q<Q<", substr($b, $e + 8, 16));
      substr($b, $e + 24, 8) = pack("Q<", xxh3(substr($b, $off, $len)));
    }
    substr($b, 4088, 8) = pack("Q<", xxh3(substr($b, 0, 4088)));
    seek($h, 0, 0); print $h substr($b, 0, 4096);' "$1"
}
