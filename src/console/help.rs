//! The console's command table: every command's name, one-line summary and
//! usage, as `help` and `help <command>` print them. The layout follows PVM
//! 3.4.6's console (`name` padded to 12 columns, then the summary; a
//! `Syntax:` line; option lines); the wording is pvm6's own.

/// One command's help.
pub struct Entry {
    pub name: &'static str,
    pub summary: &'static str,
    /// Usage lines, the first printed after `Syntax:  `.
    pub usage: &'static [&'static str],
}

/// Every command, in alphabetical order.
pub const COMMANDS: &[Entry] = &[
    Entry {
        name: "add",
        summary: "Add hosts to the virtual machine",
        usage: &[
            "add hostname ...",
            "  or     add 'hostname option=value ...' ...",
            "(Host options as in a hostfile: see docs/HOSTFILE.md or man pvmd3.)",
        ],
    },
    Entry {
        name: "alias",
        summary: "Define or list command aliases",
        usage: &[
            "alias [ name [ command args ... ] ]",
            "No argument lists the aliases, a name alone shows one.",
        ],
    },
    Entry {
        name: "conf",
        summary: "Show the hosts of the virtual machine",
        usage: &[
            "conf",
            "Columns:",
            "  HOST    name of the host",
            "  DTID    tid base of its pvmd",
            "  ARCH    architecture",
            "  SPEED   relative speed",
            "  DSIG    data signature (equal ones exchange raw data)",
        ],
    },
    Entry {
        name: "delete",
        summary: "Remove hosts from the virtual machine",
        usage: &["delete hostname ..."],
    },
    Entry {
        name: "echo",
        summary: "Print the arguments",
        usage: &["echo [ arg ... ]"],
    },
    Entry {
        name: "export",
        summary: "Add variables to the environment passed to spawned tasks",
        usage: &[
            "export [ varname ... ]",
            "No argument shows the list (PVM_EXPORT).",
        ],
    },
    Entry {
        name: "get",
        summary: "Print a string stored in the message mailbox (pvm6)",
        usage: &["get name [ index ]"],
    },
    Entry {
        name: "getopt",
        summary: "Show the console task's PVM options",
        usage: &["getopt [ option-name ]"],
    },
    Entry {
        name: "halt",
        summary: "Stop every pvmd of the machine and leave",
        usage: &["halt"],
    },
    Entry {
        name: "help",
        summary: "Show the commands, or how to use one",
        usage: &["help [ command ]"],
    },
    Entry {
        name: "id",
        summary: "Show the console's task id",
        usage: &["id"],
    },
    Entry {
        name: "jobs",
        summary: "List the spawn jobs whose output is still open",
        usage: &[
            "jobs [ -l ]",
            "Options:  -l   list each job's tasks as ps does",
        ],
    },
    Entry {
        name: "kill",
        summary: "Terminate tasks",
        usage: &[
            "kill [ -c ] tid ...",
            "Options:  -c   terminate the children of the tasks instead",
        ],
    },
    Entry {
        name: "mstat",
        summary: "Show whether hosts are in the machine",
        usage: &["mstat hostname ..."],
    },
    Entry {
        name: "names",
        summary: "List the classes of the message mailbox",
        usage: &[
            "names [ pattern ]",
            "Lists the classes whose names contain pattern ('*' matches anything).",
        ],
    },
    Entry {
        name: "ps",
        summary: "List tasks",
        usage: &[
            "ps [ -a ] [ -h<hosttid> ] [ -n<hostname> ] [ -l ] [ -x ]",
            "Options:  -a          tasks of every host (default: this host)",
            "          -h<tid>     tasks of the host with this tid (hex)",
            "          -n<name>    tasks of the host with this name",
            "          -l          long listing: parent tid and process id",
            "          -x          also the console itself",
            "Columns:",
            "  HOST    host name",
            "  TID     task id",
            "  PTID    parent's task id",
            "  PID     process id",
            "  FLAG    status, in hex and as letters:",
            "            f  started by its pvmd",
            "            c  connected to its pvmd",
            "            a  waiting for authorization (never in pvm6)",
            "            o  connection being closed (never in pvm6)",
            "            s  deadlocked on shared pages (never in pvm6)",
            "            H  the hoster",
            "            R  the resource manager",
            "            T  the tasker",
            "  COMMAND executable",
        ],
    },
    Entry {
        name: "pstat",
        summary: "Show whether tasks are running",
        usage: &["pstat tid ..."],
    },
    Entry {
        name: "put",
        summary: "Store a string in the message mailbox",
        usage: &[
            "put name flags value ...",
            "flags: sum of 1 persistent, 2 multiple instances, 4 overwritable",
        ],
    },
    Entry {
        name: "quit",
        summary: "Leave the console; the machine keeps running",
        usage: &["quit"],
    },
    Entry {
        name: "reset",
        summary: "Kill every task and remove orphaned mailbox entries",
        usage: &[
            "reset",
            "",
            "reset info    Remove orphaned persistent mailbox entries only",
            "Syntax:  reset info [ class [ index ] ]",
        ],
    },
    Entry {
        name: "restart",
        summary: "Start a new pvmd after the old one died (pvm6)",
        usage: &["restart"],
    },
    Entry {
        name: "setenv",
        summary: "Show or set environment variables",
        usage: &["setenv [ name [ value ... ] ]"],
    },
    Entry {
        name: "setopt",
        summary: "Set a PVM option of the console task only",
        usage: &["setopt option-name value"],
    },
    Entry {
        name: "sig",
        summary: "Send a signal to tasks",
        usage: &["sig signum tid ..."],
    },
    Entry {
        name: "spawn",
        summary: "Start tasks",
        usage: &[
            "spawn [ options ] file [ arg ... ]",
            "Options:  -<count>          how many tasks (default 1)",
            "          -<host>           on this host (default: any)",
            "          -<host>:<dir>     on this host, in directory dir",
            "          --host=<addr>     on the host with this address",
            "          --host=<addr>:<dir>",
            "          -<ARCH>           on hosts of this architecture",
            "          -<ARCH>:<dir>     the same, in directory dir",
            "          -:<dir>           in directory dir",
            "          -?                start under the debugger",
            "          ->                show the job's output here",
            "          -><file>          write the job's output to file",
            "          ->><file>         append the job's output to file",
            "          -@                trace the job: events and output here",
            "          -@<file>          trace the job: events and output to file",
        ],
    },
    Entry {
        name: "tickle",
        summary: "Ask the pvmd for a debugging action",
        usage: &[
            "tickle how [ arg ... ]",
            "Prints the results in parentheses: ( ) for none. Numbers are decimal, or hex with 0x.",
            "How:",
            "  0          dump the heap (nothing to dump in pvm6)",
            "  1          write the host table to the pvmd log",
            "  2          write the task table to the pvmd log",
            "  3          write the tasks waiting for the tasker to the log",
            "  4          write the message mailbox to the log",
            "  5          show the debug mask",
            "  6 mask     set the debug mask (non-zero: debug messages in the log)",
            "  7 num      set nopax (no effect in pvm6: no packet windows)",
            "  8 dtid     fail that host, as if it had crashed (master only)",
            "  9 [rst]    write the pvmd's statistics to the log",
            "  100        dump shared memory (nothing to dump in pvm6)",
            "An action the pvmd does not know is logged; the result is ( ).",
        ],
    },
    Entry {
        name: "trace",
        summary: "Set or show the trace event mask of spawned tasks",
        usage: &[
            "trace                      show the mask",
            "trace [+] event ...        add events (* for all, default for the",
            "                           tracer's default set)",
            "trace - event ...          remove events (* for all)",
        ],
    },
    Entry {
        name: "unalias",
        summary: "Remove command aliases",
        usage: &["unalias name ..."],
    },
    Entry {
        name: "unexport",
        summary: "Remove variables from the spawn export list",
        usage: &["unexport [ varname ... ]"],
    },
    Entry {
        name: "version",
        summary: "Show the libpvm version",
        usage: &["version"],
    },
];

/// The entry of `name`.
pub fn find(name: &str) -> Option<&'static Entry> {
    COMMANDS.iter().find(|e| e.name == name)
}

/// The text `help <name>` prints (`None` for an unknown command).
pub fn command_help(name: &str) -> Option<String> {
    let e = find(name)?;
    let mut s = format!("{:<12}{}\n", e.name, e.summary);
    if let Some((first, rest)) = e.usage.split_first() {
        s.push_str(&format!("Syntax:  {first}\n"));
        for l in rest {
            s.push_str(l);
            s.push('\n');
        }
    }
    if e.name == "help" {
        s.push_str(&overview());
    }
    Some(s)
}

/// The command list `help` prints.
pub fn overview() -> String {
    let mut s = String::from("Commands are:\n");
    // `tickle` is a debugging command: like PVM 3.4.6's console, the list
    // leaves it out, `help tickle` explains it.
    for e in COMMANDS.iter().filter(|e| e.name != "tickle") {
        s.push_str(&format!("  {:<12}{}\n", e.name, e.summary));
    }
    s
}

/// The text of `help` without an argument.
pub fn general_help() -> String {
    command_help("help").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parsed_command_has_help() {
        for e in COMMANDS {
            // Each name in the table is a command the parser knows.
            let err = super::super::parse::parse_line(e.name);
            assert!(
                !matches!(err, Err(super::super::parse::ParseError::NotFound(_))),
                "{} in the table but not parsed",
                e.name
            );
        }
        let names: Vec<&str> = COMMANDS.iter().map(|e| e.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn help_layout() {
        let h = command_help("spawn").unwrap();
        assert!(h.starts_with("spawn       Start tasks\nSyntax:  spawn [ options ]"));
        assert!(general_help().contains("\nCommands are:\n  add         Add hosts"));
        assert!(command_help("nope").is_none());
    }
}
