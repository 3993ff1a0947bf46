//! rbd-csi: parse the command line, set up logging, and hand over to the library.

use std::process::ExitCode;

const USAGE: &str = "Usage: rbd-csi <command> [options]

Commands:
  serve     run the CSI plugin (see rbd-csi serve --help)
  client    call one CSI RPC on a running plugin (see rbd-csi client --help)
  fence     move a single-node volume off a node that still maps it (rbd-csi fence --help)
  unfence   lift a node's fences (rbd-csi unfence --help)
  version   print the version
";

fn init_logging(level: &str) {
    rbd_csi::logging::init(level, rbd_csi::logging::Format::Text);
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    match command.as_str() {
        "serve" => match rbd_csi::options::parse_serve(rest) {
            Ok(None) => {
                print!("{}", rbd_csi::options::serve_usage());
                ExitCode::SUCCESS
            }
            Ok(Some(opts)) => {
                rbd_csi::logging::init(&opts.log_level, opts.log_format);
                match rbd_csi::server::serve(opts) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        log::error!("{e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(e) => {
                eprintln!("rbd-csi serve: {e}\n\n{}", rbd_csi::options::serve_usage());
                ExitCode::from(2)
            }
        },
        "client" => {
            let code = rbd_csi::client::run(rest);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        "fence" | "unfence" => {
            let code = rbd_csi::fence::run(command, rest, init_logging);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        "version" | "--version" | "-V" => {
            println!("rbd-csi {}", rbd_csi::VERSION);
            ExitCode::SUCCESS
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("rbd-csi: unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
