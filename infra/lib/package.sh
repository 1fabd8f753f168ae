# shellcheck shell=bash
# Helpers of infra/package (and of infra/test's packaging check): install the SAM CLI and
# the arm64 rust target, check template.yaml against infra/samconfig.toml offline, and zip
# and measure the functions `sam build` produced.
#
# Source after infra/lib/stack.sh, from a script that runs with `set -euo pipefail`.
# Progress goes to stderr through `say`; only package_sizes prints its table to stdout.

SAM_VENV_DIR="$LOCAL_DIR/sam-venv"
SAMCONFIG="$RHOSYNC_ROOT/infra/samconfig.toml"
PACKAGE_DIR="$LOCAL_DIR/package"
# The zipped-size limit, as infra/bench's start-up scenario judges it.
PACKAGE_MAX_ZIP_BYTES=8000000

# The SAM CLI in .local/sam-venv (a venv of its own: aws-sam-cli pins boto3, click and
# pydantic versions that the tools in .local/venv do not want). Puts it on PATH after
# .local/venv, so cargo-lambda, zig and cfn-lint still come from there.
ensure_sam() {
  if [ ! -x "$SAM_VENV_DIR/bin/sam" ]; then
    if [ ! -x "$SAM_VENV_DIR/bin/python" ]; then
      say "creating python venv in ${SAM_VENV_DIR#"$RHOSYNC_ROOT"/} for the SAM CLI"
      python3 -m venv "$SAM_VENV_DIR"
    fi
    say "installing the SAM CLI into ${SAM_VENV_DIR#"$RHOSYNC_ROOT"/}: aws-sam-cli"
    "$SAM_VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check aws-sam-cli >&2
  fi
  case ":$PATH:" in
    *":$SAM_VENV_DIR/bin:"*) ;;
    *) export PATH="$PATH:$SAM_VENV_DIR/bin" ;;
  esac
  # No usage reports from an offline build machine.
  export SAM_CLI_TELEMETRY=0
}

# The rust target cargo-lambda's --arm64 builds for.
ensure_lambda_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    command -v rustup >/dev/null 2>&1 || die "the aarch64-unknown-linux-gnu target is missing and there is no rustup to add it"
    say "adding the aarch64-unknown-linux-gnu rust target"
    rustup target add aarch64-unknown-linux-gnu >&2
  fi
  command -v cargo-lambda >/dev/null 2>&1 || die "cargo-lambda is not on PATH (it comes with .local/venv)"
}

# Offline consistency checks of template.yaml and infra/samconfig.toml (infra/lib/package_check.py).
package_check() {
  "$VENV_DIR/bin/python" "$RHOSYNC_ROOT/infra/lib/package_check.py" "$RHOSYNC_ROOT/template.yaml" "$SAMCONFIG" >&2 ||
    die "template.yaml / infra/samconfig.toml packaging check failed"
}

# Zip each function's .aws-sam/build/<Function>/ with the SAM CLI's own zip routine (what
# `sam deploy` uploads), print a table of the sizes and write $PACKAGE_DIR/sizes.json.
# Fails when a function has no build directory or a zip is over PACKAGE_MAX_ZIP_BYTES.
package_sizes() {
  mkdir -p "$PACKAGE_DIR"
  "$SAM_VENV_DIR/bin/python" - "$RHOSYNC_ROOT" "$PACKAGE_DIR" "$PACKAGE_MAX_ZIP_BYTES" <<'PY'
import json, os, sys
from samcli.lib.package.utils import make_zip
from samcli.yamlhelper import yaml_parse

root, out_dir, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
build_dir = os.path.join(root, ".aws-sam", "build")
with open(os.path.join(root, "template.yaml")) as f:
    resources = yaml_parse(f.read())["Resources"]
functions = [(name, r.get("Metadata", {}).get("BuildProperties", {}).get("Binary", ""))
             for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
rows, failed = [], False
for name, binary in functions:
    src = os.path.join(build_dir, name)
    bootstrap = os.path.join(src, "bootstrap")
    if not os.path.isfile(bootstrap):
        print(f"[rhosync] error: no {os.path.relpath(bootstrap, root)} (run infra/package without --skip-build)",
              file=sys.stderr)
        failed = True
        continue
    zip_path = make_zip(os.path.join(out_dir, name), src)
    rows.append({"function": name, "binary": binary, "bootstrap_bytes": os.path.getsize(bootstrap),
                 "zip_bytes": os.path.getsize(zip_path), "zip": os.path.relpath(zip_path, root)})
mb = lambda n: f"{n / 1e6:.2f} MB"
print(f"{'function':<24} {'binary':<16} {'bootstrap':>10} {'zipped':>10}")
for r in rows:
    over = r["zip_bytes"] > limit
    failed = failed or over
    flag = f"  over the {mb(limit)} limit" if over else ""
    print(f"{r['function']:<24} {r['binary']:<16} {mb(r['bootstrap_bytes']):>10} {mb(r['zip_bytes']):>10}{flag}")
with open(os.path.join(out_dir, "sizes.json"), "w") as f:
    json.dump({"limit_bytes": limit, "functions": rows}, f, indent=1)
sys.exit(1 if failed else 0)
PY
}
