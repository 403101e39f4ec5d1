#!/usr/bin/env bats
# Cron-ready batch indexing: config files, the build lock, --quiet and the
# summary line, vdb-eval check, Prometheus metrics files.
load helpers

# a YAML config error: status 64, and the message names file, line and key
config_error() { # FILE LINE KEY
  run --separate-stderr vdb-build -c "$1" -o ix.vdb "$D/sift_query20.fvecs"
  assert_failure 64
  [[ "$stderr" == *"$1: line $2: "*"$3"* ]] || { echo "$stderr"; false; }
  [ ! -e ix.vdb ]
}

@test "a YAML-driven build equals the same build from options, byte for byte" {
  cat >build.yaml <<YAML
type: hnsw
metric: cosine
M: 8
ef-construction: 40
seed: 7
threads: 1
output: yaml.vdb
input:
  - $D/words1k.jsonl
  - "-"
YAML
  vdb-build -q -c build.yaml <"$D/words_query20.jsonl"
  vdb-build -q -T hnsw -m cosine --M 8 --ef-construction 40 --seed 7 -t 1 -o opts.vdb \
    "$D/words1k.jsonl" - <"$D/words_query20.jsonl"
  cmp yaml.vdb opts.vdb
  [ "$(vdb-query -x yaml.vdb --info | jq .count)" = 1020 ]
  # a different seed gives another graph: the comparison can tell them apart
  vdb-build -q -c build.yaml --seed 8 -o seed8.vdb <"$D/words_query20.jsonl"
  run -1 cmp -s yaml.vdb seed8.vdb
}

@test "command-line options and operands win over the config file" {
  printf 'metric: ip\noutput: cfg.vdb\ninput: [%s]\n' "$D/sift2k_base.fvecs" >c.yaml
  vdb-build -q -c c.yaml
  [ "$(vdb-query -x cfg.vdb --info | jq -r '.metric + " " + (.count|tostring)')" = "ip 2000" ]
  vdb-build -q -c c.yaml -m l2 -o cli.vdb "$D/sift_query20.fvecs"
  [ "$(vdb-query -x cli.vdb --info | jq -r '.metric + " " + (.count|tostring)')" = "l2 20" ]
  [ "$(vdb-query -x cfg.vdb --info | jq .count)" = 2000 ]
}

@test "config errors name the file, the line and the key, with status 64" {
  printf 'metric: l2\n\nbogus: 1\n' >unknown.yaml
  config_error unknown.yaml 3 bogus
  printf 'type: hnsw\nM: many\n' >type.yaml
  config_error type.yaml 2 M
  printf 'type: hnsw\nM: 9999\n' >range.yaml
  config_error range.yaml 2 M
  printf '# threads\nthreads: 0\n' >threads.yaml
  config_error threads.yaml 2 threads
  printf 'append: 3\n' >flag.yaml
  config_error flag.yaml 1 append
  printf 'metric:\n  l2: 1\n' >nested.yaml
  config_error nested.yaml 1 metric
  printf 'type: flat\nmetric: [l2\n' >syntax.yaml
  run --separate-stderr vdb-build -c syntax.yaml -o ix.vdb "$D/sift_query20.fvecs"
  assert_failure 64
  [[ "$stderr" == *"syntax.yaml: line "[23]": "* ]]
  [ ! -e ix.vdb ]
}

# start_holder INDEX: a vdb-build of INDEX that holds its lock while it waits
# for input on the fifo in.fifo (fd 8 keeps the fifo open); HOLDER is its pid
start_holder() {
  rm -f in.fifo && mkfifo in.fifo
  vdb-build -q -o "$1" in.fifo 3>&- &
  HOLDER=$!
  exec 8>in.fifo
  # the lock file names the holder once it has the lock
  for _ in $(seq 100); do grep -q "pid $HOLDER " "$1.lock" 2>/dev/null && return; sleep 0.05; done
  false
}

# feed_holder FILE: give the holder its input and wait for it
feed_holder() {
  cat "$1" >&8
  exec 8>&-
  wait "$HOLDER"
}

@test "a second build of a locked index exits 75 naming the holder; the index stays valid" {
  vdb-build -q -o ix.vdb "$D/sift_query20.fvecs"
  cp ix.vdb before.vdb
  start_holder ix.vdb
  run --separate-stderr vdb-build -o ix.vdb "$D/sift2k_base.fvecs"
  assert_failure 75
  [[ "$stderr" == *"ix.vdb.lock"*"pid $HOLDER on host $(hostname)"* ]] || { echo "$stderr"; false; }
  cmp ix.vdb before.vdb
  # appends wait for the lock too: they must not start from the old index
  run vdb-build --append -o ix.vdb "$D/sift_query20.fvecs"
  assert_failure 75
  cmp ix.vdb before.vdb
  vdb-query -x ix.vdb --verify
  feed_holder "$D/sift2k_base.fvecs"
  [ "$(vdb-query -x ix.vdb --info | jq .count)" = 2000 ]
  # released: the next build takes the lock without waiting
  vdb-build -q -o ix.vdb "$D/sift_query20.fvecs"
}

@test "--wait waits for the holder and then builds" {
  start_holder ix.vdb
  vdb-build -q --wait 30 --append -o ix.vdb "$D/sift_query20.fvecs" 3>&- 8>&- &
  waiter=$!
  sleep 0.3
  kill -0 "$waiter" # still waiting
  feed_holder "$D/sift2k_base.fvecs"
  wait "$waiter"
  # the append started from the holder's index
  [ "$(vdb-query -x ix.vdb --info | jq .count)" = 2020 ]
  # a wait that runs out is 75 too
  start_holder ix.vdb
  run vdb-build --wait 0.2 -o ix.vdb "$D/sift_query20.fvecs"
  assert_failure 75
  feed_holder "$D/sift_query20.fvecs"
}

@test "a query started before a rebuild answers from the index it opened" {
  vdb-build -q -o ix.vdb "$D/sift2k_base.fvecs"
  vdb-query -x ix.vdb -O ivecs "$D/sift_query20.fvecs" >old.ivecs
  rm -f q.fifo && mkfifo q.fifo
  vdb-query -x ix.vdb -O ivecs q.fifo >during.ivecs &
  reader=$!
  exec 9>q.fifo
  # the reader has mapped the index once its maps show it
  for _ in $(seq 100); do grep -q "/ix.vdb$" /proc/$reader/maps 2>/dev/null && break; sleep 0.05; done
  grep -q "/ix.vdb$" /proc/$reader/maps
  # replace the index with one of other vectors, while the reader holds the old one
  vdb-build -q -o ix.vdb "$D/sift_query20.fvecs"
  vdb-query -x ix.vdb -O ivecs "$D/sift_query20.fvecs" >new.ivecs
  run -1 cmp -s old.ivecs new.ivecs
  cat "$D/sift_query20.fvecs" >&9
  exec 9>&-
  wait "$reader"
  cmp during.ivecs old.ivecs
}

@test "--quiet: a successful build prints nothing; errors still reach stderr" {
  run --separate-stderr vdb-build --quiet -o q.vdb "$D/sift2k_base.fvecs"
  assert_success
  [ -z "$output" ]
  [ -z "$stderr" ]
  [ "$(vdb-query -x q.vdb --info | jq .count)" = 2000 ]
  run --separate-stderr vdb-build -q --append -o q.vdb "$D/sift_query20.fvecs"
  assert_success
  [ -z "$output" ]
  [ -z "$stderr" ]
  fvecs bad.fvecs 2  1 2 3
  run --separate-stderr vdb-build --quiet -o b.vdb bad.fvecs
  assert_failure 65
  [ -z "$output" ]
  [[ "$stderr" == "vdb-build: error: bad.fvecs"* ]]
}

@test "without --quiet a build prints exactly one summary line on stderr" {
  run --separate-stderr vdb-build -T hnsw --M 8 -o s.vdb "$D/sift2k_base.fvecs"
  assert_success
  [ -z "$output" ]
  [ "$(printf '%s\n' "$stderr" | wc -l)" = 1 ]
  bytes=$(stat -c %s s.vdb)
  [[ "$stderr" =~ ^vdb-build:\ s\.vdb:\ 2000\ vectors,\ dim\ 128,\ hnsw,\ l2,\ $bytes\ bytes,\ build\ [0-9.]+\ s,\ total\ [0-9.]+\ s$ ]] ||
    { echo "$stderr"; false; }
  run --separate-stderr vdb-build --append -o s.vdb "$D/sift_query20.fvecs"
  [ "$(printf '%s\n' "$stderr" | wc -l)" = 1 ]
  [[ "$stderr" == *"20 vectors added (2020 in all), dim 128, hnsw"* ]]
}

# probe_recall INDEX [query options]: recall@10 on the bundled SIFT probe
probe_recall() {
  local ix=$1; shift
  recall10 "$ix" "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" "$@"
}

# above X / below X: a threshold just above or below a recall
above() { awk -v r="$1" 'BEGIN { printf "%.4f", r + 0.01 }'; }
below() { awk -v r="$1" 'BEGIN { printf "%.4f", r - 0.01 }'; }

check() { # INDEX [options]
  local ix=$1; shift
  vdb-eval check -x "$ix" --queries "$D/sift_query20.fvecs" --gt "$D/sift2k_gt100_l2.ivecs" "$@"
}

@test "vdb-eval check passes and fails on the right side of --min-recall" {
  vdb-build -q -T hnsw --M 4 --ef-construction 16 -t 1 -o h.vdb "$D/sift2k_base.fvecs"
  r=$(probe_recall h.vdb --ef 10)
  # the index must miss some neighbours for the thresholds below to mean anything
  awk -v r="$r" 'BEGIN { exit !(r > 0.05 && r < 0.99) }'
  run --separate-stderr check h.vdb --ef 10 --min-recall "$(below "$r")"
  assert_success
  [[ "$output" =~ ^h\.vdb:\ recall@10\ $r,\ latency\ p50\ [0-9.]+\ ms,\ p90\ [0-9.]+\ ms,\ p99\ [0-9.]+\ ms,\ 20\ queries:\ ok$ ]] ||
    { echo "$output"; false; }
  [ -z "$stderr" ]
  run --separate-stderr check h.vdb --ef 10 --min-recall "$(above "$r")"
  assert_failure 1
  [[ "$output" == *"recall@10 $r"*"FAILED" ]]
  [[ "$stderr" == *"check failed: recall@10 $r is below --min-recall "* ]]
  # the setting reaches the search: a wider ef finds more
  r2=$(probe_recall h.vdb --ef 200)
  awk -v a="$r" -v b="$r2" 'BEGIN { exit !(b > a) }'
  run check h.vdb --ef 200 --min-recall "$(above "$r")" -k 10
  [[ "$output" == *"recall@10 $r2"* ]]
  [ "$status" -eq "$(awk -v a="$r2" -v t="$(above "$r")" 'BEGIN { print (a < t) }')" ]
}

@test "vdb-eval check fails above --max-p99-ms and passes below it" {
  vdb-build -q -o f.vdb "$D/sift2k_base.fvecs"
  run --separate-stderr check f.vdb --max-p99-ms 1e-6
  assert_failure 1
  [[ "$stderr" == *"p99 latency"*"is above --max-p99-ms 1e-06"* ]]
  p99=$(sed -E 's/.*p99 ([0-9.]+) ms.*/\1/' <<<"$output")
  run check f.vdb --max-p99-ms 60000 --min-recall 1
  assert_success
  assert_output --partial "recall@10 1.0000"
  run check f.vdb --ef 1,2
  assert_failure 64
  run check f.vdb --queries "$D/words_query20.jsonl"
  assert_failure 65
  run vdb-eval check --queries "$D/sift_query20.fvecs" --gt "$D/sift2k_gt100_l2.ivecs"
  assert_failure 64
}

# prom_check FILE: every line is a Prometheus text-format line, each family's
# HELP and TYPE come once and before its samples, every sample has a label
# index="$2"
prom_check() {
  perl -e '
    my ($file, $index) = @ARGV; open(my $h, "<", $file) or die "$file: $!\n";
    my $name = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/; my $val = qr/(?:[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|NaN|[-+]Inf)/;
    my $lab = qr/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"/;
    my (%type, %help, $n); my $bad = 0;
    while (my $l = <$h>) { $n++; chomp $l;
      if ($l =~ /^# HELP ($name) \S.*$/) { $bad++, warn "line $n: second HELP\n" if $help{$1}++; next; }
      if ($l =~ /^# TYPE ($name) (counter|gauge|summary|histogram|untyped)$/) {
        $bad++, warn "line $n: second TYPE\n" if $type{$1}; $type{$1} = $2; next; }
      if ($l =~ /^($name)\{($lab(?:,$lab)*)\} ($val)$/) {
        my ($m, $labels) = ($1, $2); my $fam = $m;
        $fam =~ s/_(sum|count)$// unless $type{$fam};
        $bad++, warn "line $n: $m has no TYPE before it\n" unless $type{$fam};
        $bad++, warn "line $n: no index label\n" unless $labels =~ /(^|,)index="\Q$index\E"/;
        $bad++, warn "line $n: quantile outside a summary\n"
          if $labels =~ /quantile=/ && $type{$fam} ne "summary";
        next; }
      $bad++; warn "line $n: not a metrics line: $l\n"; }
    exit($bad || !$n);' "$1" "$2"
}

# value FILE NAME: the value of the first sample of NAME
value() { awk -v m="$2" '$1 ~ "^" m "[{ ]" { print $NF; exit }' "$1"; }

@test "vdb-build --metrics: a strict Prometheus file, replaced atomically, failures recorded" {
  mkdir m
  vdb-build -q --metrics m/build.prom -o ix.vdb "$D/sift2k_base.fvecs"
  prom_check m/build.prom ix.vdb
  [ "$(ls m)" = build.prom ] # no temporary left behind
  [ "$(value m/build.prom vdb_build_vectors)" = 2000 ]
  [ "$(value m/build.prom vdb_index_bytes)" = "$(stat -c %s ix.vdb)" ]
  [ "$(value m/build.prom vdb_build_success)" = 1 ]
  ok_ts=$(value m/build.prom vdb_build_last_success_timestamp_seconds)
  now=$(date +%s)
  [ $((now - ok_ts)) -ge 0 ]
  [ $((now - ok_ts)) -le 60 ]
  grep -q '^# TYPE vdb_build_seconds gauge$' m/build.prom
  run -1 grep -q failure m/build.prom
  # a failed build: success 0, its status, and the last success kept
  inode=$(stat -c %i m/build.prom)
  fvecs bad.fvecs 2  1 2 3
  run vdb-build -q --metrics m/build.prom -o ix.vdb bad.fvecs
  assert_failure 65
  prom_check m/build.prom ix.vdb
  [ "$(value m/build.prom vdb_build_success)" = 0 ]
  [ "$(value m/build.prom vdb_build_exit_status)" = 65 ]
  [ "$(value m/build.prom vdb_build_last_success_timestamp_seconds)" = "$ok_ts" ]
  [ -n "$(value m/build.prom vdb_build_last_failure_timestamp_seconds)" ]
  [ "$(stat -c %i m/build.prom)" != "$inode" ] # replaced by rename, not rewritten
  [ "$(ls m)" = build.prom ]
  [ "$(vdb-query -x ix.vdb --info | jq .count)" = 2000 ]
  # a busy lock leaves the file to the holder
  cp m/build.prom before.prom
  start_holder ix.vdb
  run vdb-build -q --metrics m/build.prom -o ix.vdb "$D/sift_query20.fvecs"
  assert_failure 75
  cmp m/build.prom before.prom
  feed_holder "$D/sift_query20.fvecs"
  # an unwritable metrics directory is an error, after the index is in place
  run vdb-build -q --metrics nodir/build.prom -o ix.vdb "$D/sift2k_base.fvecs"
  assert_failure 73
  assert_output --partial "nodir/build.prom"
}

@test "vdb-eval check --metrics: recall, latency quantiles and the outcome" {
  vdb-build -q -o f.vdb "$D/sift2k_base.fvecs"
  mkdir m
  check f.vdb --min-recall 1 --metrics m/check.prom >/dev/null
  prom_check m/check.prom f.vdb
  [ "$(ls m)" = check.prom ]
  [ "$(value m/check.prom vdb_eval_recall)" = 1 ]
  grep -q '^vdb_eval_recall{index="f.vdb",k="10"} 1$' m/check.prom
  grep -q '^# TYPE vdb_eval_latency_seconds summary$' m/check.prom
  for q in 0.5 0.9 0.99; do grep -q "^vdb_eval_latency_seconds{index=\"f.vdb\",quantile=\"$q\"} " m/check.prom; done
  [ "$(value m/check.prom vdb_eval_latency_seconds_count)" = 20 ]
  [ "$(value m/check.prom vdb_eval_check_success)" = 1 ]
  # quantiles in order
  awk '/quantile=/ { if ($NF + 0 < last) exit 1; last = $NF + 0 }' m/check.prom
  run check f.vdb --max-p99-ms 1e-6 --metrics m/check.prom
  assert_failure 1
  prom_check m/check.prom f.vdb
  [ "$(value m/check.prom vdb_eval_check_success)" = 0 ]
  [ "$(value m/check.prom vdb_eval_check_exit_status)" = 1 ]
  [ -n "$(value m/check.prom vdb_eval_check_last_success_timestamp_seconds)" ]
  run check missing.vdb --metrics m/check.prom
  assert_failure 66
  [ "$(value m/check.prom vdb_eval_check_exit_status)" = 66 ]
}

@test "the cron example of the man page and README: nightly append, ground truth, check" {
  mkdir days prom
  head -n 900 "$D/words1k.jsonl" >days/2026-11-01.jsonl
  tail -n 100 "$D/words1k.jsonl" >days/2026-11-02.jsonl
  cp "$D/words_query20.jsonl" probe.jsonl
  printf 'append: true\noutput: docs.vdb\nwait: 5\nmetrics: prom/vdb_build.prom\n' >build.yaml
  printf '%s\n' 'index: docs.vdb' 'queries: probe.jsonl' 'gt: probe_gt.ivecs' 'k: 10' 'ef: 64' \
    'min-recall: 0.5' 'max-p99-ms: 1000' 'metrics: prom/vdb_check.prom' >check.yaml
  nightly() { # DAY
    vdb-build -q -c build.yaml "days/$1.jsonl" &&
    cat days/*.jsonl | vdb-eval groundtruth -m cosine -k 10 - probe.jsonl >probe_gt.ivecs &&
    vdb-eval check -c check.yaml >>check.log
  }
  vdb-build -q -T hnsw -m cosine -t 1 -o docs.vdb days/2026-11-01.jsonl
  run --separate-stderr nightly 2026-11-02
  assert_success
  [ -z "$output" ]
  [ -z "$stderr" ]
  [ "$(vdb-query -x docs.vdb --info | jq .count)" = 1000 ]
  # the ground truth of all the days is the bundled one of words1k
  cmp probe_gt.ivecs <(vdb-eval groundtruth -m cosine -k 10 "$D/words1k.jsonl" probe.jsonl)
  [[ "$(cat check.log)" == "docs.vdb: recall@10 "*": ok" ]]
  prom_check prom/vdb_build.prom docs.vdb
  prom_check prom/vdb_check.prom docs.vdb
  [ "$(ls prom)" = "$(printf 'vdb_build.prom\nvdb_check.prom')" ]
  [ "$(value prom/vdb_build.prom vdb_build_vectors)" = 1000 ]
  # a bad day: 65, nothing added, the failure in the metrics
  printf '{"vector": [1, 2]}\n' >days/2026-11-03.jsonl
  cp docs.vdb before.vdb
  run nightly 2026-11-03
  assert_failure 65
  cmp docs.vdb before.vdb
  [ "$(value prom/vdb_build.prom vdb_build_exit_status)" = 65 ]
  # a guard out of range is named in the file; one that is not met is 1
  sed -i 's/^min-recall: .*/min-recall: 1.01/' check.yaml
  run vdb-eval check -c check.yaml
  assert_failure 64
  assert_output --partial "check.yaml: line 6: --min-recall"
  sed -i -e 's/^min-recall: .*/min-recall: 0.5/' -e 's/^max-p99-ms: .*/max-p99-ms: 0.000001/' check.yaml
  run vdb-eval check -c check.yaml
  assert_failure 1
  [ "$(value prom/vdb_check.prom vdb_eval_check_success)" = 0 ]
  [ -n "$(value prom/vdb_check.prom vdb_eval_check_last_success_timestamp_seconds)" ]
}
