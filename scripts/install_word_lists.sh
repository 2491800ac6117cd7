#!/usr/bin/env bash
# Optional: FreeDict English->X dictionaries from Debian for the offline query generator,
# code-switching and query translation (`--word_lists freedict`). Needs root (apt). Debian has
# none for bn, ko, ro, te, th, vi, zh: those languages keep CLDR names only. Idempotent.
set -euo pipefail
codes="ara deu ell spa hin rus tur fin jpn"
missing=""
for c in $codes; do
  [ -f "/usr/share/dictd/freedict-eng-$c.index" ] || missing="$missing dict-freedict-eng-$c"
done
[ -z "$missing" ] && exit 0
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
