# Sourced by scripts/build-snippet and scripts/test: node and npm (Debian's, installed when
# missing and run as root), then the npm packages locked in package-lock.json (terser for the
# snippet's build, axe-core for the browser tests' accessibility checks) into node_modules/,
# with `npm ci`, only when the lock changes.
#
#   node_install "build the snippet"   returns non-zero, having said why, when it cannot install
node_install() {
  local why=$1 missing="" stamp=node_modules/.callout-package-lock.json
  command -v node >/dev/null 2>&1 || missing="nodejs npm"
  command -v npm >/dev/null 2>&1 || missing=${missing:-npm} # a node without its npm
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "--- installing Debian's $missing to $why"
      # shellcheck disable=SC2086
      apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
        return 1
    else
      echo "To $why, Callout needs node and npm: apt-get install nodejs npm" >&2
      return 1
    fi
  fi
  if [ ! -x node_modules/.bin/terser ] || [ ! -f node_modules/axe-core/axe.min.js ] ||
    ! cmp -s package-lock.json "$stamp"; then
    npm ci --no-audit --no-fund --loglevel=error || return 1
    cp package-lock.json "$stamp"
  fi
}
