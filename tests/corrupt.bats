#!/usr/bin/env bats
# Damaged index files: random single-byte corruptions and truncations never
# crash a command. A query over a damaged file exits 0 (the byte did not
# matter to it) or 65 (named as corrupt), never on a signal; --verify reports
# every corruption of a checksummed byte (the header and every section).
load helpers

# corrupt INDEX TRIALS TRUNCATIONS SEED: damage copies of INDEX and check
# what vdb-query and vdb-query --verify make of each; prints a tally
corrupt() {
  local ix=$1 trials=$2 truncs=$3 seed=$4 extra=${5:-}
  # checksummed byte ranges: the 4096-byte header and each section
  vdb-query -x "$ix" --info | jq -r '"0 4096", (.sections[] | "\(.offset) \(.length)")' >ranges
  perl - "$ix" "$trials" "$truncs" "$seed" q.fvecs "$extra" <<'PERL'
use strict; use warnings;
my ($ix, $trials, $truncs, $seed, $q, $extra) = @ARGV;
open(my $h, "<:raw", $ix) or die; local $/; my $orig = <$h>; close $h;
open(my $r, "<", "ranges") or die; my @ranges = map { [split] } split /\n/, <$r>; close $r;
srand($seed);
my %tally;
sub run { # command, expected statuses; dies on a signal or another status
  my ($what, $cmd, @ok) = @_;
  system("$cmd >/dev/null 2>err");
  my $sig = $? & 127; my $st = $? >> 8;
  if ($sig || !grep { $_ == $st } @ok) {
    open(my $e, "<", "err"); my $msg = join("", <$e>);
    die "$what: " . ($sig ? "signal $sig" : "status $st") . "\n$msg";
  }
  if ($st == 65) { # the message names the file
    open(my $e, "<", "err"); my $msg = join("", <$e>);
    die "$what: exit 65 without naming c.vdb: $msg" unless $msg =~ /c\.vdb/;
  }
  return $st;
}
sub save { open(my $o, ">:raw", "c.vdb") or die; print $o $_[0]; close $o; }
for my $t (1 .. $trials) {
  my $b = $orig;
  my $off = int(rand(length $b));
  substr($b, $off, 1) = chr(ord(substr($b, $off, 1)) ^ (1 + int(rand(255))));
  save($b);
  my $what = "byte $off of $ix";
  my $st = run("$what: query", "vdb-query -x c.vdb -k 5 --ef 32 --nprobe 4 $extra $q", 0, 65);
  $tally{"query $st"}++;
  my $covered = grep { $off >= $_->[0] && $off < $_->[0] + $_->[1] } @ranges;
  if ($covered) {
    run("$what: verify (checksummed)", "vdb-query -x c.vdb --verify", 65);
    $tally{"verify 65"}++;
  } else {
    run("$what: verify (padding)", "vdb-query -x c.vdb --verify", 0);
    $tally{"verify 0 (padding)"}++;
  }
}
# the file may end in padding after its last section: cutting only that loses nothing
my $end = 0;
for (@ranges) { $end = $_->[0] + $_->[1] if $_->[0] + $_->[1] > $end }
for my $t (1 .. $truncs) {
  my $len = int(rand(length $orig));
  save(substr($orig, 0, $len));
  my @ok = $len < $end ? (65) : (0, 65);
  my $st = run("$ix cut to $len bytes (data ends at $end): query", "vdb-query -x c.vdb -k 5 $q", @ok);
  run("$ix cut to $len bytes: verify", "vdb-query -x c.vdb --verify", @ok);
  $tally{"truncated $st"}++;
}
print join(", ", map { "$_: $tally{$_}" } sort keys %tally), "\n";
PERL
}

@test "flat: 500 byte corruptions and 50 truncations: exit 0 or 65, never a signal" {
  random_fvecs base.fvecs 300 16 1
  random_fvecs q.fvecs 5 16 2
  vdb-build -q -o f.vdb base.fvecs
  run corrupt f.vdb 500 50 11
  echo "$output"
  assert_success
  # the trials did reach both outcomes
  [[ "$output" == *"query 0: "* && "$output" == *"query 65: "* && "$output" == *"verify 65: "* ]]
}

@test "hnsw: 500 byte corruptions and 50 truncations: exit 0 or 65, never a signal" {
  random_fvecs base.fvecs 300 16 1
  random_fvecs q.fvecs 5 16 2
  vdb-build -q -T hnsw --M 4 -o h.vdb base.fvecs
  run corrupt h.vdb 500 50 12
  echo "$output"
  assert_success
  [[ "$output" == *"query 0: "* && "$output" == *"query 65: "* && "$output" == *"verify 65: "* ]]
}

@test "hnsw sq8 with refine, ivfpq with refine, JSONL ids: 100 corruptions each" {
  random_fvecs q.fvecs 5 16 2
  random_fvecs base.fvecs 300 16 1
  vdb-build -q -T hnsw --storage sq8 --refine 2 --M 4 -o hs.vdb base.fvecs
  corrupt hs.vdb 100 10 13
  vdb-build -q -T ivfpq --nlist 4 --pq-m 4 --refine 2 -o pq.vdb base.fvecs
  corrupt pq.vdb 100 10 14
  # string ids and metadata: their offset tables are sections too
  head -300 "$D/words1k.jsonl" | vdb-build -q -T hnsw --M 4 -o w.vdb
  head -5 "$D/words_query20.jsonl" >q.fvecs # JSONL queries, same name for the helper
  # and a filter, resolved through the payload index's sections
  corrupt w.vdb 100 10 15 "--filter 'corpus_count > 5000 || !exists(corpus_count)'"
}

@test "lsh, and flat and hnsw over binary vectors (hamming): 100 corruptions each" {
  random_fvecs q.fvecs 5 16 2
  random_fvecs base.fvecs 300 16 1
  vdb-build -q -T lsh --lsh-tables 4 --lsh-bits 6 -o l.vdb base.fvecs
  corrupt l.vdb 100 10 16
  # binary vectors; the queries are JSONL "bits" (detected whatever the name)
  perl -e 'srand(5); for (1..300) { print pack("l<", 8), pack("C*", map { int(rand(256)) } 1..8) }' >b.bvecs
  printf '{"bits": "%s"}\n' 0123456789abcdef fedcba9876543210 00ff00ff00ff00ff >q.fvecs
  vdb-build -q -T flat -m hamming -o fh.vdb b.bvecs
  corrupt fh.vdb 100 10 17
  vdb-build -q -T hnsw -m hamming --M 4 -o hh.vdb b.bvecs
  corrupt hh.vdb 100 10 18
}
