# Sourced by the ensure-* scripts: apt_install MESSAGE PACKAGE [ALTERNATIVE] installs Debian's
# PACKAGE (or ALTERNATIVE, where the release names it so) quietly, as root.
apt_install() {
  echo "$1"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$2" >/dev/null || { [ -n "${3:-}" ] && apt-get install -y -qq "$3" >/dev/null; }
}
