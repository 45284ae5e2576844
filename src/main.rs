//! `ferrum`: the command-line entry point. Parses the configuration and hands over to
//! [`ferrum::app`]; every error ends here as one clear line and a non-zero exit.

use std::process::ExitCode;

fn main() -> ExitCode {
    if ferrum::config::coins_requested() {
        print!("{}", ferrum::chain::coins_table());
        return ExitCode::SUCCESS;
    }
    let (config, command) = match ferrum::config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferrum: configuration error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let wants_node = ferrum::app::wants_a_node(&command);
    match ferrum::app::run(config, command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("ferrum: error: {e:#}");
            if wants_node && ferrum::app::no_node(&e) {
                eprintln!("ferrum: {}", ferrum::app::NO_NODE_HINT);
            }
            ExitCode::FAILURE
        }
    }
}
