#!/bin/bash
# An index of millions of files without millions of files (issue 17): the
# db size, the merge of shard dbs, the remount of an unchanged index and
# the mount daemon's resident memory per indexed file.
#
#   scripts/bench_scale.sh [FILES [MERGE_FILES]]
#
# FILES (default 1000000; 0: skip) is the size of the synthetic index;
# MERGE_FILES (default 100000; 0: skip) the size of the merge measured.
# SCALE_DIR (default /tmp/deidfs-scale) holds everything; DEIDFS picks the
# binary; MERGE_REF, a second binary, is timed on the same shard dbs before
# it (the reference beside the figure).
#
# Method.  A real archive (scripts/make_archive.py: 6 women, 58 files with
# every kind of planted PHI) is indexed for real by a sharded run's index
# task (export --shard 0/1 --index-only), so its shard db holds what a real
# index holds: rows of files, audit trail, pseudonyms, UIDs.  Its rows are
# then copied, in SQL, as many times as it takes, each copy a new set of
# women: the source path under a folder of its own ("c0001234/..."), the
# patient ID, pseudonym (16 characters) and UIDs made distinct, sizes,
# header lengths, statuses and view paths as in the real rows.  A copy's
# source path names no real file: opens of those files fail (they are not
# what is measured); the index and the view are the real thing.
#
#   db size       of the synthetic project db (files, patients, UIDs; the
#                 audit trail of MERGE_FILES copied files measured, the
#                 rest extrapolated per file)
#   merge         deidfs merge of 4 synthetic shard dbs of MERGE_FILES in
#                 all (audit rows included) into a new project db
#   remount       deidfs mount --no-refresh of the FILES index until the
#                 mount point answers: after the first (which names the
#                 files and keeps the view), three times loading the kept
#                 view (the median), then once with the kept view deleted
#                 (built from the rows, the reference)
#   memory        the daemon's VmRSS after that remount and after `ls` of
#                 one woman's folder, against a mount of the 58 files
#
# Not a test: numbers depend on the machine.  Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-1000000}
MERGE_FILES=${2:-100000}
SCALE_DIR=${SCALE_DIR:-/tmp/deidfs-scale}
DEIDFS=${DEIDFS:-$PWD/build/deidfs}
PY=/usr/bin/python3
MNT=$SCALE_DIR/mnt
mkdir -p "$SCALE_DIR" "$MNT"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
umnt() { fusermount3 -u "$MNT" 2>/dev/null || true; sleep 0.5; }
trap umnt EXIT

src=$SCALE_DIR/archive/identified
[ -d "$src" ] || $PY scripts/make_archive.py --women 6 --seed 20240601 \
	"$SCALE_DIR/archive" >/dev/null
# the real index: a shard db (the template of the merge's shard dbs) and
# the project db it is merged into (the template of the big index)
base=$SCALE_DIR/base.db
shard=$SCALE_DIR/shard.db
if [ ! -f "$shard" ]; then
	rm -f "$base"*
	"$DEIDFS" export -q --shard 0/1 --index-only --modalities all \
		--db "$base" "$src" "$SCALE_DIR/unused"
	cp "$base.shard-0-of-1" "$shard"
	"$DEIDFS" merge -q --modalities all --db "$base" "$src" \
		"$SCALE_DIR/unused"
fi

# synth SHARD_DB OUT_DB FILES FROM AUDIT: OUT_DB, a copy of the real shard
# db with its files replaced by FILES copies' rows (copies FROM, FROM+1,
# ...), with their audit rows when AUDIT is 1.
synth() {
	$PY - "$@" <<'EOF'
import shutil, sqlite3, sys
real, out, files, first, audit = sys.argv[1:6]
files, first, audit = int(files), int(first), audit == "1"
shutil.copy(real, out)
db = sqlite3.connect(out)
db.execute("PRAGMA journal_mode=OFF")
db.execute("PRAGMA synchronous=OFF")
cols = [r[1] for r in db.execute("PRAGMA table_info(files)")]
db.execute("CREATE TEMP TABLE r AS SELECT * FROM files ORDER BY id")
nreal = db.execute("SELECT count(*) FROM r").fetchone()[0]
ncopies = -(-files // nreal)
db.execute("DELETE FROM files")
db.execute("DELETE FROM audit")
db.execute("DELETE FROM patients")
db.execute("DELETE FROM uids")
db.execute("CREATE TEMP TABLE c(x INTEGER PRIMARY KEY)")
db.execute("INSERT INTO c WITH RECURSIVE k(x) AS (SELECT ? UNION ALL "
           "SELECT x + 1 FROM k WHERE x < ?) SELECT x FROM k",
           (first, first + ncopies - 1))
# a copy's values: distinct per copy, as long as the real ones
sub = {
    "path": "CAST(printf('c%07d/', c.x) || CAST(r.path AS TEXT) AS BLOB)",
    "patient_id": "r.patient_id || printf('%07d', c.x)",
    "pseudonym": "substr(r.pseudonym, 1, 9) || printf('%07d', c.x)",
    "study_uid": "r.study_uid || printf('.%d', c.x)",
    "series_uid": "r.series_uid || printf('.%d', c.x)",
    "sop_uid": "r.sop_uid || printf('.%d', c.x)",
    "view_path": "NULL",
    "id": "NULL",
}
sel = ", ".join(sub.get(k, "r." + k) for k in cols)
db.execute("INSERT INTO files(%s) SELECT %s FROM c, r ORDER BY c.x, r.id "
           "LIMIT ?" % (", ".join(cols), sel), (files,))
db.execute("INSERT OR IGNORE INTO patients SELECT pseudonym, patient_id "
           "FROM files WHERE pseudonym IS NOT NULL")
db.execute("INSERT OR IGNORE INTO uids SELECT sop_uid, sop_uid || '.o' "
           "FROM files WHERE sop_uid IS NOT NULL")
db.execute("INSERT OR IGNORE INTO uids SELECT study_uid, study_uid || '.o' "
           "FROM files WHERE study_uid IS NOT NULL")
db.execute("INSERT OR IGNORE INTO uids SELECT series_uid, series_uid || '.o'"
           " FROM files WHERE series_uid IS NOT NULL")
if audit:
    db.execute("ATTACH ? AS real", (real,))
    db.execute("CREATE TEMP TABLE m(p TEXT PRIMARY KEY, id INTEGER)")
    db.execute("INSERT INTO m SELECT CAST(path AS TEXT), id FROM r")
    db.execute("INSERT INTO audit SELECT f.id, a.seq, a.time, a.path, "
               "a.action, a.old, a.new FROM files f JOIN m ON "
               "substr(CAST(f.path AS TEXT), 10) = m.p "
               "JOIN real.audit a ON a.file_id = m.id")
db.commit()
db.execute("VACUUM")
db.close()
EOF
}

rss() { awk '/VmRSS/ {print $2}' /proc/"$1"/status; }
mount_pid() {	# db: mount --no-refresh, print the daemon's pid
	"$DEIDFS" mount -q --no-refresh --modalities all --db "$1" "$src" "$MNT"
	pgrep -n -f -- "mount -q --no-refresh --modalities all --db $1 "
}

echo "Machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB," \
	"$(uname -sr); $(date -u +%Y-%m-%d); $($DEIDFS --version 2>&1 | head -1)"
echo
nreal=$(sqlite3 "$base" "SELECT count(*) FROM files")
audit_per_file=$(sqlite3 "$base" \
	"SELECT sum(pgsize) FROM dbstat WHERE name IN ('audit', 'audit_file')" |
	awk -v n="$nreal" '{ printf "%d", $1 / n }')

# --- the merge of shard dbs -------------------------------------------
if [ "$MERGE_FILES" -gt 0 ]; then
	m=$SCALE_DIR/merge.db
	rm -f "$m"* "$SCALE_DIR"/merge-empty.db "$SCALE_DIR"/mshard-*
	# a new project db with the shard dbs' key
	cp "$base" "$SCALE_DIR/merge-empty.db"
	sqlite3 "$SCALE_DIR/merge-empty.db" "DELETE FROM files; DELETE FROM audit;
		DELETE FROM dirs; DELETE FROM patients; DELETE FROM uids; VACUUM"
	per=$((MERGE_FILES / 4))
	for i in 0 1 2 3; do
		synth "$shard" "$SCALE_DIR/mshard-$i" "$per" \
			$((1 + i * (per / nreal + 1))) 1
	done
	shard_bytes=$(cat "$SCALE_DIR"/mshard-* | wc -c)
	echo "| merge: binary | files | shard dbs MB | merged db MB | merge s (wall) | CPU s | per 10M files (linear) |"
	echo "| --- | --: | --: | --: | --: | --: | --: |"
	for bin in ${MERGE_REF:+"$MERGE_REF"} "$DEIDFS"; do
		rm -f "$m"*
		cp "$SCALE_DIR/merge-empty.db" "$m"
		for i in 0 1 2 3; do cp "$SCALE_DIR/mshard-$i" "$m.shard-$i-of-4"; done
		sync
		t0=$(now)
		cpu=$( { /usr/bin/time -f "%U %S" "$bin" merge -q --modalities all \
			--db "$m" "$src" "$SCALE_DIR/unused" 2>&1 >/dev/null; } |
			awk '{ printf "%.1f", $1 + $2 }')
		t1=$(now)
		awk -v b="$(basename "$bin")" -v n="$MERGE_FILES" -v s="$shard_bytes" \
			-v d="$(stat -c %s "$m")" -v t="$(secs "$t0" "$t1")" -v c="$cpu" 'BEGIN {
			printf "| %s | %d | %.0f | %.0f | %.1f | %s | %.0f s (%.1f h) |\n",
				b, n, s / 1e6, d / 1e6, t, c, t * 1e7 / n, t * 1e7 / n / 3600 }'
		rm -f "$m".shard-*
	done
	echo
	rm -f "$SCALE_DIR"/mshard-*
fi
[ "$FILES" -gt 0 ] || exit 0

# --- the index of FILES: db size, remount, memory ---------------------
big=$SCALE_DIR/big$FILES.db
if [ ! -f "$big" ]; then
	t0=$(now)
	synth "$base" "$big.new" "$FILES" 1 0
	mv "$big.new" "$big"
	echo "(synthetic index of $FILES files made in $(secs "$t0" "$(now)") s)"
fi
# the first mount names the files (view_path, dirs) and keeps the view
# (fs/view_snap.c); time it too
t0=$(now)
pid=$(mount_pid "$big")
first=$(secs "$t0" "$(now)")
umnt
small=$SCALE_DIR/small.db
[ -f "$small" ] || cp "$base" "$small"
pid=$(mount_pid "$small")
rss_small=$(rss "$pid")
umnt
# the remount of the unchanged index: the kept view loaded, three rounds
rounds=""
for r in 1 2 3; do
	sync
	t0=$(now)
	pid=$(mount_pid "$big")
	rounds="$rounds $(secs "$t0" "$(now)")"
	rss_big=$(rss "$pid")
	ls "$MNT/$(ls "$MNT" | head -1)" >/dev/null
	rss_ls=$(rss "$pid")
	umnt
done
snap_bytes=$(sqlite3 "$big" "SELECT sum(length(data)) FROM view_snap")
# the reference: the view built from the rows (the names they hold
# reused), as when no view is kept (a mount without refresh keeps none)
sqlite3 "$big" "DELETE FROM view_snap"
sync
t0=$(now)
pid=$(mount_pid "$big")
rebuild=$(secs "$t0" "$(now)")
umnt
remount=$(echo $rounds | tr ' ' '\n' | sort -n | sed -n 2p)
db_bytes=$(stat -c %s "$big")
echo "| index: files | db MB (no audit; of which the kept view) | + audit, extrapolated MB | first mount s | remount, view built from the rows s | remount, kept view loaded s (3 rounds) | RSS KiB (58 files) | RSS KiB | bytes per file |"
echo "| --: | --: | --: | --: | --: | --: | --: | --: | --: |"
awk -v n="$FILES" -v d="$db_bytes" -v a="$audit_per_file" -v f="$first" \
	-v b0="$rebuild" -v r="$remount" -v rr="$rounds" -v s="$rss_small" \
	-v b="$rss_big" -v l="$rss_ls" -v k="$snap_bytes" 'BEGIN {
	printf "| %d | %.0f (%.0f) | %.0f | %.1f | %.1f | %.1f (%s) | %d | %d (%d after ls) | %.0f |\n",
		n, d / 1e6, k / 1e6, (d + a * n) / 1e6, f, b0, r, rr, s, b, l,
		(b - s) * 1024 / n }'
