#!/bin/sh
# Create capplan's virtualenv, install capplan into it, and write the wrapper Kapacitor's .exec() runs.
#
# Kapacitor execs a program directly: no shell, its own user, environment and PATH. So the wrapper uses
# absolute paths only: it activates the venv, cds to the project (where capplan.toml and the model store
# are), points CAPPLAN_CONFIG at the config, and execs the hook with its arguments; stdin (the alert JSON)
# passes through untouched. Put the printed path in capplan.toml as kapacitor.exec_wrapper.
#
# usage: bootstrap.sh [--project DIR] [--venv DIR] [--config FILE] [--wrapper FILE] [--python EXE]
#                     [--editable] [--no-install]
set -eu

script_dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
project=$(CDPATH= cd -- "$script_dir/.." && pwd)
venv=""
config=""
wrapper=""
python=${PYTHON:-python3}
editable=""
install=yes

die() { echo "bootstrap: $*" >&2; exit 2; }
absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$(pwd)" "$1" ;; esac; }
# Single-quote a value for the generated sh script (a ' becomes '\'').
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --project) [ $# -ge 2 ] || die "--project needs a value"; project=$(absolute "$2"); shift 2 ;;
        --venv) [ $# -ge 2 ] || die "--venv needs a value"; venv=$(absolute "$2"); shift 2 ;;
        --config) [ $# -ge 2 ] || die "--config needs a value"; config=$(absolute "$2"); shift 2 ;;
        --wrapper) [ $# -ge 2 ] || die "--wrapper needs a value"; wrapper=$(absolute "$2"); shift 2 ;;
        --python) [ $# -ge 2 ] || die "--python needs a value"; python=$2; shift 2 ;;
        --editable) editable=-e; shift ;;
        --no-install) install=""; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
venv=${venv:-$project/.venv}
config=${config:-$project/capplan.toml}
wrapper=${wrapper:-$venv/bin/capplan-kapacitor-exec}

if [ -n "$install" ]; then
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || die "cannot create the venv in $venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet $editable "$project" || die "pip install of $project failed"
fi
[ -x "$venv/bin/python" ] || die "$venv/bin/python not found; run without --no-install"
"$venv/bin/python" -c "import capplan.hook" || die "capplan is not installed in $venv"

mkdir -p "$(dirname -- "$wrapper")"
tmp="$wrapper.tmp.$$"
{
    echo '#!/bin/sh'
    echo '# Written by capplan venv-bootstrap/bootstrap.sh: the program Kapacitor execs for capplan alerts.'
    echo "VIRTUAL_ENV=$(quote "$venv")"
    echo 'PATH="$VIRTUAL_ENV/bin:/usr/local/bin:/usr/bin:/bin"'
    echo "CAPPLAN_CONFIG=$(quote "$config")"
    echo 'export VIRTUAL_ENV PATH CAPPLAN_CONFIG'
    echo "cd $(quote "$project") || exit 2"
    echo 'exec "$VIRTUAL_ENV/bin/python" -m capplan.hook "$@"'
} > "$tmp"
chmod 755 "$tmp"
mv "$tmp" "$wrapper"

echo "wrapper: $wrapper"
echo "add to $config:"
echo "    [kapacitor]"
echo "    exec_wrapper = \"$wrapper\""
echo "then: capplan alerts define   (Kapacitor's user must be able to run $wrapper and write to the model store)"
