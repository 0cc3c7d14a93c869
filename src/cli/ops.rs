//! The operators' packaging: `xdpgraph completions SHELL` and `xdpgraph man [DIR]`, both
//! generated from the clap definition (clap_complete, clap_mangen), and the log format of
//! `run --log-format`. Binary edge only, like the rest of `src/cli/`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The man pages' section: xdpgraph is mostly run by the administrator (the daemon, the lab).
pub const MAN_SECTION: &str = "8";

/// How the daemon writes its logs on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event, coloured only when stderr is a terminal (journald adds the time).
    Text,
    /// One JSON object per line, with the event's fields as structured fields.
    Json,
}

/// Sets up the global `tracing` subscriber on stderr, filtered by `RUST_LOG` (default `info`).
/// No ANSI colours unless stderr is a terminal, so journald and files get plain text.
pub fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            use std::io::IsTerminal;
            b.with_ansi(std::io::stderr().is_terminal()).init()
        }
        LogFormat::Json => b.json().with_ansi(false).init(),
    }
}

/// Writes the completion script for `shell` to `out`: clap's, and for bash also the `ctl`
/// words ([`BASH_CTL`]).
pub fn completions(
    mut cmd: clap::Command,
    shell: clap_complete::Shell,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
    if shell == clap_complete::Shell::Bash {
        let mut verbs: Vec<&str> = (xdpgraph::ctl::grammar::VERBS.iter())
            .flat_map(|v| std::iter::once(v.name).chain(v.aliases.iter().copied()))
            .filter(|v| v.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect();
        verbs.sort();
        write!(out, "{}", BASH_CTL.replace("@VERBS@", &verbs.join(" ")))?;
    }
    Ok(())
}

/// Bash only, after clap's `_xdpgraph`: `xdpgraph ctl <TAB>` completes the verbs, and a word
/// after a verb the named nodes (`NAME:`) of the daemon that answers on the socket (`--socket`
/// or the default), asked with `ctl list -n` under a 1 s timeout; anything else is clap's.
const BASH_CTL: &str = r#"
# xdpgraph ctl: its verbs, then the named nodes of a running daemon
_xdpgraph_ctl_nodes() {
    local sock=() i
    for ((i = 2; i < COMP_CWORD; i++)); do
        [[ ${COMP_WORDS[i]} == --socket ]] && sock=(--socket "${COMP_WORDS[i+1]}")
    done
    timeout 1 "${COMP_WORDS[0]}" ctl "${sock[@]}" list -n 2>/dev/null |
        awk '$1 == "Name:" { print $2 ":" }'
}
_xdpgraph_with_ctl() {
    local cur=${COMP_WORDS[COMP_CWORD]} i verb=
    if [[ ${COMP_WORDS[1]} == ctl && $COMP_CWORD -ge 2 ]]; then
        case ${COMP_WORDS[COMP_CWORD-1]} in
            --socket|-f|--file) _xdpgraph "$@"; return ;;
        esac
        for ((i = 2; i < COMP_CWORD; i++)); do
            case ${COMP_WORDS[i]} in
                --socket) ((i++)) ;;
                -f|--file) _xdpgraph "$@"; return ;;
                -*) ;;
                *) verb=${COMP_WORDS[i]}; break ;;
            esac
        done
        if [[ -z $verb && $cur != -* ]]; then
            COMPREPLY=($(compgen -W "@VERBS@" -- "$cur"))
            return
        elif [[ -n $verb ]]; then
            COMPREPLY=($(compgen -W "$(_xdpgraph_ctl_nodes)" -- "$cur"))
            if ((${#COMPREPLY[@]})); then
                compopt -o nospace 2>/dev/null
                return
            fi
        fi
    fi
    _xdpgraph "$@"
}
complete -F _xdpgraph_with_ctl -o bashdefault -o default xdpgraph
"#;

/// `man`: without a directory, the main page on stdout; with one, a page per command and
/// subcommand (`xdpgraph.8`, `xdpgraph-run.8`, `xdpgraph-lab-up.8`, ...), whose paths are
/// returned.
pub fn man(cmd: clap::Command, dir: Option<&Path>) -> std::io::Result<Vec<PathBuf>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let Some(dir) = dir else {
        let mut out = std::io::stdout().lock();
        clap_mangen::Man::new(cmd)
            .section(MAN_SECTION)
            .render(&mut out)?;
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    man_pages(cmd, dir, &mut written)?;
    Ok(written)
}

/// The page of `cmd` (built, so that subcommands have their display names) and of each of
/// its visible subcommands, recursively.
fn man_pages(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub.clone(), dir, written)?;
    }
    let page = clap_mangen::Man::new(cmd).section(MAN_SECTION);
    written.push(page.generate_to(dir)?);
    Ok(())
}
