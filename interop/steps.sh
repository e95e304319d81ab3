# shellcheck shell=bash
# Sourced by the end-to-end scripts (e2e-cosign.sh, e2e-awskms.sh,
# e2e-tsa.sh): each step says how long it took, on stderr (e2e-tsa.sh
# --bench keeps stdout for its figures).

step_started=$SECONDS
step_text=""

# end_step: prints how long the current step took.
end_step() {
    [[ -n "$step_text" ]] && printf '    (%ds) %s\n' $((SECONDS - step_started)) "$step_text" >&2
    step_text=""
}

# step TEXT: ends the current step and starts TEXT.
step() {
    end_step
    step_started=$SECONDS
    step_text="$*"
    printf '\n==> %s\n' "$*" >&2
}
