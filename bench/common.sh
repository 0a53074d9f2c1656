# shellcheck shell=bash
# Shared by bench/run, bench/count, bench/cpu and bench/compare (sourced): the records the questions of
# bench/commands.tsv are asked about, picked from the bank by the caller's `q` (sqlite3, or psql for a server), and
# a question filled in with them.

# The donor with the most donations, the latest batch that reached a recipient with its donation, the latest unit
# dispensed, the recipient given the most units; the 30-day collection window ending 60 days ago; and the start of
# the screening validity window (the policy's 60 days) that eligibility reads.
pick() {
  donor=$(q "SELECT donor_id FROM donations GROUP BY donor_id ORDER BY count(*) DESC, donor_id LIMIT 1")
  batch=$(q "SELECT b.id FROM batches b JOIN units u ON u.batch_id = b.id JOIN dispenses p ON p.unit_id = u.id ORDER BY b.id DESC LIMIT 1")
  donation=$(q "SELECT donation_id FROM batches WHERE id = '$batch'")
  unit=$(q "SELECT unit_id FROM dispenses ORDER BY id DESC LIMIT 1")
  recipient=$(q "SELECT recipient_id FROM dispenses GROUP BY recipient_id ORDER BY count(*) DESC, recipient_id LIMIT 1")
  today=$(date -u +%F)
  to=$(date -u -d "$today - 60 days" +%F)
  from=$(date -u -d "$to - 30 days" +%F)
  window=$(date -u -d "$today - 60 days" +%F)
}

# A stored identifier as typed: its ISO/IEC 7064 MOD 37-2 check character added (stoolbank refuses one without).
shown() {
  awk -v d="$1" 'BEGIN { a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"; s = 0; w = 2
    for (i = length(d); i > 0; i--) { s = (s + (index(a, substr(d, i, 1)) - 1) * w) % 37; w = (w * 2) % 37 }
    printf "%s%s", d, substr(a, (38 - s % 37) % 37 + 1, 1) }'
}

# TEXT with its {placeholders} filled in: identifiers as stored (for SQL), or as typed with `fill TEXT typed`.
fill() {
  local s=$1 d=$donor b=$batch n=$donation u=$unit r=$recipient
  if [ "${2:-}" = typed ]; then
    d=$(shown "$d"); b=$(shown "$b"); n=$(shown "$n"); u=$(shown "$u"); r=$(shown "$r")
  fi
  s=${s//\{donor\}/$d}; s=${s//\{batch\}/$b}; s=${s//\{donation\}/$n}; s=${s//\{unit\}/$u}; s=${s//\{recipient\}/$r}
  s=${s//\{from\}/$from}; s=${s//\{to\}/$to}; s=${s//\{today\}/$today}; s=${s//\{window\}/$window}
  printf '%s' "$s"
}

# bench/eligibility.sql for the donors query $1, filled in, on one line and without its comments (the shell would
# take an argument beginning `--` for an option).
facts() {
  local sql
  sql=$(grep -v '^--' "$(dirname "${BASH_SOURCE[0]}")/eligibility.sql" | tr '\n' ' ')
  fill "${sql//\{donors\}/$1}"
}
