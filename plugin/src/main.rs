//! The `kubectl-meshes` executable: runs [`kubectl_meshes::run`] on the process's arguments
//! and standard streams. kubectl finds it on `PATH` as `kubectl meshes`.

use std::io::IsTerminal as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let terminal = std::io::stdout().is_terminal();
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let mut io = kubectl_meshes::Io {
        out: &mut out,
        err: &mut err,
        terminal,
    };
    let code = runtime.block_on(kubectl_meshes::run(std::env::args_os(), &mut io));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
