# shellcheck shell=bash
# Go programs pinned by module version, built with `go install` and cached as
# $tools_bin/NAME-VERSION. Sourced by interop/e2e-cosign.sh, e2e-awskms.sh,
# e2e-tsa.sh and packaging/dist.sh, which set tools_bin first.

# install_go_tool MODULE PACKAGE VERSION: builds PACKAGE (a command of
# MODULE) at VERSION with go install, outside any module so that the tool's
# own go.mod decides every version, and prints the path of NAME-VERSION.
# An existing NAME-VERSION built from MODULE at VERSION is reused.
install_go_tool() {
    local module="$1" package="$2" version="$3" name gobin start exe
    name="$(basename "$package")"
    exe="${tools_bin:?tools_bin names the cache of Go tools}/$name-$version"
    if [[ -x "$exe" ]] && built_from "$exe" "$module" "$version"; then
        printf '%s already installed\n' "$exe" >&2
    else
        gobin="$(mktemp -d)"
        start=$SECONDS
        if ! (cd "$gobin" && GOBIN="$gobin" GOTOOLCHAIN="${GOTOOLCHAIN:-local}" \
            go install "$package@$version") >&2; then
            rm -rf "$gobin"
            printf 'go install %s@%s failed\n' "$package" "$version" >&2
            return 1
        fi
        mkdir -p "$tools_bin"
        mv "$gobin/$name" "$exe"
        rm -rf "$gobin"
        printf 'installed %s in %ds\n' "$exe" $((SECONDS - start)) >&2
    fi
    if ! built_from "$exe" "$module" "$version"; then
        printf '%s is not %s %s\n' "$exe" "$module" "$version" >&2
        return 1
    fi
    printf '%s\n' "$exe"
}

# built_from EXE MODULE VERSION: Go's build information in EXE names MODULE
# at VERSION as the main module.
built_from() {
    go version -m "$1" 2>/dev/null | grep -qE "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3([[:space:]]|$)"
}
