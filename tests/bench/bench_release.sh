#!/usr/bin/env bash
# Release protection benchmark (a script, not a test): see docs/benchmarks.md.
#
#   tests/bench/bench_release.sh [--rows N] [--persons N] [--explain DIR]
#                                [--load-only]
#
# In a throwaway directory it starts its own PostgreSQL 15 cluster (fsync
# off, like bench_delivery.sh) and on it the stack of tests/e2e/stack.sh
# with the release binaries (vst-keyd for the signature and the release
# pseudonyms; vst-httpd is started but not used). Then:
#   1. loads N generated sgb5.records rows (default 10,000,000) directly
#      with SQL as the superuser (INSERT ... SELECT generate_series; not
#      timed), then ANALYZE, VACUUM, CHECKPOINT. --persons (default N/20):
#      about 20 rows per person. A real store holds ~100+ rows per insured
#      person and year, so N/20 is pessimistic for cells: more persons per
#      row means more (class, person) pairs for the same scan. Birth years
#      1925..2024 bell-shaped, sex M/W with a few D/X, insurance status
#      1/3/5 weighted, postal prefixes 01..99 weighted, 3 % of persons moved
#      and 2 % changed status (in two classes each), a provider on 90 % of
#      rows (pool of 25,000), 1-3 icd10 codes per row, Zipf-like over 5,000
#      codes (the tail is rare);
#   2. baseline: SELECT birth_year, sex, postal_prefix, insurance_status,
#      count(*) ... GROUP BY 1,2,3,4 (psql, output discarded), twice, the
#      second (warm) counts; for context the same GROUP BY with
#      count(DISTINCT pseudonym), and GROUP BY the four and pseudonym (the
#      one scan vst.release_cells makes);
#   3. vst-admin cells --json (profile defaults, k = 5) twice: cold (first)
#      and warm (second); rows/s and cells / bare GROUP BY (the figure);
#   4. vst-admin cells --json --rare-codes (the extra pass, separately);
#   5. vst-admin release create bench1: wall time, rows/s (rows of the
#      table / wall time) and its phases (durations of vst-admin's own
#      statements, from the server log: log_min_duration_statement = 0 for
#      the role vst_admin in the store only); baseline CREATE TABLE AS
#      SELECT * FROM sgb5.records in the same run, and the ratio;
#   6. prints a summary with the goals of issue 11 next to the figures:
#      cells <= 2x the bare GROUP BY, release >= 100,000 rows/s.
# --explain DIR writes EXPLAIN (ANALYZE, BUFFERS) of the query that
# vst.release_cells generates (rebuilt from the installed function itself)
# into DIR after the figures. --load-only stops after step 1 and leaves the
# cluster and the stack running for diagnosis by hand (it prints how to
# reach and stop them). Runs as root; use `nice -n 5` on a shared
# machine. About 10 GB of temporary files and 10-15 minutes at 10,000,000
# rows on 2 cores. Everything is stopped and removed on exit. Binaries come
# from BUILD_DIR (default build/release), built there with cmake if missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/deploy/lib/common.sh"

ROWS=10000000 PERSONS='' EXPLAIN_DIR='' LOAD_ONLY=''
while [ $# -gt 0 ]; do
    case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --persons) PERSONS=$2; shift 2 ;;
    --explain) EXPLAIN_DIR=$(realpath -m "$2"); shift 2 ;;
    --load-only) LOAD_ONLY=1; shift ;;
    -h | --help) sed -n '2,43p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "bench_release.sh: unknown argument $1 (see --help)" ;;
    esac
done
if ! [[ "$ROWS" =~ ^[0-9]+$ ]] || [ "$ROWS" -lt 100 ]; then die "--rows must be a number >= 100"; fi
PERSONS=${PERSONS:-$((ROWS / 20))}
if ! [[ "$PERSONS" =~ ^[0-9]+$ ]] || [ "$PERSONS" -lt 1 ] || [ "$PERSONS" -gt "$ROWS" ]; then
    die "--persons must be a number from 1 to --rows"
fi
[ "$(id -u)" -eq 0 ] || die "bench_release.sh runs as root (like tests/run.sh)"

BUILD_DIR=$(realpath -m "${BUILD_DIR:-$ROOT/build/release}")
export VST_SOURCE_DIR=$ROOT
export VST_KEYD=$BUILD_DIR/bin/vst-keyd
export VST_ADMIN=$BUILD_DIR/bin/vst-admin
export VST_HTTPD=$BUILD_DIR/bin/vst-httpd
export VST_GEN=$BUILD_DIR/bin/vst-gen
export VST_SEND=$BUILD_DIR/bin/vst-send
need_build=
for b in "$VST_KEYD" "$VST_ADMIN" "$VST_HTTPD"; do [ -x "$b" ] || need_build=1; done
if [ -n "$need_build" ]; then
    log "building the release binaries in $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target vst-keyd vst-admin vst-httpd >/dev/null
fi

TMP=$(mktemp -d /tmp/vst-bench-release.XXXXXX)
chmod 755 "$TMP"
STACK_UP=''
cleanup() {
    set +e
    [ -z "$STACK_UP" ] || stack_down >/dev/null 2>&1
    vst_pg_stop "$TMP/pg/data"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_now() { echo "${EPOCHREALTIME/[.,]/}"; } # microseconds
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / ((b - a) / 1e6) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
goal() { awk -v v="$1" -v g="$2" -v op="$3" 'BEGIN { ok = op == "ge" ? v >= g : v <= g; print ok ? "met" : "NOT met" }'; }
jnum() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
MEM=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
MACHINE="$CPU, $(nproc) cores, $MEM, $(uname -sr), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}')"
echo "machine: $MACHINE; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the stack ----------------------------------------------------------------
mkdir "$TMP/pg"
vst_pg_start "$TMP/pg" "$(vst_free_port 57532)" 2>/dev/null
PGLOG=$TMP/pg/postgres.log
source "$ROOT/tests/e2e/stack.sh"
set -e
STACK_UP=1
stack_up >"$TMP/stack.log" 2>&1 || { cat "$TMP/stack.log" >&2; die "the stack did not come up"; }
SETTINGS=$(sql_store "SELECT string_agg(name || ' = ' || current_setting(name), ', ' ORDER BY name)
                        FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes',
                          'shared_buffers', 'work_mem', 'maintenance_work_mem', 'max_parallel_workers_per_gather',
                          'effective_cache_size', 'jit', 'wal_keep_size', 'max_wal_size')")
echo "PostgreSQL: private cluster (vst_pg_start, as bench_delivery.sh): $SETTINGS; jit available: $(sql_store "SELECT pg_jit_available()")"
echo "  (the release functions SET work_mem = 512MB themselves; the baselines below run with the cluster's work_mem)"
echo "stack: tests/e2e/stack.sh, binaries from $BUILD_DIR"

# --- 1. rows ------------------------------------------------------------------
t0=$(t_now)
psql -qX -v ON_ERROR_STOP=1 -d "$STORE_DB" -v rows="$ROWS" -v persons="$PERSONS" >/dev/null <<'SQL'
SELECT setseed(0.11);
-- Codes, Zipf-like: n = floor((1 - u)^-1.25) - 1 has P(n) ~ n^-1.8; folded
-- into 0..4999. Code n is a letter, two digits, a dot and a digit.
CREATE FUNCTION pg_temp.bench_n(u float8) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS 'SELECT (least(power(1 - u, -1.25), 1e15)::bigint - 1) % 5000';
CREATE FUNCTION pg_temp.bench_code(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$SELECT chr(65 + (n % 26)::int) || lpad(((n / 26) % 100)::text, 2, '0') || '.' || (n / 2600)::text$$;
-- Persons: attributes fixed per person. Postal prefixes 01..99 with
-- uneven weights (0.1..2.1, some prefixes 20 times as populous as others).
CREATE UNLOGGED TABLE public.bench_persons AS
WITH w AS (SELECT i, 0.1 + 2.0 * power((hashint4(i) & 65535) / 65535.0, 2) AS w
             FROM generate_series(1, 99) i),
t AS (SELECT array_agg(coalesce(c, 0)::float8 ORDER BY i) AS th
        FROM (SELECT i, (sum(w) OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
                        / (SELECT sum(w) FROM w) AS c FROM w) x)
SELECT p, md5('person' || p)::char(32) AS pseudonym,
       (1925 + least(99, floor((random() + random() + random()) / 3 * 100)))::smallint AS birth_year,
       CASE WHEN s < 0.492 THEN 'M' WHEN s < 0.994 THEN 'W' WHEN s < 0.998 THEN 'D' ELSE 'X' END AS sex,
       (CASE WHEN st < 0.62 THEN 1 WHEN st < 0.85 THEN 3 ELSE 5 END)::smallint AS insurance_status,
       lpad(width_bucket(random(), t.th)::text, 2, '0') AS postal_prefix,
       -- 3 % moved (half their rows at a second prefix), 2 % changed
       -- status: these persons are in two classes.
       CASE WHEN random() < 0.03 THEN lpad(width_bucket(random(), t.th)::text, 2, '0') END AS postal2,
       (CASE WHEN random() < 0.02 THEN 5 END)::smallint AS status2
  FROM (SELECT p, random() AS s, random() AS st FROM generate_series(1, :persons) p) r CROSS JOIN t;
CREATE UNIQUE INDEX ON public.bench_persons (p);
ANALYZE public.bench_persons;
-- Rows: a person drawn with density ~ x^-1/3 (some hold many rows, the
-- last ones ~13 on average at 20 rows per person); a provider on 90 % of
-- rows from 25,000, the first ones far more often.
INSERT INTO sgb5.records (delivery_ref, pseudonym, key_version, birth_year, sex, insurance_status,
                          postal_prefix, provider_pseudonym, provider_group, provider_region,
                          practice_pseudonym, provider_postal_prefix, service)
SELECT '00000000-0000-4000-8000-000000000011', b.pseudonym, 1, b.birth_year, b.sex,
       CASE WHEN r.ch < 0.5 THEN coalesce(b.status2, b.insurance_status) ELSE b.insurance_status END,
       CASE WHEN r.ch < 0.5 THEN coalesce(b.postal2, b.postal_prefix) ELSE b.postal_prefix END,
       CASE WHEN r.prov > 0 THEN md5('provider' || r.prov) END,
       CASE WHEN r.prov > 0 THEN lpad((r.prov % 40 + 1)::text, 2, '0') END,
       CASE WHEN r.prov > 0 THEN lpad((r.prov % 17 + 1)::text, 2, '0') END,
       CASE WHEN r.prov > 0 THEN md5('practice' || (r.prov / 2)) END,
       CASE WHEN r.prov > 0 THEN lpad((r.prov % 99 + 1)::text, 2, '0') END,
       jsonb_build_object('period', '2024Q' || r.q,
                          'icd10', CASE r.nc WHEN 1 THEN jsonb_build_array(pg_temp.bench_code(r.n1))
                                             WHEN 2 THEN jsonb_build_array(pg_temp.bench_code(r.n1), pg_temp.bench_code(r.n2))
                                             ELSE jsonb_build_array(pg_temp.bench_code(r.n1), pg_temp.bench_code(r.n2),
                                                                    pg_temp.bench_code(r.n3)) END)
  FROM (SELECT 1 + floor(:persons * power(random(), 1.5))::int AS p,
               CASE WHEN random() < 0.9 THEN 1 + floor(25000 * power(random(), 2))::int ELSE 0 END AS prov,
               1 + floor(random() * 4)::int AS q, 1 + floor(random() * 3)::int AS nc, random() AS ch,
               pg_temp.bench_n(random()) AS n1, pg_temp.bench_n(random()) AS n2,
               pg_temp.bench_n(random()) AS n3
          FROM generate_series(1, :rows) i) r
  JOIN public.bench_persons b USING (p);
DROP TABLE public.bench_persons;
SQL
sql_store "ANALYZE sgb5.records"
sql_store "VACUUM sgb5.records"
sql_store "CHECKPOINT"
t1=$(t_now)
STORED=$(sql_store "SELECT count(*) FROM sgb5.records")
[ "$STORED" = "$ROWS" ] || die "the store holds $STORED rows, not $ROWS"
NPERS=$(sql_store "SELECT count(DISTINCT pseudonym) FROM sgb5.records")
SIZE=$(sql_store "SELECT pg_size_pretty(pg_table_size('sgb5.records'))")
echo "loaded: $STORED rows of $NPERS persons (--persons $PERSONS), sgb5.records $SIZE, in $(secs "$t0" "$t1") s (not timed: SQL INSERT ... SELECT, then ANALYZE, VACUUM, CHECKPOINT)"
if [ -n "$LOAD_ONLY" ]; then
    trap - EXIT
    cat <<EOF
--load-only: left running in $TMP and $STACK (remove them when done):
  export PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER VST_STORE_DSN="$VST_STORE_DSN" VST_TRUST_DSN="$VST_TRUST_DSN" VST_KEYD_ADMIN_SOCKET=$VST_KEYD_ADMIN_SOCKET
  store: psql -d $STORE_DB; vst-admin: $VST_ADMIN
  stop: kill $HTTPD_PID $KEYD_PID; runuser -u postgres -- $PGBIN/pg_ctl -D $TMP/pg/data -m fast stop; rm -rf $TMP $STACK
EOF
    exit 0
fi

# Durations of vst_admin's statements in the store go to the server log
# (LOG level, which log_min_messages = warning lets through); phases()
# sums those written after byte offset $1 by kind of statement.
sql_store "ALTER ROLE vst_admin IN DATABASE $STORE_DB SET log_min_duration_statement = 0"
log_at() { stat -c %s "$PGLOG"; }
phases() {
    tail -c +"$(($1 + 1))" "$PGLOG" | awk '
        /duration: [0-9.]+ ms/ {
            match($0, /duration: [0-9.]+ ms/); ms = substr($0, RSTART + 10, RLENGTH - 13) + 0
            k = "other"
            if ($0 ~ /release_cells/) k = "release_cells"
            else if ($0 ~ /release_rare_codes/) k = "release_rare_codes"
            else if ($0 ~ /release_begin/) k = "begin"
            else if ($0 ~ /DISTINCT key_version/) k = "map: key versions (scan)"
            else if ($0 ~ /DECLARE rel_map|FETCH .* rel_map|CLOSE rel_map/) k = "map: distinct pseudonyms (cursor)"
            else if ($0 ~ /COPY release_build/) k = "map: COPY into the map"
            else if ($0 ~ /release_plan/) k = "plan (suppression)"
            else if ($0 ~ /release_fill/) { k = "fill (rows)"; if ($0 ~ /execute/) nfill++ }
            else if ($0 ~ /min\(id\)/) k = "fill: id range"
            else if ($0 ~ /release_publish/) k = "publish (check + move)"
            sum[k] += ms; order[k] = order[k] ? order[k] : ++n
        }
        END { for (k in sum) printf "%d\t%s\t%.2f\t%d\n", order[k], k, sum[k] / 1000, k ~ /^fill \(/ ? nfill : 0 }' |
        sort -n | cut -f2-
}

# --- 2. baseline: the bare GROUP BY ----------------------------------------
QI="birth_year, sex, postal_prefix, insurance_status"
timed_sql() { # timed_sql SQL: seconds of psql running it, output discarded
    local a b
    a=$(t_now)
    psql -qAtX -v ON_ERROR_STOP=1 -d "$STORE_DB" -c "$1" >/dev/null
    b=$(t_now)
    secs "$a" "$b"
}
GB_SQL="SELECT $QI, count(*) FROM sgb5.records GROUP BY 1, 2, 3, 4"
GB_COLD=$(timed_sql "$GB_SQL")
GB=$(timed_sql "$GB_SQL")
GB_CLASSES=$(sql_store "SELECT count(*) FROM ($GB_SQL) c")
GBD=$(timed_sql "SELECT $QI, count(DISTINCT pseudonym) FROM sgb5.records GROUP BY 1, 2, 3, 4")
GBP=$(timed_sql "SELECT count(*) FROM (SELECT $QI, pseudonym, count(*) FROM sgb5.records GROUP BY 1, 2, 3, 4, 5) pc")
GB_RATE=$(awk -v n="$ROWS" -v s="$GB" 'BEGIN { printf "%.0f", n / s }')
echo "baseline: $GB_SQL"
echo "  first $GB_COLD s, second (warm) $GB s = $GB_RATE rows/s; $GB_CLASSES classes"
echo "  for context: count(DISTINCT pseudonym) per class (sort) $GBD s; GROUP BY the four and pseudonym (pc alone, cluster work_mem) $GBP s"

# --- 3. cells -------------------------------------------------------------------
cells_run() { # cells_run OUTFILE ARGS...: seconds
    local out=$1 a b
    shift
    a=$(t_now)
    "$VST_ADMIN" cells --json "$@" >"$out" 2>"$TMP/cells.err" || { cat "$TMP/cells.err" >&2; die "vst-admin cells failed"; }
    b=$(t_now)
    secs "$a" "$b"
}
off=$(log_at)
CELLS_COLD=$(cells_run "$TMP/cells1.json")
PH_CELLS_COLD=$(phases "$off" | awk -F'\t' '$1 == "release_cells" { print $2 }')
off=$(log_at)
CELLS=$(cells_run "$TMP/cells2.json")
PH_CELLS=$(phases "$off" | awk -F'\t' '$1 == "release_cells" { print $2 }')
[ "$(jnum "$TMP/cells2.json" rows)" = "$ROWS" ] || die "cells counted $(jnum "$TMP/cells2.json" rows) rows, not $ROWS"
CELLS_RATE=$(awk -v n="$ROWS" -v s="$CELLS" 'BEGIN { printf "%.0f", n / s }')
CELLS_RATIO=$(ratio "$CELLS" "$GB")
echo "vst-admin cells --json (k = 5, the profile's four quasi-identifiers, 4 suggestions):"
echo "  first (cold) $CELLS_COLD s, of which vst.release_cells $PH_CELLS_COLD s; second (warm) $CELLS s = $CELLS_RATE rows/s, of which vst.release_cells $PH_CELLS s"
echo "  report: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%d persons, %d classes, %d below k (%d persons, %d rows), key_versions %d" % (r["persons"], r["classes"], r["classes_below_k"], r["persons_below_k"], r["rows_below_k"], r["key_versions"]))' "$TMP/cells2.json")"
echo "  cells / bare GROUP BY = $CELLS_RATIO"

# --- 4. cells --rare-codes ---------------------------------------------------
off=$(log_at)
RARE=$(cells_run "$TMP/cells3.json" --rare-codes)
PH_RARE=$(phases "$off" | awk -F'\t' '$1 == "release_rare_codes" { print $2 }')
RARE_TOTAL=$(jnum "$TMP/cells3.json" rare_codes_total)
echo "vst-admin cells --json --rare-codes: $RARE s in all, of which vst.release_rare_codes $PH_RARE s ($RARE_TOTAL rare codes)"

# --- 5. release create ---------------------------------------------------------
off=$(log_at)
t0=$(t_now)
"$VST_ADMIN" release create bench1 >"$TMP/release.out" 2>"$TMP/release.err" ||
    { cat "$TMP/release.out" "$TMP/release.err" >&2; die "vst-admin release create failed"; }
t1=$(t_now)
REL=$(secs "$t0" "$t1")
REL_RATE=$(rate "$ROWS" "$t0" "$t1")
PH_REL=$(phases "$off")
sql_store "ALTER ROLE vst_admin IN DATABASE $STORE_DB RESET log_min_duration_statement"
read -r REL_ROWS REL_PERS REL_SUPP REL_SUPPR < <(sql_store "SELECT rows, persons, suppressed_persons, suppressed_rows FROM release.catalog WHERE name = 'bench1'" | tr '|' ' ')
[ $((REL_ROWS + REL_SUPPR)) = "$ROWS" ] || die "release rows $REL_ROWS + suppressed $REL_SUPPR != $ROWS"
echo "vst-admin release create bench1: $REL s = $REL_RATE rows/s of the table; $REL_ROWS rows, $REL_PERS persons written, $REL_SUPP persons ($REL_SUPPR rows) suppressed"
sed 's/^/  stderr: /' "$TMP/release.err"
echo "  phases (server-side durations of vst-admin's statements, s):"
SUM_PH=0
while IFS=$'\t' read -r k s n; do
    printf '    %-40s %8s%s\n' "$k" "$s" "$([ "$n" = 0 ] || echo " ($n calls)")"
    SUM_PH=$(awk -v a="$SUM_PH" -v b="$s" 'BEGIN { print a + b }')
done <<<"$PH_REL"
printf '    %-40s %8.2f\n' "outside the store (keyd, client, audit)" "$(awk -v a="$REL" -v b="$SUM_PH" 'BEGIN { print a - b }')"

sql_store "CHECKPOINT"
t0=$(t_now)
sql_store "CREATE TABLE public.bench_ctas AS SELECT * FROM sgb5.records"
t1=$(t_now)
CTAS=$(secs "$t0" "$t1")
CTAS_RATE=$(rate "$ROWS" "$t0" "$t1")
REL_RATIO=$(ratio "$REL" "$CTAS")
echo "baseline, same run: CREATE TABLE public.bench_ctas AS SELECT * FROM sgb5.records: $CTAS s = $CTAS_RATE rows/s"
echo "  release create / CREATE TABLE AS = $REL_RATIO (time)"

# --- 6. summary -----------------------------------------------------------------
cat <<EOF

==== summary: release protection benchmark (issue 11) ====
machine:                       $MACHINE
PostgreSQL:                    private cluster, $SETTINGS
table:                         sgb5.records, $ROWS rows, $NPERS persons, $SIZE
bare GROUP BY (4 QIs), warm:   $GB s = $GB_RATE rows/s (cold $GB_COLD s; count(DISTINCT pseudonym) $GBD s; GROUP BY + pseudonym $GBP s)
cells --json, warm:            $CELLS s = $CELLS_RATE rows/s (cold $CELLS_COLD s)
cells / bare GROUP BY:         $CELLS_RATIO   goal <= 2: $(goal "$CELLS_RATIO" 2 le)
cells --rare-codes:            $RARE s in all; the rare-code pass $PH_RARE s
release create bench1:         $REL s = $REL_RATE rows/s   goal >= 100000: $(goal "$REL_RATE" 100000 ge)
CREATE TABLE AS SELECT *:      $CTAS s = $CTAS_RATE rows/s
release / CREATE TABLE AS:     $REL_RATIO (time)
EOF

# --- diagnosis: EXPLAIN ANALYZE of the cells query -----------------------------
if [ -n "$EXPLAIN_DIR" ]; then
    mkdir -p "$EXPLAIN_DIR"
    # The installed function with its EXECUTE replaced by returning the text.
    def=$(sql_store "SELECT pg_get_functiondef('vst.release_cells(regclass, text[], text[], text[], integer, integer)'::regprocedure)")
    def=${def/vst.release_cells(/pg_temp.bench_cells_sql(}
    def=${def/RETURNS jsonb/RETURNS text}
    def=$(python3 -c 'import re,sys; d=sys.stdin.read(); d2=re.sub(r"EXECUTE q INTO result;\s*RETURN result[^;]*;", "RETURN q;", d); assert d2 != d; print(d2)' <<<"$def")
    {
        echo "$def;"
        # The function's own settings (work_mem, jit, ...), not search_path.
        echo "SELECT format('SET %s = %L', split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)) FROM pg_proc, unnest(proconfig) c WHERE oid = 'vst.release_cells(regclass, text[], text[], text[], integer, integer)'::regprocedure AND c NOT LIKE 'search_path=%' \\gexec"
        echo "SELECT 'EXPLAIN (ANALYZE, BUFFERS) ' || pg_temp.bench_cells_sql('sgb5.records', '{birth_year,sex,postal_prefix,insurance_status}', '{\"\",\"\",\"\",\"\"}', '{band:5,drop,prefix:1,drop}', 5) \\gexec"
    } | psql -qX -v ON_ERROR_STOP=1 -d "$STORE_DB" >"$EXPLAIN_DIR/cells.explain.txt"
    echo "EXPLAIN ANALYZE of the cells query: $EXPLAIN_DIR/cells.explain.txt"
fi
