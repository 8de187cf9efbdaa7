#!/usr/bin/env bash
# Fuzz one target for a while: fuzz/run.sh parse|plan [SECONDS]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer's sanitizer flags are
# nightly-only; RUSTC_BOOTSTRAP lets the stable toolchain accept them. The parser
# target is seeded with every .ha file of the repository; new inputs go to
# fuzz/corpus/TARGET (not committed), crashes to fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh parse|plan [SECONDS]}
seconds=${2:-60}
mkdir -p "corpus/$target"
if [ "$target" = parse ]; then
  cp ../examples/*.ha ../tests/fmt/*.ha ../tests/diagnostics/*.ha "corpus/$target/"
fi
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048
