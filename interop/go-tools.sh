# shellcheck shell=bash disable=SC2154 # tools_bin and work are the caller's
# Sourced by e2e-cosign.sh, e2e-awskms.sh and e2e-tsa.sh: Go tools built from the Go module
# proxy, kept as NAME-VERSION in "$tools_bin" (set by the caller, with
# "$work", a scratch directory, and die).

# install_go_tool MODULE PACKAGE VERSION: builds PACKAGE (a command of
# MODULE) at VERSION with go install, outside any module so that the tool's
# own go.mod decides every version, and prints the path of NAME-VERSION.
# An existing NAME-VERSION built from MODULE at VERSION is reused.
install_go_tool() {
    local module="$1" package="$2" version="$3" name gobin start exe
    name="$(basename "$package")"
    exe="$tools_bin/$name-$version"
    if [[ -x "$exe" ]] && built_from "$exe" "$module" "$version"; then
        printf '%s already installed\n' "$exe" >&2
    else
        gobin="$(mktemp -d "$work/gobin.XXXXXX")"
        start=$SECONDS
        (cd "$work" && GOTOOLCHAIN=local GOBIN="$gobin" go install "$package@$version") >&2
        mkdir -p "$tools_bin"
        mv "$gobin/$name" "$exe"
        printf 'installed %s in %ds\n' "$exe" $((SECONDS - start)) >&2
    fi
    built_from "$exe" "$module" "$version" || die "$exe is not $module $version"
    printf '%s\n' "$exe"
}

# built_from EXE MODULE VERSION: Go's build information in EXE names MODULE
# at VERSION as the main module.
built_from() {
    go version -m "$1" 2>/dev/null | grep -qE "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3([[:space:]]|$)"
}
