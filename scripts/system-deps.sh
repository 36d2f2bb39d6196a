#!/usr/bin/env bash
# Installs the system packages congvan needs on Debian/Ubuntu, and (for the tests) starts PostgreSQL.
#   scripts/system-deps.sh demo   LibreOffice Writer, its Python-UNO bridge, poppler, Liberation fonts
#   scripts/system-deps.sh test   the same, plus LibreOffice Calc (workbooks it saves are read in the tests),
#                                 PostgreSQL started with the test database congvan_test, and
#                                 Postfix and Dovecot (IMAP) for the delivery-truth tests, which start their own
#                                 instances on loopback ports (tests/mailservers.py); Postfix is installed
#                                 unconfigured ("No configuration"), so nothing of the system's mail changes;
#                                 SoftHSM2 (a real PKCS#11 token) and OpenSC's pkcs11-tool for the signing tests
# Idempotent and quiet when nothing is missing. apt-get runs directly as root, through sudo otherwise;
# where neither can, one line says what to install and the script exits 2.
set -euo pipefail
profile=${1:-demo}

need=()
# CONGVAN_ASSUME_MISSING="pkg …" adds packages to install whether or not they are here (tests/test_setup.py).
read -r -a need <<<"${CONGVAN_ASSUME_MISSING:-}"
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-writer-nogui)
/usr/bin/python3 -c 'import uno' >/dev/null 2>&1 || need+=(python3-uno)  # congvan/pdf/_bridge.py
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
fc-list 2>/dev/null | grep -q LiberationSerif-Regular || need+=(fonts-liberation2)
if [ "$profile" = test ]; then
  compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
  # LibreOffice Calc: tests/test_xlsx_reader.py has it save workbooks (formulas with values, shared strings)
  [ -e /usr/lib/libreoffice/program/libsclo.so ] || need+=(libreoffice-calc-nogui)
  [ -x /usr/sbin/postfix ] || need+=(postfix)
  [ -x /usr/sbin/dovecot ] && [ -e /usr/lib/dovecot/imap ] || need+=(dovecot-imapd)
  command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)  # tests/test_signing*.py: PKCS#11 keys
  command -v pkcs11-tool >/dev/null 2>&1 || need+=(opensc)      # imports the test certificate onto the token
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && { [ -t 0 ] || sudo -n true 2>/dev/null; }; then sudo "$@"
  else return 100
  fi
}
can_root() { [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && { [ -t 0 ] || sudo -n true 2>/dev/null; }; }; }

if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "Error: congvan needs these system packages and this is not a Debian/Ubuntu machine: ${need[*]}" >&2
    exit 2
  fi
  if ! can_root; then
    echo "Error: congvan needs system packages and cannot install them without root or sudo: run" \
         "'sudo apt-get install ${need[*]}' and try again" >&2
    exit 2
  fi
  echo "Installing system packages: ${need[*]}"
  if [[ " ${need[*]} " == *" postfix "* ]]; then
    # Installed unconfigured: the tests start their own instances; the system's mail is left alone.
    echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
  fi
  if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
    echo "Error: apt-get could not install ${need[*]}; install them and try again" >&2
    exit 2
  fi
fi

[ "$profile" = test ] || exit 0

# PostgreSQL for the tests, as CI starts it: the first cluster, the password 'postgres', the database
# congvan_test. Tests that need it are skipped when it is unreachable (and fail under CI=true).
command -v pg_lsclusters >/dev/null 2>&1 || exit 0
cluster=$(pg_lsclusters -h 2>/dev/null | head -n 1 | awk '{print $1, $2}')
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  as_root pg_createcluster "$version" main >/dev/null || { echo "Warning: could not create a PostgreSQL cluster; its tests will be skipped" >&2; exit 0; }
  cluster="$version main"
fi
# shellcheck disable=SC2086
as_root pg_ctlcluster $cluster start >/dev/null 2>&1 || as_root pg_ctlcluster $cluster status >/dev/null 2>&1 \
  || { echo "Warning: could not start PostgreSQL ($cluster); its tests will be skipped" >&2; exit 0; }
for _ in $(seq 30); do pg_isready -q -h localhost && break; sleep 1; done
psql_admin() { as_root su postgres -c "$1" 2>/dev/null || as_root -u postgres sh -c "$1"; }
if [ "$(id -u)" = 0 ]; then psql_admin() { su postgres -c "$1"; }; fi
psql_admin "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
psql_admin "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='congvan_test'\"" | grep -q 1 \
  || psql_admin "createdb congvan_test"
