#!/usr/bin/env bash
# Fuzz the ND2 and TIFF readers with libFuzzer + AddressSanitizer.
#
#   Fuzz/run.sh nd2|tiff [SECONDS] [extra libFuzzer flags]
#
# Builds MicroscopyIO (and its dependencies) instrumented with -sanitize=fuzzer,address into
# .build-fuzz, links the harness Fuzz/Fuzz<KIND>.swift with lld, seeds the corpus from
# ../shared/testdata (copied into .build-fuzz, never into the project) and runs for SECONDS
# (default 600). Crashes land in Fuzz/crashes/<kind>/; each becomes a regression test in
# Tests/MicroscopyIOTests (FuzzRegressionTests) once fixed.
set -euo pipefail
kind=${1:?usage: Fuzz/run.sh nd2|tiff [seconds]}
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$PATH:/opt/swift/usr/bin"
scratch=.build-fuzz
swift build -c release --scratch-path "$scratch" --target MicroscopyIO \
  -Xswiftc -sanitize=fuzzer,address >"$scratch.log" 2>&1 || { tail -30 "$scratch.log"; exit 1; }
bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)
objects=$(find "$bin"/{ImageKit,MicroscopyIO,Crypto,CCryptoBoringSSL,CCryptoBoringSSLShims,CryptoBoringWrapper,SwiftASN1}.build \
  -name '*.o' 2>/dev/null)
# SwiftPM compiles the package's modules with -package-name <package identity> (the checkout
# folder's name, lowercased); the harness needs the same to reach `package` symbols.
package=$(basename "$root" | tr '[:upper:]' '[:lower:]')
harness=Fuzz${kind^^}
case $kind in nd2) harness=FuzzND2 ;; tiff) harness=FuzzTIFF ;; *) echo "unknown kind $kind" >&2; exit 2 ;; esac
swiftc -use-ld=lld -sanitize=fuzzer,address -parse-as-library -O -package-name "$package" \
  "Fuzz/$harness.swift" Fuzz/FuzzInput.swift -module-name "$harness" \
  -I "$bin/Modules" -I Sources/CTIFF -I Sources/CZlib -I Sources/CDeflate \
  $objects -ltiff -lz -ldeflate -lstdc++ -o "$scratch/$harness" 2>&1 | grep -v "Cannot export local symbol" || true
corpus="$scratch/corpus-$kind"
mkdir -p "$corpus" "Fuzz/crashes/$kind"
shared="$root/../shared/testdata"
if [[ -d $shared ]]; then
  case $kind in
    nd2) find "$shared" -name '*.nd2' -exec cp -n {} "$corpus/" \; ;;
    tiff) find "$shared" \( -name '*.tif' -o -name '*.tiff' \) -size -2M -exec cp -n {} "$corpus/" \; ;;
  esac
fi
export LSAN_OPTIONS="suppressions=$root/Fuzz/lsan.supp:${LSAN_OPTIONS:-}"
exec "$scratch/$harness" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
  -artifact_prefix="Fuzz/crashes/$kind/" -print_final_stats=1 "$@" "$corpus"
