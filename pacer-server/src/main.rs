//! The `pacer` binary: parse the command line and hand over to [`pacer_server::cli`].

fn main() -> std::process::ExitCode {
    pacer_server::cli::main()
}
