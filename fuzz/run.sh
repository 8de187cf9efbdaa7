#!/usr/bin/env bash
# Fuzz one target for a while: fuzz/run.sh parse|plan|cib|state|wire [SECONDS]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer's sanitizer flags are
# nightly-only; RUSTC_BOOTSTRAP lets the stable toolchain accept them. The parser
# target is seeded with every .ha file of the repository; new inputs go to
# fuzz/corpus/TARGET (not committed), crashes to fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh parse|plan|cib|state|wire [SECONDS]}
seconds=${2:-60}
mkdir -p "corpus/$target"
case "$target" in
  parse) cp ../examples/*.ha ../tests/fmt/*.ha ../tests/diagnostics/*.ha "corpus/$target/" ;;
  state) cp ../examples/*.state.json "corpus/$target/" ;;
  cib)
    # Pacemaker's own scheduler cases, when the shared corpus is beside us.
    corpus=${HALO_PCMK_CORPUS:-../../shared/pcmk-corpus}
    if [ -d "$corpus/xml" ]; then
      find "$corpus/xml" -name '*.xml' -size -64k -exec cp -t "corpus/$target/" {} +
    fi
    ;;
esac
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048
