# Shared by the image build scripts (sourced, not run): one parser for their `[--force]` argument.

# parse_force_argument NAME HELP_END ARGS...: FORCE=1 if ARGS hold --force (else 0); -h/--help
# prints the calling script's header comment (its lines 2 to HELP_END) and exits 0; any other
# argument is refused naming the script NAME (exit 2).
parse_force_argument() {
    local name="$1" help_end="$2" arg
    shift 2
    FORCE=0
    for arg in "$@"; do
        case "$arg" in
            --force) FORCE=1 ;;
            -h|--help) sed -n "2,${help_end}p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
            *) echo "$name: unknown argument '$arg' (expected --force)" >&2; exit 2 ;;
        esac
    done
}
