#!/usr/bin/env bash
# Runs `ansible-test sanity` on a copy of the collection laid out as ansible_collections/drover/fleet, which is the
# only layout ansible-test accepts. The copy holds exactly the files git knows (tracked, or untracked and not ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d /tmp/drover-sanity.XXXXXX)
trap 'rm -rf "$root"' EXIT
dest="$root/ansible_collections/drover/fleet"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && { mkdir -p "$dest/$(dirname "$f")"; cp -a "$f" "$dest/$f"; }
done
cd "$dest"
# ansible-test lists files through git when it finds a repository.
git init -q && git add -A >/dev/null
export PATH="$OLDPWD/.venv/bin:$PATH"
# ansible-test bootstraps pip in its venvs with a script it downloads; offer the offline stand-in instead.
test_dir=$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(grep -oP "pip='\K[0-9.]+" "$test_dir/_internal/python_requirements.py" | sort -u)
for v in ${pip_version:-24.2}; do
    cache=~/.ansible/test/cache/get_pip_${v//./_}.py
    [ -e "$cache" ] || { mkdir -p "$(dirname "$cache")"; cp "$OLDPWD/scripts/get_pip_offline.py" "$cache"; }
done
ansible-test sanity --python 3.11 --requirements --color no "$@"
