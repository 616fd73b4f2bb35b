//! The `pacer` binary: parse the command line and hand over to [`pacer_server::run_cli`].
//! It allocates with mimalloc: webhook intake, replay and snapshot loading are dominated by
//! many small allocations, which mimalloc serves markedly faster than glibc's malloc
//! (BENCHMARKS.md).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pacer_server::run_cli()
}
